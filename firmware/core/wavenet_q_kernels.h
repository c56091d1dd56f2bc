// Fixed-point building blocks of the quantized backends (wavenet_q_backend.h): the contract's
// arithmetic for one output value, the weights re-laid out at compile time for dual 16-bit
// multiply-accumulates, and the tiles of the fast backend.
//
// The arithmetic (the quantized model_defn.h contract; B = 15 for q15, 7 for q7):
//   acc = exact integer sum of x * w over the layer's taps and input channels
//   p = SAT(acc >> B); p = SAT(p + bias); s = out_frac_bits - product_frac_bits
//   y = s >= 0 ? SAT(p << s) : p >> -s; y = relu ? max(y, 0) : y
//
// The fast backend multiplies pairs of int16 (two input channels of a frame, one word) by
// pairs of weights with SMLAD, onto a 32-bit accumulator that wraps, where a bound over the
// layer's constexpr weights proves the exact sum of every output fits in 32 bits (then the
// wrapped sum is the exact sum), and with SMLALD (64-bit accumulator, two registers) elsewhere.
// q7 activations are kept as int16 in RAM (the same values), and q7 weights, one byte each in
// flash, are widened into RAM at Init(), so both formats run the same kernels.
//
// On the M7 a tile (one frame x 4 outputs on 64-bit accumulators, 8 on 32-bit ones) is one asm
// statement: every load post-incremented, 14 registers allocated once, the epilogue included.
// Measured on the emulated M7 (K=3, 16 filters x 6 blocks, 4 inputs, block 48): 1.15
// instructions per MAC with every layer on 64-bit accumulators (full-scale weights), 1.01 with
// every layer on 32-bit ones (weights a bit or two below full scale); a step of two input pairs
// is 13 instructions for 16 MACs (64-bit) or 25 for 32 (32-bit), the rest is the epilogue
// (about 5 instructions an output on 64 bits, 3 on 32) and the input conversion. Elsewhere (the
// native host build) a portable tile computes the same values with the same wrapping.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "model_header.h"

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#define DAISYNET_Q_ACLE 1
#else
#define DAISYNET_Q_ACLE 0
#endif

#define DAISYNET_Q_INLINE inline __attribute__((always_inline))

namespace daisynet::q_detail {

// ---- Integer primitives: the M7 instruction, or the same value in portable C++ ----

DAISYNET_Q_INLINE std::int32_t LowHalf(std::uint32_t w) {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(w));
}
DAISYNET_Q_INLINE std::int32_t HighHalf(std::uint32_t w) {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(w >> 16));
}

// SMLAD: acc + x.lo * y.lo + x.hi * y.hi, modulo 2^32.
DAISYNET_Q_INLINE std::int32_t Smlad(std::uint32_t x, std::uint32_t y, std::int32_t acc) {
#if DAISYNET_Q_ACLE
  return __smlad(static_cast<int16x2_t>(x), static_cast<int16x2_t>(y), acc);
#else
  const std::uint32_t sum = static_cast<std::uint32_t>(acc) +
                            static_cast<std::uint32_t>(LowHalf(x) * LowHalf(y)) +
                            static_cast<std::uint32_t>(HighHalf(x) * HighHalf(y));
  return static_cast<std::int32_t>(sum);
#endif
}

// SMLALD: acc + x.lo * y.lo + x.hi * y.hi, in 64 bits (exact).
DAISYNET_Q_INLINE std::int64_t Smlald(std::uint32_t x, std::uint32_t y, std::int64_t acc) {
#if DAISYNET_Q_ACLE
  return __smlald(static_cast<int16x2_t>(x), static_cast<int16x2_t>(y), acc);
#else
  return acc + static_cast<std::int64_t>(LowHalf(x) * LowHalf(y)) +
         static_cast<std::int64_t>(HighHalf(x) * HighHalf(y));
#endif
}

// Saturate to a signed kBits-bit integer (SSAT).
template <int kBits>
DAISYNET_Q_INLINE std::int32_t Ssat(std::int32_t v) {
#if DAISYNET_Q_ACLE
  return __ssat(v, kBits);
#else
  constexpr std::int32_t kMax = (std::int32_t{1} << (kBits - 1)) - 1;
  return v > kMax ? kMax : (v < -kMax - 1 ? -kMax - 1 : v);
#endif
}

// Saturate to 0 .. 2^kBits - 1 (USAT).
template <int kBits>
DAISYNET_Q_INLINE std::int32_t Usat(std::int32_t v) {
#if DAISYNET_Q_ACLE
  return static_cast<std::int32_t>(__usat(v, kBits));
#else
  constexpr std::int32_t kMax = (std::int32_t{1} << kBits) - 1;
  return v > kMax ? kMax : (v < 0 ? 0 : v);
#endif
}

