// Inference for a daisynet GRU (a model_defn.h with DAISYNET_MODEL_FAMILY_GRU): one GRU layer,
// a linear head and an input skip, the equations of that header's comment.
//
// GruEngine<kMaxBlock> is one shell (EngineShell, engine_shell.h: Init/Reset, blocks of at most
// kMaxBlock frames, the non-finite guard) around one backend, which computes a block:
// - gru_fast_backend.h: register-tiled float32 (the default, what the Daisy apps run);
// - gru_cmsis_backend.h: CMSIS-DSP calls in host_sim's order (the readable reference).
// DAISYNET_ENGINE_BACKEND picks one. The apps use ModelEngine (model_engine.h), which is this
// for a GRU header. No heap: the state and every buffer live in the object.
#pragma once

#include <cstddef>

#include "engine_shell.h"
#include "gru_cmsis_backend.h"
#include "gru_fast_backend.h"
#include "model_header.h"

namespace daisynet {

static_assert(model::kNumberFormat == model::NumberFormat::kFloat32 ||
                  model::kNumberFormat == model::NumberFormat::kQ15,
              "GRU models run in float32 or q15 only");

#if DAISYNET_ENGINE_BACKEND == DAISYNET_ENGINE_FAST
template <std::size_t kMaxBlock>
using GruEngine = EngineShell<GruFastBackend<kMaxBlock>>;
#else
template <std::size_t kMaxBlock>
using GruEngine = EngineShell<GruCmsisBackend<kMaxBlock>>;
#endif

}  // namespace daisynet
