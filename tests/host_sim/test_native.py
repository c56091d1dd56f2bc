"""The firmware's C++ core, built for the host, against the Python simulator and Keras.

Both engine backends are held to Keras (1e-5). Only the CMSIS backend is held to the Python
simulator: it sums in the same order, bit for bit on the default model's golden vectors (1e-6 on
other shapes). The fast backend accumulates every tap into one register, another order, so
float32 rounding differs from the simulator's (6.9e-6 at most on the golden vectors).
"""

from pathlib import Path

import numpy as np
import pytest

from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.model_defn import Architecture, golden_path, read_golden, read_header
from daisynet.host_sim.native import BACKENDS, NativeEngine
from daisynet.training.export import export
from tests.host_sim.test_engine import SHAPES, shape_id
from tests.training.test_export import save_with_metadata

pytestmark = pytest.mark.native

DEFAULT_HEADER = Path(__file__).resolve().parents[2] / "firmware" / "model" / "model_defn.h"


BLOCK_SIZES = (1, 7, 16, 48, 64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_default_model_golden_vectors(backend, block_size):
    spec = read_header(DEFAULT_HEADER)
    inputs, keras_outputs = read_golden(golden_path(DEFAULT_HEADER), spec)
    engine = NativeEngine(DEFAULT_HEADER, backend)
    assert engine.weights_sha256 == spec.weights_sha256()
    engine.reset()
    native = engine.render(inputs, block_size)
    assert np.max(np.abs(native - keras_outputs)) <= 1e-5
    simulated = Simulator(spec).render(inputs, block_size)
    if backend == "cmsis":
        assert np.array_equal(native, simulated)
    else:
        assert np.max(np.abs(native - simulated)) <= 1e-5


@pytest.mark.parametrize("shape", SHAPES[:6], ids=shape_id)
def test_cmsis_backend_matches_the_simulator(shape, tmp_path, random_wavenet, audio_like):
    inputs, filters, kernel = shape
    model = random_wavenet(inputs, filters, kernel, seed=7)
    path = save_with_metadata(model, tmp_path / "m", [f"in_{i}" for i in range(inputs)])
    spec, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    x = audio_like(2 * spec.architecture().receptive_field + 300, inputs)
    engine = NativeEngine(header, "cmsis")
    for block_size in (1, 7, 48, 64):
        engine.reset()
        native = engine.render(x, block_size)
        assert np.max(np.abs(native - Simulator(spec).render(x, block_size))) <= 1e-6


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_fast_backend_matches_keras(shape, tmp_path, random_wavenet, audio_like):
    inputs, filters, kernel = shape
    model = random_wavenet(inputs, filters, kernel, seed=len(filters) * 10 + kernel)
    path = save_with_metadata(model, tmp_path / "m", [f"in_{i}" for i in range(inputs)])
    # Golden frames past the receptive field, so every history wraps and is rewound.
    frames = 2 * spec_receptive_field(inputs, filters, kernel) + 777
    spec, header, golden = export(path, tmp_path / "model_defn.h", command="test",
                                  golden_inputs=audio_like(frames, inputs, seed=inputs),
                                  golden_frames=frames)
    golden_inputs, keras_outputs = read_golden(golden, spec)
    engine = NativeEngine(header, "fast")
    for block_size in BLOCK_SIZES:
        engine.reset()
        native = engine.render(golden_inputs, block_size)
        assert np.max(np.abs(native - keras_outputs)) <= 1e-5, f"block {block_size}"


def spec_receptive_field(inputs: int, filters: tuple[int, ...], kernel: int) -> int:
    return Architecture(inputs, tuple(filters), kernel).receptive_field


@pytest.mark.parametrize("backend", BACKENDS)
def test_processing_allocates_nothing_after_init(backend, audio_like):
    engine = NativeEngine(DEFAULT_HEADER, backend)
    engine.reset()
    before = engine.allocations
    engine.render(audio_like(5000, 3), block_size=48)
    engine.render(audio_like(500, 3), block_size=1)
    assert engine.allocations == before == 0


def overflowing_model(tmp_path, random_wavenet, audio_like):
    """A header whose output overflows on part of a test signal: (header, signal, the
    unguarded float32 output, mask of its non-finite samples)."""
    # Finite but extreme head weights (export accepts them) overflow to inf, or inf - inf = NaN,
    # whenever the last block is active: exactly what the engine must keep from the DAC.
    model = random_wavenet(1, (3, 3), 2, seed=1)
    head = model.get_layer("head")
    head.kernel.assign(np.full((1, 3, 1), 3e38, dtype=np.float32))
    head.bias.assign(np.full((1,), 3e38, dtype=np.float32))  # any activation > 0.13 overflows
    path = save_with_metadata(model, tmp_path / "m", ["audio_in_1"])
    spec, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    x = audio_like(600, 1)
    with np.errstate(all="ignore"):
        unguarded = Simulator(spec).render(x, 48)
    bad = ~np.isfinite(unguarded)
    assert 0 < bad.sum() < bad.size
    return header, x, unguarded, bad


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_finite_outputs_are_silenced_and_counted(backend, tmp_path, random_wavenet,
                                                     audio_like):
    header, x, unguarded, bad = overflowing_model(tmp_path, random_wavenet, audio_like)
    engine = NativeEngine(header, backend)
    engine.reset()
    out = engine.render(x, block_size=48)
    assert np.all(out[bad] == 0.0)
    if backend == "cmsis":
        assert np.array_equal(out[~bad], unguarded[~bad])
    else:  # another summation order: equal to float32 rounding
        assert np.allclose(out[~bad], unguarded[~bad], rtol=1e-5, atol=0)
    assert engine.non_finite_outputs == bad.sum()
    engine.reset()
    assert engine.non_finite_outputs == 0