// v * 2^kShift for 0 <= kShift, as a shift (a left shift of a negative int is undefined in C++17).
template <int kShift>
DAISYNET_Q_INLINE std::int32_t ShiftLeft(std::int32_t v) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(v) << kShift);
}

// Two consecutive int16 (channels 2p, 2p + 1 of a frame) as one word, the first in the low half.
DAISYNET_Q_INLINE std::uint32_t LoadPair(const std::int16_t* p) {
  std::uint32_t word;
  std::memcpy(&word, p, sizeof(word));
  return word;
}

// ---- The number formats ----

template <bool kQ7>
struct Format {
  using Sample = std::conditional_t<kQ7, std::int8_t, std::int16_t>;
  static constexpr int kBits = kQ7 ? 7 : 15;  // B: the product's right shift
  static constexpr int kSatBits = kBits + 1;  // SAT: to the sample type
  static constexpr std::int32_t kMax = (std::int32_t{1} << kBits) - 1;
  static constexpr std::int32_t kMin = -kMax - 1;
  // Shifts s the CMSIS-DSP arm_shift_q15/q7 compute without overflow (int8_t shiftBits: a left
  // shift of the widened sample, a right shift of an int): -31 <= s <= 16 (q15), 23 (q7).
  static constexpr int kMaxLeftShift = kQ7 ? 23 : 16;
  static constexpr int kMaxRightShift = 31;
};

// 2^e as a float, exactly (|e| < 126).
constexpr float Pow2(int e) {
  float v = 1.0f;
  for (; e > 0; --e) v *= 2.0f;
  for (; e < 0; ++e) v *= 0.5f;
  return v;
}

// The contract's model-input quantization, in float32: x * 2^kFrac, NaN -> 0, clamped to the
// sample type, then (int)(v + (v >= 0 ? 0.5f : -0.5f)).
// On the M7, VCVT does the NaN and clamping: it turns NaN into 0 and saturates to int32, and
// adding +-0.5 before it or clamping first gives the same integer once SSAT narrows it (a v
// beyond the type's range rounds to a value at or beyond it either way). copysign(0.5, v)
// differs from (v >= 0 ? 0.5 : -0.5) only for v = -0 and NaN, which both end at 0 anyway.
template <class Fmt, int kFrac>
DAISYNET_Q_INLINE std::int32_t QuantizeInput(float x) {
  constexpr float kScale = Pow2(kFrac);
  const float v = x * kScale;
#if DAISYNET_Q_ACLE && defined(__ARM_FP)
  float rounded = v + __builtin_copysignf(0.5f, v);
  asm("vcvt.s32.f32 %0, %0" : "+t"(rounded));
  std::int32_t q;
  std::memcpy(&q, &rounded, sizeof(q));
  return Ssat<Fmt::kSatBits>(q);
#else
  constexpr auto kLow = static_cast<float>(Fmt::kMin);
  constexpr auto kHigh = static_cast<float>(Fmt::kMax);
  float clamped = v;
  if (clamped != clamped) clamped = 0.0f;
  clamped = clamped < kLow ? kLow : (clamped > kHigh ? kHigh : clamped);
  return static_cast<std::int32_t>(clamped + (clamped >= 0.0f ? 0.5f : -0.5f));
#endif
}

// y from v = p + bias (p already saturated, so |v| <= 2^(B+1)): SAT(v), shifted by kShift with
// saturation, then ReLU. For 0 <= kShift, SAT(SAT(v) << s) == SAT(v << s) when v << s fits 32
// bits, so one SSAT (USAT with ReLU: clamp to 0..MAX) with a shifted operand does it all.
template <class Fmt, int kShift, bool kRelu>
DAISYNET_Q_INLINE std::int32_t Requantize(std::int32_t v) {
  if constexpr (kShift >= 0) {
    // |v| <= 2^(B+1): v << s fits in 32 bits while B + 1 + s <= 31.
    if constexpr (Fmt::kBits + 1 + kShift > 31) v = Ssat<Fmt::kSatBits>(v);
    if constexpr (kRelu) {
      return Usat<Fmt::kBits>(ShiftLeft<kShift>(v));
    } else {
      return Ssat<Fmt::kSatBits>(ShiftLeft<kShift>(v));
    }
  } else {
    v = Ssat<Fmt::kSatBits>(v);
    const std::int32_t y = v >> -kShift;
    if constexpr (kRelu) {
      return Usat<Fmt::kBits>(y);
    } else {
      return y;
    }
  }
}

// ---- One layer of the quantized model_defn.h, as compile-time facts ----

