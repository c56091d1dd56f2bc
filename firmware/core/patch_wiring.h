// Which Patch jack or knob feeds a model input, by the input's name in model_defn.h
// (kInputNames):
//   audio_in_1 .. audio_in_4   the Patch's audio inputs, per frame (-2..2: DaisyDuino scales the
//                              Patch's 24-bit codec by 1 / postgain, postgain 0.5)
//   knob_1 .. knob_4, cv_1 .. cv_4   control N (knob plus CV, 0..1), held for the audio block
// A model with any other input name does not play (PatchRunner::Init refuses its bank), and
// `daisynet flash` refuses it first with the same rule.
#pragma once

#include <cstddef>
#include <cstdint>

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

}  // namespace daisynet
