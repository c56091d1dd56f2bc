// Register-tiled inference for a daisynet wavenet: the fast backend (see wavenet_engine.h for
// the readable CMSIS-DSP reference it must agree with).
//
// Every layer is a template on its shape (in, out, kernel, relu) read from model_defn.h at
// compile time. A layer computes a tile of output channels x frames at a time, held in FPU
// registers (the M7 has 32 single-precision ones): the bias goes straight into the
// accumulators, each tap's input is read in place from the layer's history, every MAC is one
// VFMA (GNU C++ contracts `acc += x * w` into VFMA by default, -ffp-contract=fast; std::fma
// would be a libm call on hosts built without FMA instructions), and ReLU is applied on the
// way out. The dilation is a template argument too: with it
// every tap's offset is a constant, where a run-time one made GCC keep a table of offsets on
// the stack and reload them in the inner loop.
//
// History: each layer's input is a linear buffer of its history plus room for new frames
// (BufferFrames). Blocks are appended at a moving cursor; only when the buffer is full are the
// newest history frames copied back to its start, so small blocks stay cheap.
//
// The summation order differs from the CMSIS backend (all taps into one accumulator), so this
// backend matches Keras to float32 rounding, not the Python simulator bit for bit.
// Portable: the standard library only. No heap; two-phase: Init(), then Process() per block.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model_defn.h"

