// Cached-activation inference for a daisynet wavenet, compiled against a model_defn.h.
//
// Two backends, one compile-time switch: DAISYNET_ENGINE_BACKEND picks what WavenetEngine<B>
// is. DAISYNET_ENGINE_FAST (the default, what the Daisy apps get) is the register-tiled engine
// of wavenet_fast_engine.h; DAISYNET_ENGINE_CMSIS is CmsisWavenetEngine below, the readable
// reference that sums in host_sim's order.
//
// The CMSIS backend:
// Each layer keeps the last (kernel - 1) * dilation frames of its input in front of room for
// one block. A block of B frames is computed layer by layer: for every tap k, the B rows that
// start k * dilation frames into that buffer form a (B x in) matrix multiplied by the tap's
// (in x out) weights with arm_mat_mult_f32, and summed onto the bias with arm_add_f32; ReLU
// is arm_clip_f32. Outputs land directly in the next layer's buffer, after its history.
// This is the operation order of host_sim/engine.py, which tests hold it to.
//
// Portable: includes only arm_math.h and the standard library. Every buffer lives in the
// object (no heap), so declare the engine as a global or static and place it where you want
// it (DTCM/SRAM/SDRAM). Two-phase: trivial constructor, Init(), then Process() per block.
#pragma once

#include <array>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "arm_math.h"
#include "model_defn.h"
#include "wavenet_fast_engine.h"
#include "wavenet_q_engine.h"

#define DAISYNET_ENGINE_CMSIS 1
#define DAISYNET_ENGINE_FAST 2
#ifndef DAISYNET_ENGINE_BACKEND
#define DAISYNET_ENGINE_BACKEND DAISYNET_ENGINE_FAST
#endif

namespace daisynet {

// The model_defn.h format version this engine reads (MODEL_DEFN_FORMAT_VERSION in
// host_sim/model_defn/spec.py). A header from before format versions declares none: the
// using-directive below gives model::kModelDefnFormatVersion the value 0 then (qualified
// lookup sees it only where the header declares no constant of its own).
inline constexpr std::uint32_t kSupportedModelDefnFormatVersion = 1;
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

namespace engine_detail {

using model::kLayers;
using model::kNumLayers;

constexpr std::size_t HistoryFrames(std::size_t layer) {
  return (kLayers[layer].kernel - 1) * kLayers[layer].dilation;
}

// Floats of layer `layer`'s input buffer: its history plus one block, in_channels wide.
constexpr std::size_t InputFloats(std::size_t layer, std::size_t max_block) {
  return (HistoryFrames(layer) + max_block) * kLayers[layer].in_channels;
}

// Where each layer's input buffer starts in the arena; entry kNumLayers is where the output
// block starts. A table, so the audio path only indexes it.
template <std::size_t kMaxBlock>
constexpr std::array<std::size_t, kNumLayers + 1> InputOffsets() {
  std::array<std::size_t, kNumLayers + 1> offsets{};
  for (std::size_t i = 0; i < kNumLayers; ++i) {
    offsets[i + 1] = offsets[i] + InputFloats(i, kMaxBlock);
  }
  return offsets;
}

constexpr std::size_t MaxOutChannels() {
  std::size_t widest = 0;
  for (std::size_t i = 0; i < kNumLayers; ++i) {
    if (kLayers[i].out_channels > widest) widest = kLayers[i].out_channels;
  }
  return widest;
}

}  // namespace engine_detail

// kMaxBlock: the most frames one Process() call computes at a time (the Daisy's audio block
// is 48 by default); larger calls are split into blocks of this size.
template <std::size_t kMaxBlock>
class CmsisWavenetEngine {
 public:
  static_assert(kMaxBlock >= 1, "a block holds at least one frame");
  static constexpr std::size_t kNumInputs = model::kNumInputs;
  static constexpr std::size_t kNumOutputs = model::kNumOutputs;
  static constexpr std::array<std::size_t, model::kNumLayers + 1> kInputOffsets =
      engine_detail::InputOffsets<kMaxBlock>();
  // Every float the engine keeps: all layer inputs with their histories, and the output block.
  static constexpr std::size_t kOutputOffset = kInputOffsets[model::kNumLayers];
  static constexpr std::size_t kArenaFloats = kOutputOffset + kMaxBlock * kNumOutputs;
  static constexpr std::size_t kProductFloats = kMaxBlock * engine_detail::MaxOutChannels();

  CmsisWavenetEngine() = default;

  void Init() { Reset(); }

