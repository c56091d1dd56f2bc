"""The end-to-end demo: built-in data -> trained reference model -> header -> verified simulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from daisynet.host_sim.daisy_target import BLOCK_FRAMES
from daisynet.host_sim.files import write_text
from daisynet.host_sim.model_defn import golden_path, read_golden, read_header
from daisynet.tools.capture import CaptureRequest, capture_emulated
from daisynet.training.builtin_data import INPUTS, TARGET, make_waveshaper_dataset
from daisynet.training.dataset import describe, load_dataset
from daisynet.training.export import export, load_keras
from daisynet.training.metrics import esr
from daisynet.training.model import REFERENCE, predict_sequence
from daisynet.training.plots import plot_predictions
from daisynet.training.progress import plural
from daisynet.training.train import TrainConfig, train
from daisynet.training.verify import compare

# A second take of the built-in device, from data seed seed + this offset: material nobody
# trained, validated or split on, so its ESR does not depend on which chunks the test split got.
FRESH_TAKE_SEED_OFFSET = 1000
FRESH_TAKE_SECONDS = 20.0


def run_demo(
    out_dir: Path,
    seconds: float,
    max_epochs: int,
    seed: int,
    command: str,
    log: Callable[[str], None] = print,
    source: str = "builtin",
    refine_iterations: int = TrainConfig.refine_iterations,
) -> dict:
    """Run every step, write report.json into ``out_dir`` and return it. ``source`` "emulated"
    records the built-in dataset through the emulated datalogger and trains on the capture."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)

    log(f"[1/4] generating the built-in waveshaper dataset ({seconds:g} s, seed {seed})")
    generated = make_waveshaper_dataset(seconds, seed)
    if source == "emulated":
        log("      capturing it through the emulated datalogger (firmware encoder, pty, pyserial)")
        # The demo remakes its own folder on every run, as the builtin source does.
        captured = capture_emulated(
            generated, CaptureRequest(out_dir / "dataset" / "waveshaper", force=True),
            progress=False, log=lambda line: log("      " + line))
        wav_path = captured.dataset_path
    else:
        wav_path, _ = generated.save(out_dir / "dataset" / "waveshaper")
    dataset = load_dataset(wav_path, required_channels=[*INPUTS, TARGET])
    log(f"      {describe(dataset)}")

    log(f"[2/4] training the reference wavenet (filters {list(REFERENCE.filters)}, "
        f"K={REFERENCE.kernel_size})")
    config = TrainConfig(
        inputs=INPUTS,
        target=TARGET,
        filters=REFERENCE.filters,
        kernel_size=REFERENCE.kernel_size,
        max_epochs=max_epochs,
        refine_iterations=refine_iterations,
        seed=seed,
    )
    training = train(dataset, config, out_dir, log=lambda line: log("      " + line))

    log("[3/4] exporting model_defn.h with golden vectors from held-out test audio")
    # The test split's first range: held-out audio the model plays continuously.
    first, frames = training["splits"]["test"]["ranges"][0]
    held_out = dataset.select(INPUTS)[first : first + frames]
    model_path = out_dir / "model.keras"
    header = out_dir / "model_defn.h"
    spec, header, golden = export(model_path, header, command=command, golden_inputs=held_out)
    log(f"      {header} and {golden.name}")

    log("[4/4] verifying the simulator, reading the exported header, against Keras")
    header_spec = read_header(header)
    keras_model = load_keras(model_path)
    fresh = make_waveshaper_dataset(FRESH_TAKE_SECONDS, seed + FRESH_TAKE_SEED_OFFSET)
    fresh_output = predict_sequence(keras_model, fresh.select(INPUTS), REFERENCE.receptive_field)
    fresh_take_esr = esr(fresh.select([TARGET])[:, 0], fresh_output[:, 0])
    golden_inputs, golden_outputs = read_golden(golden_path(header), header_spec)
    on_test = compare(keras_model, header_spec, held_out, block_size=BLOCK_FRAMES)
    on_golden = compare(keras_model, header_spec, golden_inputs, block_size=7)
    plot_predictions(
        on_test["keras"][:, 0], on_test["simulator"][:, 0], dataset.sample_rate, 0,
        out_dir / "verify.png",
        title=f"{'PASS' if on_test['passed'] else 'FAIL'}: simulator (from model_defn.h) vs Keras "
              f"on the test split, ESR {on_test['sim_vs_keras_esr']:.2e}",
        reference_label="Keras", prediction_label="simulator",
    )

    report = {
        "data_source": source,
        "params": training["params"],
        "macs_per_sample": training["macs_per_sample"],
        "receptive_field": training["receptive_field"],
        "test_esr": training["test_esr"],
        "test_esr_pre_emphasis": training["splits"]["test"]["esr_pre_emphasis"],
        "fresh_take_esr": fresh_take_esr,
        "fresh_take_seconds": FRESH_TAKE_SECONDS,
        "validation_esr": training["splits"]["validation"]["esr"],
        "sim_vs_keras_max_abs_err": on_test["sim_vs_keras_max_abs_err"],
        "sim_vs_keras_esr": on_test["sim_vs_keras_esr"],
        "keras_vs_float64_max_abs_err": on_test["keras_vs_float64_max_abs_err"],
        "sim_vs_float64_max_abs_err": on_test["sim_vs_float64_max_abs_err"],
        "golden_sim_vs_keras_max_abs_err": on_golden["sim_vs_keras_max_abs_err"],
        "verify_passed": on_test["passed"] and on_golden["passed"],
        "verify_criterion": on_test["criterion"],
        "verified_frames": on_test["frames"],
        "train_seconds": training["train_seconds"],
        "epochs_run": training["epochs_run"],
        "adam_epochs_total": training["adam_epochs_total"],
        "refine_iterations": training["refine"]["iterations_run"],
        "total_seconds": time.perf_counter() - started,
        "weights_sha256": spec.weights_sha256(),
        "files": {
            "dataset": str(wav_path),
            "model": str(model_path),
            "header": str(header),
            "golden": str(golden),
            "plots": [str(out_dir / name) for name in
                      ("loss.png", "test_prediction.png", "knobs.png", "verify.png")],
        },
    }
    write_text(out_dir / "report.json", json.dumps(report, indent=2) + "\n")

    log("")
    for label, value in summary_rows(report):
        log(f"  {label:<22} {value}")
    log(f"  everything is in {out_dir}/ (report.json, model_defn.h, *.png)")
    if not report["verify_passed"]:
        report["exit_status"] = 1
    return report