namespace daisynet {

// Calls body(first, count) for consecutive blocks of at most kMaxBlock of `frames` frames: how
// both engine backends split a Process() call longer than the blocks they are sized for.
template <std::size_t kMaxBlock, typename Body>
inline void ForEachBlock(std::size_t frames, Body&& body) {
  for (std::size_t first = 0; first < frames; first += kMaxBlock) {
    body(first, frames - first < kMaxBlock ? frames - first : kMaxBlock);
  }
}

namespace fast_detail {

using model::kLayers;
using model::kNumLayers;

// Output channels per register tile. With 4 x 4 accumulators, 4 inputs and 4 weights live
// in 24 of the 32 S registers: 16 VFMAs per 8 loads, and no spills.
constexpr std::size_t kTileOutputs = 4;
// Layers with at least 8 outputs and at most 8 inputs take 8 x 3 tiles instead (11 loads per
// 24 VFMAs, not 8 per 16). Measured: with 16 inputs the wider tile spilled and cost more.
constexpr std::size_t kWideTileOutputs = 8;
constexpr std::size_t kWideTileMaxInputs = 8;
// A single frame (the block tail, or block size 1) reuses each input across this many outputs.
constexpr std::size_t kSingleFrameOutputs = 16;

// Frames per tile for a tile of `outputs` channels: as many as fit beside the accumulators,
// the weights and a few registers of slack (28 of 32 S registers at most). The 8-wide tile
// takes 3 frames (24 accumulators, 3 inputs, one weight at a time), which GCC keeps in
// registers when the layer has at most 8 inputs.
constexpr std::size_t FramesPerTile(std::size_t outputs) {
  const std::size_t fit = outputs == 8 ? 3 : (28 - outputs) / (outputs + 1);
  return fit > 8 ? 8 : (fit < 1 ? 1 : fit);
}

constexpr std::size_t HistoryFrames(std::size_t layer) {
  return (kLayers[layer].kernel - 1) * kLayers[layer].dilation;
}

// A layer's history plus room for new frames: at least one block, and at least the history
// itself, so copying the history back (H frames) happens at most once per H new frames: no
// more than one float per input channel per sample, for at most twice the RAM. A 1x1 layer
// has no history: its buffer is one block and nothing is ever copied.
template <std::size_t kMaxBlock>
constexpr std::size_t BufferFrames(std::size_t layer) {
  const std::size_t history = HistoryFrames(layer);
  return history + (history > kMaxBlock ? history : kMaxBlock);
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

// Room for `block` new frames at `cursor` in a linear history buffer of `capacity` frames,
// `width` elements each, whose newest `history` frames before the cursor are the layer's
// history: when the block would run past the end, that history is copied back to the start
// first (at most once per `history` new frames, see BufferFrames). Returns the block's first
// frame. For buffers of any element type (the fixed-point engines' too).
template <typename T>
inline T* HistoryRoom(T* buffer, std::size_t& cursor, std::size_t block, std::size_t history,
                      std::size_t capacity, std::size_t width) {
  if (cursor + block > capacity) {
    if (history > 0) {
      std::memmove(buffer, buffer + (cursor - history) * width, history * width * sizeof(T));
    }
    cursor = history;
  }
  return buffer + cursor * width;
}

// ReLU in the integer unit: FPv4 has no VMAX/VMAXNM, and a compare-and-select costs a VMRS
// and a conditional move per value. A float's bits read as a signed integer are negative
// exactly when the float is, so max(bits, 0) is ReLU; GCC makes it one BIC (x & ~(x >> 31)),
// where writing that expression out gave two instructions.
inline void StoreRelu(float* dst, float value) {
  std::int32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bits = bits < 0 ? 0 : bits;
  std::memcpy(dst, &bits, sizeof(bits));
}

// A tile's weights for one input channel: kOutputs consecutive floats at `row`, which then
// steps to the next channel's row, kStride floats on. On the M7 a 4-wide tile's four come in
// one VLDM (GCC never merges VLDRs), with write-back when the rows are exactly four floats
// apart. Other widths load plainly: measured, two VLDMs for the 8-wide tile helped one model
// and cost another, and wide single-frame tiles lost.
template <std::size_t kOutputs, std::size_t kStride>
inline __attribute__((always_inline)) void LoadWeights(const float*& row, float (&w)[kOutputs]) {
#if defined(__ARM_ARCH_7EM__) && defined(__ARM_FP)
  if constexpr (kOutputs == 4) {
    register float w0 asm("s28");
    register float w1 asm("s29");
    register float w2 asm("s30");
    register float w3 asm("s31");
    if constexpr (kStride == 4) {
      asm("vldmia %4!, {s28-s31}"
          : "=t"(w0), "=t"(w1), "=t"(w2), "=t"(w3), "+r"(row)
          : "m"(*reinterpret_cast<const float(*)[4]>(row)));
    } else {
      asm("vldmia %4, {s28-s31}"
          : "=t"(w0), "=t"(w1), "=t"(w2), "=t"(w3)
          : "r"(row), "m"(*reinterpret_cast<const float(*)[4]>(row)));
      row += kStride;
    }
    w[0] = w0;
    w[1] = w1;
    w[2] = w2;
    w[3] = w3;
    return;
  }
#endif
#pragma GCC unroll 16
  for (std::size_t o = 0; o < kOutputs; ++o) w[o] = row[o];
  row += kStride;
}

// One tile: kFrames frames x kOutputs channels of a layer with kIn inputs, kOut outputs and
// kKernel taps. `x` is the tile's first frame in the layer's input buffer; tap k reads
// (kKernel - 1 - k) * dilation frames earlier. `weights` and `bias` start at the tile's first
// output channel; so does `dst`, the tile's first frame in the next buffer.
template <std::size_t kIn, std::size_t kOut, std::size_t kKernel, std::size_t kDilation,
          bool kRelu, std::size_t kOutputs, std::size_t kFrames>
inline __attribute__((always_inline)) void Tile(const float* __restrict weights,
                                                const float* __restrict bias,
                                                const float* __restrict x,
                                                float* __restrict dst) {
  float acc[kFrames][kOutputs];
#pragma GCC unroll 16
  for (std::size_t f = 0; f < kFrames; ++f) {
#pragma GCC unroll 16
    for (std::size_t o = 0; o < kOutputs; ++o) acc[f][o] = bias[o];
  }
  const float* row = weights;  // rows of kOut weights, [k][c], in the order they are used
#pragma GCC unroll 8
  for (std::size_t k = 0; k < kKernel; ++k) {
    const float* tap = x - (kKernel - 1 - k) * kDilation * kIn;
    // Unrolled by 4, not fully: past 1020 bytes a VLDR offset needs its own address
    // register, and fully unrolled wide layers spilled those and cost kilobytes of flash.
#pragma GCC unroll 4
    for (std::size_t c = 0; c < kIn; ++c) {
      float in[kFrames];
#pragma GCC unroll 16
      for (std::size_t f = 0; f < kFrames; ++f) in[f] = tap[f * kIn + c];
      float w[kOutputs];
      LoadWeights<kOutputs, kOut>(row, w);
#pragma GCC unroll 16
      for (std::size_t o = 0; o < kOutputs; ++o) {
#pragma GCC unroll 16
        for (std::size_t f = 0; f < kFrames; ++f) acc[f][o] += in[f] * w[o];
      }
    }
  }
#pragma GCC unroll 16
  for (std::size_t f = 0; f < kFrames; ++f) {
#pragma GCC unroll 16
    for (std::size_t o = 0; o < kOutputs; ++o) {
      if constexpr (kRelu) {
        StoreRelu(dst + f * kOut + o, acc[f][o]);
      } else {
        dst[f * kOut + o] = acc[f][o];
      }
    }
  }
}

// All output channels of kFrames frames: full tiles of kOutputs, then the narrower rest.
template <std::size_t kIn, std::size_t kOut, std::size_t kKernel, std::size_t kDilation,
          bool kRelu, std::size_t kOutputs, std::size_t kFrames>
inline __attribute__((always_inline)) void Frames(const float* weights, const float* bias,
                                                  const float* x, float* dst) {
  constexpr std::size_t kFullTiles = kOut / kOutputs;
  constexpr std::size_t kRest = kOut % kOutputs;
  for (std::size_t t = 0; t < kFullTiles; ++t) {
    const std::size_t o = t * kOutputs;
    Tile<kIn, kOut, kKernel, kDilation, kRelu, kOutputs, kFrames>(weights + o, bias + o, x,
                                                                  dst + o);
  }
  if constexpr (kRest > 0) {
    constexpr std::size_t o = kFullTiles * kOutputs;
    Tile<kIn, kOut, kKernel, kDilation, kRelu, kRest, kFrames>(weights + o, bias + o, x,
                                                               dst + o);
  }
}

// One layer over `frames` frames starting at `x` (its history precedes it), into `dst`.
template <std::size_t kIn, std::size_t kOut, std::size_t kKernel, std::size_t kDilation,
          bool kRelu>
void Layer(const float* weights, const float* bias, const float* x, float* dst,
           std::size_t frames) {
  constexpr std::size_t kOutputs = (kOut >= kWideTileOutputs && kIn <= kWideTileMaxInputs)
                                       ? kWideTileOutputs
                                       : (kOut < kTileOutputs ? kOut : kTileOutputs);
  constexpr std::size_t kFrames = FramesPerTile(kOutputs);
  constexpr std::size_t kOneFrameOutputs = kOut < kSingleFrameOutputs ? kOut : kSingleFrameOutputs;
  std::size_t f = 0;
  for (; f + kFrames <= frames; f += kFrames) {
    Frames<kIn, kOut, kKernel, kDilation, kRelu, kOutputs, kFrames>(weights, bias, x + f * kIn,
                                                                    dst + f * kOut);
  }
  for (; f < frames; ++f) {
    Frames<kIn, kOut, kKernel, kDilation, kRelu, kOneFrameOutputs, 1>(weights, bias,
                                                                      x + f * kIn, dst + f * kOut);
  }
}

}  // namespace fast_detail

// kMaxBlock: the most frames one Process() call computes at a time; larger calls are split.
template <std::size_t kMaxBlock>
class FastWavenetEngine {
 public:
  static_assert(kMaxBlock >= 1, "a block holds at least one frame");
  static constexpr std::size_t kNumInputs = model::kNumInputs;
  static constexpr std::size_t kNumOutputs = model::kNumOutputs;
  static constexpr std::array<std::size_t, model::kNumLayers + 1> kBufferOffsets =
      fast_detail::BufferOffsets<kMaxBlock>();
  static constexpr std::size_t kArenaFloats = kBufferOffsets[model::kNumLayers];

