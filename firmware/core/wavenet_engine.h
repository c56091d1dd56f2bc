// Cached-activation inference for a daisynet wavenet, compiled against a model_defn.h.
//
// WavenetEngine<kMaxBlock> is one shell (EngineShell, engine_shell.h: Init/Reset, blocks of at
// most kMaxBlock frames, the non-finite guard) around one backend, which computes a block:
// - wavenet_fast_backend.h: register-tiled float32 (the default, what the Daisy apps run);
// - wavenet_cmsis_backend.h: float32 on CMSIS-DSP's matrix functions, in host_sim's order;
// - wavenet_q_backend.h: q15/q7 fixed point, a fast and a CMSIS-DSP backend.
// A float model (model::kNumberFormat) runs on a float backend, a q15/q7 one on a fixed-point
// backend; the compile-time switch DAISYNET_ENGINE_BACKEND picks fast (the default) or CMSIS.
// The apps use ModelEngine (model_engine.h), which is this for a wavenet header.
//
// Portable: includes only arm_math.h and the standard library. Every buffer lives in the
// object (no heap), so declare the engine as a global or static and place it where you want
// it (DTCM/SRAM/SDRAM). Two-phase: trivial constructor, Init(), then Process() per block.
#pragma once

#include <cstddef>
#include <type_traits>

#include "engine_shell.h"
#include "model_header.h"
#include "wavenet_cmsis_backend.h"
#include "wavenet_fast_backend.h"
#include "wavenet_q_backend.h"

namespace daisynet {

inline constexpr bool kFloatModel = model::kNumberFormat == model::NumberFormat::kFloat32;

#if DAISYNET_ENGINE_BACKEND == DAISYNET_ENGINE_FAST
template <std::size_t kMaxBlock>
using WavenetEngine = EngineShell<
    std::conditional_t<kFloatModel, FastBackend<kMaxBlock>, FastQBackend<kMaxBlock>>>;
#else
template <std::size_t kMaxBlock>
using WavenetEngine = EngineShell<
    std::conditional_t<kFloatModel, CmsisBackend<kMaxBlock>, CmsisQBackend<kMaxBlock>>>;
#endif

}  // namespace daisynet
