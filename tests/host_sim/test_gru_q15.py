"""The q15 GRU end to end below Keras: quantize_gru_spec's scale and bound, the header's q15
variant, the simulator against the contract's reference, and both firmware backends natively
and on the emulated M7 (CMSIS bit for bit with the simulator, fast within rounding)."""

import numpy as np
import pytest

from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.model_defn import (
    GruArchitecture,
    UnsupportedModelError,
    read_header,
    render_header,
)
from daisynet.host_sim.model_defn.fixed_point import gru_state_q15
from daisynet.host_sim.model_defn.spec import GRU_MAX_COLUMN_SUM
from daisynet.host_sim.quantize import (
    esr,
    gru_accuracy_report,
    quantize_gru_spec,
    random_gru_spec,
    refuse_unquantizable,
)
from daisynet.host_sim.reference import reference_output
from tests.conftest import require_tool
from tests.host_sim.test_gru_engine import (
    BLOCK_SIZES,
    FAST_TOLERANCE,
    assert_both_m7_backends_follow_the_simulator,
    knob_and_audio,
    odd_splits,
)


def q15_gru(units: int, seed: int, inputs: int = 2, outputs: int = 1):
    names = [f"in_{i}" for i in range(inputs)]
    return quantize_gru_spec(random_gru_spec(GruArchitecture(inputs, units, outputs,
                                                             skip_input=inputs - 1),
                                             seed=seed, input_names=names))


@pytest.fixture(scope="module")
def gru32_q15(tmp_path_factory):
    spec = q15_gru(32, seed=32)
    header = tmp_path_factory.mktemp("gru32q15") / "model_defn.h"
    header.write_text(render_header(spec, "test"))
    return spec, header


def test_the_scale_keeps_every_column_sum_within_32_bits_and_uses_the_bits_left():
    float_spec = random_gru_spec(GruArchitecture(2, 32, 1, skip_input=1), seed=3)
    float_spec.gru.recurrent_weights[:, 5] = 3.0  # one column summing to 96: the bound binds
    spec = quantize_gru_spec(float_spec)
    quant = spec.recurrent_quant
    sums = np.abs(quant.weights.astype(np.int64)).sum(axis=1)
    assert sums.max() <= GRU_MAX_COLUMN_SUM < 2 * sums.max()  # one more bit would overflow
    assert quant.frac_bits == 9  # 96 * 2^9 = 49,152 <= 65,535 < 96 * 2^10
    assert np.array_equal(spec.gru.recurrent_weights,
                          (quant.weights.T * 2.0**-quant.frac_bits).astype(np.float32))
    # Everything but the recurrent weights is the float model's.
    assert np.array_equal(spec.gru.input_weights, float_spec.gru.input_weights)
    assert np.array_equal(spec.head_weights, float_spec.head_weights)


def test_q7_and_a_broken_bound_are_refused_in_one_line():
    spec = q15_gru(8, seed=1)
    with pytest.raises(UnsupportedModelError, match="q7 GRU: not supported"):
        refuse_unquantizable(spec, "q7")
    spec.recurrent_quant.weights[0, :] = 32767  # 8 x 32767 > 65,535: would overflow
    with pytest.raises(UnsupportedModelError, match="overflow 32 bits"):
        spec.validate()


def test_the_header_round_trips_and_its_hash_covers_the_scale(tmp_path):
    spec = q15_gru(7, seed=2)
    header = tmp_path / "model_defn.h"
    header.write_text(render_header(spec, "test"))
    back = read_header(header)
    assert back.number_format == "q15" and back.weights_sha256() == spec.weights_sha256()
    assert np.array_equal(back.recurrent_quant.weights, spec.recurrent_quant.weights)
    text = header.read_text()
    assert "kNumberFormat = NumberFormat::kQ15" in text
    assert "float kGruRecurrentWeights[" not in text
    edited = tmp_path / "edited.h"
    bits = spec.recurrent_quant.frac_bits
    edited.write_text(text.replace(f"kGruRecurrentFracBits = {bits};",
                                   f"kGruRecurrentFracBits = {bits - 1};"))
    with pytest.raises(ValueError, match="kWeightsSha256"):
        read_header(edited)


def test_the_simulator_runs_the_contract_at_any_block_size(gru32_q15):
    spec, _ = gru32_q15
    x = knob_and_audio(600, seed=1)
    simulated = Simulator(spec).render(x, 48)
    for block_size in (1, 7, 64):
        assert np.array_equal(Simulator(spec).render(x, block_size), simulated)
    # The float64 reference of the same contract: only float32 rounding and the fast
    # activations apart.
    assert np.max(np.abs(simulated - reference_output(spec, x))) <= 1e-4


def test_the_state_conversion_truncates_and_saturates():
    h = np.array([1.0, -1.0, 0.99999, -3e-5, 2e-5, np.nan, 1.5], np.float32)
    assert gru_state_q15(h).tolist() == [32767, -32768, 32767, 0, 0, 0, 32767]