  FastWavenetEngine() = default;

  void Init() { Reset(); }

  // Back to silence, as after power-up; also clears the non-finite counter.
  void Reset() {
    std::memset(arena_, 0, sizeof(arena_));
    for (std::size_t i = 0; i < model::kNumLayers; ++i) cursor_[i] = fast_detail::HistoryFrames(i);
    non_finite_outputs_ = 0;
  }

  // inputs[c][i]: frame i of input channel c, channels in model::kInputNames order.
  // out[i * kNumOutputs + o]: frame i of output o. Non-finite outputs become 0 and are counted.
  void Process(const float* const* inputs, float* out, std::size_t frames) {
    ForEachBlock<kMaxBlock>(frames, [&](std::size_t first, std::size_t block) {
      ProcessBlock(inputs, first, out + first * kNumOutputs, block);
    });
  }

  std::uint32_t non_finite_outputs() const { return non_finite_outputs_; }

 private:
  // Room for `block` frames at layer `layer`'s cursor; copies its history back to the start
  // of its buffer when the block would run past the end.
  template <std::size_t kLayer>
  float* Room(std::size_t block) {
    constexpr std::size_t kIn = model::kLayers[kLayer].in_channels;
    constexpr std::size_t kHistory = fast_detail::HistoryFrames(kLayer);
    float* buffer = arena_ + kBufferOffsets[kLayer];
    if (cursor_[kLayer] + block > fast_detail::BufferFrames<kMaxBlock>(kLayer)) {
      if constexpr (kHistory > 0) {
        std::memmove(buffer, buffer + (cursor_[kLayer] - kHistory) * kIn,
                     kHistory * kIn * sizeof(float));
      }
      cursor_[kLayer] = kHistory;
    }
    return buffer + cursor_[kLayer] * kIn;
  }