  // Back to silence, as after power-up; also clears the non-finite counter.
  void Reset() {
    std::memset(arena_, 0, sizeof(arena_));
    non_finite_outputs_ = 0;
  }

  // inputs[c][i]: frame i of input channel c, channels in model::kInputNames order.
  // out[i * kNumOutputs + o]: frame i of output o. Non-finite outputs become 0 and are counted.
  void Process(const float* const* inputs, float* out, std::size_t frames) {
    ForEachBlock<kMaxBlock>(frames, [&](std::size_t first, std::size_t block) {
      ProcessBlock(inputs, first, out + first * kNumOutputs, block);
    });
  }

  // Output samples replaced by silence because they were NaN or infinite, since Reset().
  std::uint32_t non_finite_outputs() const { return non_finite_outputs_; }

 private:
  void ProcessBlock(const float* const* inputs, std::size_t first, float* out,
                    std::size_t block) {
    using engine_detail::HistoryFrames;
    float* input = arena_ + HistoryFrames(0) * kNumInputs;  // layer 0's buffer starts the arena
    for (std::size_t i = 0; i < block; ++i) {
      for (std::size_t c = 0; c < kNumInputs; ++c) input[i * kNumInputs + c] = inputs[c][first + i];
    }
    for (std::size_t layer = 0; layer < model::kNumLayers; ++layer) {
      const model::LayerDefn& defn = model::kLayers[layer];
      float* source = arena_ + kInputOffsets[layer];
      float* dest = arena_ + kInputOffsets[layer + 1];
      if (layer + 1 < model::kNumLayers) dest += HistoryFrames(layer + 1) * defn.out_channels;
      RunLayer(defn, source, dest, block);
      // Keep the newest history frames of this layer's input for the next block.
      const std::size_t history = HistoryFrames(layer) * defn.in_channels;
      if (history > 0) {
        std::memmove(source, source + block * defn.in_channels, history * sizeof(float));
      }
    }
    const float* result = arena_ + kOutputOffset;
    for (std::size_t i = 0; i < block * kNumOutputs; ++i) {
      if (std::isfinite(result[i])) {
        out[i] = result[i];
      } else {
        out[i] = 0.0f;
        ++non_finite_outputs_;
      }
    }
  }

  void RunLayer(const model::LayerDefn& defn, float* source, float* dest, std::size_t block) {
    const std::size_t width = defn.out_channels;
    for (std::size_t i = 0; i < block; ++i) std::memcpy(dest + i * width, defn.bias, width * sizeof(float));
    for (std::size_t k = 0; k < defn.kernel; ++k) {
      arm_matrix_instance_f32 rows;
      arm_matrix_instance_f32 tap;
      arm_matrix_instance_f32 product;
      arm_mat_init_f32(&rows, block, defn.in_channels,
                       source + k * defn.dilation * defn.in_channels);
      // CMSIS takes non-const pointers but only reads the multiplicands.
      arm_mat_init_f32(&tap, defn.in_channels, width,
                       const_cast<float*>(defn.weights + k * defn.in_channels * width));
      arm_mat_init_f32(&product, block, width, product_);
      arm_mat_mult_f32(&rows, &tap, &product);
      arm_add_f32(dest, product_, dest, block * width);
    }
    if (defn.relu) arm_clip_f32(dest, dest, 0.0f, FLT_MAX, block * width);
  }

  alignas(16) float arena_[kArenaFloats] = {};
  alignas(16) float product_[kProductFloats] = {};
  std::uint32_t non_finite_outputs_ = 0;
};

// A float model runs on the float engines, a q15/q7 one (model::kNumberFormat) on the
// fixed-point engines of wavenet_q_engine.h; DAISYNET_ENGINE_BACKEND picks the backend of either.
inline constexpr bool kFloatModel = model::kNumberFormat == model::NumberFormat::kFloat32;

#if DAISYNET_ENGINE_BACKEND == DAISYNET_ENGINE_FAST
template <std::size_t kMaxBlock>
using WavenetEngine = std::conditional_t<kFloatModel, FastWavenetEngine<kMaxBlock>,
                                         FastQWavenetEngine<kMaxBlock>>;
#elif DAISYNET_ENGINE_BACKEND == DAISYNET_ENGINE_CMSIS
template <std::size_t kMaxBlock>
using WavenetEngine = std::conditional_t<kFloatModel, CmsisWavenetEngine<kMaxBlock>,
                                         CmsisQWavenetEngine<kMaxBlock>>;
#else
#error "DAISYNET_ENGINE_BACKEND must be DAISYNET_ENGINE_FAST or DAISYNET_ENGINE_CMSIS"
#endif

}  // namespace daisynet
