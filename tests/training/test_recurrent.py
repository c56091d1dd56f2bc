"""The recurrent family's C++ loss, gradient and forward pass against TensorFlow's."""

import numpy as np
import pytest

from daisynet.host_sim.model_defn import GruArchitecture
from daisynet.training.model import build_gru_model, predict_sequence
from daisynet.training.recurrent import (
    GruObjective,
    gru_architecture_of,
    gru_forward,
    predict_gru_sequence,
)
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
    x = np.random.default_rng(2).normal(0.0, 0.7, (300, 2)).astype(np.float32)
    whole = np.asarray(model(x[None], training=False))[0]
    np.testing.assert_allclose(predict_gru_sequence(model, x, chunk=77), whole, atol=2e-5)
    # predict_sequence, which train evaluates with, takes a GRU model there too.
    np.testing.assert_allclose(predict_sequence(model, x, 0, chunk=77), whole, atol=2e-5)


def test_objective_refuses_windows_of_another_shape():
    require_tool("g++")
    objective = GruObjective(GruArchitecture(2, 4), warmup=10)
    theta = np.zeros(GruArchitecture(2, 4).parameters)
    with pytest.raises(ValueError, match="do not fit"):
        objective(theta, np.zeros((1, 20, 3)), np.zeros((1, 20, 1)))
    with pytest.raises(ValueError, match="leave none"):
        objective(theta, np.zeros((1, 10, 2)), np.zeros((1, 10, 1)))


def test_state_carried_across_windows_equals_one_pass():
    require_tool("g++")
    model = randomized_gru((2, 6, 1, 1), seed=5)
    arch, theta = gru_architecture_of(model), flat_parameters(model)
    rng = np.random.default_rng(4)
    warmup, length = 30, 50
    x = rng.normal(0.0, 0.7, (1, 3 * length, 2)).astype(np.float32)
    y = rng.normal(0.0, 0.5, (1, 3 * length, 1)).astype(np.float32)
    objective = GruObjective(arch, warmup)
    whole_loss, _, whole_state = objective.from_states(
        theta, x, y, np.zeros((1, 6), np.float32), np.array([warmup]))
    state, squared_error = np.zeros((1, 6), np.float32), 0.0
    for k in range(3):
        piece = slice(k * length, (k + 1) * length)
        scored_from = max(0, warmup - k * length)
        loss, _, state = objective.from_states(theta, x[:, piece], y[:, piece], state,
                                               np.array([scored_from]))
        squared_error += loss * (length - scored_from)
    assert squared_error / (3 * length - warmup) == pytest.approx(whole_loss, rel=1e-5)
    np.testing.assert_allclose(state, whole_state, atol=1e-6)


def test_gradient_from_given_states_equals_tensorflow():
    """Windows starting from given states and scored from frames of their own: the loss and
    the gradient (truncated at the window's start) against TensorFlow's GRU with that initial
    state."""
    require_tool("g++")
    import tensorflow as tf

    shape = (2, 8, 1, 1)
    model = randomized_gru(shape, seed=9)
    rng = np.random.default_rng(3)
    frames, units = 90, shape[1]
    x = rng.normal(0.0, 0.7, (4, frames, 2)).astype(np.float32)
    y = rng.normal(0.0, 0.5, (4, frames, 1)).astype(np.float32)
    states = rng.normal(0.0, 0.5, (4, units)).astype(np.float32)
    scored_from = np.array([0, 25, frames, 60])
    mask = (np.arange(frames)[None, :] >= scored_from[:, None]).astype(np.float32)[..., None]
    names = {layer.name: layer for layer in model.layers}
    with tf.GradientTape() as tape:
        sequence = names["gru"](x, initial_state=[tf.constant(states)])
        prediction = names["head"](sequence) + names["input_skip"](x)
        loss = tf.reduce_sum(mask * tf.square(y - prediction)) / mask.sum()
    gradients = tape.gradient(loss, model.trainable_variables)
    expected = np.concatenate([g.numpy().ravel() for g in gradients])
    got_loss, got_gradient, last = GruObjective(gru_architecture_of(model), 0).from_states(
        flat_parameters(model), x, y, states, scored_from)
    assert got_loss == pytest.approx(float(loss), rel=1e-5)
    np.testing.assert_allclose(got_gradient, expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())
    np.testing.assert_allclose(last, sequence.numpy()[:, -1], atol=2e-5)


