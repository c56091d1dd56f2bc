// The fast backend of GruEngine (gru_engine.h), what the Daisy apps run: the CMSIS backend's
// equations (gru_cmsis_backend.h is the readable reference it must agree with) with the work
// arranged for the Cortex-M7's 32 single-precision registers.
//
// Per block: the input projection of every frame (x W plus both biases for the z | r columns,
// x W plus the input bias for the candidate's) and the skip (x S plus the head bias) are one
// pass over the block, through the same register tiles as the recurrent part (a frame's inputs
// as the rows). Per frame, only the recurrent
// part: h U over column tiles of 8, each tile's accumulators in registers from its first row
// to its last (starting from the frame's projection for z | r, from the recurrent bias for
// the candidate, which the reset gate scales on its own); then one loop over the units for the
// gates (gru_activations.h), the state update h = n + z * (h - n), and the head, accumulated
// while each new h is still in a register.
//
// On the Cortex-M7 a tile is one block of inline assembly: the state four units at a time and
// the weights two rows at a time come in by VLDM, and every MAC is one VFMA (GCC would spend a
// VLDR per weight). The input and recurrent weights are repacked at compile time in the order
// the tiles read them (PackGates), so they stream through one pointer. The gate loop is about
// 80 instructions per unit, 60 of them the three activations (a Horner step is a copy of its
// constant and a VFMA, which overwrites its addend; the power form saved 3 per unit, not kept).
//
// A q15 header (gru_q15.h): h U is the integer contract instead. Its weights are repacked at
// compile time as int16 pairs (two state units of one gate column a word, tiles of 8 columns);
// per frame the Q15 state multiplies them with SMLAD, two MACs an instruction, onto 32-bit
// accumulators the header's bound keeps from overflowing; the gate loop turns each sum into
// float32 (one VCVT with the scale folded in) and each new h into Q15 (another). The sums
// equal the CMSIS backend's exactly.
//
// Not bit for bit with the CMSIS backend (fused multiply-adds, the biases summed first, another
// order): within float32 rounding of it. Portable: the standard library only (and GNU inline
// assembly on the Cortex-M7). No heap.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gru_activations.h"
#include "gru_q15.h"
#include "model_header.h"

