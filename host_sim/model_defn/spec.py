"""What the inference engine runs: a model family's shape and weights.

Two families: the "wavenet" (``ModelSpec``: a stack of causal convolutions) and the recurrent
"gru" (``GruSpec``: one GRU layer, a linear head and an input skip). Keras models and
``model_defn.h`` headers both load into one of them; the exporter writes one and the simulator
runs one, so the checks here are the single list of what the engine (and the firmware built
from the same header) can execute. ``spec.family`` says which; what does not depend on the
family (names, sample rate, number format, hash, flash, ``validate``, ``inputs``/``outputs``,
``architecture()``'s parameters and MACs) reads the same on both. ``Architecture`` and
``GruArchitecture`` are the shapes alone, which training builds Keras models from.

A quantized spec (``number_format`` q15 or q7) carries, per layer, a ``LayerQuant``: the integer
weights and bias and the power-of-two formats the arithmetic of ``fixed_point`` runs them in.
Its float ``weights`` and ``bias`` are then the exact values of those integers (q * 2^-f), so
shapes, counts and the float reference work on either kind.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np

# The model_defn.h format's version (kModelDefnFormatVersion in every header): raise it when
# a header changes in a way an older reader or engine would misread, together with
# kSupportedModelDefnFormatVersion in firmware/core/engine_shell.h. Version 3 added the boot
# self-check's reference (kSelfCheck*).
MODEL_DEFN_FORMAT_VERSION = 3

# Values of kModelFamily (ModelFamily::<value> in model_defn.h), by spec.family.
MODEL_FAMILIES = {"wavenet": "kWavenet", "gru": "kGru"}

# Limits of what the export and the firmware engine accept; wider models still train.
MAX_KERNEL_SIZE = 8
MAX_BLOCKS = 8
MAX_FILTERS = 64


@dataclass(frozen=True)
class Architecture:
    """Shape of a wavenet: everything needed to build it, count it and size its caches."""

    inputs: int
    filters: tuple[int, ...]
    kernel_size: int
    outputs: int = 1

    def __post_init__(self) -> None:
        if self.inputs < 1:
            raise ValueError(f"need at least one input channel, got {self.inputs}")
        if self.outputs < 1:
            raise ValueError(f"need at least one output channel, got {self.outputs}")
        if not 2 <= self.kernel_size <= MAX_KERNEL_SIZE:
            raise ValueError(f"kernel size must be 2..{MAX_KERNEL_SIZE}, got {self.kernel_size}")
        if not 1 <= len(self.filters) <= MAX_BLOCKS:
            raise ValueError(f"need 1..{MAX_BLOCKS} blocks, got {len(self.filters)}")
        if any(not 1 <= f <= MAX_FILTERS for f in self.filters):
            raise ValueError(f"filters must each be 1..{MAX_FILTERS}, got {list(self.filters)}")

    @property
    def dilations(self) -> list[int]:
        return [self.kernel_size**i for i in range(len(self.filters))]

    @property
    def receptive_field(self) -> int:
        """Samples of input history that reach one output sample, the current one included."""
        return self.kernel_size ** len(self.filters)

    def layer_shapes(self) -> list[tuple[int, int, int, int]]:
        """(kernel, dilation, in_channels, out_channels) for every conv layer in order."""
        shapes = []
        channels = self.inputs
        for filters, dilation in zip(self.filters, self.dilations, strict=True):
            shapes.append((self.kernel_size, dilation, channels, filters))
            shapes.append((1, 1, filters, filters))
            channels = filters
        shapes.append((1, 1, channels, self.outputs))
        return shapes

    @property
    def parameters(self) -> int:
        return sum(k * cin * cout + cout for k, _, cin, cout in self.layer_shapes())

    @property
    def macs_per_sample(self) -> int:
        """Multiply-accumulates per output sample with cached activations (biases excluded)."""
        return sum(k * cin * cout for k, _, cin, cout in self.layer_shapes())

    def to_json(self) -> dict:
        return {**asdict(self), "filters": list(self.filters)}


# Limits of the recurrent family's engine: units of its one GRU layer.
MAX_GRU_UNITS = 64


@dataclass(frozen=True)
class GruArchitecture:
    """Shape of a recurrent model: one GRU layer over all inputs, a linear head, and a linear
    skip from the inputs straight to the outputs.

    Per sample, with x the input frame and h the previous state (Keras' GRU with
    reset_after=True, gates in Keras' column order z, r, candidate)::

        z = sigmoid(x Wz + bz + h Uz + cz)          update gate
        r = sigmoid(x Wr + br + h Ur + cr)          reset gate
        n = tanh(x Wn + bn + r * (h Un + cn))       candidate state
        h = z * h + (1 - z) * n
        y = h H + b + x S                           head, plus the input skip S

    ``skip_input`` names the input whose skip weight starts at 1 (the dry audio, so the GRU
    learns only what the device adds); every skip weight trains.
    """

    inputs: int
    units: int
    outputs: int = 1
    skip_input: int | None = None

    def __post_init__(self) -> None:
        if self.inputs < 1:
            raise ValueError(f"need at least one input channel, got {self.inputs}")
        if self.outputs < 1:
            raise ValueError(f"need at least one output channel, got {self.outputs}")
        if not 1 <= self.units <= MAX_GRU_UNITS:
            raise ValueError(f"GRU units must be 1..{MAX_GRU_UNITS}, got {self.units}")
        if self.skip_input is not None and not 0 <= self.skip_input < self.inputs:
            raise ValueError(f"skip input {self.skip_input} is not one of the "
                             f"{self.inputs} inputs")

    @property
    def parameters(self) -> int:
        gates = 3 * self.units
        return ((self.inputs + self.units) * gates + 2 * gates
                + self.units * self.outputs + self.outputs + self.inputs * self.outputs)

    @property
    def macs_per_sample(self) -> int:
        """Multiply-accumulates per output sample (biases, gate products and the state update
        excluded): the input and recurrent projections, the head and the skip."""
        return ((self.inputs + self.units) * 3 * self.units
                + (self.units + self.inputs) * self.outputs)

    def to_json(self) -> dict:
        return {"family": "gru", **asdict(self)}


class UnsupportedModelError(ValueError):
    """The model uses something the inference engine cannot run; the message says what."""


@dataclass(frozen=True)
class NumberFormat:
    """How weights and activations are stored. Fixed-point formats hold integers of ``bits``
    bits whose scale is a power of two per array (``frac_bits``: value = q * 2^-frac_bits);
    a layer's exact integer sum is shifted right by ``product_shift`` (15 or 7, as
    arm_mat_mult_q15/q7 do) into its product format."""

    name: str
    cpp_enum: str  # NumberFormat::<this> in model_defn.h
    cpp_type: str  # the C++ element type of weights and activations
    dtype: str  # numpy dtype of the same
    bits: int

    @property
    def quantized(self) -> bool:
        return self.name != "float32"

    @property
    def item_bytes(self) -> int:
        return self.bits // 8

    @property
    def product_shift(self) -> int:
        """B: bits the exact integer sum is shifted right by (the type's fractional bits)."""
        return self.bits - 1

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1


FLOAT32 = NumberFormat("float32", "kFloat32", "float", "float32", 32)
Q15 = NumberFormat("q15", "kQ15", "std::int16_t", "int16", 16)
Q7 = NumberFormat("q7", "kQ7", "std::int8_t", "int8", 8)
# Names the header embeds in C strings as they are (and the reader takes back as they are).
_C_STRING_SAFE = re.compile(r'[ !#-\[\]-~]+')

NUMBER_FORMATS = {f.name: f for f in (FLOAT32, Q15, Q7)}
QUANTIZED_FORMATS = ("q15", "q7")


def number_format(name: str) -> NumberFormat:
    try:
        return NUMBER_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown number format {name!r}; choose one of "
                         f"{', '.join(NUMBER_FORMATS)}") from None