// Reached through the template parameter Defn so that this header also compiles, unused,
// against a float model_defn.h, whose LayerDefn lacks the fixed-point fields.
template <std::size_t kLayer, typename Defn = model::LayerDefn>
struct LayerOf {
  static constexpr const Defn& Get(std::size_t index) { return model::kLayers[index]; }
  static constexpr const Defn& kDefn = model::kLayers[kLayer];
  using Sample = std::remove_cv_t<std::remove_pointer_t<decltype(Defn::weights)>>;
  static constexpr bool kQ7 = model::kNumberFormat == model::NumberFormat::kQ7;
  using Fmt = Format<kQ7>;
  static_assert(std::is_same_v<Sample, typename Fmt::Sample>,
                "the header's Sample type does not match its kNumberFormat");

  static constexpr std::size_t kKernel = kDefn.kernel;
  static constexpr std::size_t kDilation = kDefn.dilation;
  static constexpr std::size_t kIn = kDefn.in_channels;
  static constexpr std::size_t kOut = kDefn.out_channels;
  static constexpr bool kRelu = kDefn.relu;
  static constexpr int kShift = kDefn.out_frac_bits - kDefn.product_frac_bits;
  // Layer 0 reads the quantized model inputs (signed); the others read the previous layer's
  // outputs, never negative after a ReLU.
  static constexpr bool kInputsNonNegative = kLayer > 0 && Get(kLayer > 0 ? kLayer - 1 : 0).relu;

  static_assert(kDefn.product_frac_bits ==
                    kDefn.in_frac_bits + kDefn.weight_frac_bits - Fmt::kBits,
                "product_frac_bits must be in_frac_bits + weight_frac_bits - B");
  static_assert(kLayer == 0 || kDefn.in_frac_bits == Get(kLayer > 0 ? kLayer - 1 : 0).out_frac_bits,
                "a layer's in_frac_bits must be the previous layer's out_frac_bits");
  static_assert(-Fmt::kMaxRightShift <= kShift && kShift <= Fmt::kMaxLeftShift,
                "out_frac_bits - product_frac_bits is outside what arm_shift_q15/q7 compute "
                "(-31..16 for q15, -31..23 for q7)");
  static_assert(kKernel * kIn <= 512, "exact sums assume at most 512 products per output");

  static constexpr std::int32_t Weight(std::size_t k, std::size_t i, std::size_t o) {
    return i < kIn && o < kOut ? kDefn.weights[(k * kIn + i) * kOut + o] : 0;
  }

  // True when the exact sum of every output fits in an int32 for any inputs in range (so a
  // 32-bit accumulator that wraps on the way still ends on it).
  static constexpr bool SumsFit32Bits() {
    const std::int64_t low = kInputsNonNegative ? 0 : Fmt::kMin;
    const std::int64_t high = Fmt::kMax;
    for (std::size_t o = 0; o < kOut; ++o) {
      std::int64_t most = 0;
      std::int64_t least = 0;
      for (std::size_t k = 0; k < kKernel; ++k) {
        for (std::size_t i = 0; i < kIn; ++i) {
          const std::int64_t a = Weight(k, i, o) * low;
          const std::int64_t b = Weight(k, i, o) * high;
          most += a > b ? a : b;
          least += a < b ? a : b;
        }
      }
      if (most > INT32_MAX || least < INT32_MIN) return false;
    }
    return true;
  }
  static constexpr bool kSums32 = SumsFit32Bits();

  // True when SMUAD of the first input pair (tap 0, channels 0 and 1) cannot overflow 32 bits
  // for any output: only (-32768) * (-32768) twice reaches 2^31.
  static constexpr bool FirstPairFits32Bits() {
    for (std::size_t o = 0; o < kOut; ++o) {
      if (!kInputsNonNegative && Weight(0, 0, o) == Fmt::kMin && Weight(0, 1, o) == Fmt::kMin) {
        return false;
      }
    }
    return true;
  }
  static constexpr bool kFirstPair32 = FirstPairFits32Bits();
};

// ---- Weights re-laid out for the dual multiply-accumulates ----
//
// Input channels go in pairs p = (2p, 2p + 1) (an odd last channel pairs with a zero weight),
// output channels in groups of kGroup, and a group's words are in the order its tile reads
// them: for each tap k, for each pair p, the group's outputs, one word each,
// w[k][2p][o] | w[k][2p+1][o] << 16 (as the activations of channels 2p, 2p+1 sit in memory);
// then the group's biases, two per word, bias[o] | bias[o+1] << 16. A tile reads its group
// straight through, and the next group follows.
// q15 weights are laid out so at compile time (flash: 2 bytes a weight, as in the header);
// q7 weights stay in flash as the header's bytes and are widened into this layout in RAM by
// Init() (wavenet_q_backend.h), so both formats share one set of kernels.
template <class L, std::size_t kGroup>
struct Packed {
  static constexpr std::size_t kPairs = (L::kIn + 1) / 2;
  static constexpr std::size_t GroupWords(std::size_t width) {
    return L::kKernel * kPairs * width + (width + 1) / 2;
  }
  static constexpr std::size_t kFullGroups = L::kOut / kGroup;
  static constexpr std::size_t kRest = L::kOut % kGroup;
  static constexpr std::size_t kWords =
      kFullGroups * GroupWords(kGroup) + (kRest > 0 ? GroupWords(kRest) : 0);