def summary_rows(report: dict) -> list[tuple[str, str]]:
    """The demo's closing table: (label, value) per row."""
    others = report["adam_epochs_total"] - report["epochs_run"]
    return [
        ("parameters", f"{report['params']}"),
        ("MACs per sample", f"{report['macs_per_sample']}"),
        ("receptive field", f"{report['receptive_field']} samples"),
        ("test ESR", f"{report['test_esr']:.4f} "
                     f"(pre-emphasis {report['test_esr_pre_emphasis']:.4f})"),
        ("fresh-take ESR", f"{report['fresh_take_esr']:.4f} (a second "
                           f"{report['fresh_take_seconds']:g} s take, never trained on)"),
        ("sim vs Keras, max abs", f"{report['sim_vs_keras_max_abs_err']:.2e} over "
                                  f"{report['verified_frames']} held-out frames"),
        ("  each vs float64", f"Keras {report['keras_vs_float64_max_abs_err']:.2e}, "
                              f"simulator {report['sim_vs_float64_max_abs_err']:.2e}"),
        ("verification", ("PASS" if report["verify_passed"] else "FAIL")
                         + f" ({report['verify_criterion']})"),
        ("training", f"{plural(report['epochs_run'], 'Adam epoch')} "
                     + (f"(and {others} on the other candidates) " if others else "")
                     + f"+ {plural(report['refine_iterations'], 'L-BFGS iteration')}, "
                     f"{report['train_seconds']:.0f} s"),
        ("total", f"{report['total_seconds']:.0f} s"),
    ]
