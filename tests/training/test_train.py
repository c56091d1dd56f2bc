import json

import numpy as np
import pytest

from host_sim.model_defn import read_header
from tools.builtin_data import make_waveshaper_dataset
from tools.cli import main
from training import train as train_module
from training.model import build_model
from training.train import TrainConfig, dead_layers, learning_rate_at, train

INPUTS = ["knob_1", "knob_2", "audio_in_1"]


SMALL = dict(inputs=INPUTS, target="audio_in_2", filters=(3, 3), kernel_size=3, scored_frames=256)


def _interrupt_at_epoch(monkeypatch, epoch: int) -> None:
    """Ctrl-C at the end of epoch ``epoch`` (0-based) of the run, after it was logged."""
    real = train_module._run_callback

    def run_callback(*args, **kwargs):
        callback = real(*args, **kwargs)
        logged = callback.on_epoch_end

        def on_epoch_end(index, logs=None):
            logged(index, logs)
            if index == epoch:
                raise KeyboardInterrupt

        callback.on_epoch_end = on_epoch_end
        return callback

    monkeypatch.setattr(train_module, "_run_callback", run_callback)


def test_ctrl_c_during_training_leaves_exportable_best_models(tmp_path, monkeypatch):
    """Issue 10, finding 9, and issue 12: model.keras with its training.json, and
    checkpoints/best.keras, both export with the dataset's channel names after Ctrl-C."""
    _interrupt_at_epoch(monkeypatch, 2)
    config = TrainConfig(**SMALL, max_epochs=8, seed=5)
    lines = []
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    assert report["interrupted"] and report["epochs_run"] == 3
    assert any("interrupted after 3 epochs" in line for line in lines)
    assert json.loads((tmp_path / "training.json").read_text())["interrupted"]
    for model in ("model.keras", "checkpoints/best.keras"):
        header = tmp_path / (model.replace("/", "_") + ".h")
        assert main(["export", str(tmp_path / model), "-o", str(header)]) == 0
        spec = read_header(header)
        assert spec.input_names == INPUTS and spec.output_names == ["audio_in_2"]


def test_ctrl_c_during_the_candidates_keeps_the_best_finished_one(tmp_path, monkeypatch):
    real_build = train_module.build_model
    built = []

    def build(*args, **kwargs):
        model = real_build(*args, **kwargs)
        built.append(model)
        if len(built) == 2:  # Ctrl-C while the second candidate trains
            def interrupted_fit(*_, **__):
                raise KeyboardInterrupt

            model.fit = interrupted_fit
        return model

    monkeypatch.setattr(train_module, "build_model", build)
    config = TrainConfig(**SMALL, max_epochs=8, candidates=3, seed=5)
    lines = []
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    assert len(built) == 2 and report["interrupted"] and report["chosen_seed"] == 5
    assert report["epochs_run"] == 2  # the first candidate's, and no more
    assert "interrupted during the candidates; keeping seed 5" in lines
    assert main(["export", str(tmp_path / "model.keras"), "-o", str(tmp_path / "m.h")]) == 0


def test_ctrl_c_before_the_first_epoch_ends_saves_nothing(tmp_path, monkeypatch):
    real_build = train_module.build_model

    def build(*args, **kwargs):
        model = real_build(*args, **kwargs)

        def interrupted_fit(*_, **__):
            raise KeyboardInterrupt

        model.fit = interrupted_fit
        return model

    monkeypatch.setattr(train_module, "build_model", build)
    with pytest.raises(KeyboardInterrupt):
        train(make_waveshaper_dataset(3.0, seed=1), TrainConfig(**SMALL, max_epochs=4),
              tmp_path, log=lambda line: None)
    assert not (tmp_path / "model.keras").exists()


def test_a_dead_start_is_replaced_by_the_next_seed(tmp_path, monkeypatch):
    """A start whose first block never fires (every ReLU off for all inputs) learns nothing:
    the run starts again from the next seed and records why."""
    real_build = train_module.build_model
    seeds = []

    def build(arch, seed=None, name="m"):
        model = real_build(arch, seed=seed, name=name)
        seeds.append(seed)
        if seed == 5:
            layer = model.get_layer("block0_dilated")
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, bias - 100.0])  # far below any input's reach
        return model

    monkeypatch.setattr(train_module, "build_model", build)
    lines = []
    report = train(make_waveshaper_dataset(3.0, seed=1),
                   TrainConfig(**SMALL, max_epochs=2, candidates=1, seed=5),
                   tmp_path, log=lines.append)
    assert seeds == [5, 6] and report["chosen_seed"] == 6
    assert report["restarts"] == [{"seed": 5, "epochs": 0,
                                   "reason": "every ReLU of block0_dilated is off from the start"}]
    assert any("seed 5: every ReLU of block0_dilated is off" in line for line in lines)
    assert report["epochs_run"] == 2


def test_dead_layers_names_exactly_the_silent_ones():
    arch = TrainConfig(**SMALL).architecture()
    model = build_model(arch, seed=0)
    probe = np.random.default_rng(0).uniform(-1, 1, (4, 64, 3)).astype(np.float32)
    assert dead_layers(model, probe) == []
    layer = model.get_layer("block1_mix")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, bias - 1e3])
    assert dead_layers(model, probe) == ["block1_mix"]


def test_max_seconds_stops_the_run_and_ends_the_schedule(tmp_path):
    lines = []
    config = TrainConfig(**SMALL, max_epochs=50, max_seconds=1e-3)
    report = train(make_waveshaper_dataset(3.0, seed=1), config, tmp_path, log=lines.append)
    assert report["epochs_run"] == 1 and not report["interrupted"]
    final = f"lr {learning_rate_at(1.0, config):.1e}"
    assert any(line.startswith("candidate 1/3 (seed 0): epoch   1/50") and final in line
               for line in lines)
    assert not any("candidate 2/3" in line for line in lines)  # the time is up for them too


def test_learning_rate_warms_up_then_decays_on_a_cosine():
    config = TrainConfig(**SMALL, learning_rate=0.01, warmup_fraction=0.1, final_lr_fraction=0.05)
    assert learning_rate_at(0.0, config) == pytest.approx(0.001)
    assert learning_rate_at(0.05, config) == pytest.approx(0.0055)
    assert learning_rate_at(0.1, config) == pytest.approx(0.01)
    assert learning_rate_at(0.55, config) == pytest.approx(0.01 * (0.05 + 0.95 * 0.5))
    assert learning_rate_at(1.0, config) == pytest.approx(0.0005)
    decay = [learning_rate_at(p, config) for p in np.linspace(0.1, 1.0, 50)]
    assert all(later < earlier for earlier, later in zip(decay, decay[1:]))
