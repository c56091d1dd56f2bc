"""A GRU model from Keras to the model_defn.h contract: spec_from_keras, the float64 reference,
Keras' stateful chunked prediction, export's header and golden vectors, and what is refused."""

from pathlib import Path

import numpy as np
import pytest

from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.model_defn import (
    GruArchitecture,
    GruSpec,
    UnsupportedModelError,
    read_golden,
    read_header,
)
from daisynet.host_sim.reference import reference_output
from daisynet.training.export import export, load_keras, spec_from_keras
from daisynet.training.model import build_gru_model, predict_gru_in_keras
from daisynet.training.quiet_keras import import_keras
from daisynet.training.record import TrainingRecord


def random_gru_model(inputs: int = 2, units: int = 8, seed: int = 0):
    """``build_gru_model`` with every weight random (Keras starts the biases at 0 and the
    skip at 0/1, which would hide bias and skip handling bugs)."""
    model = build_gru_model(GruArchitecture(inputs, units, 1, skip_input=inputs - 1), seed=seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.set_weights([w + rng.uniform(-0.2, 0.2, w.shape).astype(np.float32)
                           for w in layer.get_weights()])
    return model


def knob_and_audio(frames: int, seed: int = 0) -> np.ndarray:
    """A knob stepping per 48-frame block in 0..1 and audio-like noise in -1..1."""
    rng = np.random.default_rng(seed)
    knob = np.repeat(rng.uniform(0, 1, -(-frames // 48)), 48)[:frames]
    return np.stack([knob, rng.uniform(-1, 1, frames)], axis=1).astype(np.float32)


@pytest.mark.parametrize("units", [8, 32])
def test_the_float64_reference_matches_keras_on_2000_frames(units):
    model = random_gru_model(units=units, seed=units)
    spec = spec_from_keras(model)
    assert isinstance(spec, GruSpec) and spec.units == units
    inputs = knob_and_audio(2000, seed=1)
    keras_out = model.predict(inputs[None], verbose=0)[0]
    exact = reference_output(spec, inputs)
    assert exact.shape == (2000, 1)
    assert np.max(np.abs(exact - keras_out)) < 1e-5
    assert np.std(keras_out) > 0.05  # the check compares a live signal, not near-zeros


def test_spec_from_keras_takes_the_weights_as_keras_holds_them():
    model = random_gru_model(inputs=3, units=5)
    spec = spec_from_keras(model)
    kernel, recurrent, bias = model.get_layer("gru").get_weights()
    assert np.array_equal(spec.gru.input_weights, kernel)
    assert np.array_equal(spec.gru.recurrent_weights, recurrent)
    assert np.array_equal(spec.gru.input_bias, bias[0])
    assert np.array_equal(spec.gru.recurrent_bias, bias[1])
    head_kernel, head_bias = model.get_layer("head").get_weights()
    assert np.array_equal(spec.head_weights, head_kernel)
    assert np.array_equal(spec.head_bias, head_bias)
    assert np.array_equal(spec.input_skip_weights, model.get_layer("input_skip").get_weights()[0])
    assert spec.name == "daisynet_gru" and spec.architecture() == GruArchitecture(3, 5, 1)


def test_keras_prediction_in_chunks_carries_the_state_across_them():
    model = random_gru_model()
    inputs = knob_and_audio(1000)
    whole = model.predict(inputs[None], verbose=0)[0]
    np.testing.assert_allclose(predict_gru_in_keras(model, inputs, chunk=300), whole, atol=1e-6)


def recurrent_model(make_recurrent, head_activation=None, skip_bias=False, skip=True):
    keras = import_keras()
    inputs = keras.Input(shape=(None, 2), name="inputs")
    state = make_recurrent(keras)(inputs)
    head = keras.layers.Dense(1, activation=head_activation, name="head")(state)
    if not skip:
        return keras.Model(inputs, head)
    skipped = keras.layers.Dense(1, use_bias=skip_bias, name="input_skip")(inputs)
    return keras.Model(inputs, keras.layers.Add(name="output")([head, skipped]))


@pytest.mark.parametrize("model, message", [
    (lambda: recurrent_model(lambda k: k.layers.LSTM(4, return_sequences=True, name="lstm")),
     "layer 'lstm' is a LSTM; the engine's recurrent layer is a GRU"),
    (lambda: recurrent_model(lambda k: k.layers.GRU(4, return_sequences=True, reset_after=False,
                                                    name="g")),
     "GRU 'g': reset_after=False; the engine runs reset_after=True"),
    (lambda: recurrent_model(lambda k: k.layers.GRU(4, return_sequences=True, activation="relu",
                                                    name="g")),
     "GRU 'g': activation='relu'; the engine runs activation='tanh'"),
    (lambda: recurrent_model(lambda k: k.layers.GRU(4, return_sequences=True, go_backwards=True,
                                                    name="g")),
     "GRU 'g': go_backwards=True; the engine runs go_backwards=False"),
    (lambda: recurrent_model(lambda k: k.layers.GRU(4, return_sequences=True, name="g"),
                             head_activation="tanh"),
     "head 'head': activation 'tanh'; the engine's head is linear"),
    (lambda: recurrent_model(lambda k: k.layers.GRU(4, return_sequences=True, name="g"),
                             skip_bias=True),
     "skip 'input_skip' has a bias; the engine's input skip is bias-free (the head's bias is "
     "the model's)"),
    (lambda: recurrent_model(lambda k: lambda x: k.layers.GRU(
        4, return_sequences=True, name="g2")(k.layers.GRU(4, return_sequences=True, name="g1")(x))),
     "a recurrent model must be one GRU, a Dense head on it and optionally a Dense skip from "
     "the inputs added to it (build_gru_model's shape); this one has GRU 'g1', GRU 'g2', "
     "Dense 'head', Dense 'input_skip', Add 'output'"),
], ids=["lstm", "reset-before", "relu", "backwards", "tanh-head", "skip-bias", "two-grus"])
def test_a_recurrent_model_the_engine_cannot_run_is_refused_in_one_line(model, message):
    with pytest.raises(UnsupportedModelError) as err:
        spec_from_keras(model())
    assert str(err.value) == message


def test_a_gru_without_a_skip_exports_with_a_zero_skip():
    model = recurrent_model(lambda k: k.layers.GRU(3, return_sequences=True, name="g"),
                            skip=False)
    spec = spec_from_keras(model)
    assert not spec.input_skip_weights.any()
    inputs = knob_and_audio(200)
    np.testing.assert_allclose(reference_output(spec, inputs),
                               model.predict(inputs[None], verbose=0)[0], atol=1e-5)


def test_export_writes_a_gru_header_and_golden_vectors_of_the_simulator(tmp_path):
    model = random_gru_model(units=6, seed=2)
    folder = tmp_path / "m"
    folder.mkdir()
    model.save(folder / "model.keras")
    TrainingRecord(name="gru_test", sample_rate=48_000, inputs=["knob_1", "audio_in_1"],
                   target="audio_out_1", model_file="model.keras").write(folder)
    spec, header, golden = export(folder / "model.keras", tmp_path / "out" / "model_defn.h",
                                  command="daisynet test")
    back = read_header(header)
    assert isinstance(back, GruSpec) and back.weights_sha256() == spec.weights_sha256()
    assert (back.name, back.input_names, back.output_names) == (
        "gru_test", ["knob_1", "audio_in_1"], ["audio_out_1"])
    inputs, outputs = read_golden(golden, back)
    assert inputs.shape == (512, 2)
    assert np.array_equal(outputs, Simulator(back).render(inputs, 1))
    assert "the cmsisdsp simulator's outputs for them" in Path(golden).read_text()
    # Keras and the exact reference agree with them within float32 rounding and the
    # activations' error.
    keras_out = predict_gru_in_keras(load_keras(folder / "model.keras"), inputs)
    assert np.max(np.abs(keras_out - outputs)) < 1e-5
    assert np.max(np.abs(reference_output(back, inputs) - outputs)) < 1e-5