def test_from_states_refuses_states_that_do_not_fit():
    require_tool("g++")
    arch = GruArchitecture(2, 4)
    objective, theta = GruObjective(arch, warmup=0), np.zeros(arch.parameters)
    x, y = np.zeros((2, 20, 2)), np.zeros((2, 20, 1))
    with pytest.raises(ValueError, match="do not fit"):
        objective.from_states(theta, x, y, np.zeros((2, 5)), np.zeros(2, int))
    with pytest.raises(ValueError, match="scored_from"):
        objective.from_states(theta, x, y, np.zeros((2, 4)), np.array([0, 21]))


class RecordingObjective:
    """A stand-in GruObjective: records each batch and hands back every state plus one."""

    def __init__(self, arch, warmup):
        self.arch, self.warmup, self.calls = arch, warmup, []

    def from_states(self, theta, x, y, states, scored_from):
        self.calls.append((x[:, :, 1].copy(), states.copy(), scored_from.copy()))
        return 1.0, np.ones_like(theta), states + 1.0


def test_stateful_lanes_walk_their_stretches_and_carry_the_state():
    from daisynet.training.adam import AdamRun
    from daisynet.training.recurrent import StatefulGruTraining
    from daisynet.training.windows import dealt_splits

    rate, frames, warmup, scored, lanes = 100, 4000, 40, 20, 3
    arch = GruArchitecture(2, 4)
    # The second input is the frame's index: the windows say where they came from.
    inputs = np.stack([np.zeros(frames), np.arange(frames)], axis=1)
    target = np.sin(np.arange(frames, dtype=np.float32))[:, None]
    splits = dealt_splits(frames, rate)
    objective = RecordingObjective(arch, warmup)
    trainer = StatefulGruTraining(objective, inputs, target, splits, [[1900, 30]], scored,
                                  lanes, rate)
    assert all(part.frames <= 300 for part in trainer.stretches)  # about a 2 s chunk
    run = AdamRun.start(0, np.zeros(arch.parameters), 0.001)
    for _ in range(3):
        trainer.epoch(run, plateau_patience=2)
    assert len(objective.calls) == 3 * trainer.batches_per_epoch
    train_frames = {frame for part in trainer.stretches for frame in range(part.start, part.stop)}
    previous = [None] * lanes
    restarts = 0
    for x, states, scored_from in objective.calls:
        for lane in range(lanes):
            window = x[lane].astype(int)
            assert np.all(np.diff(window) == 1) and set(window) <= train_frames
            if np.any(states[lane] != 0.0):  # carried on from the lane's last window
                assert window[0] == previous[lane][0] + scored
                assert np.all(states[lane] == previous[lane][1] + 1.0)
            else:  # a new stretch: zero state, its first window all warm-up
                restarts += 1
                assert scored_from[lane] == scored
            previous[lane] = (window[0], states[lane])
    assert restarts > lanes  # lanes went on to further stretches
    expected = np.mean(np.concatenate([
        (gru_forward(arch, run.theta, inputs[part.start : part.stop])[warmup:]
         - target[part.start + warmup : part.stop]) ** 2 for part in trainer.validation]))
    assert trainer.validation_loss(run.theta) == pytest.approx(expected, rel=1e-6)


def test_the_update_gate_starts_with_memories_up_to_thousands_of_frames():
    from daisynet.training.recurrent import UPDATE_GATE_FRAMES, with_long_memory

    arch = GruArchitecture(2, 32)
    model = build_gru_model(arch, seed=0)
    theta = with_long_memory(arch, flat_parameters(model), seed=0)
    changed = np.flatnonzero(theta != flat_parameters(model))
    # Only the input bias of the update gate (Keras' z columns, the first 32) moved.
    first = (2 + 32) * 96
    assert set(changed) <= set(range(first, first + 32))
    frames_kept = 1.0 + np.exp(theta[first : first + 32])  # 1 / (1 - sigmoid(b))
    assert frames_kept.min() < 30 and frames_kept.max() > UPDATE_GATE_FRAMES / 4
    assert frames_kept.max() <= UPDATE_GATE_FRAMES + 1
