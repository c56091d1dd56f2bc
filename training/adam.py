"""First training stage: Adam on shuffled mini-batches of the training windows.

The loss and gradient of each batch come from the same function as the L-BFGS stage's
(training/refine.py ``objective_for``: the C++ kernel). For the demo
model an epoch of its 1,124 windows then takes ~0.15 s on 2 cores, against ~1 s through Keras'
``fit`` with XLA, so the same minutes buy several times the epochs and candidates.

The update is Keras' Adam (bias-corrected moments, beta 0.9 / 0.999, epsilon 1e-7); the
learning rate halves after a plateau of the validation loss, like ``ReduceLROnPlateau``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7
MIN_LEARNING_RATE = 1e-5

Objective = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[float, np.ndarray]]


@dataclass
class AdamRun:
    """One start's whole Adam state, so a candidate's first epochs carry on into the main stage
    exactly as if it had never stopped. Losses are masked mean square errors."""

    seed: int
    theta: np.ndarray  # the flat parameters (training/refine.py flat_parameters), float64
    learning_rate: float
    first_moment: np.ndarray
    second_moment: np.ndarray
    shuffle: np.random.Generator
    steps: int = 0
    best_theta: np.ndarray | None = None
    best_val_loss: float = math.inf
    epochs_since_best: int = 0
    epochs_since_cut: int = 0  # epochs without a better validation loss since the last halving
    history: dict[str, list[float]] = field(
        default_factory=lambda: {"loss": [], "val_loss": [], "learning_rate": []})

    @classmethod
    def start(cls, seed: int, theta: np.ndarray, learning_rate: float) -> AdamRun:
        theta = np.array(theta, dtype=np.float64)
        return cls(seed, theta, learning_rate, np.zeros_like(theta), np.zeros_like(theta),
                   np.random.default_rng(seed), best_theta=theta.copy())

    @property
    def epochs(self) -> int:
        return len(self.history["loss"])

    @property
    def best_epoch(self) -> int:
        """1-based epoch of the best validation loss; 0 before the first epoch."""
        losses = self.history["val_loss"]
        return int(np.argmin(losses)) + 1 if losses else 0


def adam_step(run: AdamRun, gradient: np.ndarray) -> None:
    """One Adam update of ``run.theta`` by ``gradient``."""
    run.steps += 1
    run.first_moment += (1.0 - BETA_1) * (gradient - run.first_moment)
    run.second_moment += (1.0 - BETA_2) * (gradient * gradient - run.second_moment)
    step = run.learning_rate * math.sqrt(1.0 - BETA_2**run.steps) / (1.0 - BETA_1**run.steps)
    run.theta -= step * run.first_moment / (np.sqrt(run.second_moment) + EPSILON)


def end_epoch(run: AdamRun, train_loss: float, val_loss: float, plateau_patience: int) -> bool:
    """Record an epoch's losses: updates the best weights and halves the learning rate after
    ``plateau_patience`` epochs without a better validation loss (not below
    MIN_LEARNING_RATE). Returns whether the validation loss improved."""
    run.history["loss"].append(float(train_loss))
    run.history["val_loss"].append(float(val_loss))
    run.history["learning_rate"].append(run.learning_rate)
    improved = val_loss < run.best_val_loss
    if improved:
        run.best_val_loss, run.best_theta = val_loss, run.theta.copy()
        run.epochs_since_best = run.epochs_since_cut = 0
    else:
        run.epochs_since_best += 1
        run.epochs_since_cut += 1
        if run.epochs_since_cut >= plateau_patience:
            run.learning_rate = max(MIN_LEARNING_RATE, run.learning_rate * 0.5)
            run.epochs_since_cut = 0
    return improved


def adam_epoch(run: AdamRun, objective: Objective, train: tuple[np.ndarray, np.ndarray],
               validation: tuple[np.ndarray, np.ndarray], batch_size: int,
               plateau_patience: int) -> bool:
    """One epoch of Adam over ``train`` in shuffled batches of ``batch_size`` windows (the last
    one smaller), then the validation loss (``end_epoch``). Returns whether the validation loss
    improved."""
    x, y = train
    order = run.shuffle.permutation(len(x))
    batch_losses = []
    for batch in np.array_split(order, -(-len(x) // batch_size)):
        loss, gradient = objective(run.theta, x[batch], y[batch])
        adam_step(run, gradient)
        batch_losses.append(loss * len(batch))
    val_loss = objective(run.theta, *validation)[0]
    return end_epoch(run, np.sum(batch_losses) / len(x), val_loss, plateau_patience)
