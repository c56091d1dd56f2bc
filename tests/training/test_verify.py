import numpy as np
import pytest

from daisynet.training.export import spec_from_keras
from daisynet.training.verify import DEFAULT_ENGINES, ROUNDING_MARGIN, compare, verify_engines

pytestmark = pytest.mark.native


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


def test_by_default_the_engine_that_ships_and_the_simulator_are_both_checked(
        tmp_path, random_wavenet, audio_like):
    from daisynet.host_sim.model_defn import render_header
    from tests.conftest import require_tool

    require_tool("g++")
    model = random_wavenet(2, (4, 4, 4), 3)
    spec = spec_from_keras(model)
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(spec, "test"))
    result = verify_engines(model, spec, audio_like(500, 2), 48, header=header)
    assert [figures["engine"] for figures in result["engines"]] == list(DEFAULT_ENGINES)
    assert DEFAULT_ENGINES == ("native", "python")
    assert result["engine"] == "native" and result["passed"]
    assert all(figures["sim_vs_keras_max_abs_err"] <= 1e-5 for figures in result["engines"])


def test_one_failing_engine_fails_the_verification(random_wavenet, audio_like, monkeypatch):
    from daisynet.host_sim.engine import Simulator

    model = random_wavenet(2, (4, 4, 4), 3)
    spec = spec_from_keras(model)
    correct_render = Simulator.render
    monkeypatch.setattr(Simulator, "render", lambda self, inputs, block_size=48, progress=False:
                        correct_render(self, inputs, block_size, progress) + 1e-3)
    result = verify_engines(model, spec, audio_like(500, 2), 48, engines=("python",))
    assert not result["passed"] and not result["engines"][0]["passed"]
