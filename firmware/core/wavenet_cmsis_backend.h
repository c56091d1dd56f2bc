// The CMSIS-DSP float32 backend of WavenetEngine (wavenet_engine.h): the readable reference,
// which sums in host_sim's order.
//
// Each layer keeps the last (kernel - 1) * dilation frames of its input in front of room for
// one block. A block of B frames is computed layer by layer: for every tap k, the B rows that
// start k * dilation frames into that buffer form a (B x in) matrix multiplied by the tap's
// (in x out) weights with arm_mat_mult_f32, and summed onto the bias with arm_add_f32; ReLU
// is arm_clip_f32. Outputs land directly in the next layer's buffer, after its history, and
// the head's in the caller's output block. This is the operation order of host_sim/engine.py,
// which tests hold it to.
#pragma once

#include <array>
#include <cfloat>
#include <cstddef>
#include <cstring>

#include "arm_math.h"
#include "model_header.h"
#include "wavenet_history.h"

namespace daisynet {

namespace cmsis_detail {

using engine_detail::HistoryFrames;
using model::kLayers;
using model::kNumLayers;

// Floats of layer `layer`'s input buffer: its history plus one block, in_channels wide.
constexpr std::size_t InputFloats(std::size_t layer, std::size_t max_block) {
  return (HistoryFrames(layer) + max_block) * kLayers[layer].in_channels;
}

// Where each layer's input buffer starts in the arena; entry kNumLayers is its end. A table,
// so the audio path only indexes it.
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

}  // namespace cmsis_detail

template <std::size_t kMaxBlockFrames>
class CmsisBackend {
 public:
  static constexpr std::size_t kMaxBlock = kMaxBlockFrames;
  static constexpr std::size_t kNumInputs = model::kNumInputs;
  static constexpr std::size_t kNumOutputs = model::kNumOutputs;
  static constexpr bool kFloatOutputs = true;
  static constexpr std::array<std::size_t, model::kNumLayers + 1> kInputOffsets =
      cmsis_detail::InputOffsets<kMaxBlock>();
  // Every float the backend keeps: all layer inputs with their histories.
  static constexpr std::size_t kArenaFloats = kInputOffsets[model::kNumLayers];
  static constexpr std::size_t kProductFloats = kMaxBlock * cmsis_detail::MaxOutChannels();

  void Init() {}

  void Reset() { std::memset(arena_, 0, sizeof(arena_)); }

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
      float* dest = out;
      if (layer + 1 < model::kNumLayers) {
        dest = arena_ + kInputOffsets[layer + 1] + HistoryFrames(layer + 1) * defn.out_channels;
      }
      RunLayer(defn, source, dest, block);
      // Keep the newest history frames of this layer's input for the next block.
      const std::size_t history = HistoryFrames(layer) * defn.in_channels;
      if (history > 0) {
        std::memmove(source, source + block * defn.in_channels, history * sizeof(float));
      }
    }
  }

 private:
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
};

}  // namespace daisynet
