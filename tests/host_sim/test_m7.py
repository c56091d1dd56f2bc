"""The firmware's C++ core cross-compiled for the Cortex-M7 and run on QEMU (mps2-an500).

Both engine backends are held to Keras's outputs (1e-5); they sum in different orders, so not
to each other bit for bit.
"""

from pathlib import Path

import numpy as np
import pytest

from daisynet.host_sim.daisy_target import daisy_target
from daisynet.host_sim.m7 import M7Engine, M7Error, M7MemoryOverflowError, build_firmware
from daisynet.host_sim.model_defn import (
    Architecture,
    golden_path,
    read_golden,
    read_header,
    render_header,
)
from daisynet.host_sim.native import BACKENDS
from daisynet.host_sim.quantize import random_spec
from daisynet.training.export import export
from tests.conftest import require_tool
from tests.host_sim.test_engine import SHAPES, shape_id
from tests.host_sim.test_native import overflowing_model
from tests.training.test_export import save_with_metadata

DEFAULT_HEADER = Path(__file__).resolve().parents[2] / "firmware" / "model" / "model_defn.h"
BLOCK_SIZES = (1, 7, 16, 48, 64)


@pytest.fixture(autouse=True)
def arm_toolchain():
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size",
                 "qemu-system-arm"):
        require_tool(tool)


@pytest.fixture(scope="module")
def default_engine():
    return M7Engine(DEFAULT_HEADER)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_default_model_golden_vectors(backend, block_size):
    spec = read_header(DEFAULT_HEADER)
    inputs, keras_outputs = read_golden(golden_path(DEFAULT_HEADER), spec)
    run = M7Engine(DEFAULT_HEADER, backend).run(inputs, block_size)
    assert np.max(np.abs(run.outputs - keras_outputs)) <= 1e-5
    assert run.allocations == 0
    assert run.non_finite_outputs == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES[1:7], ids=shape_id)
def test_other_shapes_golden_vectors(backend, shape, tmp_path, random_wavenet, audio_like):
    inputs, filters, kernel = shape
    model = random_wavenet(inputs, filters, kernel, seed=len(filters) * 10 + kernel)
    path = save_with_metadata(model, tmp_path / "m", [f"in_{i}" for i in range(inputs)])
    # Golden frames past the receptive field (at most 243 here), so histories wrap.
    spec, header, golden = export(path, tmp_path / "model_defn.h", command="test",
                                  golden_inputs=audio_like(1024, inputs, seed=inputs),
                                  golden_frames=1024)
    golden_inputs, keras_outputs = read_golden(golden, spec)
    assert np.std(keras_outputs) > 0.01, "degenerate model: the output does not follow the input"
    engine = M7Engine(header, backend)
    for block_size in BLOCK_SIZES:
        run = engine.run(golden_inputs, block_size)
        assert np.max(np.abs(run.outputs - keras_outputs)) <= 1e-5, f"block {block_size}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_instruction_count_is_deterministic_and_blocks_pay_off(backend, audio_like):
    engine = M7Engine(DEFAULT_HEADER, backend)
    x = audio_like(960, 3)
    first, again = engine.run(x, 48), engine.run(x, 48)
    assert first.instructions == again.instructions
    per_sample = first.instructions_per_sample
    # 424 MACs per sample cannot take fewer than one instruction each, and the Daisy's budget
    # is 8,333 cycles per sample (400 MHz / 48 kHz).
    assert 424 < per_sample < daisy_target().cycles_per_sample(48_000)
    # Layer by layer over a block shares the per-call and per-tile overhead across its frames.
    assert engine.run(x, 1).instructions_per_sample > 1.5 * per_sample


def test_footprint(default_engine):
    spec = read_header(DEFAULT_HEADER)
    weights_bytes = 4 * spec.architecture().parameters
    build = default_engine.build
    assert weights_bytes < build.flash_bytes < weights_bytes + 16_384
    run = default_engine.run(np.zeros((48, 3), np.float32), 48)
    assert build.ram_bytes == run.engine_bytes


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_finite_outputs_are_silenced_and_counted(backend, tmp_path, random_wavenet,
                                                     audio_like):
    header, x, _, bad = overflowing_model(tmp_path, random_wavenet, audio_like)
    run = M7Engine(header, backend).run(x, 48)
    assert np.all(run.outputs[bad] == 0.0)
    assert run.non_finite_outputs == bad.sum()


def test_refuses_what_the_emulated_firmware_cannot_run(default_engine):
    with pytest.raises(ValueError, match="outside 1..64"):
        default_engine.run(np.zeros((10, 3), np.float32), 65)
    with pytest.raises(ValueError, match=r"expected \(frames, 3\)"):
        default_engine.run(np.zeros((10, 2), np.float32), 48)
    with pytest.raises(M7Error, match="do not fit the emulated Cortex-M7's RAM"):
        default_engine.run(np.zeros((default_engine.max_frames + 1, 3), np.float32), 48)


def test_a_model_over_the_emulators_ram_is_one_line_not_a_linker_dump(tmp_path):
    """Issue 22, item 9: "region `RAM' overflowed by 532686944 bytes" came with the whole link
    line and the linker's output."""
    spec = random_spec(Architecture(3, (4,) * 8, 8))
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(spec, "test"))
    with pytest.raises(M7MemoryOverflowError) as error:
        build_firmware(header, "fast")
    assert str(error.value) == ("the model does not fit the emulated Cortex-M7's RAM: over by "
                                "532,686,944 bytes (its layer history grows with the receptive "
                                "field, kernel size ** blocks)")