  static constexpr std::uint32_t Word(std::int32_t low, std::int32_t high) {
    return (static_cast<std::uint32_t>(low) & 0xFFFFu) |
           (static_cast<std::uint32_t>(high) & 0xFFFFu) << 16;
  }
  static constexpr std::int32_t Bias(std::size_t o) { return o < L::kOut ? L::kDefn.bias[o] : 0; }

  // Writes the kWords words (at compile time for q15, into RAM at Init() for q7).
  static constexpr void Fill(std::uint32_t* words) {
    std::size_t n = 0;
    for (std::size_t o0 = 0; o0 < L::kOut; o0 += kGroup) {
      const std::size_t width = L::kOut - o0 < kGroup ? L::kOut - o0 : kGroup;
      for (std::size_t k = 0; k < L::kKernel; ++k) {
        for (std::size_t p = 0; p < kPairs; ++p) {
          for (std::size_t j = 0; j < width; ++j) {
            words[n++] = Word(L::Weight(k, 2 * p, o0 + j), L::Weight(k, 2 * p + 1, o0 + j));
          }
        }
      }
      for (std::size_t j = 0; j < width; j += 2) {
        words[n++] = Word(Bias(o0 + j), j + 1 < width ? Bias(o0 + j + 1) : 0);
      }
    }
  }
  static constexpr std::array<std::uint32_t, kWords> Make() {
    std::array<std::uint32_t, kWords> words{};
    Fill(words.data());
    return words;
  }
};

// q15 layers keep their packed weights in flash.
template <class L, std::size_t kGroup>
struct FlashWeights {
  alignas(8) static constexpr std::array<std::uint32_t, Packed<L, kGroup>::kWords> kWords =
      Packed<L, kGroup>::Make();
};

// ---- The fast backend's tiles: one frame x kOutputs output channels ----
//
// `x` is the frame in the layer's input buffer (rows of kStrideIn int16, history before it);
// tap k reads (kernel - 1 - k) * dilation frames earlier. `w` is the tile's group in the
// packed weights; the tile leaves it at the next group. `dst` is the group's first output.

// The contract's epilogue for one output of an accumulator.
template <class L, typename Acc>
DAISYNET_Q_INLINE std::int16_t Output(Acc acc, std::int32_t bias) {
  using Fmt = typename L::Fmt;
  // |acc| < 2^40 (at most 512 products of at most 2^30), so acc >> B fits in 32 bits.
  const std::int32_t p = Ssat<Fmt::kSatBits>(static_cast<std::int32_t>(acc >> Fmt::kBits));
  return static_cast<std::int16_t>(Requantize<Fmt, L::kShift, L::kRelu>(p + bias));
}

// The epilogue of a tile: its biases (two a word, read from w) onto its accumulators.
template <class L, std::size_t kOutputs, typename Acc>
DAISYNET_Q_INLINE void StoreOutputs(const Acc* acc, const std::uint32_t*& w, std::int16_t* dst) {
  for (std::size_t o = 0; o < kOutputs; o += 2) {
    const std::uint32_t biases = *w++;
    dst[o] = Output<L>(acc[o], static_cast<std::int16_t>(biases & 0xFFFFu));
    if (o + 1 < kOutputs) {
      dst[o + 1] = Output<L>(acc[o + 1], static_cast<std::int32_t>(biases) >> 16);
    }
  }
}

// Portable tile: any width, the primitives above (the native build, and narrow tails on the M7).
template <class L, bool kWide, std::size_t kOutputs, std::size_t kStrideIn>
DAISYNET_Q_INLINE void TilePortable(const std::uint32_t*& w, const std::int16_t* x,
                                    std::int16_t*& dst) {
  using Acc = std::conditional_t<kWide, std::int64_t, std::int32_t>;
  constexpr std::size_t kPairs = (L::kIn + 1) / 2;
  Acc acc[kOutputs];
  for (std::size_t o = 0; o < kOutputs; ++o) acc[o] = 0;
  for (std::size_t k = 0; k < L::kKernel; ++k) {
    const std::int16_t* tap = x - (L::kKernel - 1 - k) * L::kDilation * kStrideIn;
    for (std::size_t p = 0; p < kPairs; ++p) {
      const std::uint32_t in = LoadPair(tap + 2 * p);
      for (std::size_t o = 0; o < kOutputs; ++o) {
        if constexpr (kWide) {
          acc[o] = Smlald(in, w[o], acc[o]);
        } else {
          acc[o] = Smlad(in, w[o], acc[o]);
        }
      }
      w += kOutputs;
    }
  }
  StoreOutputs<L, kOutputs>(acc, w, dst);
  dst += kOutputs;
}

