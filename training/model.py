"""The causal dilated-convolution "wavenet" that daisynet trains, exports and runs.

Block i is ``Conv1D(filters[i], K, dilation_rate=K**i, padding="causal", relu)`` followed by
``Conv1D(filters[i], 1, relu)``; a linear 1x1 ``Conv1D(outputs, 1)`` head follows the last
block. The receptive field is K**n_blocks samples.
"""

from __future__ import annotations

from daisynet.host_sim.model_defn import Architecture
from daisynet.training.quiet_keras import import_keras

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
