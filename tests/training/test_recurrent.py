"""The recurrent family's C++ loss, gradient and forward pass against TensorFlow's."""

import numpy as np
import pytest

from daisynet.host_sim.model_defn import GruArchitecture
from daisynet.training.model import build_gru_model
from daisynet.training.recurrent import GruObjective, gru_architecture_of, predict_gru_sequence
from daisynet.training.refine import flat_parameters
from tests.conftest import require_tool

pytestmark = pytest.mark.native

SHAPES = [(2, 8, 1, 1), (1, 3, 1, None), (3, 5, 2, 0), (2, 32, 1, 1)]


def randomized_gru(shape, seed=7):
    """A GRU model with every weight random, biases and skip included (Keras starts the
    biases at zero and the skip at 0/1, which would hide their wiring)."""
    model = build_gru_model(GruArchitecture(*shape), seed=seed)
    rng = np.random.default_rng(seed)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0.0, 0.4, variable.shape).astype(np.float32))
    return model


def tensorflow_loss_and_gradient(model, x, y, warmup):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        prediction = model(x, training=False)
        loss = tf.reduce_mean(tf.square(y[:, warmup:] - prediction[:, warmup:]))
    gradients = tape.gradient(loss, model.trainable_variables)
    return float(loss), np.concatenate([g.numpy().ravel() for g in gradients])


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "in{}-u{}-out{}-skip{}".format(*s))
def test_loss_and_gradient_equal_tensorflow(shape):
    require_tool("g++")
    model = randomized_gru(shape)
    rng = np.random.default_rng(1)
    warmup, frames = 40, 40 + 157
    x = rng.normal(0.0, 0.7, (5, frames, shape[0])).astype(np.float32)
    y = rng.normal(0.0, 0.5, (5, frames, shape[2])).astype(np.float32)
    expected_loss, expected_gradient = tensorflow_loss_and_gradient(model, x, y, warmup)
    loss, gradient = GruObjective(gru_architecture_of(model), warmup)(
        flat_parameters(model), x, y)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-4,
                               atol=1e-5 * np.abs(expected_gradient).max())


def test_chunked_prediction_carries_the_state_and_equals_keras():
    require_tool("g++")
    model = randomized_gru((2, 6, 1, 1), seed=3)
    x = np.random.default_rng(2).normal(0.0, 0.7, (1000, 2)).astype(np.float32)
    whole = np.asarray(model(x[None], training=False))[0]
    np.testing.assert_allclose(predict_gru_sequence(model, x, chunk=77), whole, atol=2e-5)


def test_objective_refuses_windows_of_another_shape():
    require_tool("g++")
    objective = GruObjective(GruArchitecture(2, 4), warmup=10)
    theta = np.zeros(GruArchitecture(2, 4).parameters)
    with pytest.raises(ValueError, match="do not fit"):
        objective(theta, np.zeros((1, 20, 3)), np.zeros((1, 20, 1)))
    with pytest.raises(ValueError, match="leave none"):
        objective(theta, np.zeros((1, 10, 2)), np.zeros((1, 10, 1)))
