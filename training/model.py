"""The model families daisynet trains, exports and runs: the causal dilated-convolution
"wavenet" and a recurrent (GRU) model.

Block i is ``Conv1D(filters[i], K, dilation_rate=K**i, padding="causal", relu)`` followed by
``Conv1D(filters[i], 1, relu)``; a linear 1x1 ``Conv1D(outputs, 1)`` head follows the last
block. The receptive field is K**n_blocks samples. The GRU model is described in
``GruArchitecture``.
"""

from __future__ import annotations

from daisynet.host_sim.model_defn import Architecture, GruArchitecture
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


def build_gru_model(arch: GruArchitecture, seed: int | None = None, name: str = "daisynet_gru"):
    """A Keras model taking (batch, time, inputs) and returning (batch, time, outputs): a GRU
    layer "gru" (reset_after, Keras' default gates), a linear Dense "head" on its state, plus
    a bias-free Dense "input_skip" straight from the inputs, its weights starting at 1 from
    ``arch.skip_input`` (if any) and 0 elsewhere."""
    keras = import_keras()
    import numpy as np

    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(None, arch.inputs), name="inputs")
    state = keras.layers.GRU(arch.units, return_sequences=True, name="gru")(inputs)
    head = keras.layers.Dense(arch.outputs, name="head")(state)
    skip_layer = keras.layers.Dense(arch.outputs, use_bias=False, name="input_skip")
    outputs = keras.layers.Add(name="output")([head, skip_layer(inputs)])
    model = keras.Model(inputs, outputs, name=name)
    skip = np.zeros((arch.inputs, arch.outputs), dtype=np.float32)
    if arch.skip_input is not None:
        skip[arch.skip_input, :] = 1.0
    skip_layer.set_weights([skip])
    return model


def build_for(arch: Architecture | GruArchitecture, seed: int | None = None,
              name: str | None = None):
    """``build_model`` or ``build_gru_model``, by the family of ``arch``."""
    if isinstance(arch, GruArchitecture):
        return build_gru_model(arch, seed=seed, name=name or "daisynet_gru")
    return build_model(arch, seed=seed, name=name or "daisynet_wavenet")


def predict_sequence(model, inputs, receptive_field: int, chunk: int = 1 << 16):
    """Run ``model`` over a (frames, inputs) sequence from zero state; returns (frames, outputs).

    Long sequences go through in chunks that each re-read the previous ``receptive_field``
    frames, so memory stays bounded and the result equals one pass over the whole sequence.
    A GRU model carries its state from chunk to chunk instead (``receptive_field`` unused),
    through the C++ forward pass: Keras' GRU takes minutes per second of audio on a CPU.
    """
    keras = import_keras()
    import numpy as np

    from daisynet.training.recurrent import gru_architecture_of, predict_gru_sequence

    if gru_architecture_of(model) is not None:
        return predict_gru_sequence(model, inputs, chunk)

    inputs = np.asarray(inputs, dtype=np.float32)
    frames = inputs.shape[0]
    outputs = []
    for start in range(0, frames, chunk):
        context = min(start, receptive_field)
        piece = inputs[start - context : start + chunk]
        result = model(piece[None], training=False)
        outputs.append(keras.ops.convert_to_numpy(result)[0, context:])
    return np.concatenate(outputs, axis=0) if outputs else np.zeros((0, model.output_shape[-1]))
