"""Run one signal through Keras and through engines, and measure how far apart they are.

``daisynet verify`` checks, by default, the engine that ships (the firmware's fast backend,
compiled natively) and the cmsisdsp simulator, each against Keras (``verify_engines``); the
firmware core on the emulated M7 is a third choice. Every engine is also measured against the
exact (float64) output of the Keras model's weights, which tells an engine bug (far from exact)
from float32 rounding that Keras shares (both near it).
"""

from __future__ import annotations

import numpy as np

from daisynet.host_sim.engines import ENGINES, Renderer, renderer
from daisynet.host_sim.model_defn import AnyModelSpec, GruSpec, ModelSpec
from daisynet.host_sim.reference import reference_output
from daisynet.training.export import ModelMetadata, keras_outputs, spec_from_keras
from daisynet.training.metrics import esr

# Largest simulator-vs-Keras difference that passes outright. Float32 engines that sum in
# different orders disagree by rounding amplified through the layers; random-weight models stay
# well below this at audio levels, but a trained model can amplify early-layer rounding ~100x
# (the demo's slope detectors do), and then Keras itself is further than this from exact.
DEFAULT_TOLERANCE = 1e-5
# Otherwise the simulator passes when it is no further from the exact (float64) answer than
# Keras is, with this margin for the two engines' different summation orders: the largest of a
# few hundred rounding errors varies a lot between two orders (the demo model trained with the
# C++ refining objective, on its 512 golden frames: simulator 2.2e-5 from exact, Keras 1.07e-5,
# a ratio of 2.06), while a real engine bug is orders of magnitude further off.
ROUNDING_MARGIN = 4.0
# What ``daisynet verify`` checks unless told otherwise: the engine that ships first (the
# firmware's fast backend, natively), then the cmsisdsp simulator that users validate with.
DEFAULT_ENGINES = ("native", "python")


def compare(
    keras_model,
    spec: AnyModelSpec,
    inputs: np.ndarray,
    block_size: int,
    tolerance: float = DEFAULT_TOLERANCE,
    render: Renderer | None = None,
) -> dict:
    """Figures for engine vs Keras, both also measured against the float64 reference, and
    the verdict: ``passed`` with the ``criterion`` that decided it. ``render`` is the engine
    under test (default: the Python simulator); its output is called the simulator's below."""
    inputs = np.asarray(inputs, dtype=np.float32)
    keras_out = keras_outputs(keras_model, spec, inputs)
    if render is None:
        render = renderer("python", spec, None, progress=len(inputs) > 1 << 16)
    sim_out = render(inputs, block_size)
    # The exact answer of the Keras model's own weights, so a damaged spec cannot vouch for itself.
    exact = reference_output(spec_from_keras(keras_model, ModelMetadata()), inputs)
    error = np.abs(sim_out.astype(np.float64) - keras_out)
    worst = int(np.argmax(np.max(error, axis=1))) if error.size else 0
    result = {
        "frames": int(inputs.shape[0]),
        "block_size": block_size,
        "sim_vs_keras_max_abs_err": float(error.max()) if error.size else 0.0,
        "sim_vs_keras_esr": _safe_esr(keras_out, sim_out),
        "worst_frame": worst,
        "keras_vs_float64_max_abs_err": float(np.max(np.abs(keras_out - exact))),
        "sim_vs_float64_max_abs_err": float(np.max(np.abs(sim_out - exact))),
        "output_peak": float(np.max(np.abs(keras_out))) if keras_out.size else 0.0,
        "tolerance": tolerance,
        "keras": keras_out,
        "simulator": sim_out,
    }
    result.update(_verdict(result))
    return result


def _verdict(figures: dict) -> dict:
    if figures["sim_vs_keras_max_abs_err"] <= figures["tolerance"]:
        return {"passed": True, "criterion": "within tolerance of Keras"}
    keras_rounding = figures["keras_vs_float64_max_abs_err"]
    if figures["sim_vs_float64_max_abs_err"] <= ROUNDING_MARGIN * keras_rounding:
        return {
            "passed": True,
            "criterion": "float32 rounding: the engine is as close to exact as Keras is",
        }
    return {"passed": False, "criterion": "the engine is further from exact than Keras"}


def _safe_esr(reference: np.ndarray, other: np.ndarray) -> float:
    return esr(reference, other) if np.any(reference) else float(np.max(np.abs(other)) > 0)


def _criterion(passed: bool, golden_agrees: bool | None, reference: str, fails: str,
               agrees: tuple[str, str]) -> str:
    """What a check judged, in words: ``agrees`` is (how, preposition), e.g. ("bit for bit",
    "with"); ``golden_agrees`` None when there were no golden outputs to compare."""
    how, preposition = agrees
    if not passed:
        return f"{fails} {reference}"
    if golden_agrees is False:
        return (f"{how} {preposition} {reference} but not {preposition} the golden outputs "
                "(re-export)")
    return f"{how} {preposition} {reference}" + (" and the golden outputs" if golden_agrees else "")


