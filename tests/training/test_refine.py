import time

import numpy as np
import pytest

from daisynet.host_sim.native import NativeBuildError
from daisynet.training.builtin_data import make_waveshaper_dataset
from daisynet.training.model import Architecture, build_model
from daisynet.training.refine import every_nth_window, objective_for, refine
from daisynet.training.windows import dealt_splits, make_windows
from tests.conftest import require_tool

pytestmark = pytest.mark.native

ARCH = Architecture(inputs=3, filters=(3, 3), kernel_size=3)
WARMUP = ARCH.receptive_field


@pytest.fixture(scope="module")
def windows():
    dataset = make_waveshaper_dataset(3.0, seed=1)
    inputs = dataset.select(["knob_1", "knob_2", "audio_in_1"])
    target = dataset.select(["audio_in_2"])
    splits = dealt_splits(dataset.frames, dataset.sample_rate, 0.1, 0.1)
    return {name: make_windows(inputs, target, splits[name], WARMUP, 256, [])
            for name in ("train", "validation")}


def energies(windows):
    return {name: float(np.mean(y[:, WARMUP:] ** 2)) for name, (_, y) in windows.items()}


def masked_mse(model, x, y):
    prediction = np.asarray(model(x, training=False))
    return float(np.mean((y[:, WARMUP:] - prediction[:, WARMUP:]) ** 2))


def weights(model):
    return [w.copy() for w in model.get_weights()]


def cpp_objective(model):
    require_tool("g++")
    return objective_for(model, WARMUP)


def test_without_g_plus_plus_the_objective_says_what_to_install(tmp_path, monkeypatch):
    """Training has one objective, the C++ kernel: where it cannot be built (no g++, no
    cached library), training stops before it starts, with one line saying what to install."""
    monkeypatch.setenv("DAISYNET_CACHE_DIR", str(tmp_path))  # no cached library either
    monkeypatch.setattr("daisynet.host_sim.native.shutil.which", lambda name: None)
    with pytest.raises(NativeBuildError) as raised:
        objective_for(build_model(ARCH, seed=5), WARMUP)
    message = str(raised.value)
    assert "training needs g++" in message and "apt-get install g++" in message
    assert "\n" not in message


def test_refining_lowers_the_loss_and_keeps_the_best_validation_weights(windows):
    model = build_model(ARCH, seed=5)  # a live start (seed 3's ReLUs are all dead)
    lines = []
    result = refine(model, cpp_objective(model), windows["train"], windows["validation"],
                    WARMUP, 40, energies(windows), lines.append, check_every=10)
    assert 0 < result.iterations_run <= 40 and not result.interrupted
    iterations, train, val = zip(*result.checks, strict=True)
    assert train[-1] < 0.75 * train[0]
    assert min(val) < val[0]
    assert iterations[0] == 0 and iterations[-1] == result.iterations_run
    best = int(np.argmin(val))
    assert result.best_iteration == iterations[best]
    assert masked_mse(model, *windows["validation"]) == pytest.approx(val[best], rel=1e-4)
    assert len(lines) == len(iterations) - 1  # one line per check after the start
    assert all("val_esr" in line and "best" in line and "ETA" in line for line in lines)


def test_a_passed_deadline_stops_before_the_first_iteration_and_changes_nothing(windows):
    model = build_model(ARCH, seed=3)
    start = weights(model)
    result = refine(model, cpp_objective(model), windows["train"], windows["validation"],
                    WARMUP, 40, energies(windows), lambda line: None,
                    deadline=time.perf_counter())
    assert result.out_of_time and result.iterations_run == 0 and result.best_iteration == 0
    for kept, original in zip(weights(model), start, strict=True):
        np.testing.assert_array_equal(kept, original)


def test_ctrl_c_keeps_the_best_weights_checked_so_far(windows):
    model = build_model(ARCH, seed=5)

    def interrupting_log(line):
        if "val_esr" in line:  # a check's line, not the objective's
            raise KeyboardInterrupt

    result = refine(model, cpp_objective(model), windows["train"], windows["validation"],
                    WARMUP, 40, energies(windows), interrupting_log, check_every=5)
    assert result.interrupted and result.iterations_run == 5
    _, _, val = zip(*result.checks, strict=True)
    assert masked_mse(model, *windows["validation"]) == pytest.approx(min(val), rel=1e-4)


def test_ctrl_c_during_the_first_evaluation_changes_nothing(windows):
    """Ctrl-C before the first iteration ends the stage like any other Ctrl-C: interrupted,
    the starting weights kept, nothing raised."""
    model = build_model(ARCH, seed=5)
    start = weights(model)

    def interrupted_objective(theta, x, y):
        raise KeyboardInterrupt

    result = refine(model, interrupted_objective, windows["train"], windows["validation"],
                    WARMUP, 40, energies(windows), print)
    assert result.interrupted and result.iterations_run == 0
    for kept, original in zip(weights(model), start, strict=True):
        np.testing.assert_array_equal(kept, original)


def test_the_refined_share_is_spread_over_the_whole_split():
    x = np.arange(10)[:, None, None] * np.ones((10, 4, 1))
    picked, _ = every_nth_window((x, x), 0.25)
    assert picked[:, 0, 0].tolist() == [0, 4, 8]
    assert len(every_nth_window((x, x), 1.0)[0]) == 10
    for share in (0.0, 1.5):
        with pytest.raises(ValueError, match="share"):
            every_nth_window((x, x), share)


def test_validation_that_stops_improving_stops_refining_and_keeps_the_best(windows):
    """Issue 24, item 3: on the overdrive L-BFGS's training ESR fell while validation rose at
    every check. Here validation asks for the opposite of training's target, so every step on
    the training loss is a step back on validation: refining stops after ``patience`` worse
    checks and keeps the best weights checked."""
    model = build_model(ARCH, seed=5)
    x, y = windows["validation"]
    lines = []
    result = refine(model, cpp_objective(model), windows["train"], (x, -y), WARMUP, 100,
                    energies(windows), lines.append, check_every=5, patience=2)
    assert result.stopped_by_validation and not result.out_of_time
    assert result.iterations_run == result.best_iteration + 2 * 5 < 100
    _, _, val = zip(*result.checks, strict=True)
    assert masked_mse(model, x, -y) == pytest.approx(min(val), rel=1e-4)
    assert lines[-1] == "refine stopped: no better validation ESR in 2 checks (10 iterations)"