@dataclass
class LayerQuant:
    """A layer's fixed-point form (see ``fixed_point`` for the arithmetic).

    ``weights`` (kernel, in, out) and ``bias`` (out,) are integers of the spec's format; the
    weights are in ``weight_frac_bits``, the bias in ``product_frac_bits`` = ``in_frac_bits`` +
    ``weight_frac_bits`` - B, the layer's output in ``out_frac_bits``."""

    weights: np.ndarray
    bias: np.ndarray
    in_frac_bits: int
    weight_frac_bits: int
    product_frac_bits: int
    out_frac_bits: int

    @property
    def shift(self) -> int:
        """s = out_frac_bits - product_frac_bits: left (>= 0) or right shift of the sum."""
        return self.out_frac_bits - self.product_frac_bits

    def frac_bits(self) -> tuple[int, int, int, int]:
        return (self.in_frac_bits, self.weight_frac_bits, self.product_frac_bits,
                self.out_frac_bits)


@dataclass
class ConvLayer:
    """``out[t] = act(bias + sum_k in[t - (kernel-1-k)*dilation] @ weights[k])``."""

    name: str
    weights: np.ndarray  # (kernel, in_channels, out_channels) float32
    bias: np.ndarray  # (out_channels,) float32
    dilation: int
    relu: bool
    quant: LayerQuant | None = None  # set in quantized specs only

    @property
    def kernel(self) -> int:
        return int(self.weights.shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.weights.shape[1])

    @property
    def out_channels(self) -> int:
        return int(self.weights.shape[2])


