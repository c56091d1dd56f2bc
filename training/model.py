"""The causal dilated-convolution "wavenet" that daisynet trains, exports and runs.

Block i is ``Conv1D(filters[i], K, dilation_rate=K**i, padding="causal", relu)`` followed by
``Conv1D(filters[i], 1, relu)``; a linear 1x1 ``Conv1D(outputs, 1)`` head follows the last
block. The receptive field is K**n_blocks samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from training.quiet_keras import import_keras

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


REFERENCE = Architecture(inputs=3, filters=(4, 4, 4, 8), kernel_size=4)


def build_model(arch: Architecture, seed: int | None = None, name: str = "daisynet_wavenet"):
    """A Keras model taking (batch, time, inputs) and returning (batch, time, outputs)."""
    keras = import_keras()

    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(None, arch.inputs), name="inputs")
    x = inputs
    for block, (filters, dilation) in enumerate(zip(arch.filters, arch.dilations, strict=True)):
        x = keras.layers.Conv1D(
            filters,
            arch.kernel_size,
            dilation_rate=dilation,
            padding="causal",
            activation="relu",
            name=f"block{block}_dilated",
        )(x)
        x = keras.layers.Conv1D(filters, 1, activation="relu", name=f"block{block}_mix")(x)
    outputs = keras.layers.Conv1D(arch.outputs, 1, name="head")(x)
    return keras.Model(inputs, outputs, name=name)


def predict_sequence(model, inputs, receptive_field: int, chunk: int = 1 << 16):
    """Run ``model`` over a (frames, inputs) sequence from zero state; returns (frames, outputs).

    Long sequences go through in chunks that each re-read the previous ``receptive_field``
    frames, so memory stays bounded and the result equals one pass over the whole sequence.
    """
    keras = import_keras()
    import numpy as np

    inputs = np.asarray(inputs, dtype=np.float32)
    frames = inputs.shape[0]
    outputs = []
    for start in range(0, frames, chunk):
        context = min(start, receptive_field)
        piece = inputs[start - context : start + chunk]
        result = model(piece[None], training=False)
        outputs.append(keras.ops.convert_to_numpy(result)[0, context:])
    return np.concatenate(outputs, axis=0) if outputs else np.zeros((0, model.output_shape[-1]))
