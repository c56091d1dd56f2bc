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


def gru_model_parts(model):
    """(gru, head, skip) layers of a Keras model wired as ``build_gru_model`` wires them (skip
    may be None: the model's output is then the head's), found by their wiring, not their
    names. Raises UnsupportedModelError naming what differs."""
    keras = import_keras()
    from daisynet.host_sim.model_defn import UnsupportedModelError

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    by_type: dict[type, list] = {}
    for layer in layers:
        by_type.setdefault(type(layer), []).append(layer)
    grus = by_type.pop(keras.layers.GRU, [])
    denses = by_type.pop(keras.layers.Dense, [])
    adds = by_type.pop(keras.layers.Add, [])
    if len(grus) != 1 or by_type or len(denses) != 1 + len(adds) or len(adds) > 1:
        found = ", ".join(f"{type(layer).__name__} {layer.name!r}" for layer in layers)
        raise UnsupportedModelError(
            f"a recurrent model must be one GRU, a Dense head on it and optionally a Dense "
            f"skip from the inputs added to it (build_gru_model's shape); this one has {found}")
    (gru,) = grus
    source = model.inputs[0]
    head = next((layer for layer in denses if layer.input is gru.output), None)
    skip = next((layer for layer in denses if layer.input is source), None)
    wired = gru.input is source and head is not None and (
        model.outputs[0] is head.output if not adds else
        skip is not None and model.outputs[0] is adds[0].output
        and {id(t) for t in adds[0].input} == {id(head.output), id(skip.output)})
    if not wired:
        raise UnsupportedModelError(
            "the GRU, head and skip are not wired as build_gru_model wires them (GRU on the "
            "inputs, head on the GRU, skip on the inputs, head + skip the output)")
    return gru, head, skip


def predict_gru_in_keras(model, inputs, chunk: int = 1 << 14):
    """Run a ``build_gru_model``-shaped model (``gru_model_parts``) over a (frames, inputs)
    sequence from zero state; returns (frames, outputs). Long sequences go through in chunks,
    the GRU's state carried from one to the next, so memory stays bounded and the result equals
    one pass over the whole sequence. Keras' own arithmetic, for checking engines against it;
    compiled (``predict``), since an eager GRU call takes about 10 ms a frame."""
    keras = import_keras()
    import numpy as np

    gru, head, skip = gru_model_parts(model)
    frames_in = keras.Input(shape=(None, gru.input.shape[-1]))
    state_in = keras.Input(shape=(gru.units,))
    states = gru(frames_in, initial_state=[state_in])
    output = head(states) if skip is None else head(states) + skip(frames_in)
    stepper = keras.Model([frames_in, state_in], [output, states[:, -1, :]])
    inputs = np.asarray(inputs, dtype=np.float32)
    state = np.zeros((1, gru.units), np.float32)
    outputs = []
    for start in range(0, inputs.shape[0], chunk):
        result, state = stepper.predict([inputs[None, start : start + chunk], state],
                                        verbose=0)
        outputs.append(result[0])
    return np.concatenate(outputs, axis=0) if outputs else np.zeros((0, head.units), np.float32)
