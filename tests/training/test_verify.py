import numpy as np

from daisynet.training.export import spec_from_keras
from daisynet.training.verify import ROUNDING_MARGIN, compare


def test_exact_engine_passes_within_tolerance(random_wavenet, audio_like):
    model = random_wavenet(2, (4, 4, 4), 3)
    result = compare(model, spec_from_keras(model), audio_like(2000, 2), block_size=48)
    assert result["passed"] and result["criterion"] == "within tolerance of Keras"
    assert result["sim_vs_keras_max_abs_err"] <= 1e-5
    assert result["sim_vs_keras_esr"] < 1e-10


def test_rounding_rule_accepts_an_engine_as_exact_as_keras(random_wavenet, audio_like):
    """With a zero tolerance only the float64 comparison can pass the simulator."""
    model = random_wavenet(2, (4, 4, 4), 3)
    result = compare(model, spec_from_keras(model), audio_like(2000, 2), 48, tolerance=0.0)
    keras_rounding = result["keras_vs_float64_max_abs_err"]
    assert result["sim_vs_float64_max_abs_err"] <= ROUNDING_MARGIN * keras_rounding
    assert result["passed"] and result["criterion"].startswith("float32 rounding")


def test_a_wrong_weight_fails_both_rules(random_wavenet, audio_like):
    model = random_wavenet(2, (4, 4, 4), 3)
    spec = spec_from_keras(model)
    spec.layers[2].weights = spec.layers[2].weights.copy()
    spec.layers[2].weights[0, 0, 0] += np.float32(1e-3)
    result = compare(model, spec, audio_like(2000, 2), block_size=48)
    assert not result["passed"]
    assert result["sim_vs_keras_max_abs_err"] > 1e-5
    keras_rounding = result["keras_vs_float64_max_abs_err"]
    assert result["sim_vs_float64_max_abs_err"] > ROUNDING_MARGIN * keras_rounding
