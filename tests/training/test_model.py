import numpy as np
import pytest

from daisynet.training.model import REFERENCE, Architecture, build_model, predict_sequence


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