#if DAISYNET_Q_ACLE
// Hand-scheduled tiles for the M7, each one asm statement so that GCC allocates its 14 core
// registers once (accumulators, two input pairs, two weight words, two pointers) and moves
// nothing between steps. A step reads two input pairs with one LDRD and their packed weights
// two words per LDRD, all post-incremented; the input pointer then jumps to the next tap's row.
// The assembler repeats the steps (.rept) as the layer's compile-time shape says. The first
// pair initialises the accumulators with SMUAD (no zeroing): for 64-bit ones where the first
// pair's two products cannot sum past 32 bits (LayerOf::kFirstPair32), sign-extended with ASR;
// 32-bit sums wrap like SMLAD's, and the proven bound holds for the total.
#define DN_Q_LDW "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
#define DN_Q_WIDE_HALF(IN, A, B)                                           \
  DN_Q_LDW "smlald %Q[" A "], %R[" A "], %[" IN "], %[w0]\n\t"             \
           "smlald %Q[" B "], %R[" B "], %[" IN "], %[w1]\n\t"
#define DN_Q_WIDE_FIRST_HALF(IN, A, B)                                                     \
  DN_Q_LDW "smuad %Q[" A "], %[" IN "], %[w0]\n\t" "asr %R[" A "], %Q[" A "], #31\n\t" \
           "smuad %Q[" B "], %[" IN "], %[w1]\n\t" "asr %R[" B "], %Q[" B "], #31\n\t"
#define DN_Q_NARROW_HALF(IN, A, B)                              \
  DN_Q_LDW "smlad %[" A "], %[" IN "], %[w0], %[" A "]\n\t"    \
           "smlad %[" B "], %[" IN "], %[w1], %[" B "]\n\t"
#define DN_Q_NARROW_FIRST_HALF(IN, A, B) \
  DN_Q_LDW "smuad %[" A "], %[" IN "], %[w0]\n\t" "smuad %[" B "], %[" IN "], %[w1]\n\t"
#define DN_Q_WIDE4(IN) DN_Q_WIDE_HALF(IN, "a0", "a1") DN_Q_WIDE_HALF(IN, "a2", "a3")
#define DN_Q_WIDE4_FIRST(IN) DN_Q_WIDE_FIRST_HALF(IN, "a0", "a1") DN_Q_WIDE_FIRST_HALF(IN, "a2", "a3")
#define DN_Q_NARROW4(IN) DN_Q_NARROW_HALF(IN, "a0", "a1") DN_Q_NARROW_HALF(IN, "a2", "a3")
#define DN_Q_NARROW4_FIRST(IN) \
  DN_Q_NARROW_FIRST_HALF(IN, "a0", "a1") DN_Q_NARROW_FIRST_HALF(IN, "a2", "a3")
#define DN_Q_NARROW8(IN) \
  DN_Q_NARROW4(IN) DN_Q_NARROW_HALF(IN, "a4", "a5") DN_Q_NARROW_HALF(IN, "a6", "a7")
#define DN_Q_NARROW8_FIRST(IN) \
  DN_Q_NARROW4_FIRST(IN) DN_Q_NARROW_FIRST_HALF(IN, "a4", "a5") DN_Q_NARROW_FIRST_HALF(IN, "a6", "a7")
#define DN_Q_ZERO64(A) "movs %Q[" A "], #0\n\tmovs %R[" A "], #0\n\t"
#define DN_Q_WIDE4_ZERO DN_Q_ZERO64("a0") DN_Q_ZERO64("a1") DN_Q_ZERO64("a2") DN_Q_ZERO64("a3")
#define DN_Q_TWO(PAIR) "ldrd %[i0], %[i1], [%[xp]], #8\n\t" PAIR("i0") PAIR("i1")
#define DN_Q_ONE(PAIR) "ldr %[i0], [%[xp]], #4\n\t" PAIR("i0")
// One tap: its pairs two at a time, then an odd last pair.
#define DN_Q_TAP(PAIR) ".rept (%c[pairs] / 2)\n\t" DN_Q_TWO(PAIR) ".endr\n\t" \
                       ".if (%c[pairs] %% 2)\n\t" DN_Q_ONE(PAIR) ".endif\n\t"
// The first tap, its first pair initialising the accumulators.
#define DN_Q_FIRST_TAP(FIRST, PAIR)                                                 \
  ".if (%c[pairs] / 2)\n\t"                                                                \
  "ldrd %[i0], %[i1], [%[xp]], #8\n\t" FIRST("i0") PAIR("i1")                       \
  ".rept (%c[pairs] / 2) - 1\n\t" DN_Q_TWO(PAIR) ".endr\n\t"                               \
  ".if (%c[pairs] %% 2)\n\t" DN_Q_ONE(PAIR) ".endif\n\t"                                     \
  ".else\n\t" "ldr %[i0], [%[xp]], #4\n\t" FIRST("i0") ".endif\n\t"