namespace daisynet {

namespace gru_fast_detail {

inline constexpr std::size_t kUnits = model::kGruUnits;
inline constexpr std::size_t kGates = 3 * kUnits;
inline constexpr std::size_t kInputs = model::kNumInputs;
inline constexpr std::size_t kOutputs = model::kNumOutputs;
// Columns per recurrent tile: 8 accumulators, 4 state values and 2 rows of 8 weights take 28
// of the 32 S registers.
inline constexpr std::size_t kTileColumns = 8;

constexpr std::size_t TileWidth(std::size_t end, std::size_t first) {
  return end - first < kTileColumns ? end - first : kTileColumns;
}

// A (kRows x 3U) gate matrix in the order the tiles read it: tiles over the z | r columns
// [0, 2U), then over the candidate's [2U, 3U) (so no tile mixes the two), and in each tile,
// row by row, its columns M[i][first .. first + width).
template <std::size_t kRows>
constexpr std::array<float, kRows * kGates> PackGates(const float (&matrix)[kRows * kGates]) {
  std::array<float, kRows * kGates> packed{};
  std::size_t k = 0;
  for (std::size_t end : {2 * kUnits, kGates}) {
    for (std::size_t first = end == kGates ? 2 * kUnits : 0; first < end;
         first += TileWidth(end, first)) {
      for (std::size_t i = 0; i < kRows; ++i) {
        for (std::size_t j = first; j < first + TileWidth(end, first); ++j) {
          packed[k++] = matrix[i * kGates + j];
        }
      }
    }
  }
  return packed;
}

// The input projection's bias: z | r take both biases (their recurrent part adds straight
// on), the candidate only the input bias (the reset gate scales its recurrent part alone).
constexpr std::array<float, kGates> ProjectionBias() {
  std::array<float, kGates> bias{};
  for (std::size_t j = 0; j < kGates; ++j) {
    bias[j] = model::kGruInputBias[j] + (j < 2 * kUnits ? model::kGruRecurrentBias[j] : 0.0f);
  }
  return bias;
}

struct Packed {
#if !DAISYNET_MODEL_GRU_Q15
  alignas(16) static constexpr std::array<float, kUnits * kGates> kRecurrent =
      PackGates<kUnits>(model::kGruRecurrentWeights);
#endif
  alignas(16) static constexpr std::array<float, kInputs * kGates> kInput =
      PackGates<kInputs>(model::kGruInputWeights);
  alignas(16) static constexpr std::array<float, kGates> kProjectionBias = ProjectionBias();
};

#if defined(__ARM_ARCH_7EM__) && defined(__ARM_FP)
#define DAISYNET_GRU_ASM 1
// GNU assembler macros for one tile of W columns over R rows. S registers: s0..s(W-1)
// accumulators, s8..s11 four state values, s12.. two rows of W weights. The loop takes two
// groups of four rows a turn, halving its count-and-branch overhead.
#define DAISYNET_GRU_TILE_MACROS \
  ".altmacro\n" \
  ".macro dg_ld p, first, last, wb\n" \
  "  .if \\first == \\last\n" \
  "    .if \\wb\n" \
  "      vldmia \\p!, {s\\first}\n" \
  "    .else\n" \
  "      vldr s\\first, [\\p]\n" \
  "    .endif\n" \
  "  .else\n" \
  "    .if \\wb\n" \
  "      vldmia \\p!, {s\\first-s\\last}\n" \
  "    .else\n" \
  "      vldmia \\p, {s\\first-s\\last}\n" \
  "    .endif\n" \
  "  .endif\n" \
  ".endm\n" \
  ".macro dg_st p, first, last\n" \
  "  .if \\first == \\last\n" \
  "    vstr s\\first, [\\p]\n" \
  "  .else\n" \
  "    vstmia \\p, {s\\first-s\\last}\n" \
  "  .endif\n" \
  ".endm\n" \
  ".macro dg_fma acc, in, wt\n" \
  "  vfma.f32 s\\acc, s\\in, s\\wt\n" \
  ".endm\n" \
  ".macro dg_rows W, n, first_state\n" \
  "  dg_ld %[w], 12, %%(12 + \\n * \\W - 1), 1\n" \
  "  .set .Ldg_r, 0\n" \
  "  .rept \\n\n" \
  "    .set .Ldg_o, 0\n" \
  "    .rept \\W\n" \
  "      dg_fma %%.Ldg_o, %%(\\first_state + .Ldg_r), %%(12 + .Ldg_r * \\W + .Ldg_o)\n" \
  "      .set .Ldg_o, .Ldg_o + 1\n" \
  "    .endr\n" \
  "    .set .Ldg_r, .Ldg_r + 1\n" \
  "  .endr\n" \
  ".endm\n" \
  ".macro dg_group W\n" \
  "  dg_ld %[h], 8, 11, 1\n" \
  "  dg_rows \\W, 2, 8\n" \
  "  dg_rows \\W, 2, 10\n" \
  ".endm\n" \
  ".macro dg_tile W, groups, rest\n" \
  "  dg_ld %[init], 0, %%(\\W - 1), 0\n" \
  "  .if \\groups > 1\n" \
  "    mov %[count], #(\\groups / 2)\n" \
  "1:\n" \
  "    dg_group \\W\n" \
  "    dg_group \\W\n" \
  "    subs %[count], %[count], #1\n" \
  "    bne 1b\n" \
  "  .endif\n" \
  "  .if \\groups - (\\groups / 2) * 2\n" \
  "    dg_group \\W\n" \
  "  .endif\n" \
  "  .rept \\rest\n" \
  "    dg_ld %[h], 8, 8, 1\n" \
  "    dg_rows \\W, 1, 8\n" \
  "  .endr\n" \
  "  dg_st %[out], 0, %%(\\W - 1)\n" \
  ".endm\n"
// GCC sizes an asm statement by its lines, and one macro call is one line, so it would place
// its literal pools (the activations' constants, read by VLDR within 1020 bytes) too far past
// a tile of up to ~140 instructions. These empty lines make its estimate cover the largest.
#define DAISYNET_GRU_8_LINES "\n\n\n\n\n\n\n\n"
#define DAISYNET_GRU_SIZE_HINT                                                    \
  DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES \
      DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES \
      DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES \
      DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES \
      DAISYNET_GRU_8_LINES DAISYNET_GRU_8_LINES
#define DAISYNET_GRU_TILE_PURGE \
  ".purgem dg_tile\n.purgem dg_group\n.purgem dg_rows\n.purgem dg_fma\n.purgem dg_st\n.purgem dg_ld\n" \
  ".noaltmacro\n"
#endif

// One tile: out[o] = init[o] + sum_i x[i] * w[i * kWidth + o] for o < kWidth over kRows rows,
// summed in row order; `w` advances past the tile's kRows x kWidth weights. The recurrent
// projection is this over the state (kUnits rows), the input projection over a frame.
template <std::size_t kRows, std::size_t kWidth>
inline __attribute__((always_inline)) void Tile(const float* x, const float*& w,
                                                const float* init, float* out) {
  static_assert(kWidth >= 1 && kWidth <= kTileColumns, "8 accumulators at most");
#ifdef DAISYNET_GRU_ASM
  std::uint32_t count;
  asm volatile(DAISYNET_GRU_TILE_MACROS "dg_tile %c[width], %c[groups], %c[rest]\n"
                   DAISYNET_GRU_TILE_PURGE DAISYNET_GRU_SIZE_HINT
               : [w] "+r"(w), [h] "+r"(x), [count] "=&r"(count)
               : [init] "r"(init), [out] "r"(out), [width] "i"(kWidth),
                 [groups] "i"(kRows / 4), [rest] "i"(kRows % 4)
               : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
                 "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22",
                 "s23", "s24", "s25", "s26", "s27", "cc", "memory");
  (void)count;
#else
  float acc[kWidth];
  for (std::size_t o = 0; o < kWidth; ++o) acc[o] = init[o];
  for (std::size_t i = 0; i < kRows; ++i, w += kWidth) {
    for (std::size_t o = 0; o < kWidth; ++o) acc[o] += x[i] * w[o];
  }
  for (std::size_t o = 0; o < kWidth; ++o) out[o] = acc[o];
#endif
}

// Columns [kFirst, kEnd) of a projection over kRows rows, tile by tile.
template <std::size_t kRows, std::size_t kFirst, std::size_t kEnd>
inline __attribute__((always_inline)) void Columns(const float* x, const float*& w,
                                                   const float* init, float* out) {
  constexpr std::size_t kFull = (kEnd - kFirst) / kTileColumns;
  constexpr std::size_t kRest = (kEnd - kFirst) % kTileColumns;
  for (std::size_t t = 0; t < kFull; ++t) {
    Tile<kRows, kTileColumns>(x, w, init + t * kTileColumns, out + t * kTileColumns);
  }
  if constexpr (kRest > 0) {
    Tile<kRows, kRest>(x, w, init + kFull * kTileColumns, out + kFull * kTileColumns);
  }
}

#if DAISYNET_MODEL_GRU_Q15
// ---- The q15 recurrent product ----

// State units in pairs (an odd last unit pairs with a zero weight).
inline constexpr std::size_t kPairs = (kUnits + 1) / 2;

constexpr std::uint32_t QWeight(std::size_t j, std::size_t u) {
  return u < kUnits ? static_cast<std::uint16_t>(model::kGruRecurrentWeightsQ15[j * kUnits + u])
                    : 0u;
}

// Tiles of up to 8 gate columns over [0, 3U); in a tile, pair by pair, one word per column:
// Wq[j][2p] | Wq[j][2p + 1] << 16 (the order of the Q15 state's two units in memory).
constexpr std::array<std::uint32_t, kPairs * kGates> PackQ15() {
  std::array<std::uint32_t, kPairs * kGates> words{};
  std::size_t n = 0;
  for (std::size_t first = 0; first < kGates; first += TileWidth(kGates, first)) {
    for (std::size_t p = 0; p < kPairs; ++p) {
      for (std::size_t j = first; j < first + TileWidth(kGates, first); ++j) {
        words[n++] = QWeight(j, 2 * p) | QWeight(j, 2 * p + 1) << 16;
      }
    }
  }
  return words;
}

struct PackedQ15 {
  alignas(8) static constexpr std::array<std::uint32_t, kPairs * kGates> kWords = PackQ15();
};

// Portable tile (the native build): exact int32 sums.
template <std::size_t kWidth>
inline __attribute__((always_inline)) void TileQ15Portable(const std::int16_t* h,
                                                           const std::uint32_t*& w,
                                                           std::int32_t* out) {
  std::int32_t acc[kWidth] = {};
  for (std::size_t p = 0; p < kPairs; ++p, w += kWidth) {
    for (std::size_t o = 0; o < kWidth; ++o) {
      acc[o] += h[2 * p] * static_cast<std::int16_t>(w[o] & 0xFFFFu) +
                h[2 * p + 1] * static_cast<std::int16_t>(w[o] >> 16);
    }
  }
  for (std::size_t o = 0; o < kWidth; ++o) out[o] = acc[o];
}

#if defined(DAISYNET_GRU_ASM) && defined(__ARM_FEATURE_DSP)
// A tile of W <= 8 columns in one asm statement (14 core registers: 8 accumulators, two state
// pairs, two weight words, two pointers; `out` comes from memory at the end). A step reads two
// state pairs with one LDRD and their weight words two at a time (an odd last one by LDR), all
// post-incremented: 25 instructions for 32 MACs at W = 8. The first pair initialises the
// accumulators (SMUAD). Columns past W assemble to nothing.
#define DG_Q_COLS(IN, OP, K, A, B)                                                        \
  ".if %c[width] >= " #K " + 2\n\t"                                                      \
  "ldrd %[w0], %[w1], [%[wp]], #8\n\t" OP(A, IN, "w0") OP(B, IN, "w1")                   \
  ".elseif %c[width] == " #K " + 1\n\t"                                                  \
  "ldr %[w0], [%[wp]], #4\n\t" OP(A, IN, "w0") ".endif\n\t"
#define DG_Q_MAC(A, IN, W) "smlad %[" A "], %[" IN "], %[" W "], %[" A "]\n\t"
#define DG_Q_FIRST(A, IN, W) "smuad %[" A "], %[" IN "], %[" W "]\n\t"
#define DG_Q_PAIR(IN, OP) DG_Q_COLS(IN, OP, 0, "a0", "a1") DG_Q_COLS(IN, OP, 2, "a2", "a3") \
  DG_Q_COLS(IN, OP, 4, "a4", "a5") DG_Q_COLS(IN, OP, 6, "a6", "a7")
#define DG_Q_STORE(K, A, B)                                                        \
  ".if %c[width] >= " #K " + 2\n\t" "strd %[" A "], %[" B "], [%[i0]], #8\n\t"   \
  ".elseif %c[width] == " #K " + 1\n\t" "str %[" A "], [%[i0]]\n\t" ".endif\n\t"
template <std::size_t kWidth>
inline __attribute__((always_inline)) void TileQ15Asm(const std::int16_t* h,
                                                      const std::uint32_t*& w,
                                                      std::int32_t* out) {
  static_assert(kWidth >= 1 && kWidth <= kTileColumns, "8 accumulators at most");
  std::int32_t a0, a1, a2, a3, a4, a5, a6, a7;
  std::uint32_t i0, i1, w0, w1;
  asm volatile(
      ".if %c[pairs] >= 2\n\t"
      "ldrd %[i0], %[i1], [%[xp]], #8\n\t" DG_Q_PAIR("i0", DG_Q_FIRST) DG_Q_PAIR("i1", DG_Q_MAC)
      ".rept (%c[pairs] / 2 - 1)\n\t"
      "ldrd %[i0], %[i1], [%[xp]], #8\n\t" DG_Q_PAIR("i0", DG_Q_MAC) DG_Q_PAIR("i1", DG_Q_MAC)
      ".endr\n\t"
      ".if %c[pairs] %% 2\n\t" "ldr %[i0], [%[xp]], #4\n\t" DG_Q_PAIR("i0", DG_Q_MAC) ".endif\n\t"
      ".else\n\t"
      "ldr %[i0], [%[xp]], #4\n\t" DG_Q_PAIR("i0", DG_Q_FIRST)
      ".endif\n\t"
      "ldr %[i0], %[out]\n\t"
      DG_Q_STORE(0, "a0", "a1") DG_Q_STORE(2, "a2", "a3") DG_Q_STORE(4, "a4", "a5")
      DG_Q_STORE(6, "a6", "a7")
      DAISYNET_GRU_SIZE_HINT DAISYNET_GRU_SIZE_HINT DAISYNET_GRU_SIZE_HINT
      : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),
        [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7), [i0] "=&r"(i0), [i1] "=&r"(i1),
        [w0] "=&r"(w0), [w1] "=&r"(w1), [xp] "+r"(h), [wp] "+r"(w)
      : [out] "m"(out), [pairs] "i"(kPairs), [width] "i"(kWidth)
      : "memory");
}
#define DAISYNET_GRU_Q15_ASM 1
#endif

// acc[j] for every gate column j, tile by tile.
inline __attribute__((always_inline)) void RecurrentQ15(const std::int16_t* h,
                                                        std::int32_t* acc) {
  const std::uint32_t* w = PackedQ15::kWords.data();
  constexpr std::size_t kFull = kGates / kTileColumns;
  constexpr std::size_t kRest = kGates % kTileColumns;
#ifdef DAISYNET_GRU_Q15_ASM
  for (std::size_t t = 0; t < kFull; ++t) TileQ15Asm<kTileColumns>(h, w, acc + t * kTileColumns);
  if constexpr (kRest > 0) TileQ15Asm<kRest>(h, w, acc + kFull * kTileColumns);
#else
  for (std::size_t t = 0; t < kFull; ++t) {
    TileQ15Portable<kTileColumns>(h, w, acc + t * kTileColumns);
  }
  if constexpr (kRest > 0) TileQ15Portable<kRest>(h, w, acc + kFull * kTileColumns);
#endif
}
#endif

}  // namespace gru_fast_detail

