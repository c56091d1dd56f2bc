"""Cached-activation inference with CMSIS-DSP, as the firmware runs it.

Each layer keeps the last ``(kernel - 1) * dilation`` frames of its input. A block of B new
frames is appended to that history, and for every tap k the B rows starting at ``k * dilation``
form one (B x in) matrix multiplied by the tap's (in x out) weights with ``arm_mat_mult_f32``;
the products are summed onto the bias with ``arm_add_f32`` and rectified with ``arm_clip_f32``.
Only the newest B output columns are ever computed, so the cost per sample is independent of the
receptive field. Histories start at zero, which is what Keras' causal zero padding assumes.

A q15/q7 spec runs in integers, with the calls the firmware's CMSIS backend makes: the K tap
rows of every frame gathered side by side into one (B x kernel*in) matrix, one
``arm_mat_mult_q15``/``q7`` by the (kernel*in x out) weights, then ``arm_add`` of the bias,
``arm_shift`` into the output format and ``arm_clip`` for the ReLU. The inputs are quantized and
the outputs dequantized at the edges exactly as ``model_defn.fixed_point`` defines, which this
must match bit for bit.

A GRU spec runs in ``GruSimulator``, in the order of the firmware's CMSIS GRU backend; a q15
GRU's recurrent product with ``arm_dot_prod_q15`` (one per gate column) on its Q15 state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cmsisdsp as dsp
import numpy as np

from daisynet.host_sim.activations import fast_sigmoid, fast_tanh
from daisynet.host_sim.daisy_target import BLOCK_FRAMES
from daisynet.host_sim.model_defn import AnyModelSpec, ConvLayer, GruSpec, ModelSpec
from daisynet.host_sim.model_defn.fixed_point import (
    dequantize,
    gru_recurrent_sums,
    gru_state_q15,
    quantize_inputs,
)
from daisynet.host_sim.model_defn.spec import NumberFormat

FLOAT32_MAX = float(np.finfo(np.float32).max)
# arm_matrix_instance_f32 counts rows in a uint16_t, and a block's frames are the rows of every
# tap's product: longer blocks must go through in parts (which gives the same output, bit for
# bit, as any other block size) or CMSIS-DSP reads past its buffers.
MAX_MATRIX_ROWS = 0xFFFF


def _mat_mult(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    status, product = dsp.arm_mat_mult_f32(a, b)
    if status != 0:  # ARM_MATH_SUCCESS; anything else is a shape bug in this module
        raise RuntimeError(f"arm_mat_mult_f32 failed with status {status}")
    return product


class CachedConvLayer:
    """One causal convolution with its rolling input history."""

    def __init__(self, layer: ConvLayer) -> None:
        self.layer = layer
        self.taps = [np.ascontiguousarray(layer.weights[k], dtype=np.float32) for k in
                     range(layer.kernel)]
        self.bias = np.ascontiguousarray(layer.bias, dtype=np.float32)
        self.history_frames = (layer.kernel - 1) * layer.dilation
        self.reset()

    def reset(self) -> None:
        self.history = np.zeros((self.history_frames, self.layer.in_channels), np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        """(B, in_channels) -> (B, out_channels), advancing the history by B frames."""
        frames = block.shape[0]
        window = np.concatenate([self.history, block]) if self.history_frames else block
        out_channels = self.layer.out_channels
        accumulator = np.tile(self.bias, frames)
        for k, tap in enumerate(self.taps):
            start = k * self.layer.dilation
            rows = np.ascontiguousarray(window[start : start + frames])
            accumulator = dsp.arm_add_f32(accumulator, _mat_mult(rows, tap).reshape(-1))
        if self.layer.relu:
            accumulator = dsp.arm_clip_f32(accumulator, 0.0, FLOAT32_MAX)
        if self.history_frames:
            self.history = window[-self.history_frames :].copy()
        return accumulator.reshape(frames, out_channels)


# The cmsisdsp fixed-point calls of each format.
_Q_CALLS = {
    "q15": (dsp.arm_mat_mult_q15, dsp.arm_add_q15, dsp.arm_shift_q15, dsp.arm_clip_q15),
    "q7": (dsp.arm_mat_mult_q7, dsp.arm_add_q7, dsp.arm_shift_q7, dsp.arm_clip_q7),
}


class QuantizedConvLayer:
    """One causal convolution in q15/q7 with its rolling (integer) input history."""

    def __init__(self, layer: ConvLayer, fmt: NumberFormat) -> None:
        quant = layer.quant
        if quant is None:
            raise ValueError(f"layer {layer.name!r} has no {fmt.name} weights")
        self.layer, self.fmt = layer, fmt
        self.mat_mult, self.add, self.shift_call, self.clip = _Q_CALLS[fmt.name]
        # [k][in][out] is already the (kernel*in x out) matrix of the gathered rows.
        self.weights = np.ascontiguousarray(
            quant.weights.reshape(layer.kernel * layer.in_channels, layer.out_channels),
            dtype=fmt.dtype)
        self.bias = np.ascontiguousarray(quant.bias, dtype=fmt.dtype)
        self.shift = quant.shift
        # arm_mat_mult_q15's scratch for the transposed weights (used by its DSP-extension path)
        self.state = np.zeros(self.weights.size, fmt.dtype)
        self.history_frames = (layer.kernel - 1) * layer.dilation
        self.reset()

    def reset(self) -> None:
        self.history = np.zeros((self.history_frames, self.layer.in_channels), self.fmt.dtype)

    def process(self, block: np.ndarray) -> np.ndarray:
        """(B, in_channels) integers -> (B, out_channels) integers, advancing the history."""
        frames = block.shape[0]
        layer = self.layer
        window = np.concatenate([self.history, block]) if self.history_frames else block
        rows = np.ascontiguousarray(np.concatenate(
            [window[k * layer.dilation : k * layer.dilation + frames]
             for k in range(layer.kernel)], axis=1))
        status, product = self.mat_mult(rows, self.weights, self.state)
        if status != 0:
            raise RuntimeError(f"arm_mat_mult_{self.fmt.name} failed with status {status}")
        out = self.add(product.reshape(-1), np.tile(self.bias, frames))
        if self.shift:
            out = self.shift_call(out, self.shift)
        if layer.relu:
            out = self.clip(out, 0, self.fmt.max)
        if self.history_frames:
            self.history = window[-self.history_frames :].copy()
        return np.asarray(out, dtype=self.fmt.dtype).reshape(frames, layer.out_channels)


class _Stream:
    """What both simulators share: ``process`` checks a block's shape and hands it to the
    family's ``_process_rows`` in pieces the CMSIS matrix functions take; ``render`` runs a
    whole signal in blocks."""

    spec: AnyModelSpec

    def _process_rows(self, block: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def process(self, block: np.ndarray) -> np.ndarray:
        """(frames, inputs) float32 -> (frames, outputs) float32, for any number of frames."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != self.spec.inputs:
            raise ValueError(
                f"expected (frames, {self.spec.inputs}) input, got shape {block.shape}"
            )
        if block.shape[0] == 0:
            return np.zeros((0, self.spec.outputs), np.float32)
        if block.shape[0] > MAX_MATRIX_ROWS:
            return np.concatenate([self.process(block[start : start + MAX_MATRIX_ROWS])
                                   for start in range(0, block.shape[0], MAX_MATRIX_ROWS)])
        return self._process_rows(block)

    def render(self, inputs: np.ndarray, block_size: int = BLOCK_FRAMES,
               progress: bool = False) -> np.ndarray:
        """Run a whole (frames, inputs) signal from the current state in blocks."""
        return render_in_blocks(self.process, self.spec.outputs, inputs, block_size, progress)


