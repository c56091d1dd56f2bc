// The fast float32 backend of WavenetEngine (wavenet_engine.h), what the Daisy apps run:
// register-tiled inference (wavenet_cmsis_backend.h is the readable reference it must agree
// with).
//
// Every layer is a function of its shape (inputs, outputs, kernel, relu), known at compile
// time from model_defn.h. A layer computes a tile of output channels x frames at a time, held
// in FPU registers (the M7 has 32 single-precision ones): the bias goes straight into the
// accumulators, each tap's input is read in place from the layer's history, every MAC is one
// VFMA, and ReLU is applied on the way out. On the Cortex-M7 a tile is one block of inline
// assembly (see Tile); elsewhere the same loops in C++. A layer's weights are repacked at
// compile time in the order its tiles read them (PackedLayer), so they stream through one
// pointer. The dilation is a run-time argument: layers of one shape share their code.
// An undilated layer (a 1x1, or the first dilated one) reads its taps as one row of
// kernel x inputs channels, since its taps are consecutive frames.
//
// History: each layer's input is a linear buffer of its history plus room for new frames
// (BufferFrames). Blocks are appended at a moving cursor; only when the buffer is full are the
// newest history frames copied back to its start, so small blocks stay cheap.
//
// The summation order differs from the CMSIS backend (all taps into one accumulator), so this
// backend matches Keras to float32 rounding, not the Python simulator bit for bit.
// Portable: the standard library only (and GNU inline assembly on the Cortex-M7). No heap.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model_header.h"
#include "wavenet_history.h"

namespace daisynet {

namespace fast_detail {

using engine_detail::BufferFrames;
using engine_detail::HistoryFrames;
using model::kLayers;
using model::kNumLayers;

// Input channels one load brings in per frame: on the M7 one VLDM into 4 S registers.
constexpr std::size_t kGroup = 4;
// Output channels per register tile. A tile of 8 outputs x 2 frames fills the 32 S
// registers: 16 accumulators, 2 x 4 inputs and one channel's 8 weights; per group of 4 input
// channels, 64 VFMAs for 2 input and 4 weight loads, and each weight loaded serves 2 frames.
// Wider tiles fit only 1 frame, so every weight would be loaded once per frame.
constexpr std::size_t kMaxTileOutputs = 8;

// Width of the output tile that starts at channel `first` of a layer of `out` outputs.
constexpr std::size_t TileWidth(std::size_t out, std::size_t first) {
  return out - first < kMaxTileOutputs ? out - first : kMaxTileOutputs;
}

// Frames per tile of `outputs` channels: as many as fit in the 32 S registers with their
// accumulators, a group of 4 inputs each and one channel of weights (8 outputs: 2 frames,
// 4 outputs: 3, up to 3 outputs: 4, the most the tile code has frame pointers for).
constexpr std::size_t FramesPerTile(std::size_t outputs) {
  const std::size_t fit = (32 - outputs) / (outputs + kGroup);
  return fit > 4 ? 4 : (fit < 1 ? 1 : fit);
}

// Where each layer's input buffer starts in the arena (floats); entry kNumLayers is the end.
template <std::size_t kMaxBlock>
constexpr std::array<std::size_t, kNumLayers + 1> BufferOffsets() {
  std::array<std::size_t, kNumLayers + 1> offsets{};
  for (std::size_t i = 0; i < kNumLayers; ++i) {
    offsets[i + 1] = offsets[i] + BufferFrames<kMaxBlock>(i) * kLayers[i].in_channels;
  }
  return offsets;
}

// A layer's bias and weights in the order its tiles read them: for each output tile, its
// bias, then for each tap k and input channel c its weights W[k][c][first..first+width). A
// tile then streams through its part with one pointer, so on the M7 every load is a VLDM
// with write-back and no address arithmetic. Made at compile time from model_defn.h's
// [k][in][out] arrays; the same number of floats, and those arrays are no longer referenced.
template <std::size_t kLayer>
struct PackedLayer {
  static constexpr model::LayerDefn kDefn = kLayers[kLayer];
  static constexpr std::size_t kRows = kDefn.kernel * kDefn.in_channels;  // weights per output
  static constexpr std::size_t kFloats = kDefn.out_channels * (1 + kRows);

