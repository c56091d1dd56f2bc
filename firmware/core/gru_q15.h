// The q15 GRU's recurrent product (a model_defn.h with DAISYNET_MODEL_GRU_Q15), the parts both
// GRU backends share: the state to Q15 and an exact sum back to float32, as the header's
// comment and host_sim/model_defn/fixed_point.py define them. One VCVT each on the Cortex-M7
// (to and from fixed point, with the scale folded in); the same values in portable C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model_header.h"

namespace daisynet::gru {

#if DAISYNET_MODEL_GRU_Q15
inline constexpr int kStateFracBits = 15;
inline constexpr int kSumFracBits = kStateFracBits + model::kGruRecurrentFracBits;
static_assert(kSumFracBits >= 1 && kSumFracBits <= 32,
              "kGruRecurrentFracBits outside what one VCVT scales (1 - 15 .. 32 - 15)");

// SAT16(trunc(h * 2^15)), NaN -> 0.
inline std::int16_t StateQ15(float h) {
#if defined(__ARM_ARCH_7EM__) && defined(__ARM_FP)
  asm("vcvt.s16.f32 %0, %0, #15" : "+t"(h));  // toward zero, saturating, NaN -> 0
  std::int32_t q;
  std::memcpy(&q, &h, sizeof(q));
  return static_cast<std::int16_t>(q);
#else
  const float v = h * 32768.0f;  // exact: a power of two
  if (!(v == v)) return 0;
  if (v >= 32767.0f) return 32767;
  if (v <= -32768.0f) return -32768;
  return static_cast<std::int16_t>(static_cast<std::int32_t>(v));  // the cast truncates
#endif
}

// float(acc) * 2^-kSumFracBits, rounded to nearest (the scaling is exact).
inline float SumToFloat(std::int32_t acc) {
#if defined(__ARM_ARCH_7EM__) && defined(__ARM_FP)
  float v;
  std::memcpy(&v, &acc, sizeof(v));
  asm("vcvt.f32.s32 %0, %0, #%c1" : "+t"(v) : "i"(kSumFracBits));
  return v;
#else
  constexpr float kScale = [] {
    float scale = 1.0f;
    for (int e = 0; e < kSumFracBits; ++e) scale *= 0.5f;
    return scale;
  }();
  return static_cast<float>(acc) * kScale;
#endif
}

// Every gate column's exact sum fits an int32 for any state (|hq| <= 2^15): 65,535 * 2^15 <
// 2^31. The header states the bound; the engine checks its weights against its own copy, so a
// hand-edited header cannot make the 32-bit sums wrap.
inline constexpr std::int64_t kMaxColumnSum = 65535;
static_assert(model::kGruMaxColumnSum == kMaxColumnSum, "kGruMaxColumnSum: export again");
constexpr bool ColumnSumsFit() {
  constexpr std::size_t kUnits = model::kGruUnits;
  for (std::size_t j = 0; j < 3 * kUnits; ++j) {
    std::int64_t sum = 0;
    for (std::size_t u = 0; u < kUnits; ++u) {
      const std::int64_t w = model::kGruRecurrentWeightsQ15[j * kUnits + u];
      sum += w < 0 ? -w : w;
    }
    if (sum > kMaxColumnSum) return false;
  }
  return true;
}
static_assert(ColumnSumsFit(), "a q15 gate column's sum can overflow 32 bits: export again");
#endif

}  // namespace daisynet::gru
