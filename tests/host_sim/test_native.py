"""The firmware's C++ core, built for the host, against the Python simulator and Keras."""

from pathlib import Path

import numpy as np
import pytest

from host_sim.engine import Simulator
from host_sim.header import read_golden, read_header
from host_sim.native import NativeEngine
from tests.conftest import require_tool
from tests.host_sim.test_engine import SHAPES, shape_id
from tests.training.test_export import save_with_metadata
from training.export import export, golden_path

DEFAULT_HEADER = Path(__file__).resolve().parents[2] / "firmware" / "model" / "model_defn.h"


@pytest.fixture(autouse=True)
def compilers():
    require_tool("gcc")
    require_tool("g++")


@pytest.mark.parametrize("block_size", [1, 7, 48, 64])
def test_default_model_golden_vectors(block_size):
    spec = read_header(DEFAULT_HEADER)
    inputs, keras_outputs = read_golden(golden_path(DEFAULT_HEADER), spec)
    engine = NativeEngine(DEFAULT_HEADER)
    assert engine.weights_sha256 == spec.weights_sha256()
    engine.reset()
    native = engine.render(inputs, block_size)
    simulated = Simulator(spec).render(inputs, block_size)
    assert np.max(np.abs(native - simulated)) <= 1e-6
    assert np.max(np.abs(native - keras_outputs)) <= 1e-5


@pytest.mark.parametrize("shape", SHAPES[:6], ids=shape_id)
def test_other_shapes_match_the_simulator(shape, tmp_path, random_wavenet, audio_like):
    inputs, filters, kernel = shape
    model = random_wavenet(inputs, filters, kernel, seed=7)
    path = save_with_metadata(model, tmp_path / "m", [f"in_{i}" for i in range(inputs)])
    spec, header, _ = export(path, tmp_path / "model_defn.h", command="test")
    x = audio_like(2 * spec.architecture().receptive_field + 300, inputs)
    engine = NativeEngine(header)
    for block_size in (1, 7, 48, 64):
        engine.reset()
        native = engine.render(x, block_size)
        assert np.max(np.abs(native - Simulator(spec).render(x, block_size))) <= 1e-6


def test_processing_allocates_nothing_after_init(audio_like):
    engine = NativeEngine(DEFAULT_HEADER)
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


def test_non_finite_outputs_are_silenced_and_counted(tmp_path, random_wavenet, audio_like):
    header, x, unguarded, bad = overflowing_model(tmp_path, random_wavenet, audio_like)
    engine = NativeEngine(header)
    engine.reset()
    out = engine.render(x, block_size=48)
    assert np.all(out[bad] == 0.0)
    assert np.array_equal(out[~bad], unguarded[~bad])
    assert engine.non_finite_outputs == bad.sum()
    engine.reset()
    assert engine.non_finite_outputs == 0
