"""The refining stage's C++ loss and gradient against TensorFlow's on the same model."""

import numpy as np
import pytest

from daisynet.training.model import Architecture, build_model
from daisynet.training.native_objective import NativeObjective, build_objective_library, conv_layers
from daisynet.training.quiet_keras import import_keras
from tests.conftest import require_tool

pytestmark = pytest.mark.native

SHAPES = [  # (inputs, filters, kernel): the reference, odd widths, long kernels
    (3, (4, 4, 4, 8), 4),
    (1, (3,), 2),
    (2, (5, 2, 7), 3),
    (4, (6, 6), 2),
    (3, (2, 3), 7),
]


def shape_id(shape) -> str:
    inputs, filters, kernel = shape
    return f"{inputs}in-{'x'.join(map(str, filters))}-K{kernel}"


def tensorflow_loss_and_gradient(model, x, y, warmup):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        prediction = model(x, training=False)
        loss = tf.reduce_mean(tf.square(y[:, warmup:] - prediction[:, warmup:]))
    gradients = tape.gradient(loss, model.trainable_variables)
    return float(loss), np.concatenate([g.numpy().ravel() for g in gradients])


def flat_parameters(model):
    return np.concatenate([v.numpy().ravel() for v in model.trainable_variables])


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_loss_and_gradient_equal_tensorflow(shape):
    require_tool("g++")
    inputs, filters, kernel = shape
    arch = Architecture(inputs=inputs, filters=filters, kernel_size=kernel)
    model = build_model(arch, seed=7)
    rng = np.random.default_rng(1)
    for layer in model.layers:  # non-zero biases (Keras starts them at zero), some dead units
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.uniform(-0.3, 0.2, layer.bias.shape[0]).astype(np.float32))
    warmup = min(arch.receptive_field, 150)
    frames = warmup + 173
    x = rng.normal(0.0, 0.5, (5, frames, inputs)).astype(np.float32)
    y = rng.normal(0.0, 0.5, (5, frames, 1)).astype(np.float32)
    expected_loss, expected_gradient = tensorflow_loss_and_gradient(model, x, y, warmup)
    loss, gradient = NativeObjective(model, warmup)(flat_parameters(model), x, y)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert np.abs(expected_gradient).max() > 0
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-4,
                               atol=1e-5 * np.abs(expected_gradient).max())


def test_the_answer_is_repeatable_and_the_model_is_not_touched():
    """The threads' shares are added in a fixed order, so the same call gives the same bits
    (L-BFGS runs repeat); the parameters come from the argument, not the model."""
    require_tool("g++")
    model = build_model(Architecture(inputs=2, filters=(3, 3), kernel_size=2), seed=1)
    objective = NativeObjective(model, warmup=4)
    theta = flat_parameters(model)
    x = np.random.default_rng(0).normal(size=(37, 40, 2)).astype(np.float32)
    y = np.zeros((37, 40, 1), np.float32)
    first, first_gradient = objective(theta, x, y)
    for _ in range(5):
        again, again_gradient = objective(theta, x, y)
        assert again == first and np.array_equal(again_gradient, first_gradient)
    second, _ = objective(theta * 2.0, x, y)
    assert second != first and np.array_equal(flat_parameters(model), theta)


def test_bad_shapes_are_refused_with_the_reason():
    require_tool("g++")
    model = build_model(Architecture(inputs=2, filters=(3,), kernel_size=2), seed=1)
    objective = NativeObjective(model, warmup=4)
    theta = flat_parameters(model)
    x = np.zeros((3, 40, 2), np.float32)
    with pytest.raises(ValueError, match="expected 31 parameters"):
        objective(theta[:-1], x, x[..., :1])
    with pytest.raises(ValueError, match="do not fit a model of 2 inputs and 1 outputs"):
        objective(theta, x[..., :1], x[..., :1])
    with pytest.raises(ValueError, match="leave none after the 4-frame warm-up"):
        objective(theta, x[:, :4], x[:, :4, :1])


def test_only_causal_relu_or_linear_conv1d_stacks_are_accepted():
    keras = import_keras()
    inputs = keras.Input(shape=(None, 2))
    same = keras.Model(inputs, keras.layers.Conv1D(2, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="is not a causal Conv1D"):
        conv_layers(same)
    tanh = keras.Model(inputs, keras.layers.Conv1D(2, 3, padding="causal",
                                                   activation="tanh")(inputs))
    with pytest.raises(ValueError, match="activation 'tanh' is neither relu nor linear"):
        conv_layers(tanh)


def test_loading_the_kernel_leaves_subnormal_floats_alone():
    """The library must not switch the process to flush-to-zero (as -ffast-math's start-up code
    does): everything else in the process, NumPy and the simulators included, relies on IEEE
    subnormals."""
    import subprocess
    import sys

    require_tool("g++")
    library = build_objective_library()
    probe = (f"import ctypes, numpy as np; ctypes.CDLL({str(library)!r}); "
             "tiny = np.finfo(np.float32).tiny; print(float(np.float32(tiny) / np.float32(4)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert float(result.stdout) > 0.0