  template <std::size_t kLayer>
  void RunLayers(float* out, std::size_t block) {
    if constexpr (kLayer < model::kNumLayers) {
      constexpr model::LayerDefn kDefn = model::kLayers[kLayer];
      const float* x = arena_ + kBufferOffsets[kLayer] + cursor_[kLayer] * kDefn.in_channels;
      float* dst;
      if constexpr (kLayer + 1 < model::kNumLayers) {
        dst = Room<kLayer + 1>(block);
      } else {
        dst = out;
      }
      fast_detail::Layer<kDefn.in_channels, kDefn.out_channels, kDefn.kernel, kDefn.dilation,
                         kDefn.relu>(kDefn.weights, kDefn.bias, x, dst, block);
      cursor_[kLayer] += block;
      RunLayers<kLayer + 1>(out, block);
    }
  }

  void ProcessBlock(const float* const* inputs, std::size_t first, float* out,
                    std::size_t block) {
    float* input = Room<0>(block);
    for (std::size_t c = 0; c < kNumInputs; ++c) {
      const float* channel = inputs[c] + first;
      for (std::size_t i = 0; i < block; ++i) input[i * kNumInputs + c] = channel[i];
    }
    RunLayers<0>(out, block);
    for (std::size_t i = 0; i < block * kNumOutputs; ++i) {
      if (!std::isfinite(out[i])) {
        out[i] = 0.0f;
        ++non_finite_outputs_;
      }
    }
  }

  alignas(16) float arena_[kArenaFloats] = {};
  std::size_t cursor_[model::kNumLayers] = {};  // frame of each buffer where the block starts
  std::uint32_t non_finite_outputs_ = 0;
};

}  // namespace daisynet