class GruSimulator(_Stream):
    """Streams audio through a GRU spec block by block, state carried between calls, with the
    calls and order of the firmware's CMSIS backend (firmware/core/gru_cmsis_backend.h) and
    its activations (host_sim.activations): per block, the input projection and the skip as
    one ``arm_mat_mult_f32`` each plus their biases; per frame, the recurrent projection
    (``arm_mat_mult_f32`` of the state row; in q15 one ``arm_dot_prod_q15`` per gate column
    on the Q15 state, as ``model_defn.fixed_point`` defines), its bias, the gates,
    h = n + z * (h - n), and the head."""

    def __init__(self, spec: GruSpec) -> None:
        spec.validate()
        self.spec = spec
        gru = spec.gru
        self.units = spec.units
        self.input_weights = np.ascontiguousarray(gru.input_weights, np.float32)
        self.recurrent_weights = np.ascontiguousarray(gru.recurrent_weights, np.float32)
        self.input_bias = np.ascontiguousarray(gru.input_bias, np.float32)
        self.recurrent_bias = np.ascontiguousarray(gru.recurrent_bias, np.float32)
        self.head_weights = np.ascontiguousarray(spec.head_weights, np.float32)
        self.head_bias = np.ascontiguousarray(spec.head_bias, np.float32)
        self.skip_weights = np.ascontiguousarray(spec.input_skip_weights, np.float32)
        self.quant = spec.recurrent_quant
        if self.quant is not None:
            self.recurrent_rows = [np.ascontiguousarray(row, np.int16)
                                   for row in self.quant.weights]
        self.reset()

    def reset(self) -> None:
        """Back to silence, as after power-up."""
        self.state = np.zeros(self.units, np.float32)

    def _process_rows(self, block: np.ndarray) -> np.ndarray:
        """``process`` for 1..MAX_MATRIX_ROWS frames of checked float32 input."""
        frames, units = block.shape[0], self.units
        x = np.ascontiguousarray(block)
        projection = dsp.arm_add_f32(_mat_mult(x, self.input_weights).reshape(-1),
                                     np.tile(self.input_bias, frames)).reshape(frames, -1)
        skip = dsp.arm_add_f32(_mat_mult(x, self.skip_weights).reshape(-1),
                               np.tile(self.head_bias, frames)).reshape(frames, -1)
        out = np.empty((frames, self.spec.outputs), np.float32)
        h = self.state
        for f in range(frames):
            a = projection[f]
            c = dsp.arm_add_f32(self._recurrent(h), self.recurrent_bias)
            gates = fast_sigmoid(dsp.arm_add_f32(a[: 2 * units], c[: 2 * units]))
            n = fast_tanh(dsp.arm_add_f32(a[2 * units :],
                                          dsp.arm_mult_f32(gates[units:], c[2 * units :])))
            h = dsp.arm_add_f32(n, dsp.arm_mult_f32(gates[:units], dsp.arm_sub_f32(h, n)))
            h = np.asarray(h, np.float32)
            out[f] = dsp.arm_add_f32(_mat_mult(h[None, :], self.head_weights).reshape(-1),
                                     skip[f])
        self.state = h
        return out

    def _recurrent(self, h: np.ndarray) -> np.ndarray:
        """h U: float32, or the q15 contract's sums."""
        if self.quant is None:
            return _mat_mult(h[None, :], self.recurrent_weights).reshape(-1)
        state = gru_state_q15(h)
        sums = np.array([dsp.arm_dot_prod_q15(row, state) for row in self.recurrent_rows],
                        dtype=np.int64)
        return gru_recurrent_sums(sums, self.quant.frac_bits)


