// The Daisy Patch inference app without the hardware: which jack or knob feeds each model
// input, and the engine (the CPU meter and the status text are in patch_status.h).
// firmware/inference/main.cpp only moves plain arrays between DaisyDuino and this class, so
// everything here is compiled and tested on the host.
//
// Model inputs are wired by the names in model_defn.h (kInputNames):
//   audio_in_1 .. audio_in_4   the Patch's audio inputs, per frame (-2..2: DaisyDuino scales the
//                              Patch's 24-bit codec by 1 / postgain, postgain 0.5)
//   knob_1 .. knob_4, cv_1 .. cv_4   control N (knob plus CV, 0..1), held for the audio block
// A model with any other input name does not compile (static_assert below), and
// `daisynet flash` refuses it first with the same rule.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model_header.h"
#include "patch_status.h"
#include "model_engine.h"

namespace daisynet {

constexpr std::size_t kPatchAudioInputs = 4;
constexpr std::size_t kPatchControls = 4;

enum class InputSource : std::uint8_t { kAudio, kControl, kUnknown };

struct InputWiring {
  InputSource source;
  std::uint8_t index;  // 0-based jack or control number
};

namespace patch_detail {

constexpr bool StartsWith(const char* text, const char* prefix, std::size_t* length) {
  std::size_t i = 0;
  for (; prefix[i] != '\0'; ++i) {
    if (text[i] != prefix[i]) return false;
  }
  *length = i;
  return true;
}

// "<prefix>N" with a single digit N in 1..count; returns N - 1, or -1.
constexpr int NumberedName(const char* name, const char* prefix, std::size_t count) {
  std::size_t length = 0;
  if (!StartsWith(name, prefix, &length)) return -1;
  const char digit = name[length];
  if (digit < '1' || digit > static_cast<char>('0' + count) || name[length + 1] != '\0') return -1;
  return digit - '1';
}

}  // namespace patch_detail

constexpr InputWiring WiringFor(const char* name) {
  using patch_detail::NumberedName;
  if (const int jack = NumberedName(name, "audio_in_", kPatchAudioInputs); jack >= 0) {
    return {InputSource::kAudio, static_cast<std::uint8_t>(jack)};
  }
  if (const int knob = NumberedName(name, "knob_", kPatchControls); knob >= 0) {
    return {InputSource::kControl, static_cast<std::uint8_t>(knob)};
  }
  if (const int cv = NumberedName(name, "cv_", kPatchControls); cv >= 0) {
    return {InputSource::kControl, static_cast<std::uint8_t>(cv)};
  }
  return {InputSource::kUnknown, 0};
}

constexpr bool AllInputsWired() {
  for (std::size_t i = 0; i < model::kNumInputs; ++i) {
    if (WiringFor(model::kInputNames[i]).source == InputSource::kUnknown) return false;
  }
  return true;
}

template <std::size_t kMaxBlock>
class PatchRunner {
 public:
  static_assert(AllInputsWired(),
                "every model input must be named audio_in_1..4, knob_1..4 or cv_1..4 so the "
                "Patch can feed it");
  static_assert(model::kNumOutputs == 1, "the Patch app plays one model output on audio out 1");

  void Init() {
    engine_.Init();
    for (std::size_t i = 0; i < model::kNumInputs; ++i) wiring_[i] = WiringFor(model::kInputNames[i]);
  }

  // audio_in[j][i]: frame i of audio input j (4 jacks); controls[c]: control c (0..1) for this
  // audio block. Writes `frames` model outputs to out; longer blocks than kMaxBlock are split.
  void Process(const float* const* audio_in, const float* controls, float* out,
               std::size_t frames) {
    for (std::size_t done = 0; done < frames; done += kMaxBlock) {
      const std::size_t count = frames - done < kMaxBlock ? frames - done : kMaxBlock;
      const float* channels[model::kNumInputs];
      for (std::size_t i = 0; i < model::kNumInputs; ++i) {
        if (wiring_[i].source == InputSource::kAudio) {
          channels[i] = audio_in[wiring_[i].index] + done;
        } else {
          float* held = held_controls_[i];
          for (std::size_t f = 0; f < count; ++f) held[f] = controls[wiring_[i].index];
          channels[i] = held;
        }
      }
      engine_.Process(channels, out + done, count);
    }
  }

  // The inference app's audio callback, from the knob values on: the model on out[0], the dry
  // input 1 on out[1], silence on out[2..3]. `cycles()` reads a free-running 32-bit count of
  // core cycles (DWT->CYCCNT on the Daisy); the callback's and the model's cycles go to `meter`.
  template <typename CycleCounter>
  void RunCallback(const float* const* audio_in, float* const* out, const float* controls,
                   std::size_t frames, CycleCounter&& cycles, CpuMeter& meter) {
    const std::uint32_t start = cycles();
    const std::uint32_t model_start = cycles();
    Process(audio_in, controls, out[0], frames);
    const std::uint32_t model_cycles = cycles() - model_start;
    for (std::size_t i = 0; i < frames; ++i) {
      out[1][i] = audio_in[0][i];
      out[2][i] = 0.0f;
      out[3][i] = 0.0f;
    }
    meter.Add(model_cycles, cycles() - start, frames);
  }

  std::uint32_t non_finite_outputs() const { return engine_.non_finite_outputs(); }
  static constexpr std::size_t engine_bytes() { return sizeof(ModelEngine<kMaxBlock>); }

 private:
  ModelEngine<kMaxBlock> engine_;
  InputWiring wiring_[model::kNumInputs] = {};
  // A control value repeated over the block, for each input (only control inputs use theirs).
  float held_controls_[model::kNumInputs][kMaxBlock] = {};
};

}  // namespace daisynet