def test_the_report_measures_the_cost_against_the_float_model():
    float_spec = random_gru_spec(GruArchitecture(2, 16, 1, skip_input=1), seed=4)
    spec = quantize_gru_spec(float_spec)
    x = knob_and_audio(4_800, seed=2)
    report = gru_accuracy_report(float_spec, spec, x)
    exact = esr(reference_output(float_spec, x), reference_output(spec, x))
    assert report["esr"] == exact and 0 < exact < 1e-6
    assert report["weight_flash_bytes"]["saved"] == 2 * 16 * 48 and not report["warnings"]


@pytest.mark.native
class TestNative:
    @pytest.mark.parametrize("block_size", BLOCK_SIZES)
    def test_cmsis_bit_for_bit_and_fast_within_rounding(self, gru32_q15, block_size):
        from daisynet.host_sim.native import NativeEngine

        spec, header = gru32_q15
        x = knob_and_audio(1500, seed=block_size)
        simulated = Simulator(spec).render(x, block_size)
        assert np.array_equal(NativeEngine(header, "cmsis").render(x, block_size), simulated)
        fast = NativeEngine(header, "fast").render(x, block_size)
        assert np.max(np.abs(fast - simulated)) <= FAST_TOLERANCE

    def test_the_engine_refuses_weights_whose_sums_could_overflow(self, tmp_path):
        """A hand-edited header (the reader would refuse it too) does not compile."""
        import re
        import subprocess

        from daisynet.host_sim.native import cmsis_source_dir
        from tests.firmware.test_engine_format_version import REPO

        text = render_header(q15_gru(8, seed=1), "test")
        edited = re.sub(r"(kGruRecurrentWeightsQ15\[[^\]]*\] = \{\n)[^\n]*",
                        r"\g<1>    " + "32767, " * 12, text)
        assert edited != text
        (tmp_path / "model_defn.h").write_text(edited)
        (tmp_path / "probe.cc").write_text('#include "gru_engine.h"\n')
        cmsis = cmsis_source_dir()
        result = subprocess.run(
            [require_tool("g++"), "-std=c++17", "-fsyntax-only", "-D__GNUC_PYTHON__",
             f"-I{tmp_path}", f"-I{REPO / 'firmware' / 'core'}", f"-I{cmsis / 'Include'}",
             f"-I{cmsis / 'PrivateInclude'}", str(tmp_path / "probe.cc")],
            capture_output=True, text=True)
        assert result.returncode != 0
        assert "a q15 gate column's sum can overflow 32 bits" in result.stderr

    @pytest.mark.parametrize("units", [1, 5, 13])
    def test_odd_unit_counts_and_calls_without_allocating(self, tmp_path, units):
        from daisynet.host_sim.native import NativeEngine

        spec = q15_gru(units, seed=units)
        header = tmp_path / "model_defn.h"
        header.write_text(render_header(spec, "test"))
        x = knob_and_audio(700, seed=units)
        simulated = Simulator(spec).render(x, 48)
        for backend in ("cmsis", "fast"):
            engine = NativeEngine(header, backend)
            engine.process(knob_and_audio(100, seed=9))
            engine.reset()
            outputs, start = [], 0
            for length in odd_splits(len(x)):
                outputs.append(engine.process(x[start : start + length]))
                start += length
            native = np.concatenate(outputs)
            assert np.max(np.abs(native - simulated)) <= FAST_TOLERANCE, backend
            if backend == "cmsis":
                assert np.array_equal(native, simulated)
            assert engine.allocations == 0 and engine.non_finite_outputs == 0


@pytest.mark.m7
class TestM7:
    @pytest.fixture(autouse=True)
    def arm_toolchain(self):
        for tool in ("arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm"):
            require_tool(tool)

    def test_both_backends_at_every_block_size_and_fast_beats_float32(self, gru32_q15,
                                                                      tmp_path):
        from daisynet.host_sim.m7 import M7Engine

        spec, header = gru32_q15
        x = knob_and_audio(480, seed=3)
        assert_both_m7_backends_follow_the_simulator(spec, header, x)
        float_header = tmp_path / "float.h"
        float_spec = random_gru_spec(GruArchitecture(2, 32, 1, skip_input=1), seed=32,
                                     input_names=["in_0", "in_1"])
        float_header.write_text(render_header(float_spec, "test"))
        q15 = M7Engine(header, "fast").run(x, 48).instructions_per_sample
        float32 = M7Engine(float_header, "fast").run(x, 48).instructions_per_sample
        assert q15 < 0.95 * float32  # measured 5,892 against 6,520

    @pytest.mark.parametrize("units", [5, 13, 64])
    def test_unit_counts_off_the_tiles_and_the_largest(self, tmp_path, units):
        """Narrow last tiles, an odd last pair, and 64 units (the longest asm tile)."""
        from daisynet.host_sim.m7 import M7Engine

        spec = q15_gru(units, seed=units)
        header = tmp_path / "model_defn.h"
        header.write_text(render_header(spec, "test"))
        x = knob_and_audio(300, seed=units)
        simulated = Simulator(spec).render(x, 7)
        run = M7Engine(header, "fast").run(x, 7)
        assert np.max(np.abs(run.outputs - simulated)) <= FAST_TOLERANCE