def _quantized_result(spec: AnyModelSpec, inputs: np.ndarray, block_size: int,
                      keras_out: np.ndarray, sim_out: np.ndarray) -> dict:
    """The fields every quantized check reports: the run, and what quantization costs against
    Keras (reported, not judged)."""
    error = np.abs(sim_out.astype(np.float64) - keras_out)
    return {
        "frames": int(inputs.shape[0]),
        "block_size": block_size,
        "number_format": spec.number_format,
        "sim_vs_keras_max_abs_err": float(error.max()) if error.size else 0.0,
        "sim_vs_keras_esr": _safe_esr(keras_out, sim_out),
        "output_peak": float(np.max(np.abs(keras_out))) if keras_out.size else 0.0,
        "keras": keras_out,
        "simulator": sim_out,
    }


def compare_quantized(
    keras_model,
    spec: ModelSpec,
    inputs: np.ndarray,
    block_size: int,
    render: Renderer | None = None,
    golden: np.ndarray | None = None,
) -> dict:
    """A q15/q7 engine against the fixed-point arithmetic it must reproduce bit for bit
    (``model_defn.fixed_point``), and what quantization costs against Keras on the same
    audio. With ``golden`` (the golden header's kOutputs for these ``inputs``) the engine must
    also reproduce those bit for bit (a stale or damaged golden header fails). ``passed``
    means bit-exact; the cost is reported, not judged (export judges it)."""
    from daisynet.host_sim.model_defn.fixed_point import run_fixed_point

    inputs = np.asarray(inputs, dtype=np.float32)
    keras_out = keras_outputs(keras_model, spec, inputs)
    if render is None:
        render = renderer("python", spec, None, progress=len(inputs) > 1 << 16)
    sim_out = render(inputs, block_size)
    expected = run_fixed_point(spec, inputs).outputs
    differs = np.any(sim_out != expected, axis=1) if sim_out.size else np.zeros(0, bool)
    passed = bool(sim_out.shape == expected.shape and not differs.any())
    golden_exact = None if golden is None else bool(
        np.shape(golden) == sim_out.shape and np.array_equal(golden, sim_out))
    criterion = _criterion(passed, golden_exact, f"the {spec.number_format} arithmetic",
                           "differs from", ("bit for bit", "with"))
    return {**_quantized_result(spec, inputs, block_size, keras_out, sim_out),
            "bit_exact": passed,
            "golden_bit_exact": golden_exact,
            "mismatched_frames": int(differs.sum()),
            "first_mismatch": int(np.argmax(differs)) if differs.any() else None,
            "passed": passed and golden_exact is not False,
            "criterion": criterion}


def compare_gru_q15(
    keras_model,
    spec: GruSpec,
    inputs: np.ndarray,
    block_size: int,
    render: Renderer | None = None,
    golden: np.ndarray | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict:
    """A q15 GRU engine against the q15 model: within ``tolerance`` of the cmsisdsp simulator
    (the contract's integers are exact in every engine, but the float32 gates sum in other
    orders), or no further from the q15 model's float64 reference than the simulator is (with
    ROUNDING_MARGIN); with ``golden`` (the simulator's outputs at export), the same against
    them. What q15 costs against Keras is reported, not judged (export judges it)."""
    from daisynet.host_sim.engine import Simulator

    inputs = np.asarray(inputs, dtype=np.float32)
    keras_out = keras_outputs(keras_model, spec, inputs)
    if render is None:
        render = renderer("python", spec, None, progress=len(inputs) > 1 << 16)
    sim_out = render(inputs, block_size)
    exact = reference_output(spec, inputs)

    def close(expected: np.ndarray) -> bool:
        if np.shape(expected) != sim_out.shape:
            return False
        if not sim_out.size or np.max(np.abs(sim_out - expected)) <= tolerance:
            return True
        return bool(np.max(np.abs(sim_out - exact))
                    <= ROUNDING_MARGIN * np.max(np.abs(expected - exact)))

    passed = close(Simulator(spec).render(inputs, block_size))
    golden_close = None if golden is None else close(golden)
    criterion = _criterion(passed, golden_close, "the q15 simulator",
                           "further from the q15 model than", ("within rounding", "of"))
    return {**_quantized_result(spec, inputs, block_size, keras_out, sim_out),
            "bit_exact": None,  # not the criterion: the float parts round differently per engine
            "golden_bit_exact": None,
            "mismatched_frames": 0,
            "first_mismatch": None,
            "passed": passed and golden_close is not False,
            "criterion": criterion}


def verify_engines(keras_model, spec: AnyModelSpec, inputs: np.ndarray, block_size: int,
                   engines: tuple[str, ...] = DEFAULT_ENGINES, header=None,
                   tolerance: float = DEFAULT_TOLERANCE, golden: np.ndarray | None = None) -> dict:
    """Each of ``engines`` (``host_sim.engines.ENGINES``; native and m7 compile ``header``)
    against Keras on ``inputs``: ``compare`` for a float model, ``compare_quantized`` for a
    q15/q7 one. Returns the first engine's figures (by default the engine that ships), with
    ``engines``: every engine's figures in order, each with its name, and ``passed``: all
    passed."""
    results = []
    for engine in engines:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
        render = renderer(engine, spec, header, progress=len(inputs) > 1 << 16)
        if spec.quantized and spec.family == "gru":
            result = compare_gru_q15(keras_model, spec, inputs, block_size, render, golden,
                                     tolerance)
        elif spec.quantized:
            result = compare_quantized(keras_model, spec, inputs, block_size, render, golden)
        else:
            result = compare(keras_model, spec, inputs, block_size, tolerance, render)
        results.append({"engine": engine, **result})
    return {**results[0], "passed": all(result["passed"] for result in results),
            "engines": results}