  static constexpr std::array<float, kFloats> Pack() {
    std::array<float, kFloats> packed{};
    std::size_t i = 0;
    for (std::size_t first = 0; first < kDefn.out_channels;
         first += TileWidth(kDefn.out_channels, first)) {
      const std::size_t width = TileWidth(kDefn.out_channels, first);
      for (std::size_t o = 0; o < width; ++o) packed[i++] = kDefn.bias[first + o];
      for (std::size_t r = 0; r < kRows; ++r) {
        for (std::size_t o = 0; o < width; ++o) {
          packed[i++] = kDefn.weights[r * kDefn.out_channels + first + o];
        }
      }
    }
    return packed;
  }

  alignas(16) static constexpr std::array<float, kFloats> kData = Pack();
};

// ReLU in the integer unit: FPv4 has no VMAX/VMAXNM, and a compare-and-select costs a VMRS
// and a conditional move per value. A float's bits read as a signed integer are negative
// exactly when the float is, so max(bits, 0) is ReLU; GCC makes it one BIC (x & ~(x >> 31)),
// where writing that expression out gave two instructions. (The C++ tile; the M7 tile does
// the same two outputs at a time.)
inline void StoreRelu(float* dst, float value) {
  std::int32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bits = bits < 0 ? 0 : bits;
  std::memcpy(dst, &bits, sizeof(bits));
}

// On the M7 a whole tile is one inline-assembly block, with GNU assembler macros that spell
// out its instructions from the tile's shape. In S registers:
//   s0..            accumulators, frame f's output o in s(f*O + o);
//   s(O*F + 4f)..   frame f's inputs for a group of up to 4 channels (one VLDM per frame);
//   s(O*F + 4F)..   weights: as many whole channels of the tile's O outputs as fit (at most
//                   4), one VLDM with write-back from the packed stream;
// and one VFMA per MAC. The bias is loaded straight into each frame's accumulators (one VLDM
// per frame). ReLU and the store take the accumulators in pairs: one VMOV moves two S
// registers to two core registers, one BIC each clears a negative float (its sign bit makes
// it a negative integer: FPv4 has no VMAX/VMAXNM), and one STRD stores both: 2 instructions
// per output, where GCC's VMOV, BIC and STR took 3. The taps and the groups of 4 input
// channels are loops, their bodies 16-64 VFMAs, so the loop control costs a few percent and
// the code stays small.
// Why assembly: GCC never merges loads into VLDM/STRD or moves register pairs, and with
// the loads pinned to registers one by one its scheduler interleaved the next channel's
// loads with the last one's VFMAs and paid for that in VMOVs and spills. An asm statement
// takes at most 30 operands, too few for a tile's accumulators; here they never leave the
// block. The macros are defined and purged inside every block (.altmacro evaluates %(...)
// into register numbers).
#if defined(__ARM_ARCH_7EM__) && defined(__ARM_FP)
#define DAISYNET_FAST_ASM 1
#define DAISYNET_TILE_MACROS \
  ".altmacro\n" \
  ".macro dn_ldw p, first, last\n" \
  "  .if \\first == \\last\n" \
  "    vldmia \\p!, {s\\first}\n" \
  "  .else\n" \
  "    vldmia \\p!, {s\\first-s\\last}\n" \
  "  .endif\n" \
  ".endm\n" \
  ".macro dn_ld p, first, last\n" \
  "  .if \\first == \\last\n" \
  "    vldr s\\first, [\\p]\n" \
  "  .else\n" \
  "    vldmia \\p, {s\\first-s\\last}\n" \
  "  .endif\n" \
  ".endm\n" \
  ".macro dn_addi reg, base, imm\n" \
  "  add \\reg, \\base, #\\imm\n" \
  ".endm\n" \
  ".macro dn_frame f, p0, p1, p2, p3, op, a, b\n" \
  "  .if \\f == 0\n" \
  "    \\op \\p0, \\a, \\b\n" \
  "  .elseif \\f == 1\n" \
  "    \\op \\p1, \\a, \\b\n" \
  "  .elseif \\f == 2\n" \
  "    \\op \\p2, \\a, \\b\n" \
  "  .else\n" \
  "    \\op \\p3, \\a, \\b\n" \
  "  .endif\n" \
  ".endm\n" \
  ".macro dn_fma acc, in, wt\n" \
  "  vfma.f32 s\\acc, s\\in, s\\wt\n" \
  ".endm\n" \
  ".macro dn_group O, F, n, w, p0, p1, p2, p3\n" \
  "  .set .Ldn_in, \\O * \\F\n" \
  "  .set .Ldn_wr, .Ldn_in + 4 * \\F\n" \
  "  .set .Ldn_cpc, (32 - .Ldn_wr) / \\O\n" \
  "  .if .Ldn_cpc > 4\n" \
  "    .set .Ldn_cpc, 4\n" \
  "  .endif\n" \
  "  .set .Ldn_f, 0\n" \
  "  .rept \\F\n" \
  "    .set .Ldn_r, .Ldn_in + 4 * .Ldn_f\n" \
  "    dn_frame %%.Ldn_f, \\p0, \\p1, \\p2, \\p3, dn_ldw, %%.Ldn_r, %%(.Ldn_r + \\n - 1)\n" \
  "    .set .Ldn_f, .Ldn_f + 1\n" \
  "  .endr\n" \
  "  .set .Ldn_c, 0\n" \
  "  .rept \\n\n" \
  "    .set .Ldn_cc, .Ldn_c - (.Ldn_c / .Ldn_cpc) * .Ldn_cpc\n" \
  "    .if .Ldn_cc == 0\n" \
  "      .set .Ldn_k, \\n - .Ldn_c\n" \
  "      .if .Ldn_k > .Ldn_cpc\n" \
  "        .set .Ldn_k, .Ldn_cpc\n" \
  "      .endif\n" \
  "      dn_ldw \\w, %%.Ldn_wr, %%(.Ldn_wr + .Ldn_k * \\O - 1)\n" \
  "    .endif\n" \
  "    .set .Ldn_o, 0\n" \
  "    .rept \\O\n" \
  "      .set .Ldn_f, 0\n" \
  "      .rept \\F\n" \
  "        .set .Ldn_a, .Ldn_f * \\O + .Ldn_o\n" \
  "        .set .Ldn_i, .Ldn_in + 4 * .Ldn_f + .Ldn_c\n" \
  "        dn_fma %%.Ldn_a, %%.Ldn_i, %%(.Ldn_wr + .Ldn_cc * \\O + .Ldn_o)\n" \
  "        .set .Ldn_f, .Ldn_f + 1\n" \
  "      .endr\n" \
  "      .set .Ldn_o, .Ldn_o + 1\n" \
  "    .endr\n" \
  "    .set .Ldn_c, .Ldn_c + 1\n" \
  "  .endr\n" \
  ".endm\n" \
  ".macro dn_out relu, acc, acc2, off, dst, ra, rb, pair\n" \
  "  .if \\relu\n" \
  "    .if \\pair\n" \
  "      vmov \\ra, \\rb, s\\acc, s\\acc2\n" \
  "      bic \\ra, \\ra, \\ra, asr #31\n" \
  "      bic \\rb, \\rb, \\rb, asr #31\n" \
  "      strd \\ra, \\rb, [\\dst, #\\off]\n" \
  "    .else\n" \
  "      vmov \\ra, s\\acc\n" \
  "      bic \\ra, \\ra, \\ra, asr #31\n" \
  "      str \\ra, [\\dst, #\\off]\n" \
  "    .endif\n" \
  "  .else\n" \
  "    vstr s\\acc, [\\dst, #\\off]\n" \
  "    .if \\pair\n" \
  "      vstr s\\acc2, [\\dst, #(\\off + 4)]\n" \
  "    .endif\n" \
  "  .endif\n" \
  ".endm\n" \
  ".macro dn_tile O, F, nt, ng, rem, relu, fs, os, w, x, ts, dst, p0, p1, p2, p3, gc, tc\n" \
  "  .set .Ldn_f, 0\n" \
  "  .rept \\F\n" \
  "    dn_ld \\w, %%(.Ldn_f * \\O), %%(.Ldn_f * \\O + \\O - 1)\n" \
  "    .set .Ldn_f, .Ldn_f + 1\n" \
  "  .endr\n" \
  "  add \\w, \\w, #(\\O * 4)\n" \
  "  .if \\nt > 1\n" \
  "    mov \\tc, #\\nt\n" \
  "  .endif\n" \
  "1:\n" \
  "  .set .Ldn_f, 0\n" \
  "  .rept \\F\n" \
  "    dn_frame %%.Ldn_f, \\p0, \\p1, \\p2, \\p3, dn_addi, \\x, %%(.Ldn_f * \\fs)\n" \
  "    .set .Ldn_f, .Ldn_f + 1\n" \
  "  .endr\n" \
  "  .if \\ng > 1\n" \
  "    mov \\gc, #\\ng\n" \
  "2:\n" \
  "    dn_group \\O, \\F, 4, \\w, \\p0, \\p1, \\p2, \\p3\n" \
  "    subs \\gc, \\gc, #1\n" \
  "    bne 2b\n" \
  "  .elseif \\ng == 1\n" \
  "    dn_group \\O, \\F, 4, \\w, \\p0, \\p1, \\p2, \\p3\n" \
  "  .endif\n" \
  "  .if \\rem > 0\n" \
  "    dn_group \\O, \\F, \\rem, \\w, \\p0, \\p1, \\p2, \\p3\n" \
  "  .endif\n" \
  "  .if \\nt > 1\n" \
  "    add \\x, \\x, \\ts\n" \
  "    subs \\tc, \\tc, #1\n" \
  "    bne 1b\n" \
  "  .endif\n" \
  "  .set .Ldn_f, 0\n" \
  "  .rept \\F\n" \
  "    .set .Ldn_o, 0\n" \
  "    .rept \\O / 2\n" \
  "      .set .Ldn_a, .Ldn_f * \\O + .Ldn_o\n" \
  "      .set .Ldn_off, .Ldn_f * \\os + 4 * .Ldn_o\n" \
  "      dn_out \\relu, %%.Ldn_a, %%(.Ldn_a + 1), %%.Ldn_off, \\dst, \\gc, \\tc, 1\n" \
  "      .set .Ldn_o, .Ldn_o + 2\n" \
  "    .endr\n" \
  "    .if \\O - (\\O / 2) * 2\n" \
  "      .set .Ldn_a, .Ldn_f * \\O + .Ldn_o\n" \
  "      .set .Ldn_off, .Ldn_f * \\os + 4 * .Ldn_o\n" \
  "      dn_out \\relu, %%.Ldn_a, %%.Ldn_a, %%.Ldn_off, \\dst, \\gc, \\tc, 0\n" \
  "    .endif\n" \
  "    .set .Ldn_f, .Ldn_f + 1\n" \
  "  .endr\n" \
  ".endm\n"
#define DAISYNET_TILE_PURGE                                                                     \
  ".purgem dn_tile\n.purgem dn_out\n.purgem dn_group\n.purgem dn_fma\n.purgem dn_frame\n" \
  ".purgem dn_addi\n.purgem dn_ld\n.purgem dn_ldw\n.noaltmacro\n"
#define DAISYNET_TILE_CALL(P0, P1, P2, P3)                                                   \
  DAISYNET_TILE_MACROS                                                                       \
  "dn_tile %c[outs], %c[frames], %c[taps], %c[groups], %c[rem], %c[relu], %c[fstride], "    \
  "%c[ostride], %[w], %[x], %[stride], %[dst], " P0 ", " P1 ", " P2 ", " P3 ", %[gc], "     \
  "%[tc]\n" DAISYNET_TILE_PURGE
#define DAISYNET_TILE_INPUTS                                                                 \
  [stride] "r"(tap_stride * sizeof(float)), [dst] "r"(dst), [outs] "i"(kOutputs),            \
      [frames] "i"(kFrames), [taps] "i"(kTaps), [groups] "i"(kIn / 4), [rem] "i"(kIn % 4),   \
      [relu] "i"(kRelu ? 1 : 0), [fstride] "i"(kStride * sizeof(float)),                     \
      [ostride] "i"(kOut * sizeof(float))
#define DAISYNET_TILE_CLOBBERS                                                               \
  "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",    \
      "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25",    \
      "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory"
#endif

// One tile: kFrames frames x kOutputs channels. The layer reads kTaps taps of kIn contiguous
// channels: tap k of frame f starts at oldest + k * tap_stride + f * kStride (a dilated
// layer: kIn = its inputs, tap_stride = dilation x inputs; a 1x1 or undilated layer is one
// tap of kernel x inputs contiguous channels, as its taps are consecutive frames). `packed`
// is the tile's bias and weights (PackedLayer); `dst` the tile's first output, frames kOut
// floats apart.
template <std::size_t kIn, std::size_t kTaps, std::size_t kStride, std::size_t kOut,
          bool kRelu, std::size_t kOutputs, std::size_t kFrames>
inline __attribute__((always_inline)) void Tile(const float* __restrict packed,
                                                const float* __restrict oldest,
                                                std::size_t tap_stride, float* __restrict dst) {
#ifdef DAISYNET_FAST_ASM
  static_assert(kFrames >= 1 && kFrames <= 4, "the tile macro has 4 frame pointers");
  static_assert(kOutputs * kFrames + 4 * kFrames + kOutputs <= 32,
                "accumulators, inputs and one channel of weights must fit in 32 S registers");
  static_assert(((kFrames - 1) * kOut + kOutputs) * sizeof(float) <= 1020,
                "STRD and VSTR reach 1020 bytes past the tile's first output");
  static_assert((kFrames - 1) * kStride * sizeof(float) < 4096, "ADD reaches 4095 bytes");
  const float* w = packed;
  const float* x = oldest;
  std::uint32_t p0, p1, p2, p3, gc, tc;  // scratch: frame pointers, loop counters
  if constexpr (kFrames == 1) {
    asm volatile(DAISYNET_TILE_CALL("%[p0]", "%[p0]", "%[p0]", "%[p0]")
                 : [w] "+r"(w), [x] "+r"(x), [p0] "=&r"(p0), [gc] "=&r"(gc), [tc] "=&r"(tc)
                 : DAISYNET_TILE_INPUTS
                 : DAISYNET_TILE_CLOBBERS);
    p1 = p2 = p3 = 0;
  } else if constexpr (kFrames == 2) {
    asm volatile(DAISYNET_TILE_CALL("%[p0]", "%[p1]", "%[p1]", "%[p1]")
                 : [w] "+r"(w), [x] "+r"(x), [p0] "=&r"(p0), [p1] "=&r"(p1), [gc] "=&r"(gc),
                   [tc] "=&r"(tc)
                 : DAISYNET_TILE_INPUTS
                 : DAISYNET_TILE_CLOBBERS);
    p2 = p3 = 0;
  } else if constexpr (kFrames == 3) {
    asm volatile(DAISYNET_TILE_CALL("%[p0]", "%[p1]", "%[p2]", "%[p2]")
                 : [w] "+r"(w), [x] "+r"(x), [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2),
                   [gc] "=&r"(gc), [tc] "=&r"(tc)
                 : DAISYNET_TILE_INPUTS
                 : DAISYNET_TILE_CLOBBERS);
    p3 = 0;
  } else {
    asm volatile(DAISYNET_TILE_CALL("%[p0]", "%[p1]", "%[p2]", "%[p3]")
                 : [w] "+r"(w), [x] "+r"(x), [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2),
                   [p3] "=&r"(p3), [gc] "=&r"(gc), [tc] "=&r"(tc)
                 : DAISYNET_TILE_INPUTS
                 : DAISYNET_TILE_CLOBBERS);
  }
  (void)p0, (void)p1, (void)p2, (void)p3, (void)gc, (void)tc;
#else
  // Elsewhere than the M7 (the native build), the same sums in C++, one frame at a time with
  // the outputs innermost, which a host compiler vectorises; x86-64 has 16 vector registers,
  // not 32, and the M7's frame tiles made GCC shuffle and spill. Channels unrolled by 8.
  // Measured with callgrind on the reference model, x86 instructions per sample: 849 before
  // this engine, 1,114 with the M7's tiles, 1,094 one frame at a time, 727 with the unrolling.
  // GNU C++ contracts `acc += x * w` into an FMA where the machine has one
  // (-ffp-contract=fast; std::fma would be a libm call on hosts without FMA instructions).
  for (std::size_t f = 0; f < kFrames; ++f) {
    float acc[kOutputs];
    for (std::size_t o = 0; o < kOutputs; ++o) acc[o] = packed[o];
    const float* w = packed + kOutputs;
    const float* tap = oldest + f * kStride;
    for (std::size_t k = 0; k < kTaps; ++k, tap += tap_stride) {
#pragma GCC unroll 8
      for (std::size_t c = 0; c < kIn; ++c, w += kOutputs) {
        const float in = tap[c];
        for (std::size_t o = 0; o < kOutputs; ++o) acc[o] += in * w[o];
      }
    }
    for (std::size_t o = 0; o < kOutputs; ++o) {
      if constexpr (kRelu) {
        StoreRelu(dst + f * kOut + o, acc[o]);
      } else {
        dst[f * kOut + o] = acc[o];
      }
    }
  }
#endif
}

// One tile of kOutputs output channels over `frames` frames: tiles of FramesPerTile frames,
// then single frames for the rest of the block.
template <std::size_t kIn, std::size_t kTaps, std::size_t kStride, std::size_t kOut,
          bool kRelu, std::size_t kOutputs>
inline __attribute__((always_inline)) void Rows(const float* packed, const float* oldest,
                                                std::size_t tap_stride, float* dst,
                                                std::size_t frames) {
  constexpr std::size_t kFrames = FramesPerTile(kOutputs);
  std::size_t f = 0;
  for (; f + kFrames <= frames; f += kFrames) {
    Tile<kIn, kTaps, kStride, kOut, kRelu, kOutputs, kFrames>(packed, oldest + f * kStride,
                                                              tap_stride, dst + f * kOut);
  }
  for (; f < frames; ++f) {
    Tile<kIn, kTaps, kStride, kOut, kRelu, kOutputs, 1>(packed, oldest + f * kStride,
                                                        tap_stride, dst + f * kOut);
  }
}

// One layer over `frames` frames into `dst`: its output tiles of kMaxTileOutputs channels,
// then the narrower rest (TileWidth). The full tiles are a run-time loop over one copy of
// their code, so a wide layer costs no more flash than a layer of 8 outputs. Its shape is
// compile-time; its dilation is not (tap_stride), so layers of one shape share one function:
// with the dilation a template argument, a deep model paid ~3 KB of flash per dilation for
// the same instructions.
template <std::size_t kIn, std::size_t kTaps, std::size_t kStride, std::size_t kOut,
          bool kRelu>
void Layer(const float* packed, const float* oldest, std::size_t tap_stride, float* dst,
           std::size_t frames) {
  constexpr std::size_t kFull = kOut / kMaxTileOutputs;
  constexpr std::size_t kRest = kOut % kMaxTileOutputs;
  constexpr std::size_t kTileFloats = kMaxTileOutputs * (1 + kTaps * kIn);  // bias + weights
  for (std::size_t t = 0; t < kFull; ++t) {
    Rows<kIn, kTaps, kStride, kOut, kRelu, kMaxTileOutputs>(
        packed + t * kTileFloats, oldest, tap_stride, dst + t * kMaxTileOutputs, frames);
  }
  if constexpr (kRest > 0) {
    Rows<kIn, kTaps, kStride, kOut, kRelu, kRest>(packed + kFull * kTileFloats, oldest,
                                                   tap_stride, dst + kFull * kMaxTileOutputs,
                                                   frames);
  }
}

// Copies n floats from src down to dst (dst < src; they may overlap). A forward copy, words
// at a time: newlib-nano's memmove (built for size) cost ~3.5 instructions per float.
inline void CopyDown(float* dst, const float* src, std::size_t n) {
#ifdef DAISYNET_FAST_ASM
  for (; n >= 8; n -= 8) {
    // r7 is left alone: it is Thumb's frame pointer when one is kept.
    asm volatile("ldmia %0!, {r4-r6, r8-r12}\n\tstmia %1!, {r4-r6, r8-r12}"
                 : "+r"(src), "+r"(dst)
                 :
                 : "r4", "r5", "r6", "r8", "r9", "r10", "r11", "r12", "memory");
  }
  for (; n > 0; --n) *dst++ = *src++;
#else
  std::memmove(dst, src, n * sizeof(float));
#endif
}

}  // namespace fast_detail

template <std::size_t kMaxBlockFrames>
class FastBackend {
 public:
  static constexpr std::size_t kMaxBlock = kMaxBlockFrames;
  static constexpr std::size_t kNumInputs = model::kNumInputs;
  static constexpr std::size_t kNumOutputs = model::kNumOutputs;
  static constexpr bool kFloatOutputs = true;
  static constexpr std::array<std::size_t, model::kNumLayers + 1> kBufferOffsets =
      fast_detail::BufferOffsets<kMaxBlock>();
  static constexpr std::size_t kArenaFloats = kBufferOffsets[model::kNumLayers];

