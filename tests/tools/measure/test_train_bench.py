"""The training benchmark's bookkeeping, on a tiny configuration (its figures are the bench's
business; here: that its rows and verdicts say what happened)."""

import pytest

from daisynet.tools.cli import main
from daisynet.tools.measure import train_bench
from daisynet.training.train import TrainConfig
from tests.conftest import require_tool

pytestmark = pytest.mark.native


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(train_bench, "DEMO_SECONDS", 3.0)

    def tiny_config(seed, **overrides):
        return TrainConfig(inputs=train_bench.INPUTS, target=train_bench.TARGET, filters=(3, 3),
                           kernel_size=3, scored_frames=256, max_epochs=3, candidates=2,
                           refine_iterations=5, seed=seed, **overrides)

    monkeypatch.setattr(train_bench, "_config", tiny_config)


def test_seeds_rows_and_spread(tiny):
    lines = []
    result = train_bench.bench_seeds([0, 1], lines.append)
    assert [row["seed"] for row in result["rows"]] == [0, 1]
    for row in result["rows"]:
        assert row["epochs"] == 3 and 0 < row["refine_iterations"] <= 5
        assert row["chosen_seed"] in (row["seed"], row["seed"] + 1)
    esrs = [row["test_esr"] for row in result["rows"]]
    assert result["spread"]["test_esr_max"] == max(esrs)
    assert any(line.startswith("test ESR") for line in lines)


def test_starts_counts_dead_candidates_and_dead_keeps(tiny, monkeypatch):
    dead_seeds = {1, 2}
    seeds_trained = []

    def start_by_seed(config, objective, windows, seed, epochs):
        seeds_trained.append(seed)
        warmup = config.architecture().receptive_field
        energy = float((windows["validation"][1][:, warmup:] ** 2).mean())
        return energy * (1.0 if seed in dead_seeds else 0.3)

    monkeypatch.setattr(train_bench, "_start_val_esr", start_by_seed)
    lines = []
    result = train_bench.bench_starts(3, lines.append)
    assert seeds_trained == [0, 1, 2, 3]  # 3 runs of 2 candidates: seeds 0..3
    assert result["dead_starts"] == 2
    assert [row["dead"] for row in result["rows"]] == [[1], [1, 2], [2]]
    assert [row["kept_dead"] for row in result["rows"]] == [False, True, False]
    assert result["runs_keeping_a_dead_model"] == 1
    assert "2 of 4 starts dead" in lines[-1] and "caught 2" in lines[-1]


def test_the_cli_picks_the_mode(tiny, monkeypatch):
    called = []
    monkeypatch.setattr(train_bench, "bench_starts", lambda runs, log: called.append(runs) or {})
    assert main(["train-bench", "--starts", "20"]) == 0
    assert called == [20]
    monkeypatch.setattr(train_bench, "bench_objective",
                        lambda evaluations, log: called.append(("objective", evaluations)) or {})
    assert main(["train-bench", "--objective", "3"]) == 0
    assert called == [20, ("objective", 3)]


def test_objective_times_both_and_they_agree(tiny):
    require_tool("g++")
    lines = []
    result = train_bench.bench_objective(2, lines.append)
    seconds = result["seconds_per_evaluation"]
    assert set(seconds) == {"C++", "TensorFlow"} and all(s > 0 for s in seconds.values())
    assert result["speedup"] == pytest.approx(seconds["TensorFlow"] / seconds["C++"])
    assert result["max_relative_gradient_difference"] < 1e-4
    assert "ms per evaluation" in lines[1] and "faster" in lines[-1]
