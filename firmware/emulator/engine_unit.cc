// The firmware inference core and its model_defn.h in one translation unit. Its object file
// holds exactly what the model adds to a firmware image: engine code and weights (flash) and
// the engine's state (RAM), which host_sim/m7.py reports with arm-none-eabi-size.
#include "engine_unit.h"

// DAISYNET_ENGINE_BACKEND (set by host_sim/m7.py) picks the core's backend, or the per-sample
// baseline that only `daisynet bench` builds.
#define DAISYNET_ENGINE_PER_SAMPLE 3
#if DAISYNET_ENGINE_BACKEND == DAISYNET_ENGINE_PER_SAMPLE
#include "per_sample_engine.h"
#else
#include "model_engine.h"
#endif

namespace daisynet::emulator {

namespace {
#if DAISYNET_ENGINE_BACKEND == DAISYNET_ENGINE_PER_SAMPLE
PerSampleEngine engine;
#else
ModelEngine<kMaxBlock> engine;
#endif
}  // namespace

bool EngineSelect(std::size_t slot) { return slot == 0; }
void EngineInit() { engine.Init(); }

void EngineProcessPlanar(const float* planar, std::size_t channel_stride, std::size_t first,
                         float* out, std::size_t frames) {
  const float* channels[model::kNumInputs];
  for (std::size_t c = 0; c < model::kNumInputs; ++c) {
    channels[c] = planar + c * channel_stride + first;
  }
  engine.Process(channels, out, frames);
}

std::size_t EngineInputs() { return model::kNumInputs; }
std::size_t EngineOutputs() { return model::kNumOutputs; }
std::size_t EngineBytes() { return sizeof(engine); }
std::uint32_t EngineNonFiniteOutputs() { return engine.non_finite_outputs(); }
bool EngineSelfCheck(std::uint32_t (*)(), int*, std::uint32_t*, float*) { return false; }

}  // namespace daisynet::emulator
