// The shell every inference engine shares (wavenet_engine.h, gru_engine.h; model_engine.h
// picks one): Init/Reset, splitting a Process() call into blocks of at most kMaxBlock frames,
// and the guard that silences non-finite outputs, around one backend that computes a block.
// It also holds the model_defn.h format-version check and the backend switch.
//
// A backend B provides: B::kMaxBlock (the most frames of one block); B::kFloatOutputs (false when its arithmetic cannot
// produce NaN or infinity: the guard is then left out); Init() (one-time set-up, before
// Reset()); Reset() (back to silence); and ProcessBlock(inputs, first, out, block) for frames
// first .. first + block - 1 of the planar inputs, block <= kMaxBlock, into out (frame-major).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model_header.h"

// The compile-time switch DAISYNET_ENGINE_BACKEND picks a family's fast backend (the default,
// what the Daisy apps run) or its CMSIS-DSP one (the readable reference in host_sim's order).
#define DAISYNET_ENGINE_CMSIS 1
#define DAISYNET_ENGINE_FAST 2
#ifndef DAISYNET_ENGINE_BACKEND
#define DAISYNET_ENGINE_BACKEND DAISYNET_ENGINE_FAST
#endif
#if DAISYNET_ENGINE_BACKEND != DAISYNET_ENGINE_FAST && DAISYNET_ENGINE_BACKEND != DAISYNET_ENGINE_CMSIS
#error "DAISYNET_ENGINE_BACKEND must be DAISYNET_ENGINE_FAST or DAISYNET_ENGINE_CMSIS"
#endif

namespace daisynet {

// The model_defn.h format version this engine reads (MODEL_DEFN_FORMAT_VERSION in
// host_sim/model_defn/spec.py). A header from before format versions declares none: the
// using-directive below gives model::kModelDefnFormatVersion the value 0 then (qualified
// lookup sees it only where the header declares no constant of its own).
inline constexpr std::uint32_t kSupportedModelDefnFormatVersion = 3;
namespace model_defn_unversioned {
inline constexpr std::uint32_t kModelDefnFormatVersion = 0;
}
namespace model {
using namespace model_defn_unversioned;
}
static_assert(model::kModelDefnFormatVersion <= kSupportedModelDefnFormatVersion,
              "model_defn.h is of a newer format version than this engine reads: update the "
              "firmware (daisynet) it is built with");
static_assert(model::kModelDefnFormatVersion >= kSupportedModelDefnFormatVersion,
              "model_defn.h is of an older format version (or none): export the model again "
              "with this daisynet");

// The shell derives from its backend, privately, rather than holding one: the counter then
// goes into the backend's tail padding, so the engine is exactly as large, and laid out
// exactly as, the backend alone with a counter at its end.
template <class Backend>
class EngineShell : private Backend {
 public:
  static constexpr std::size_t kMaxBlock = Backend::kMaxBlock;
  static constexpr std::size_t kNumInputs = model::kNumInputs;
  static constexpr std::size_t kNumOutputs = model::kNumOutputs;
  static_assert(kMaxBlock >= 1, "a block holds at least one frame");

  EngineShell() = default;

  void Init() {
    Backend::Init();
    Reset();
  }

  // Back to silence, as after power-up; also clears the non-finite counter.
  void Reset() {
    Backend::Reset();
    non_finite_outputs_ = 0;
  }

  // inputs[c][i]: frame i of input channel c, channels in model::kInputNames order.
  // out[i * kNumOutputs + o]: frame i of output o. Non-finite outputs become 0 and are counted.
  void Process(const float* const* inputs, float* out, std::size_t frames) {
    ForEachBlock(frames, [&](std::size_t first, std::size_t block) {
      Backend::ProcessBlock(inputs, first, out + first * kNumOutputs, block);
      if constexpr (Backend::kFloatOutputs) {
        SilenceNonFinite(out + first * kNumOutputs, block * kNumOutputs);
      }
    });
  }

  // Output samples replaced by silence because they were NaN or infinite, since Reset().
  std::uint32_t non_finite_outputs() const { return non_finite_outputs_; }

 private:
  // Calls body(first, count) for consecutive blocks of at most kMaxBlock of `frames` frames.
  // A function over a lambda rather than a plain loop: the form every backend's Process() had
  // before the shell, with which GCC gives the M7 exactly the same instructions.
  template <typename Body>
  static void ForEachBlock(std::size_t frames, Body&& body) {
    for (std::size_t first = 0; first < frames; first += kMaxBlock) {
      body(first, frames - first < kMaxBlock ? frames - first : kMaxBlock);
    }
  }

  // Non-finite (inf or NaN) exactly when all exponent bits are set: an integer test, where
  // std::isfinite is a compare and a VMRS on the M7.
  void SilenceNonFinite(float* out, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, &out[i], sizeof(bits));
      if ((bits & 0x7f800000u) == 0x7f800000u) {
        out[i] = 0.0f;
        ++non_finite_outputs_;
      }
    }
  }

  std::uint32_t non_finite_outputs_ = 0;
};

}  // namespace daisynet
