import numpy as np
import pytest

from daisynet.training.adam import MIN_LEARNING_RATE, AdamRun, adam_epoch

CENTRE = np.array([0.5, -1.0, 2.0])


def quadratic(theta, x, y):
    """Loss sum(w * (theta - CENTRE)^2) with w the batch's mean input: each batch its own."""
    weight = float(np.mean(x))
    return float(weight * np.sum((theta - CENTRE) ** 2)), 2.0 * weight * (theta - CENTRE)


def windows(count, seed=0):
    x = np.random.default_rng(seed).uniform(0.5, 1.5, (count, 4, 1))
    return x, np.zeros_like(x)


def test_the_update_is_keras_adam():
    """One batch per epoch, so each epoch is one Adam step; Keras' Adam on the same losses
    must land on the same parameters."""
    import keras

    train = windows(1)
    run = AdamRun.start(0, np.zeros(3), learning_rate=0.1)
    variable = keras.Variable(np.zeros(3, dtype=np.float32))
    optimizer = keras.optimizers.Adam(learning_rate=0.1)
    for _ in range(20):
        adam_epoch(run, quadratic, train, train, batch_size=1, plateau_patience=100)
        _, gradient = quadratic(np.asarray(variable, dtype=np.float64), *train)
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient, "float32"),
                                    variable)])
        np.testing.assert_allclose(run.theta, np.asarray(variable), rtol=1e-5, atol=1e-6)
    assert run.steps == 20


def test_a_candidate_carries_on_as_if_it_had_never_stopped():
    train, validation = windows(37), windows(5, seed=1)
    whole = AdamRun.start(3, np.zeros(3), learning_rate=0.05)
    parts = AdamRun.start(3, np.zeros(3), learning_rate=0.05)
    for _ in range(5):
        adam_epoch(whole, quadratic, train, validation, batch_size=8, plateau_patience=2)
    for _ in range(5):
        adam_epoch(parts, quadratic, train, validation, batch_size=8, plateau_patience=2)
        parts = AdamRun(**vars(parts))  # a fresh object, as the stages hand the run on
    np.testing.assert_array_equal(whole.theta, parts.theta)
    assert whole.steps == 5 * 5  # 37 windows in batches of 8: the last one smaller


def test_the_best_weights_and_the_plateau_halving():
    train = windows(4)

    def stalled(theta, x, y):  # the validation loss never improves after the first epoch
        return 1.0, np.ones_like(theta)

    run = AdamRun.start(0, np.zeros(3), learning_rate=0.01)
    improved = [adam_epoch(run, stalled, train, windows(2, 1), 4, plateau_patience=3)
                for _ in range(7)]
    assert improved == [True] + [False] * 6
    assert run.best_epoch == 1 and run.epochs == 7 and run.epochs_since_best == 6
    np.testing.assert_allclose(run.best_theta, -0.01 * np.ones(3), rtol=1e-5)  # one step
    assert run.history["learning_rate"] == [0.01] * 4 + [0.005] * 3  # halved after epoch 4
    assert run.learning_rate == pytest.approx(0.0025)  # and again after epoch 7
    run.learning_rate = MIN_LEARNING_RATE
    for _ in range(3):
        adam_epoch(run, stalled, train, windows(2, 1), 4, plateau_patience=3)
    assert run.learning_rate == MIN_LEARNING_RATE
