// The emulator harness's engine (engine_unit.h) over a model bank: the slots of bank_slots.h,
// generated with their sources by host_sim/m7.py (host_sim/bank.py), one selected at a time.
// Each slot's object holds what that model adds to a firmware image.
#include "bank_slots.h"
#include "engine_unit.h"
#include "self_check.h"

namespace daisynet::emulator {

namespace {

std::size_t selected = 0;

const daisynet_bank::Slot& Selected() { return *daisynet_bank::kSlots[selected]; }

}  // namespace

bool EngineSelect(std::size_t slot) {
  if (slot >= daisynet_bank::kBankSize || daisynet_bank::kSlots[slot]->num_inputs > daisynet_bank::kMaxSlotInputs) {
    return false;
  }
  selected = slot;
  return true;
}

void EngineInit() { Selected().init(); }

void EngineProcessPlanar(const float* planar, std::size_t channel_stride, std::size_t first,
                         float* out, std::size_t frames) {
  const float* channels[daisynet_bank::kMaxSlotInputs];
  for (std::size_t c = 0; c < Selected().num_inputs; ++c) {
    channels[c] = planar + c * channel_stride + first;
  }
  Selected().process(channels, out, frames);
}

std::size_t EngineInputs() { return Selected().num_inputs; }
std::size_t EngineOutputs() { return Selected().num_outputs; }
std::size_t EngineBytes() { return Selected().engine_bytes; }
std::uint32_t EngineNonFiniteOutputs() { return Selected().non_finite_outputs(); }

bool EngineSelfCheck(std::uint32_t (*cycles)(), int* verdict, std::uint32_t* cycles_per_sample,
                     float* max_error) {
  const daisynet_bank::CheckResult result = daisynet_bank::RunSelfCheck(Selected(), cycles);
  *verdict = static_cast<int>(result.verdict);
  *cycles_per_sample = result.cycles_per_sample;
  *max_error = result.max_error;
  return true;
}

}  // namespace daisynet::emulator
