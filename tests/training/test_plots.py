"""The PNG plots: what each panel shows (issue 22, item 25)."""

import numpy as np
import pytest

from daisynet.training import plots


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions would write, kept open to inspect."""
    kept = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.append(fig))
    yield kept
    for fig in kept:
        plots.plt.close(fig)


def test_snippets_never_overlap_so_a_short_signal_gets_fewer():
    # 512 golden frames at 48 kHz hold one 10 ms snippet, not the same one four times.
    assert plots.snippet_starts(512, 0, 480) == [16]
    starts = plots.snippet_starts(48_000, 256, 480)
    assert len(starts) == 4 and all(b - a >= 480 for a, b in zip(starts, starts[1:], strict=False))
    assert starts[0] >= 256 and starts[-1] + 480 <= 48_000
    assert plots.snippet_starts(100, 0, 480) == [0]


def test_the_difference_has_its_own_scale_and_the_title_says_the_verdict(tmp_path, figures):
    t = np.arange(512) / 48_000
    keras = np.sin(2 * np.pi * 440 * t)
    engine = keras + 1e-6 * np.cos(2 * np.pi * 3000 * t)
    plots.plot_predictions(keras, engine, 48_000, 0, tmp_path / "v.png",
                           title="PASS: native vs Keras", reference_label="Keras",
                           prediction_label="native")
    (fig,) = figures
    signal_ax, error_ax = fig.axes
    assert fig._suptitle.get_text() == "PASS: native vs Keras"
    assert error_ax.get_ylabel() == "difference"
    low, high = error_ax.get_ylim()
    assert high - low < 1e-5  # the error's own scale, not the signal's
    assert signal_ax.get_ylim()[1] > 0.9


def test_the_loss_plot_shows_esr(tmp_path, figures):
    history = {"loss": [0.4, 0.2, 0.1], "val_loss": [0.5, 0.3, 0.2]}
    energy = {"train": 0.5, "validation": 0.25, "refined": 0.4}
    plots.plot_losses(history, energy, tmp_path / "loss.png",
                      refine_checks=[[0, 0.08, 0.1], [10, 0.04, 0.05]])
    (fig,) = figures
    adam, lbfgs = fig.axes[:2]
    assert "ESR" in adam.get_ylabel() and "MSE" not in adam.get_ylabel()
    train, validation = adam.get_lines()[:2]
    assert np.allclose(train.get_ydata(), [0.8, 0.4, 0.2])
    assert np.allclose(validation.get_ydata(), [2.0, 1.2, 0.8])
    refined_train, refined_validation = lbfgs.get_lines()[:2]
    assert np.allclose(refined_train.get_ydata(), [0.2, 0.1])
    assert np.allclose(refined_validation.get_ydata(), [0.4, 0.2])