  void Init() {}

  void Reset() { engine_detail::ClearHistories(arena_, cursor_); }

  void ProcessBlock(const float* const* inputs, std::size_t first, float* out,
                    std::size_t block) {
    float* input = Room<0>(block);
    // Interleave the planar inputs frame by frame, every channel's pointer in a register.
    const float* channels[kNumInputs];
    for (std::size_t c = 0; c < kNumInputs; ++c) channels[c] = inputs[c] + first;
    for (std::size_t i = 0; i < block; ++i, input += kNumInputs) {
#pragma GCC unroll 16
      for (std::size_t c = 0; c < kNumInputs; ++c) input[c] = channels[c][i];
    }
    RunLayers<0>(out, block);
  }

 private:
  // Room for `block` frames at layer `layer`'s cursor; copies its history back to the start
  // of its buffer when the block would run past the end.
  template <std::size_t kLayer>
  float* Room(std::size_t block) {
    constexpr std::size_t kIn = model::kLayers[kLayer].in_channels;
    constexpr std::size_t kHistoryFrames = fast_detail::HistoryFrames(kLayer);
    float* buffer = arena_ + kBufferOffsets[kLayer];
    if (cursor_[kLayer] + block > fast_detail::BufferFrames<kMaxBlock>(kLayer)) {
      if constexpr (kHistoryFrames > 0) {
        fast_detail::CopyDown(buffer, buffer + (cursor_[kLayer] - kHistoryFrames) * kIn,
                              kHistoryFrames * kIn);
      }
      cursor_[kLayer] = kHistoryFrames;
    }
    return buffer + cursor_[kLayer] * kIn;
  }