// The next tap's row: `adj` bytes on (ADDW, or MOVW/MOVT beyond its 12 bits).
#define DN_Q_NEXT_TAP                                                     \
  ".if %c[adj] < 4096\n\t"                                                \
  "addw %[xp], %[xp], #%c[adj]\n\t"                                       \
  ".else\n\t"                                                             \
  "movw %[w0], #(%c[adj] & 0xFFFF)\n\t"                                           \
  "movt %[w0], #(%c[adj] >> 16)\n\t"                                           \
  "add %[xp], %[xp], %[w0]\n\t"                                           \
  ".endif\n\t"
#define DN_Q_TILE(FIRST, PAIR) \
  DN_Q_FIRST_TAP(FIRST, PAIR) ".rept %c[more]\n\t" DN_Q_NEXT_TAP DN_Q_TAP(PAIR) ".endr"
#define DN_Q_TILE_ZEROED(ZERO, PAIR) \
  ZERO DN_Q_TAP(PAIR) ".rept %c[more]\n\t" DN_Q_NEXT_TAP DN_Q_TAP(PAIR) ".endr"
// (asm takes at most 30 operands: shapes go in as few as the assembler can derive the rest from)
#define DN_Q_TILE_OPERANDS(L, kStrideIn)                                        \
  [pairs] "i"((L::kIn + 1) / 2), [more] "i"(L::kKernel - 1),                   \
      [adj] "i"((L::kDilation - 1) * kStrideIn * 2)
#define DN_Q_OUTPUTS4                                                                 \
  [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3),                   \
      [i0] "=&r"(i0), [i1] "=&r"(i1), [w0] "=&r"(w0), [w1] "=&r"(w1), [xp] "+r"(xp), \
      [wp] "+r"(w), [dst] "+m"(dst)

// The epilogue (Output above, in asm): p = SSAT(acc >> B), + bias, Requantize, stored to dst
// (loaded into i0 from memory: no register is left), two outputs at a time. Where the shift is
// small (|s| <= 2) the two are packed into one word first (PKHBT) and finished with dual 16-bit
// instructions: QADD16 adds both biases with saturation, QADD16 x, x, x doubles with
// saturation (s > 0), USAT16/SSAT16 saturate (ReLU, or q7's 8 bits), SHADD16 with zero halves
// with floor (s < 0), one STR stores both. Else each output on its own: SXTAH (low half of
// a bias word) or ADD ASR #16 (high half), Requantize's one or two saturations (mode, see
// RequantizeMode), STRH.
#define DN_Q_EXTRACT64(A) \
  "lsrs %Q[" A "], %Q[" A "], #%c[bits]\n\t" \
  "orr %Q[" A "], %Q[" A "], %R[" A "], lsl #32 - %c[bits]\n\t" \
  "ssat %Q[" A "], #(%c[bits] + 1), %Q[" A "]\n\t"
#define DN_Q_EXTRACT32(A) "ssat %[" A "], #(%c[bits] + 1), %[" A "], asr #%c[bits]\n\t"
#define DN_Q_BIAS_LOW(R, W) "sxtah " R ", " R ", %[" W "]\n\t"
#define DN_Q_BIAS_HIGH(R, W) "add " R ", " R ", %[" W "], asr #16\n\t"
#define DN_Q_REQUANTIZE(R)                                                   \
  ".if %c[mode] == 0\n\t" "usat " R ", #%c[bits], " R ", lsl #%c[shift]\n\t" \
  ".elseif %c[mode] == 1\n\t" "ssat " R ", #(%c[bits] + 1), " R ", lsl #%c[shift]\n\t" \
  ".elseif %c[mode] == 2\n\t" "ssat " R ", #(%c[bits] + 1), " R "\n\t"             \
  "usat " R ", #%c[bits], " R ", lsl #%c[shift]\n\t"                         \
  ".elseif %c[mode] == 3\n\t" "ssat " R ", #(%c[bits] + 1), " R "\n\t"             \
  "ssat " R ", #(%c[bits] + 1), " R ", lsl #%c[shift]\n\t"                          \
  ".elseif %c[mode] == 4\n\t" "ssat " R ", #(%c[bits] + 1), " R "\n\t"             \
  "usat " R ", #%c[bits], " R ", asr #%c[shift]\n\t"                         \
  ".else\n\t" "ssat " R ", #(%c[bits] + 1), " R "\n\t"                             \
  "asr " R ", " R ", #%c[shift]\n\t" ".endif\n\t"
