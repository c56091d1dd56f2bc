import numpy as np
import pytest

from daisynet.host_sim.model_defn import GruArchitecture
from daisynet.training.model import (
    REFERENCE,
    Architecture,
    build_gru_model,
    build_model,
    predict_sequence,
)


def test_reference_architecture_figures():
    assert REFERENCE.parameters == 465
    assert REFERENCE.macs_per_sample == 424
    assert REFERENCE.receptive_field == 256
    assert REFERENCE.dilations == [1, 4, 16, 64]


@pytest.mark.parametrize(
    ("inputs", "filters", "kernel"),
    [(3, (4, 4, 4, 8), 4), (1, (1, 2), 2), (4, (16, 16, 16), 3), (2, (3, 5, 7, 9, 11, 13), 2)],
)
def test_counts_agree_with_keras(inputs, filters, kernel):
    arch = Architecture(inputs, filters, kernel)
    model = build_model(arch, seed=0)
    assert model.count_params() == arch.parameters
    assert arch.receptive_field == kernel ** len(filters)


def test_receptive_field_is_exact(random_wavenet):
    """An impulse reaches exactly receptive_field - 1 samples later, and no further."""
    model = random_wavenet(1, (3, 3, 3), 2, seed=3)
    arch = Architecture(1, (3, 3, 3), 2)
    base = np.zeros((40, 1), np.float32)
    kicked = base.copy()
    kicked[10, 0] = 1.0
    diff = np.abs(predict_sequence(model, kicked, 8) - predict_sequence(model, base, 8))[:, 0]
    assert np.all(diff[:10] == 0)
    assert np.all(diff[10 + arch.receptive_field :] == 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": 0, "filters": (4,), "kernel_size": 2}, "input channel"),
        ({"inputs": 1, "filters": (), "kernel_size": 2}, "blocks"),
        ({"inputs": 1, "filters": (0,), "kernel_size": 2}, "filters"),
        ({"inputs": 1, "filters": (4,), "kernel_size": 1}, "kernel size"),
    ],
)
def test_invalid_architectures_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Architecture(**kwargs)


def test_chunked_prediction_equals_one_pass(random_wavenet, audio_like):
    model = random_wavenet(2, (4, 4, 4), 3)
    x = audio_like(3000, 2)
    whole = np.asarray(model(x[None], training=False))[0]
    chunked = predict_sequence(model, x, 27, chunk=500)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def _gru_steps(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """GruArchitecture's documented equations in float64, one frame at a time."""
    kernel, recurrent, bias, head, head_bias, skip = (w.astype(np.float64) for w in weights)
    units = recurrent.shape[0]
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    h = np.zeros(units)
    out = []
    for frame in x.astype(np.float64):
        projected = frame @ kernel + bias[0]
        recurrent_part = h @ recurrent + bias[1]
        z = sigmoid(projected[:units] + recurrent_part[:units])
        r = sigmoid(projected[units:2 * units] + recurrent_part[units:2 * units])
        n = np.tanh(projected[2 * units:] + r * recurrent_part[2 * units:])
        h = z * h + (1 - z) * n
        out.append(h @ head + head_bias + frame @ skip)
    return np.array(out)


@pytest.mark.parametrize(("inputs", "units", "outputs", "skip"),
                         [(2, 8, 1, 1), (1, 3, 1, None), (3, 5, 2, 0)])
def test_gru_model_follows_the_documented_equations(inputs, units, outputs, skip):
    arch = GruArchitecture(inputs, units, outputs, skip)
    model = build_gru_model(arch, seed=2)
    assert model.count_params() == arch.parameters
    skip_weights = model.get_layer("input_skip").get_weights()[0]
    expected_skip = np.zeros((inputs, outputs))
    if skip is not None:
        expected_skip[skip] = 1
    np.testing.assert_array_equal(skip_weights, expected_skip)
    # Random skip weights too, so the test sees the skip's wiring and not only its start.
    model.get_layer("input_skip").set_weights([np.random.default_rng(0).normal(
        size=(inputs, outputs)).astype(np.float32)])
    x = np.random.default_rng(1).normal(size=(200, inputs)).astype(np.float32)
    keras_out = np.asarray(model(x[None]))[0]
    weights = [w.numpy() if hasattr(w, "numpy") else np.asarray(w) for w in model.weights]
    np.testing.assert_allclose(keras_out, _gru_steps(weights, x), atol=2e-5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"inputs": 0, "units": 4}, "input channel"),
    ({"inputs": 2, "units": 0}, "units"),
    ({"inputs": 2, "units": 65}, "units"),
    ({"inputs": 2, "units": 4, "skip_input": 2}, "skip input"),
])
def test_gru_architecture_refuses(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GruArchitecture(**kwargs)