  template <std::size_t kLayer>
  void RunLayers(float* out, std::size_t block) {
    if constexpr (kLayer < model::kNumLayers) {
      constexpr model::LayerDefn kDefn = model::kLayers[kLayer];
      constexpr std::size_t kIn = kDefn.in_channels;
      // A 1x1 or undilated layer's taps are consecutive frames: one tap of kernel x inputs
      // contiguous channels.
      constexpr bool kContiguous = kDefn.kernel == 1 || kDefn.dilation == 1;
      constexpr std::size_t kTaps = kContiguous ? 1 : kDefn.kernel;
      constexpr std::size_t kChannels = kContiguous ? kDefn.kernel * kIn : kIn;
      const float* oldest = arena_ + kBufferOffsets[kLayer] +
                            (cursor_[kLayer] - fast_detail::HistoryFrames(kLayer)) * kIn;
      float* dst;
      if constexpr (kLayer + 1 < model::kNumLayers) {
        dst = Room<kLayer + 1>(block);
      } else {
        dst = out;
      }
      fast_detail::Layer<kChannels, kTaps, kIn, kDefn.out_channels, kDefn.relu>(
          fast_detail::PackedLayer<kLayer>::kData.data(), oldest, kDefn.dilation * kIn, dst,
          block);
      cursor_[kLayer] += block;
      RunLayers<kLayer + 1>(out, block);
    }
  }

  alignas(16) float arena_[kArenaFloats] = {};
  std::size_t cursor_[model::kNumLayers] = {};  // frame of each buffer where the block starts
};

}  // namespace daisynet