#define DN_Q_PACKED_REQUANTIZE(R)                                               \
  ".rept %c[left]\n\t" "qadd16 " R ", " R ", " R "\n\t" ".endr\n\t"             \
  ".if %c[pmode] == 1\n\t" "usat16 " R ", #%c[bits], " R "\n\t"                 \
  ".elseif %c[pmode] == 2\n\t" "ssat16 " R ", #(%c[bits] + 1), " R "\n\t" ".endif\n\t" \
  ".rept %c[right]\n\t" "shadd16 " R ", " R ", %[i1]\n\t" ".endr\n\t"
#define DN_Q_OUT(EXTRACT, A, R, BIAS, W) \
  EXTRACT(A) BIAS(R, W) DN_Q_REQUANTIZE(R) "strh " R ", [%[i0]], #2\n\t"
#define DN_Q_TWO_OUT(EXTRACT, A, B, RA, RB, W)                                          \
  ".if %c[packed]\n\t" EXTRACT(A) EXTRACT(B) "pkhbt " RA ", " RA ", " RB ", lsl #16\n\t" \
  "qadd16 " RA ", " RA ", %[" W "]\n\t" DN_Q_PACKED_REQUANTIZE(RA)                       \
  "str " RA ", [%[i0]], #4\n\t"                                                         \
  ".else\n\t" DN_Q_OUT(EXTRACT, A, RA, DN_Q_BIAS_LOW, W)                                 \
  DN_Q_OUT(EXTRACT, B, RB, DN_Q_BIAS_HIGH, W) ".endif\n\t"
#define DN_Q_EPILOGUE_START                                                   \
  "ldrd %[w0], %[w1], [%[wp]], #8\n\t" "ldr %[i0], %[dst]\n\t"               \
  ".if %c[packed] && %c[right]\n\t" "movs %[i1], #0\n\t" ".endif\n\t"
#define DN_Q_WIDE4_EPILOGUE                                                          \
  DN_Q_EPILOGUE_START                                                                \
  DN_Q_TWO_OUT(DN_Q_EXTRACT64, "a0", "a1", "%Q[a0]", "%Q[a1]", "w0")                 \
  DN_Q_TWO_OUT(DN_Q_EXTRACT64, "a2", "a3", "%Q[a2]", "%Q[a3]", "w1")
#define DN_Q_NARROW4_EPILOGUE                                                        \
  DN_Q_EPILOGUE_START                                                                \
  DN_Q_TWO_OUT(DN_Q_EXTRACT32, "a0", "a1", "%[a0]", "%[a1]", "w0")                   \
  DN_Q_TWO_OUT(DN_Q_EXTRACT32, "a2", "a3", "%[a2]", "%[a3]", "w1")
#define DN_Q_NARROW8_EPILOGUE                                                        \
  DN_Q_NARROW4_EPILOGUE "ldrd %[w0], %[w1], [%[wp]], #8\n\t"                        \
  DN_Q_TWO_OUT(DN_Q_EXTRACT32, "a4", "a5", "%[a4]", "%[a5]", "w0")                   \
  DN_Q_TWO_OUT(DN_Q_EXTRACT32, "a6", "a7", "%[a6]", "%[a7]", "w1")
// dst moves on to the next group's outputs (the stores post-incremented i0).
#define DN_Q_NEXT_DST "str %[i0], %[dst]"

// Requantize's cases as the asm epilogue's operands: `mode` and `shift` one output at a time;
// `packed` (two outputs a word, where 4-byte stores are aligned and |s| <= 2), with `left`
// doublings, `pmode` (1: USAT16 for ReLU, 2: SSAT16 to q7's 8 bits, 0: none) and `right`
// halvings.
template <class L, bool kAlignedOut>
struct RequantizeMode {
  using Fmt = typename L::Fmt;
  static constexpr bool kPreSat = L::kShift >= 0 && Fmt::kBits + 1 + L::kShift > 31;
  static constexpr int kMode = L::kShift >= 0 ? (kPreSat ? 2 : 0) + (L::kRelu ? 0 : 1)
                                              : (L::kRelu ? 4 : 5);
  static constexpr int kAmount = L::kShift >= 0 ? L::kShift : (-L::kShift > 31 ? 31 : -L::kShift);
  static constexpr bool kPacked = kAlignedOut && L::kShift >= -2 && L::kShift <= 2;
  static constexpr int kLeft = kPacked && L::kShift > 0 ? L::kShift : 0;
  static constexpr int kRight = kPacked && L::kShift < 0 ? -L::kShift : 0;
  static constexpr int kPackedMode = L::kRelu ? 1 : (L::kQ7 ? 2 : 0);
};
#define DN_Q_EPILOGUE_OPERANDS(L, kAlignedOut)                                              \
  [bits] "i"(L::Fmt::kBits),                                                               \
      [mode] "i"(RequantizeMode<L, kAlignedOut>::kMode),                                   \
      [shift] "i"(RequantizeMode<L, kAlignedOut>::kAmount),                                \
      [packed] "i"(RequantizeMode<L, kAlignedOut>::kPacked ? 1 : 0),                       \
      [left] "i"(RequantizeMode<L, kAlignedOut>::kLeft),                                   \
      [right] "i"(RequantizeMode<L, kAlignedOut>::kRight),                                 \
      [pmode] "i"(RequantizeMode<L, kAlignedOut>::kPackedMode)

