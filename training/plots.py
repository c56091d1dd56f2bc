"""PNG plots of training runs and of model output against a reference."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; works without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from daisynet.host_sim.files import atomic_output  # noqa: E402

SNIPPETS = 4  # panels in a prediction plot, spread evenly over the signal
SNIPPET_SECONDS = 0.01  # 10 ms: a few cycles of a mid-range oscillator


def _save(fig, path: Path) -> None:
    try:
        with atomic_output(path) as temporary:
            fig.savefig(temporary, dpi=110)
    finally:
        plt.close(fig)


def plot_losses(history: dict[str, list[float]], energy: dict[str, float], path: Path,
                refine_checks: list[list[float]] | None = None) -> None:
    """Training and validation ESR per Adam epoch (each loss, a mean square error over the
    scored frames, over the mean square of its split's target: ``energy``, whose "refined" entry
    is the refined windows'); and, when the run refined with L-BFGS, a second panel of the ESRs
    at each refining check."""
    panels = 2 if refine_checks else 1
    fig, axes = plt.subplots(1, panels, figsize=(8 if panels == 1 else 12, 4.5), squeeze=False,
                             sharey=True)
    ax = axes[0, 0]
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.semilogy(epochs, np.asarray(history["loss"]) / energy["train"], label="train ESR")
    ax.semilogy(epochs, np.asarray(history["val_loss"]) / energy["validation"],
                label="validation ESR")
    best = int(np.argmin(history["val_loss"]))
    ax.axvline(best + 1, color="grey", linestyle=":", label=f"best epoch {best + 1}")
    ax.set_xlabel("epoch")
    ax.set_title("Adam")
    if refine_checks:
        iterations, train_loss, val_loss = np.asarray(refine_checks, dtype=float).T
        right = axes[0, 1]
        right.semilogy(iterations, train_loss / energy.get("refined", energy["train"]),
                       marker=".", label="train ESR (refined windows)")
        right.semilogy(iterations, val_loss / energy["validation"], marker=".",
                       label="validation ESR")
        best_check = int(np.argmin(val_loss))
        right.axvline(iterations[best_check], color="grey", linestyle=":",
                      label=f"kept: iteration {int(iterations[best_check])}")
        right.set_xlabel("L-BFGS iteration")
        right.set_title("L-BFGS refinement")
    for panel in axes[0]:
        panel.grid(True, which="both", alpha=0.3)
        panel.legend()
    ax.set_ylabel("ESR (error / signal energy; 0.01 great, > 0.1 audibly different)")
    fig.suptitle("training progress")
    fig.tight_layout()
    _save(fig, path)


def plot_predictions(
    reference: np.ndarray,
    prediction: np.ndarray,
    sample_rate: int,
    skip: int,
    path: Path,
    title: str,
    reference_label: str = "target",
    prediction_label: str = "model",
) -> None:
    """Short snippets of reference vs prediction across the signal, as many as fit without
    overlapping (up to SNIPPETS), each with their difference on its own scale beneath."""
    length = max(1, int(SNIPPET_SECONDS * sample_rate))
    starts = snippet_starts(len(reference), skip, length)
    fig, axes = plt.subplots(2 * len(starts), 1, figsize=(9, 3.0 * len(starts)), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1] * len(starts)})
    for index, start in enumerate(starts):
        signal_ax, error_ax = axes[2 * index, 0], axes[2 * index + 1, 0]
        stop = min(len(reference), start + length)
        t_ms = 1000.0 * np.arange(start, stop) / sample_rate
        signal_ax.plot(t_ms, reference[start:stop], label=reference_label, linewidth=1.6)
        signal_ax.plot(t_ms, prediction[start:stop], label=prediction_label, linewidth=1.0)
        signal_ax.set_ylabel("level")
        # The difference is often orders of magnitude below the signal: at the signal's scale
        # it would be a flat line.
        error_ax.plot(t_ms, prediction[start:stop] - reference[start:stop], linewidth=0.8,
                      color="tab:red", label=f"{prediction_label} - {reference_label}")
        error_ax.set_ylabel("difference")
        error_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        error_ax.legend(loc="upper right", fontsize="small")
        for ax in (signal_ax, error_ax):
            ax.grid(True, alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel("time (ms)")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def snippet_starts(frames: int, skip: int, length: int) -> list[int]:
    """First frames of up to SNIPPETS snippets of ``length`` frames, spread evenly over
    ``frames`` after ``skip`` and never overlapping (a short signal gets fewer, at least one)."""
    usable = frames - skip
    if usable < length:
        return [max(0, frames - length)]
    count = min(SNIPPETS, usable // length)
    spacing = usable / count
    return [skip + int(spacing * i + (spacing - length) / 2) for i in range(count)]


def plot_knob_sweeps(sweeps, path: Path, title: str) -> None:
    """One panel per knob sweep (training.knobs.KnobSweeps): the model's output over one period
    of test audio for each knob value, the other knobs' settings in the panel title."""
    rows = len(sweeps.panels)
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.6 * rows), squeeze=False)
    t_ms = 1000.0 * np.arange(len(sweeps.audio)) / sweeps.sample_rate
    colours = plt.get_cmap("viridis")
    for ax, sweep in zip(axes[:, 0], sweeps.panels, strict=True):
        ax.plot(t_ms, sweeps.audio, color="grey", linestyle="--", linewidth=0.9,
                label=f"{sweeps.audio_name} (input)")
        for i, (value, output) in enumerate(zip(sweep.values, sweep.outputs, strict=True)):
            ax.plot(t_ms, output, color=colours(i / max(1, len(sweep.values) - 1)),
                    linewidth=1.3, label=f"{sweep.knob} = {value:.2f}")
        held = ", ".join(f"{name} = {value:.2f}" for name, value in sweep.held.items())
        ax.set_title(f"sweeping {sweep.knob}" + (f" with {held}" if held else ""), fontsize=10)
        ax.set_ylabel("model output")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    span = "one period" if sweeps.period_found else "no clear period"
    axes[-1, 0].set_xlabel(f"time (ms): {span} of test audio, {len(sweeps.audio)} frames")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
