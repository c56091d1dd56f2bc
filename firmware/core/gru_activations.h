// Fast float32 tanh and sigmoid for the GRU engines, reproduced bit for bit by
// host_sim/activations.py (the simulator's twin; tests hold the two equal natively and on the
// emulated Cortex-M7).
//
// Both are one odd rational in u = x * x, minimax on the clamped range:
//   FastTanh(x)    = x P(u) / Q(u),        x clamped to [-8, 8]
//   FastSigmoid(x) = 0.5 + x Ps(u) / Qs(u), x clamped to [-16, 16]
// where Ps, Qs are P, Q scaled for 0.5 + 0.5 tanh(x / 2) (exact powers of 4, so the same
// rational). Maximum absolute error, over every float32 in [-16, 16] (beyond, both are flat):
// tanh 4.41e-7, sigmoid 2.50e-7 (host_sim.native.NativeActivations.max_error measures it; the
// clamp's own share is 1 - tanh(8) = 2.3e-7 and 1 - sigmoid(16) = 1.1e-7; the rest is the
// fit, 1.2e-7, and float32 rounding).
//
// Cost on the Cortex-M7 (FPv4-SP, no hardware exp, no VMIN/VMAX): 12 arithmetic instructions
// for tanh, 13 for sigmoid: the clamp is two VCVTs to fixed point and back (the conversion
// saturates, and rounds toward zero below 2^-28 or 2^-27, an absolute change under 4e-9), then
// 7 fused multiply-adds, 2 multiplies and one VDIV. Each multiply-add also needs its constant
// copied into place (VFMA overwrites its addend), so about 20 each in the GRU's gate loop.
// Measured against the alternatives on the emulated M7 (arithmetic instructions per call): a
// VCMP/VMRS/branch clamp instead of the VCVTs, 19; e^-2|x| from the exponent bits and a
// degree-5 polynomial of 2^f, then (1 - e) / (1 + e) with the sign copied back, about 30.
// Cycles differ from instructions: VDIV takes 14 on the M7.
//
// Every multiply-add is an explicit fmaf, never left to the compiler: GCC contracts a * b + c
// into VFMA on the M7 (-ffp-contract=fast) but not on a host without FMA, and one rounding
// differs from two. On the host fmaf is the C library's (exact); the twin computes it exactly too.
#pragma once

#include <cmath>
#include <cstdint>

namespace daisynet::gru {

namespace activation_detail {

// Minimax rational for tanh on [0, 8] (degrees 3 and 4 in u), coefficients rounded to float32.
inline constexpr float kTanhP[4] = {0x1.ffffeap-1f, 0x1.088974p-3f, 0x1.81a298p-9f,
                                    0x1.7c9cfcp-17f};
inline constexpr float kTanhQ[5] = {0x1p+0f, 0x1.d99976p-2f, 0x1.85932ep-6f, 0x1.f209a4p-13f,
                                    0x1.054fdep-22f};
// The same for sigmoid(x) - 0.5 = tanh(x / 2) / 2: P[i] / 4^(i+1) and Q[i] / 4^i, exactly.
inline constexpr float kSigmoidP[4] = {0x1.ffffeap-3f, 0x1.088974p-7f, 0x1.81a298p-15f,
                                       0x1.7c9cfcp-25f};
inline constexpr float kSigmoidQ[5] = {0x1p+0f, 0x1.d99976p-4f, 0x1.85932ep-10f,
                                       0x1.f209a4p-19f, 0x1.054fdep-30f};

inline float Fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }

// x clamped to [-2^(31 - kFracBits), 2^(31 - kFracBits)] and truncated toward zero to a
// multiple of 2^-kFracBits; NaN becomes 0, and zero is +0. On the M7 that is exactly VCVT to
// signed fixed point (saturating, toward zero) and back (the largest fixed-point value rounds
// up to the bound); elsewhere the same in C++ (adding +0 turns a -0 from trunc into +0).
template <int kFracBits>
inline float Clamp(float x) {
#if defined(__ARM_ARCH_7EM__) && defined(__ARM_FP)
  __asm__("vcvt.s32.f32 %0, %0, %1\n\tvcvt.f32.s32 %0, %0, %1" : "+t"(x) : "I"(kFracBits));
  return x;
#else
  constexpr float kBound = static_cast<float>(std::int64_t{1} << (31 - kFracBits));
  constexpr float kScale = static_cast<float>(std::int64_t{1} << kFracBits);
  if (std::isnan(x)) return 0.0f;
  if (x >= kBound) return kBound;
  if (x <= -kBound) return -kBound;
  return std::trunc(x * kScale) / kScale + 0.0f;
#endif
}

// x P(u) / Q(u) with u = x * x, Horner's scheme in fused multiply-adds.
inline float OddRational(float x, const float (&p)[4], const float (&q)[5]) {
  const float u = x * x;
  const float num = Fma(Fma(Fma(p[3], u, p[2]), u, p[1]), u, p[0]);
  const float den = Fma(Fma(Fma(Fma(q[4], u, q[3]), u, q[2]), u, q[1]), u, q[0]);
  return x * num / den;
}

}  // namespace activation_detail

inline float FastTanh(float x) {
  using namespace activation_detail;
  return OddRational(Clamp<28>(x), kTanhP, kTanhQ);
}

inline float FastSigmoid(float x) {
  using namespace activation_detail;
  return 0.5f + OddRational(Clamp<27>(x), kSigmoidP, kSigmoidQ);
}

}  // namespace daisynet::gru