enum class Kernel { kWide4, kNarrow4, kNarrow8 };

template <Kernel kKernel>
struct KernelOf {
  static constexpr std::size_t kOutputs = kKernel == Kernel::kNarrow8 ? 8 : 4;
  using Acc = std::conditional_t<kKernel == Kernel::kWide4, std::int64_t, std::int32_t>;
};

// The whole tile (every tap and pair, then the epilogue) in one asm statement; leaves w and
// dst at the next group.
template <class L, Kernel kKernel, std::size_t kStrideIn, bool kAlignedOut>
DAISYNET_Q_INLINE void TileAsm(const std::uint32_t*& w, const std::int16_t* x,
                               std::int16_t*& dst) {
  static_assert(2 * ((L::kIn + 1) / 2) == kStrideIn, "rows hold the paired channels exactly");
  using K = KernelOf<kKernel>;
  // Scalars, not an array: the results leave through the asm's stores, and an array would be
  // kept in memory.
  typename K::Acc a0, a1, a2, a3;
  std::uint32_t i0, i1, w0, w1;
  const std::int16_t* xp = x - (L::kKernel - 1) * L::kDilation * kStrideIn;
  if constexpr (kKernel == Kernel::kWide4 && L::kFirstPair32) {
    asm volatile(DN_Q_TILE(DN_Q_WIDE4_FIRST, DN_Q_WIDE4) "\n\t" DN_Q_WIDE4_EPILOGUE DN_Q_NEXT_DST
                 : DN_Q_OUTPUTS4
                 : DN_Q_TILE_OPERANDS(L, kStrideIn), DN_Q_EPILOGUE_OPERANDS(L, kAlignedOut)
                 : "cc", "memory");
  } else if constexpr (kKernel == Kernel::kWide4) {
    asm volatile(DN_Q_TILE_ZEROED(DN_Q_WIDE4_ZERO, DN_Q_WIDE4) "\n\t" DN_Q_WIDE4_EPILOGUE DN_Q_NEXT_DST
                 : DN_Q_OUTPUTS4
                 : DN_Q_TILE_OPERANDS(L, kStrideIn), DN_Q_EPILOGUE_OPERANDS(L, kAlignedOut)
                 : "cc", "memory");
  } else if constexpr (kKernel == Kernel::kNarrow4) {
    asm volatile(DN_Q_TILE(DN_Q_NARROW4_FIRST, DN_Q_NARROW4) "\n\t" DN_Q_NARROW4_EPILOGUE DN_Q_NEXT_DST
                 : DN_Q_OUTPUTS4
                 : DN_Q_TILE_OPERANDS(L, kStrideIn), DN_Q_EPILOGUE_OPERANDS(L, kAlignedOut)
                 : "cc", "memory");
  } else {
    std::int32_t a4, a5, a6, a7;
    asm volatile(DN_Q_TILE(DN_Q_NARROW8_FIRST, DN_Q_NARROW8) "\n\t" DN_Q_NARROW8_EPILOGUE DN_Q_NEXT_DST
                 : [a4] "=&r"(a4), [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7),
                   DN_Q_OUTPUTS4
                 : DN_Q_TILE_OPERANDS(L, kStrideIn), DN_Q_EPILOGUE_OPERANDS(L, kAlignedOut)
                 : "cc", "memory");
  }
}
#endif

// The tile of kOutputs outputs: an asm tile where one fits, else the portable tile.
// kAlignedOut: dst is 4-byte aligned (output rows of an even number of channels).
template <class L, bool kWide, std::size_t kOutputs, std::size_t kStrideIn, bool kAlignedOut>
DAISYNET_Q_INLINE void Tile(const std::uint32_t*& w, const std::int16_t* x, std::int16_t*& dst) {
#if DAISYNET_Q_ACLE
  if constexpr (kWide && kOutputs == 4) {
    TileAsm<L, Kernel::kWide4, kStrideIn, kAlignedOut>(w, x, dst);
  } else if constexpr (!kWide && kOutputs == 8) {
    TileAsm<L, Kernel::kNarrow8, kStrideIn, kAlignedOut>(w, x, dst);
  } else if constexpr (!kWide && kOutputs == 4) {
    TileAsm<L, Kernel::kNarrow4, kStrideIn, kAlignedOut>(w, x, dst);
  } else {
    TilePortable<L, kWide, kOutputs, kStrideIn>(w, x, dst);
  }
#else
  TilePortable<L, kWide, kOutputs, kStrideIn>(w, x, dst);
#endif
}

}  // namespace daisynet::q_detail
