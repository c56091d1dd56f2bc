// ModelEngine<kMaxBlock>: the engine of model_defn.h's family, what the apps, the native build
// and the emulator harness declare. A GRU header defines DAISYNET_MODEL_FAMILY_GRU; the choice
// is a preprocessor one because each family's backends name constants only its headers have.
#pragma once

#include <cstddef>

#include "model_header.h"

#if DAISYNET_MODEL_FAMILY_GRU
#include "gru_engine.h"
#else
#include "wavenet_engine.h"
#endif

namespace daisynet {

#if DAISYNET_MODEL_FAMILY_GRU
static_assert(model::kModelFamily == model::ModelFamily::kGru);
template <std::size_t kMaxBlock>
using ModelEngine = GruEngine<kMaxBlock>;
#else
static_assert(model::kModelFamily == model::ModelFamily::kWavenet);
template <std::size_t kMaxBlock>
using ModelEngine = WavenetEngine<kMaxBlock>;
#endif

}  // namespace daisynet