class _SpecCommon:
    """What a spec of every family has the same way. A family's dataclass declares the fields
    ``name``, ``sample_rate``, ``input_names``, ``output_names``, ``number_format`` and
    provides ``inputs``, ``outputs`` and ``weight_arrays()``."""

    family: ClassVar[str]

    def __post_init__(self) -> None:
        if not self.input_names:
            self.input_names = [f"input_{i + 1}" for i in range(self.inputs)]
        if not self.output_names:
            self.output_names = [f"output_{i + 1}" for i in range(self.outputs)]

    @property
    def format(self) -> NumberFormat:
        return number_format(self.number_format)

    @property
    def quantized(self) -> bool:
        return self.format.quantized

    def weight_flash_bytes(self, fmt: str | None = None) -> int:
        """Flash the weight and bias arrays take in model_defn.h in this spec's format (or in
        ``fmt``): 4, 2 or 1 bytes a value, each array aligned to 16 bytes (so up to 15 bytes of
        padding before the next)."""
        size = number_format(fmt or self.number_format).item_bytes
        return sum(-(-size * array.size // 16) * 16 for array in self.weight_arrays())

    def behaviour_json(self) -> str:
        """The part of weights_sha256 beyond the weights: which channel goes where, and at
        what rate, which change the model's output as much as its weights do."""
        return json.dumps({"inputs": self.input_names, "outputs": self.output_names,
                           "sample_rate": int(self.sample_rate or 0)}, sort_keys=True,
                          separators=(",", ":"))

    def _validate_names(self) -> None:
        if len(self.input_names) != self.inputs or len(self.output_names) != self.outputs:
            raise UnsupportedModelError(
                f"names given for {len(self.input_names)} inputs / {len(self.output_names)} "
                f"outputs, but the model has {self.inputs} / {self.outputs}"
            )
        for what, name in [("model name", self.name),
                           *(("input name", name) for name in self.input_names),
                           *(("output name", name) for name in self.output_names)]:
            if not _C_STRING_SAFE.fullmatch(name):
                raise UnsupportedModelError(
                    f"{what} {name!r}: the header holds it as a C string; use printable ASCII "
                    "without quotes or backslashes")


def _refuse_non_finite(where: str, label: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise UnsupportedModelError(
            f"{where}: {int(bad.sum())} non-finite {label} (NaN/inf); the training diverged")


@dataclass
class SelfCheck:
    """The boot self-check's reference (host_sim/self_check.py, firmware/core/self_check.h):
    the model's outputs at every ``stride``-th frame of ``frames`` frames of the check input,
    computed on the emulated Cortex-M7; the device's may differ by at most ``tolerance`` (0:
    bit-exact). ``instructions_per_sample``: the emulated run's, for comparison with the
    device's measured cycles."""

    frames: int
    stride: int
    outputs: np.ndarray  # (frames // stride, outputs) float32
    tolerance: float
    instructions_per_sample: int


@dataclass
class ModelSpec(_SpecCommon):
    """A wavenet: its conv layers in order, [dilated, 1x1] per block, then the 1x1 head."""

    family: ClassVar[str] = "wavenet"

    layers: list[ConvLayer]
    name: str = "daisynet_wavenet"
    sample_rate: int | None = None
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    number_format: str = "float32"
    # Quantized specs: weights_sha256 of the float model they were made from (provenance; not
    # part of their own hash).
    float_sha256: str | None = None
    # The boot self-check's reference, stored by `daisynet export` (None: not computed).
    self_check: SelfCheck | None = None

    @property
    def inputs(self) -> int:
        return self.layers[0].in_channels

    @property
    def outputs(self) -> int:
        return self.layers[-1].out_channels

    def architecture(self) -> Architecture:
        return Architecture(
            inputs=self.inputs,
            filters=tuple(layer.out_channels for layer in self.layers[:-1:2]),
            kernel_size=self.layers[0].kernel,
            outputs=self.outputs,
        )

    @property
    def input_frac_bits(self) -> int:
        """kInputFracBits: the model input's format (quantized specs only)."""
        return self._quant(0).in_frac_bits

    @property
    def output_frac_bits(self) -> int:
        """kOutputFracBits: the head's output format (quantized specs only)."""
        return self._quant(len(self.layers) - 1).out_frac_bits

    def _quant(self, index: int) -> LayerQuant:
        quant = self.layers[index].quant
        if quant is None:
            raise ValueError(f"layer {index} has no fixed-point form; the spec is "
                             f"{self.number_format}")
        return quant

    def weight_arrays(self) -> list[np.ndarray]:
        """The arrays model_defn.h holds, in its order."""
        return [array for layer in self.layers for array in (layer.weights, layer.bias)]

    def weights_sha256(self) -> str:
        """Hash of everything that decides what the model does with its inputs.

        Float32: per layer its shape (kernel, dilation, in and out channels, relu as five
        uint32) then its weights and bias (float32), all little-endian, in layer order; then
        the input and output names in order and the sample rate, as JSON (see
        behaviour_json). Not the name, which only labels the model.

        Quantized: the format name (ASCII, e.g. ``q15``), then per layer the same five uint32,
        its four frac-bit fields (in, weight, product, out as int32) and its integer weights
        and bias (int16 or int8), little-endian, in layer order; then the same JSON."""
        digest = hashlib.sha256()
        if self.quantized:
            digest.update(self.number_format.encode("ascii"))
        for index, layer in enumerate(self.layers):
            shape = (layer.kernel, layer.dilation, layer.in_channels, layer.out_channels,
                     int(layer.relu))
            digest.update(np.array(shape, dtype="<u4").tobytes())
            if self.quantized:
                quant = self._quant(index)
                item = "<" + np.dtype(self.format.dtype).str[1:]
                digest.update(np.array(quant.frac_bits(), dtype="<i4").tobytes())
                digest.update(np.ascontiguousarray(quant.weights, dtype=item).tobytes())
                digest.update(np.ascontiguousarray(quant.bias, dtype=item).tobytes())
            else:
                digest.update(np.ascontiguousarray(layer.weights, dtype="<f4").tobytes())
                digest.update(np.ascontiguousarray(layer.bias, dtype="<f4").tobytes())
        digest.update(self.behaviour_json().encode())
        return digest.hexdigest()

    def validate(self) -> None:
        """Raise UnsupportedModelError unless this is a wavenet the engine can run.

        Required: [dilated conv (relu), 1x1 conv (relu)] * n_blocks, then a linear 1x1 head;
        every block's kernel K equal, block i dilated by K**i; channels chain; weights finite.
        """
        layers = self.layers
        if len(layers) < 3 or len(layers) % 2 == 0:
            raise UnsupportedModelError(
                f"expected (dilated conv, 1x1 conv) blocks plus a 1x1 head, got {len(layers)} "
                "conv layers"
            )
        blocks = (len(layers) - 1) // 2
        if blocks > MAX_BLOCKS:
            raise UnsupportedModelError(f"{blocks} blocks; the engine supports up to {MAX_BLOCKS}")
        kernel = layers[0].kernel
        if not 2 <= kernel <= MAX_KERNEL_SIZE:
            raise UnsupportedModelError(
                f"layer {layers[0].name!r}: kernel size {kernel}; supported 2..{MAX_KERNEL_SIZE}"
            )
        channels = layers[0].in_channels
        for index, layer in enumerate(layers):
            role = "head" if index == len(layers) - 1 else ("dilated" if index % 2 == 0 else "mix")
            where = f"layer {index} ({layer.name!r})"
            if layer.weights.ndim != 3 or layer.bias.shape != (layer.out_channels,):
                raise UnsupportedModelError(f"{where}: weights/bias shapes do not match")
            if layer.in_channels != channels:
                raise UnsupportedModelError(
                    f"{where}: takes {layer.in_channels} channels but receives {channels}"
                )
            channels = layer.out_channels
            if role == "dilated":
                expected_dilation = kernel ** (index // 2)
                if layer.kernel != kernel:
                    raise UnsupportedModelError(
                        f"{where}: kernel size {layer.kernel}, but block 0 uses {kernel}; "
                        "all blocks must share one kernel size"
                    )
                if layer.dilation != expected_dilation:
                    raise UnsupportedModelError(
                        f"{where}: dilation {layer.dilation}; block {index // 2} must be dilated "
                        f"by kernel**block = {expected_dilation}"
                    )
            elif layer.kernel != 1 or layer.dilation != 1:
                raise UnsupportedModelError(
                    f"{where}: the {role} layer must be a 1x1 convolution, got kernel "
                    f"{layer.kernel} dilation {layer.dilation}"
                )
            if role == "head" and layer.relu:
                raise UnsupportedModelError(f"{where}: the regression head must be linear")
            if role != "head" and not layer.relu:
                raise UnsupportedModelError(f"{where}: block layers must use relu")
            block_filters = layers[index - 1].out_channels
            if role == "mix" and layer.out_channels != block_filters:
                raise UnsupportedModelError(
                    f"{where}: the 1x1 layer must keep the block's {block_filters} filters, "
                    f"got {layer.out_channels}"
                )
            if layer.out_channels > MAX_FILTERS and role != "head":
                raise UnsupportedModelError(
                    f"{where}: {layer.out_channels} filters; the engine supports up to "
                    f"{MAX_FILTERS}"
                )
            for label, values in (("weights", layer.weights), ("bias", layer.bias)):
                _refuse_non_finite(where, label, values)
        self._validate_names()
        self._validate_formats()

    def _validate_formats(self) -> None:
        """A quantized spec's layers chain their formats, hold integers of its type, and shift
        by no more than B either way (the exporter guarantees it; past B every value is
        saturated or 0/-1, and CMSIS's shifts are only defined that far)."""
        fmt = number_format(self.number_format)
        quants = [layer.quant for layer in self.layers]
        if not fmt.quantized:
            if any(quant is not None for quant in quants):
                raise UnsupportedModelError("a float32 model with fixed-point layers")
            return
        previous_out = None
        for index, (layer, quant) in enumerate(zip(self.layers, quants, strict=True)):
            where = f"layer {index} ({layer.name!r})"
            if quant is None:
                raise UnsupportedModelError(f"{where}: no {fmt.name} weights")
            if quant.weights.shape != layer.weights.shape or quant.bias.shape != layer.bias.shape:
                raise UnsupportedModelError(f"{where}: {fmt.name} weights/bias shapes differ "
                                            "from the layer's")
            for label, values in (("weights", quant.weights), ("bias", quant.bias)):
                values = np.asarray(values)
                if values.size and (values.dtype.kind not in "iu" or values.min() < fmt.min
                                    or values.max() > fmt.max):
                    raise UnsupportedModelError(f"{where}: {label} are not {fmt.name} integers")
            if quant.product_frac_bits != (quant.in_frac_bits + quant.weight_frac_bits
                                           - fmt.product_shift):
                raise UnsupportedModelError(
                    f"{where}: product_frac_bits {quant.product_frac_bits} != in "
                    f"{quant.in_frac_bits} + weight {quant.weight_frac_bits} - "
                    f"{fmt.product_shift}")
            if previous_out is not None and quant.in_frac_bits != previous_out:
                raise UnsupportedModelError(
                    f"{where}: in_frac_bits {quant.in_frac_bits}, but the layer before "
                    f"writes {previous_out}")
            if abs(quant.shift) > fmt.product_shift:
                raise UnsupportedModelError(
                    f"{where}: output shift {quant.shift} (out_frac_bits - "
                    f"product_frac_bits); {fmt.name} allows -{fmt.product_shift}.."
                    f"{fmt.product_shift}")
            previous_out = quant.out_frac_bits


@dataclass
class GruLayer:
    """A GRU layer's weights as Keras holds them (reset_after=True), gate columns z | r | n:
    ``input_weights`` (inputs, 3*units) is Keras' kernel, ``recurrent_weights`` (units,
    3*units) its recurrent_kernel, ``input_bias`` and ``recurrent_bias`` (3*units,) the two
    rows of its bias. The equations are ``GruArchitecture``'s."""

    input_weights: np.ndarray
    recurrent_weights: np.ndarray
    input_bias: np.ndarray
    recurrent_bias: np.ndarray

    @property
    def inputs(self) -> int:
        return int(self.input_weights.shape[0])

    @property
    def units(self) -> int:
        return int(self.recurrent_weights.shape[0])


# The formats a GRU runs in. q15 quantizes the recurrent product alone (GruRecurrentQuant).
GRU_FORMATS = ("float32", "q15")
# A q15 GRU's state is Q15 (h in [-1, 1]: 15 fraction bits), and the firmware turns each exact
# recurrent sum into float32 with one VCVT of 15 + frac_bits fraction bits (1..32).
GRU_STATE_FRAC_BITS = 15
GRU_MIN_FRAC_BITS, GRU_MAX_FRAC_BITS = 1 - GRU_STATE_FRAC_BITS, 32 - GRU_STATE_FRAC_BITS
# Every gate column's exact sum must fit an int32 whatever the state: sum_u |w[j][u]| * 2^15
# <= 2^31 - 1, i.e. the column's absolute sum at most this many q15 steps.
GRU_MAX_COLUMN_SUM = 65535


def gru_format_refusal(fmt_name: str) -> str:
    """Why a GRU cannot be ``fmt_name`` (a format outside GRU_FORMATS), in one line."""
    return (f"{fmt_name} GRU: not supported; a GRU runs in float32 or q15 (its recurrent "
            "product), and q7 would leave 8 bits for a state that feeds itself back")


@dataclass
class GruRecurrentQuant:
    """A q15 GRU's recurrent weights (see ``fixed_point``'s GRU contract): ``weights`` (3U, U)
    int16, row j the weights of gate column j (the float recurrent_weights transposed), value
    = q * 2^-frac_bits."""

    weights: np.ndarray
    frac_bits: int


@dataclass
class GruSpec(_SpecCommon):
    """A recurrent model (``GruArchitecture``): ``gru``, then the linear head
    ``head_weights`` (units, outputs) and ``head_bias`` (outputs,), plus the input skip
    ``input_skip_weights`` (inputs, outputs). Float32 only so far."""

    family: ClassVar[str] = "gru"

    gru: GruLayer
    head_weights: np.ndarray
    head_bias: np.ndarray
    input_skip_weights: np.ndarray
    name: str = "daisynet_gru"
    sample_rate: int | None = None
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    number_format: str = "float32"
    recurrent_quant: GruRecurrentQuant | None = None
    # q15: weights_sha256 of the float32 model this was quantized from (None if unknown)
    float_sha256: str | None = None
    # The boot self-check's reference, stored by `daisynet export` (None: not computed).
    self_check: SelfCheck | None = None

    @property
    def inputs(self) -> int:
        return self.gru.inputs

    @property
    def outputs(self) -> int:
        return int(self.head_bias.shape[0])

    @property
    def units(self) -> int:
        return self.gru.units

    def architecture(self) -> GruArchitecture:
        """The shape (its ``skip_input`` is None: the skip's starting value is not kept)."""
        return GruArchitecture(inputs=self.inputs, units=self.units, outputs=self.outputs)

    def weight_arrays(self) -> list[np.ndarray]:
        """The arrays model_defn.h holds, in its order."""
        return [self.gru.input_weights, self.gru.recurrent_weights, self.gru.input_bias,
                self.gru.recurrent_bias, self.head_weights, self.head_bias,
                self.input_skip_weights]

    def weight_flash_bytes(self, fmt: str | None = None) -> int:
        """As model_defn.h lays the arrays out (each aligned to 16 bytes): in q15 the recurrent
        weights take 2 bytes a value, every other array 4."""
        recurrent = self.gru.recurrent_weights.size
        size = number_format(fmt or self.number_format).item_bytes
        floats = sum(-(-4 * array.size // 16) * 16 for array in self.weight_arrays())
        return floats - -(-4 * recurrent // 16) * 16 + -(-size * recurrent // 16) * 16

    def weights_sha256(self) -> str:
        """Hash of everything that decides what the model does with its inputs: the ASCII
        family tag ``gru``; (units, inputs, outputs) as three uint32; the seven arrays of
        ``weight_arrays`` as float32; in q15 then the ASCII tag ``q15`` and the recurrent
        integers' frac_bits as an int32; all little-endian; then behaviour_json."""
        digest = hashlib.sha256(b"gru")
        digest.update(np.array((self.units, self.inputs, self.outputs), dtype="<u4").tobytes())
        for array in self.weight_arrays():
            digest.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
        if self.recurrent_quant is not None:
            digest.update(b"q15")
            digest.update(np.array([self.recurrent_quant.frac_bits], dtype="<i4").tobytes())
        digest.update(self.behaviour_json().encode())
        return digest.hexdigest()

    def validate(self) -> None:
        """Raise UnsupportedModelError unless the engine can run this: float32 or q15, shapes
        that chain, 1..MAX_GRU_UNITS units, finite weights, C-safe names; in q15, recurrent
        integers that sum exactly in 32 bits and equal the float weights."""
        if self.number_format not in GRU_FORMATS:
            raise UnsupportedModelError(gru_format_refusal(self.number_format))
        gru = self.gru
        if gru.input_weights.ndim != 2 or gru.recurrent_weights.ndim != 2:
            raise UnsupportedModelError("GRU weights must be 2-D (rows x gate columns)")
        if self.head_bias.ndim != 1 or not self.head_bias.size:
            raise UnsupportedModelError(f"head bias: shape {self.head_bias.shape}; it needs "
                                        "one value per output")
        units, inputs = self.units, self.inputs
        if not 1 <= units <= MAX_GRU_UNITS:
            raise UnsupportedModelError(
                f"GRU of {units} units; the engine supports 1..{MAX_GRU_UNITS}")
        gates, outputs = 3 * units, self.outputs
        expected = [("GRU input weights", gru.input_weights, (inputs, gates)),
                    ("GRU recurrent weights", gru.recurrent_weights, (units, gates)),
                    ("GRU input bias", gru.input_bias, (gates,)),
                    ("GRU recurrent bias", gru.recurrent_bias, (gates,)),
                    ("head weights", self.head_weights, (units, outputs)),
                    ("head bias", self.head_bias, (outputs,)),
                    ("input skip weights", self.input_skip_weights, (inputs, outputs))]
        for label, array, shape in expected:
            if array.shape != shape:
                raise UnsupportedModelError(
                    f"{label}: shape {array.shape}, but {units} units, {inputs} inputs and "
                    f"the head's outputs make it {shape}")
        for label, array, _ in expected:
            _refuse_non_finite(label, "values", array)
        self._validate_quant()
        self._validate_names()

    def _validate_quant(self) -> None:
        quant = self.recurrent_quant
        if self.number_format == "float32":
            if quant is not None:
                raise UnsupportedModelError("a float32 GRU spec holds q15 recurrent weights")
            return
        units = self.units
        if quant is None:
            raise UnsupportedModelError("a q15 GRU spec needs its q15 recurrent weights")
        weights = np.asarray(quant.weights)
        if weights.shape != (3 * units, units) or weights.dtype != np.int16:
            raise UnsupportedModelError(
                f"q15 recurrent weights: {weights.dtype} of shape {weights.shape}; {units} "
                f"units make it int16 of {(3 * units, units)}")
        if not GRU_MIN_FRAC_BITS <= quant.frac_bits <= GRU_MAX_FRAC_BITS:
            raise UnsupportedModelError(
                f"q15 recurrent frac_bits {quant.frac_bits}; the engines take "
                f"{GRU_MIN_FRAC_BITS}..{GRU_MAX_FRAC_BITS}")
        column_sums = np.abs(weights.astype(np.int64)).sum(axis=1)
        if column_sums.max() > GRU_MAX_COLUMN_SUM:
            raise UnsupportedModelError(
                f"q15 recurrent weights: gate column {int(column_sums.argmax())} sums to "
                f"{int(column_sums.max())} q15 steps; its sum over the state would overflow 32 "
                f"bits (at most {GRU_MAX_COLUMN_SUM})")
        exact = (weights.T.astype(np.float64) * 2.0**-quant.frac_bits).astype(np.float32)
        if not np.array_equal(exact, self.gru.recurrent_weights):
            raise UnsupportedModelError("q15 recurrent weights: the float recurrent weights are "
                                        "not their exact values")


# A spec of either family.
AnyModelSpec = ModelSpec | GruSpec
