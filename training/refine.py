"""Second training stage: L-BFGS on the exact loss of a fixed share of the training windows.

The reference model has 465 parameters. Adam on mini-batches gets it into a good basin in a
few epochs but then crawls: 200 epochs took the demo model to test ESR 0.044. A quasi-Newton
method on the full loss of a quarter of the training windows took that same model to 0.023
in 500 iterations, and a model Adam had trained for only 18 epochs to 0.020 in 600 (measured
on the demo data; from a fresh start L-BFGS alone is poor, so Adam still goes first).

The loss and gradient come from a C++ kernel (training/native_objective.py), about 4 times faster
than TensorFlow's for the demo model; training needs g++ to build it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from daisynet.host_sim.native import NativeBuildError
from daisynet.training.adam import Objective
from daisynet.training.native_objective import SOURCE, NativeObjective
from daisynet.training.progress import format_duration
from daisynet.training.recurrent import GruObjective, gru_architecture_of


class _OutOfTimeError(Exception):
    """Raised inside the objective to stop the optimizer at the --max-seconds limit."""


@dataclass
class RefineResult:
    iterations_run: int = 0
    best_iteration: int = 0  # 0: no iterate beat the starting weights on validation
    interrupted: bool = False  # Ctrl-C
    out_of_time: bool = False  # --max-seconds
    # (iteration, train loss, validation loss) at every check, starting weights first
    checks: list[tuple[int, float, float]] = field(default_factory=list)


def every_nth_window(windows: tuple[np.ndarray, np.ndarray], share: float):
    """Every n-th window (n = round(1 / share)): the share spread evenly over the whole
    training split, so the refined loss sees every part of the recording."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"the refined share of the training windows must be in (0, 1], "
                         f"got {share}")
    step = max(1, round(1.0 / share))
    return windows[0][::step], windows[1][::step]


def flat_parameters(model) -> np.ndarray:
    """``model.trainable_variables`` flattened in order, in float64: the optimizer's view."""
    return np.concatenate([v.numpy().ravel() for v in model.trainable_variables]).astype(
        np.float64)


def weight_setter(model) -> Callable[[np.ndarray], None]:
    """A function that loads a flat parameter vector (``model.trainable_variables`` flattened
    in order, the optimizer's view) into ``model``."""
    variables = model.trainable_variables
    shapes = [tuple(v.shape) for v in variables]
    bounds = np.cumsum([0] + [int(np.prod(shape)) for shape in shapes])

    def set_weights(theta: np.ndarray) -> None:
        pieces = zip(variables, shapes, bounds[:-1], bounds[1:], strict=True)
        for variable, shape, start, stop in pieces:
            variable.assign(theta[start:stop].reshape(shape).astype(np.float32))

    return set_weights


def refine(
    model,
    objective: Objective,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    warmup: int,
    iterations: int,
    energy: dict[str, float],
    log: Callable[[str], None],
    deadline: float | None = None,
    check_every: int = 50,
) -> RefineResult:
    """Minimise the masked MSE of ``model`` over the windows ``train`` with L-BFGS for up to
    ``iterations`` iterations, ``objective`` (``objective_for(model, warmup)``) giving the loss
    and gradient; leaves ``model`` holding the weights with the lowest validation
    loss seen at the checks (every ``check_every`` iterations and at the end).

    Stops early, keeping the best weights, on Ctrl-C or when ``time.perf_counter()`` passes
    ``deadline``. Logs one line per check with the ESRs, the best so far and the time left.
    """
    from scipy.optimize import minimize

    set_weights = weight_setter(model)

    # The optimizer sees the loss in ESR units (MSE / target energy), so its tolerances do
    # not depend on the recording's level.
    scale = 1.0 / energy["train"]
    result = RefineResult()
    theta = flat_parameters(model)
    last_train_loss = [float("nan")]
    best = {"val": float("inf"), "theta": theta.copy()}
    started = time.perf_counter()

    def scaled_objective(candidate: np.ndarray, timed: bool = True):
        if timed and deadline is not None and time.perf_counter() >= deadline:
            raise _OutOfTimeError
        loss, gradient = objective(candidate, *train)
        last_train_loss[0] = loss
        return loss * scale, gradient * scale

    def check(candidate: np.ndarray, iteration: int) -> None:
        val = objective(candidate, *validation)[0]
        train_loss = last_train_loss[0]
        result.checks.append((iteration, train_loss, val))
        if val < best["val"]:
            best["val"], best["theta"] = val, candidate.copy()
            result.best_iteration = iteration
        if iteration == 0:
            return
        elapsed = time.perf_counter() - started
        remaining = (iterations - iteration) * elapsed / iteration
        if deadline is not None:
            remaining = min(remaining, max(0.0, deadline - time.perf_counter()))
        log(f"refine {iteration:4d}/{iterations}  train_esr {train_loss / energy['train']:.4f}  "
            f"val_esr {val / energy['validation']:.4f}  best "
            f"{best['val'] / energy['validation']:.4f} (iteration {result.best_iteration})  "
            f"ETA {format_duration(remaining)}")

    latest = {"iteration": 0, "theta": theta}

    def on_iteration(candidate: np.ndarray) -> None:
        result.iterations_run += 1
        latest["iteration"], latest["theta"] = result.iterations_run, candidate.copy()
        if result.iterations_run % check_every == 0:
            check(candidate, result.iterations_run)

    try:
        scaled_objective(theta, timed=False)  # the starting point's losses, for the first check
        check(theta, 0)
        minimize(scaled_objective, theta, jac=True, method="L-BFGS-B", callback=on_iteration,
                 options={"maxiter": iterations, "maxcor": 50})
    except KeyboardInterrupt:
        result.interrupted = True
    except _OutOfTimeError:
        result.out_of_time = True
    if latest["iteration"] % check_every and not result.interrupted:
        # The last finished iterate since the last check (not a line search's trial point).
        scaled_objective(latest["theta"], timed=False)
        check(latest["theta"], latest["iteration"])
    set_weights(best["theta"])
    return result


def objective_for(model, warmup: int) -> Objective:
    """``objective(theta, x, y)`` -> (masked MSE of ``model`` over the windows ``x``/``y``, its
    gradient), for flat parameters ``theta``: the C++ kernel of the model's family (a GRU's is
    training/recurrent.py's), built on first use (seconds). Without g++ (or when the build
    fails) a NativeBuildError says what to install."""
    gru = gru_architecture_of(model)
    if gru is not None:
        return GruObjective(gru, warmup)
    try:
        return NativeObjective(model, warmup)
    except NativeBuildError as error:
        raise NativeBuildError(f"training needs g++ with OpenMP to build its loss and gradient "
                               f"({SOURCE.name}): {error}") from error
