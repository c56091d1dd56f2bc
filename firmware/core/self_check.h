// The boot self-check of a bank's model (bank_slot.h): the model runs a short deterministic
// input and its outputs are compared with the reference its model_defn.h stores
// (kSelfCheckOutputs), which the same engine code computed on the emulated Cortex-M7 with the
// Daisy's flags (host_sim/self_check.py). The input comes from a 32-bit xorshift generator whose
// values are exact in float32, drawn in the same order as host_sim/self_check.py: frame by
// frame, input by input; audio inputs (names starting "audio") a new value each frame in
// -1..1, the others one per 48-frame block in 0..1. The check also times the model's
// process() calls with the caller's cycle counter.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bank_slot.h"

namespace daisynet_bank {

enum class CheckVerdict : std::uint8_t { kNone, kPass, kFail };

struct CheckResult {
  CheckVerdict verdict;
  std::uint32_t cycles_per_sample;  // mean over the check's process() calls, rounded
  float max_error;                  // largest |output - reference| (inf after a NaN)
};

inline constexpr std::uint32_t kCheckSeed = 0x9E3779B9u;  // host_sim/self_check.py CHECK_SEED
inline constexpr std::size_t kCheckBlock = 48;  // frames per call, the inference app's block
inline constexpr std::size_t kMaxCheckOutputs = 4;

inline std::uint32_t CheckNext(std::uint32_t state) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

// The check input's next value for an audio (-1..1) or a control (0..1) input.
inline float CheckValue(std::uint32_t state, bool audio) {
  const std::uint32_t bits = state >> 8;  // 24 bits: exact in float32
  if (!audio) return static_cast<float>(bits) * 0x1p-24f;
  const std::int32_t signed_bits = static_cast<std::int32_t>(bits) - (bits >= (1u << 23) ? (1 << 24) : 0);
  return static_cast<float>(signed_bits) * 0x1p-23f;
}

// Runs `slot`'s check from silence and leaves it reset. `cycles()` reads a free-running 32-bit
// cycle count (DWT->CYCCNT on the Daisy). kNone when the header stores no reference. Not
// reentrant: its buffers are static (no stack of kilobytes, no heap).
template <typename CycleCounter>
CheckResult RunSelfCheck(const Slot& slot, CycleCounter&& cycles) {
  CheckResult result{CheckVerdict::kNone, 0, 0.0f};
  if (slot.check_frames == 0 || slot.num_inputs > kMaxSlotInputs ||
      slot.num_outputs > kMaxCheckOutputs) {
    return result;
  }
  static float channels[kMaxSlotInputs][kCheckBlock];
  static float out[kCheckBlock * kMaxCheckOutputs];
  bool audio[kMaxSlotInputs];
  float held[kMaxSlotInputs] = {};
  const float* pointers[kMaxSlotInputs];
  for (std::size_t c = 0; c < slot.num_inputs; ++c) {
    audio[c] = std::strncmp(slot.input_names[c], "audio", 5) == 0;
    pointers[c] = channels[c];
  }
  std::uint32_t state = kCheckSeed;
  std::uint64_t total_cycles = 0;
  bool failed = false;
  const std::size_t outputs = slot.num_outputs;
  slot.reset();
  for (std::size_t first = 0; first < slot.check_frames; first += kCheckBlock) {
    const std::size_t count =
        slot.check_frames - first < kCheckBlock ? slot.check_frames - first : kCheckBlock;
    for (std::size_t f = 0; f < count; ++f) {
      for (std::size_t c = 0; c < slot.num_inputs; ++c) {
        if (audio[c] || (first + f) % kCheckBlock == 0) {
          state = CheckNext(state);
          held[c] = CheckValue(state, audio[c]);
        }
        channels[c][f] = held[c];
      }
    }
    const std::uint32_t start = cycles();
    slot.process(pointers, out, count);
    total_cycles += cycles() - start;
    for (std::size_t f = 0; f < count; ++f) {
      const std::size_t frame = first + f + 1;
      if (frame % slot.check_stride != 0) continue;
      const float* reference = slot.check_outputs + (frame / slot.check_stride - 1) * outputs;
      for (std::size_t o = 0; o < outputs; ++o) {
        const float error = std::fabs(out[f * outputs + o] - reference[o]);
        if (!(error <= slot.check_tolerance)) failed = true;  // NaN fails too
        if (!(error <= result.max_error)) result.max_error = error == error ? error : INFINITY;
      }
    }
  }
  slot.reset();
  result.verdict = failed ? CheckVerdict::kFail : CheckVerdict::kPass;
  result.cycles_per_sample =
      static_cast<std::uint32_t>((total_cycles + slot.check_frames / 2) / slot.check_frames);
  return result;
}

inline const char* CheckVerdictText(CheckVerdict verdict) {
  switch (verdict) {
    case CheckVerdict::kPass: return "pass";
    case CheckVerdict::kFail: return "FAIL";
    case CheckVerdict::kNone: return "none";
  }
  return "?";
}

}  // namespace daisynet_bank