template <std::size_t kMaxBlockFrames>
class GruFastBackend {
 public:
  static constexpr std::size_t kMaxBlock = kMaxBlockFrames;
  static constexpr bool kFloatOutputs = true;

  void Init() {}

  void Reset() {
    std::memset(state_, 0, sizeof(state_));
#if DAISYNET_MODEL_GRU_Q15
    std::memset(state_q15_, 0, sizeof(state_q15_));
#endif
  }

  void ProcessBlock(const float* const* inputs, std::size_t first, float* out,
                    std::size_t block) {
    using namespace gru_fast_detail;
    Project(inputs, first, out, block);
    for (std::size_t f = 0; f < block; ++f) {
      const float* a = projection_ + f * kGates;
      float* y = out + f * kOutputs;
      float head[kOutputs];
      for (std::size_t o = 0; o < kOutputs; ++o) head[o] = y[o];
#if DAISYNET_MODEL_GRU_Q15
      RecurrentQ15(state_q15_, sums_);
      for (std::size_t u = 0; u < kUnits; ++u) {
        const float z = gru::FastSigmoid(gru::SumToFloat(sums_[u]) + a[u]);
        const float r = gru::FastSigmoid(gru::SumToFloat(sums_[kUnits + u]) + a[kUnits + u]);
        const float c = gru::SumToFloat(sums_[2 * kUnits + u]) +
                        model::kGruRecurrentBias[2 * kUnits + u];
        const float n = gru::FastTanh(r * c + a[2 * kUnits + u]);
        const float h = z * (state_[u] - n) + n;
        state_[u] = h;
        state_q15_[u] = gru::StateQ15(h);
#else
      const float* w = Packed::kRecurrent.data();
      Columns<kUnits, 0, 2 * kUnits>(state_, w, a, recurrent_);
      Columns<kUnits, 2 * kUnits, kGates>(state_, w, model::kGruRecurrentBias + 2 * kUnits,
                                          recurrent_ + 2 * kUnits);
      for (std::size_t u = 0; u < kUnits; ++u) {
        const float z = gru::FastSigmoid(recurrent_[u]);
        const float r = gru::FastSigmoid(recurrent_[kUnits + u]);
        const float n = gru::FastTanh(r * recurrent_[2 * kUnits + u] + a[2 * kUnits + u]);
        const float h = z * (state_[u] - n) + n;
        state_[u] = h;
#endif
        for (std::size_t o = 0; o < kOutputs; ++o) {
          head[o] += h * model::kHeadWeights[u * kOutputs + o];
        }
      }
      for (std::size_t o = 0; o < kOutputs; ++o) y[o] = head[o];
    }
  }

 private:
  // The block's input projection into projection_ and its skip (plus the head bias) into out.
  void Project(const float* const* inputs, std::size_t first, float* out, std::size_t block) {
    using namespace gru_fast_detail;
    const float* channels[kInputs];
    for (std::size_t c = 0; c < kInputs; ++c) channels[c] = inputs[c] + first;
    for (std::size_t f = 0; f < block; ++f) {
      alignas(16) float x[kInputs];
      for (std::size_t c = 0; c < kInputs; ++c) x[c] = channels[c][f];
      float* a = projection_ + f * kGates;
      const float* w = Packed::kInput.data();
      Columns<kInputs, 0, 2 * kUnits>(x, w, Packed::kProjectionBias.data(), a);
      Columns<kInputs, 2 * kUnits, kGates>(x, w, Packed::kProjectionBias.data() + 2 * kUnits,
                                           a + 2 * kUnits);
      for (std::size_t o = 0; o < kOutputs; ++o) {
        float acc = model::kHeadBias[o];
        for (std::size_t c = 0; c < kInputs; ++c) {
          acc += x[c] * model::kInputSkipWeights[c * kOutputs + o];
        }
        out[f * kOutputs + o] = acc;
      }
    }
  }

  alignas(16) float state_[gru_fast_detail::kUnits] = {};
  alignas(16) float projection_[kMaxBlock * gru_fast_detail::kGates] = {};
#if DAISYNET_MODEL_GRU_Q15
  // The Q15 state, padded to whole pairs (the pad stays 0), and the frame's exact sums.
  alignas(8) std::int16_t state_q15_[2 * gru_fast_detail::kPairs] = {};
  alignas(8) std::int32_t sums_[gru_fast_detail::kGates] = {};
#else
  alignas(16) float recurrent_[gru_fast_detail::kGates] = {};
#endif
};

}  // namespace daisynet
