// The original blog firmware's approach, kept only as `daisynet bench`'s baseline: one sample
// at a time, and for every layer one arm_mat_mult_f32 (1 x in times in x out) plus one
// arm_add_f32 per tap. Each layer's input history is a ring of (kernel - 1) * dilation + 1
// frames, so nothing is shifted per sample. Not used by any app.
#pragma once

#include <array>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "arm_math.h"
#include "model_header.h"

namespace daisynet::emulator {

namespace per_sample_detail {

constexpr std::size_t RingFrames(std::size_t layer) {
  return (model::kLayers[layer].kernel - 1) * model::kLayers[layer].dilation + 1;
}

constexpr std::array<std::size_t, model::kNumLayers + 1> RingOffsets() {
  std::array<std::size_t, model::kNumLayers + 1> offsets{};
  for (std::size_t i = 0; i < model::kNumLayers; ++i) {
    offsets[i + 1] = offsets[i] + RingFrames(i) * model::kLayers[i].in_channels;
  }
  return offsets;
}

constexpr std::size_t WidestLayer() {
  std::size_t widest = 0;
  for (const auto& defn : model::kLayers) widest = defn.out_channels > widest ? defn.out_channels : widest;
  return widest;
}

}  // namespace per_sample_detail

class PerSampleEngine {
 public:
  static constexpr std::size_t kNumInputs = model::kNumInputs;
  static constexpr std::size_t kNumOutputs = model::kNumOutputs;

  void Init() { Reset(); }

  void Reset() {
    std::memset(rings_, 0, sizeof(rings_));
    std::memset(positions_, 0, sizeof(positions_));
    non_finite_outputs_ = 0;
  }

  void Process(const float* const* inputs, float* out, std::size_t frames) {
    for (std::size_t i = 0; i < frames; ++i) {
      float* newest = Frame(0, 0);
      for (std::size_t c = 0; c < kNumInputs; ++c) newest[c] = inputs[c][i];
      for (std::size_t layer = 0; layer < model::kNumLayers; ++layer) {
        const model::LayerDefn& defn = model::kLayers[layer];
        float* dest = layer + 1 < model::kNumLayers ? Frame(layer + 1, 0) : out + i * kNumOutputs;
        std::memcpy(dest, defn.bias, defn.out_channels * sizeof(float));
        for (std::size_t k = 0; k < defn.kernel; ++k) {
          arm_matrix_instance_f32 row;
          arm_matrix_instance_f32 tap;
          arm_matrix_instance_f32 product;
          arm_mat_init_f32(&row, 1, defn.in_channels,
                           Frame(layer, (defn.kernel - 1 - k) * defn.dilation));
          arm_mat_init_f32(&tap, defn.in_channels, defn.out_channels,
                           const_cast<float*>(defn.weights + k * defn.in_channels * defn.out_channels));
          arm_mat_init_f32(&product, 1, defn.out_channels, product_);
          arm_mat_mult_f32(&row, &tap, &product);
          arm_add_f32(dest, product_, dest, defn.out_channels);
        }
        if (defn.relu) arm_clip_f32(dest, dest, 0.0f, FLT_MAX, defn.out_channels);
        positions_[layer] = (positions_[layer] + 1) % RingFrames(layer);
      }
      for (std::size_t o = 0; o < kNumOutputs; ++o) {
        if (!std::isfinite(out[i * kNumOutputs + o])) {
          out[i * kNumOutputs + o] = 0.0f;
          ++non_finite_outputs_;
        }
      }
    }
  }

  std::uint32_t non_finite_outputs() const { return non_finite_outputs_; }

 private:
  static constexpr auto kRingOffsets = per_sample_detail::RingOffsets();
  static std::size_t RingFrames(std::size_t layer) { return per_sample_detail::RingFrames(layer); }

  // The frame `age` samples before the newest one of layer `layer`'s input ring.
  float* Frame(std::size_t layer, std::size_t age) {
    const std::size_t frames = RingFrames(layer);
    const std::size_t slot = (positions_[layer] + frames - age) % frames;
    return rings_ + kRingOffsets[layer] + slot * model::kLayers[layer].in_channels;
  }

  float rings_[kRingOffsets[model::kNumLayers]] = {};
  float product_[per_sample_detail::WidestLayer()] = {};
  std::size_t positions_[model::kNumLayers] = {};
  std::uint32_t non_finite_outputs_ = 0;
};

}  // namespace daisynet::emulator
