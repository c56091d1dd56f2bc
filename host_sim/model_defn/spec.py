"""What the inference engine runs: a stack of causal convolutions with their weights.

Keras models and ``model_defn.h`` headers both load into a ``ModelSpec``; the exporter writes
one and the simulator runs one, so the checks here are the single list of what the engine (and
the firmware built from the same header) can execute. ``Architecture`` is the shape alone, which
training builds Keras models from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

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


class UnsupportedModelError(ValueError):
    """The model uses something the inference engine cannot run; the message says what."""


@dataclass
class ConvLayer:
    """``out[t] = act(bias + sum_k in[t - (kernel-1-k)*dilation] @ weights[k])``."""

    name: str
    weights: np.ndarray  # (kernel, in_channels, out_channels) float32
    bias: np.ndarray  # (out_channels,) float32
    dilation: int
    relu: bool

    @property
    def kernel(self) -> int:
        return int(self.weights.shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.weights.shape[1])

    @property
    def out_channels(self) -> int:
        return int(self.weights.shape[2])


@dataclass
class ModelSpec:
    layers: list[ConvLayer]
    name: str = "daisynet_wavenet"
    sample_rate: int | None = None
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.input_names:
            self.input_names = [f"input_{i + 1}" for i in range(self.inputs)]
        if not self.output_names:
            self.output_names = [f"output_{i + 1}" for i in range(self.outputs)]

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

    def weight_flash_bytes(self) -> int:
        """Flash the weight and bias arrays take in model_defn.h: float32, each array aligned
        to 16 bytes (so up to 12 bytes of padding before the next)."""
        return sum(-(-4 * array.size // 16) * 16 for layer in self.layers
                   for array in (layer.weights, layer.bias))

    def weights_sha256(self) -> str:
        """Hash of everything that decides what the model does with its inputs: per layer its
        shape (kernel, dilation, in and out channels, relu as five uint32) then its weights and
        bias (float32), all little-endian, in layer order; then the input and output names in
        order and the sample rate, as JSON (see behaviour_json). Not the name, which only
        labels the model."""
        digest = hashlib.sha256()
        for layer in self.layers:
            shape = (layer.kernel, layer.dilation, layer.in_channels, layer.out_channels,
                     int(layer.relu))
            digest.update(np.array(shape, dtype="<u4").tobytes())
            digest.update(np.ascontiguousarray(layer.weights, dtype="<f4").tobytes())
            digest.update(np.ascontiguousarray(layer.bias, dtype="<f4").tobytes())
        digest.update(self.behaviour_json().encode())
        return digest.hexdigest()

    def behaviour_json(self) -> str:
        """The part of weights_sha256 beyond the layers: which channel goes where, and at
        what rate, which change the model's output as much as its weights do."""
        return json.dumps({"inputs": self.input_names, "outputs": self.output_names,
                           "sample_rate": int(self.sample_rate or 0)}, sort_keys=True,
                          separators=(",", ":"))

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
                bad = ~np.isfinite(values)
                if bad.any():
                    raise UnsupportedModelError(
                        f"{where}: {int(bad.sum())} non-finite {label} (NaN/inf); "
                        "the training diverged"
                    )
        if len(self.input_names) != self.inputs or len(self.output_names) != self.outputs:
            raise UnsupportedModelError(
                f"names given for {len(self.input_names)} inputs / {len(self.output_names)} "
                f"outputs, but the model has {self.inputs} / {self.outputs}"
            )