class Simulator(_Stream):
    """Streams audio through a model block by block; state persists between calls. Float32
    specs run in float32, q15/q7 specs in integers (floats in and out at the edges). A GRU
    spec gets a GruSimulator (same interface), so every caller runs either family."""

    def __new__(cls, spec: AnyModelSpec) -> Simulator | GruSimulator:
        if spec.family == "gru":
            return GruSimulator(spec)
        return super().__new__(cls)

    def __init__(self, spec: ModelSpec) -> None:
        spec.validate()
        self.spec = spec
        if spec.quantized:
            self.layers = [QuantizedConvLayer(layer, spec.format) for layer in spec.layers]
        else:
            self.layers = [CachedConvLayer(layer) for layer in spec.layers]

    def reset(self) -> None:
        """Back to silence, as after power-up."""
        for layer in self.layers:
            layer.reset()

    def _process_rows(self, block: np.ndarray) -> np.ndarray:
        """``process`` for 1..MAX_MATRIX_ROWS frames of checked float32 input."""
        if self.spec.quantized:
            x = quantize_inputs(block, self.spec.format, self.spec.input_frac_bits)
            return dequantize(self.process_fixed(x), self.spec.output_frac_bits)
        x = np.ascontiguousarray(block)
        for layer in self.layers:
            x = layer.process(x)
        return x

    def process_fixed(self, block: np.ndarray) -> np.ndarray:
        """Quantized specs: (frames, inputs) integers already in the input format ->
        (frames, outputs) integers in the output format."""
        if not self.spec.quantized:
            raise ValueError("process_fixed runs q15/q7 models; this one is float32")
        x = np.ascontiguousarray(block, dtype=self.spec.format.dtype)
        if x.shape[0] > MAX_MATRIX_ROWS:
            return np.concatenate([self.process_fixed(x[start : start + MAX_MATRIX_ROWS])
                                   for start in range(0, x.shape[0], MAX_MATRIX_ROWS)])
        for layer in self.layers:
            x = layer.process(x)
        return x



def render_in_blocks(
    process: Callable[[np.ndarray], np.ndarray],
    outputs: int,
    inputs: np.ndarray,
    block_size: int,
    progress: bool = False,
) -> np.ndarray:
    """Feed (frames, inputs) to ``process`` block by block, as an audio callback would."""
    if block_size < 1:
        raise ValueError(f"block size must be at least 1, got {block_size}")
    inputs = np.asarray(inputs, dtype=np.float32)
    output = np.empty((inputs.shape[0], outputs), np.float32)
    for start, stop in _blocks(inputs.shape[0], block_size, progress):
        output[start:stop] = process(inputs[start:stop])
    return output


def _blocks(frames: int, block_size: int, progress: bool) -> Iterator[tuple[int, int]]:
    starts = range(0, frames, block_size)
    if progress:
        from tqdm import tqdm

        # disable=None: no bar when stderr is not a terminal (a log gets no carriage returns).
        starts = tqdm(starts, desc="simulating", unit="block", leave=False, disable=None)
    for start in starts:
        yield start, min(frames, start + block_size)
