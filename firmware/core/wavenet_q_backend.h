// The fixed-point backends of WavenetEngine (wavenet_engine.h), for a quantized (q15 or q7)
// model_defn.h: float in, float out like the float backends, so WavenetEngine<B> runs on one
// of these when model::kNumberFormat is kQ15 or kQ7, picked with the same
// DAISYNET_ENGINE_BACKEND switch.
//
// Both backends compute the quantized contract's arithmetic exactly (wavenet_q_kernels.h), so
// they agree with each other and with the host simulator bit for bit:
// - CmsisQBackend, the readable reference: per layer per block, the kernel taps of every
//   frame gathered side by side into a (frames x kernel*in) matrix (tap k in columns k*in ..
//   k*in+in-1), ONE arm_mat_mult_q15/q7 with the weights seen as a (kernel*in x out) matrix
//   (their [k][in][out] layout is exactly that), then arm_add (bias), arm_shift, arm_clip.
// - FastQBackend: tiles of SMLAD/SMLALD over the weights re-laid out in pairs (q15: at
//   compile time, in flash; q7: widened into RAM by Init(), the flash keeping a byte a weight).
// Inputs: x * 2^kInputFracBits rounded half away from zero, saturating; outputs: y *
// 2^-kOutputFracBits. Fixed point never produces a non-finite output.
//
// Histories as in the float fast backend (wavenet_history.h): a linear buffer per layer,
// rewound only when full. No heap.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "arm_math.h"
#include "model_header.h"
#include "wavenet_history.h"
#include "wavenet_q_kernels.h"

namespace daisynet {

namespace q_detail {

constexpr bool kQ7Model = model::kNumberFormat == model::NumberFormat::kQ7;
using ModelFormat = Format<kQ7Model>;

// Where each layer's input buffer starts (elements), for rows of Stride(layer) elements and
// engine_detail::BufferFrames frames; entry kNumLayers is the end.
template <std::size_t kMaxBlock, std::size_t (*Stride)(std::size_t)>
constexpr std::array<std::size_t, model::kNumLayers + 1> Offsets() {
  std::array<std::size_t, model::kNumLayers + 1> offsets{};
  for (std::size_t i = 0; i < model::kNumLayers; ++i) {
    offsets[i + 1] = offsets[i] + engine_detail::BufferFrames<kMaxBlock>(i) * Stride(i);
  }
  return offsets;
}

constexpr std::size_t InChannels(std::size_t layer) { return model::kLayers[layer].in_channels; }
// The fast backend's rows: channels rounded up to pairs (the padding channel meets zero weights).
constexpr std::size_t PairedChannels(std::size_t layer) {
  return (model::kLayers[layer].in_channels + 1) & ~std::size_t{1};
}

template <typename F>
constexpr std::size_t MaxOverLayers(F value) {
  std::size_t widest = 0;
  for (std::size_t i = 0; i < model::kNumLayers; ++i) {
    if (value(i) > widest) widest = value(i);
  }
  return widest;
}

// The contract's input quantization of one block into rows of `stride` samples.
template <std::size_t kAny, typename T>
DAISYNET_Q_INLINE void QuantizeBlock(const float* const* inputs, std::size_t first,
                                     std::size_t block, T* rows, std::size_t stride) {
  using L0 = LayerOf<kAny * 0>;
  for (std::size_t c = 0; c < model::kNumInputs; ++c) {
    const float* channel = inputs[c] + first;
    for (std::size_t i = 0; i < block; ++i) {
      rows[i * stride + c] = static_cast<T>(
          QuantizeInput<typename L0::Fmt, L0::kDefn.in_frac_bits>(channel[i]));
    }
  }
}

// y * 2^-kOutputFracBits for the head's block of outputs.
template <std::size_t kAny, typename T>
DAISYNET_Q_INLINE void DequantizeBlock(const T* y, float* out, std::size_t count) {
  constexpr float kScale = Pow2(-LayerOf<kAny * 0 + model::kNumLayers - 1>::kDefn.out_frac_bits);
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<float>(y[i]) * kScale;
}

}  // namespace q_detail

// ---- CMSIS-DSP backend: the readable reference ----
template <std::size_t kMaxBlockFrames>
class CmsisQBackend {
 public:
  static constexpr std::size_t kMaxBlock = kMaxBlockFrames;
  static_assert(kMaxBlock <= 0xFFFF, "arm_matrix_instance counts rows in 16 bits");
  static constexpr std::size_t kNumInputs = model::kNumInputs;
  static constexpr std::size_t kNumOutputs = model::kNumOutputs;
  // Fixed-point arithmetic has no NaN or infinity to silence.
  static constexpr bool kFloatOutputs = false;
  using Sample = typename q_detail::ModelFormat::Sample;  // q15_t or q7_t
  static constexpr std::array<std::size_t, model::kNumLayers + 1> kOffsets =
      q_detail::Offsets<kMaxBlock, q_detail::InChannels>();
  static constexpr std::size_t kGatherColumns = q_detail::MaxOverLayers(
      [](std::size_t i) { return model::kLayers[i].kernel * model::kLayers[i].in_channels; });
  static constexpr std::size_t kMaxOut =
      q_detail::MaxOverLayers([](std::size_t i) { return model::kLayers[i].out_channels; });
#if defined(ARM_MATH_DSP)
  // arm_mat_mult_q15's DSP path transposes the weights into pState first; q7's has no state.
  static constexpr std::size_t kTransposeSamples =
      q_detail::kQ7Model ? 1
                         : q_detail::MaxOverLayers([](std::size_t i) {
                             return model::kLayers[i].kernel * model::kLayers[i].in_channels *
                                    model::kLayers[i].out_channels;
                           });
#else
  static constexpr std::size_t kTransposeSamples = 1;  // plain C arm_mat_mult_q15: unused
#endif

  void Init() {}

  void Reset() { engine_detail::ClearHistories(arena_, cursor_); }

  void ProcessBlock(const float* const* inputs, std::size_t first, float* out,
                    std::size_t block) {
    q_detail::QuantizeBlock<kMaxBlock>(inputs, first, block, Room<0>(block), kNumInputs);
    RunLayers<0>(block);
    q_detail::DequantizeBlock<kMaxBlock>(output_, out, block * kNumOutputs);
  }

 private:
  template <std::size_t kLayer>
  Sample* Room(std::size_t block) {
    return engine_detail::HistoryRoom(arena_ + kOffsets[kLayer], cursor_[kLayer], block,
                                      engine_detail::HistoryFrames(kLayer),
                                      engine_detail::BufferFrames<kMaxBlock>(kLayer),
                                      model::kLayers[kLayer].in_channels);
  }

  // Templates on the sample type T (always Sample), so that only the format's branch is checked.
  template <typename T>
  static void MatMult(const T* a, std::size_t rows, std::size_t columns, const T* b,
                      std::size_t out, T* product, T* state) {
    // CMSIS takes non-const pointers but only reads the multiplicands.
    if constexpr (q_detail::kQ7Model) {
      arm_matrix_instance_q7 ma{static_cast<uint16_t>(rows), static_cast<uint16_t>(columns),
                                const_cast<q7_t*>(a)};
      arm_matrix_instance_q7 mb{static_cast<uint16_t>(columns), static_cast<uint16_t>(out),
                                const_cast<q7_t*>(b)};
      arm_matrix_instance_q7 mc{static_cast<uint16_t>(rows), static_cast<uint16_t>(out), product};
      arm_mat_mult_q7(&ma, &mb, &mc, state);
    } else {
      arm_matrix_instance_q15 ma{static_cast<uint16_t>(rows), static_cast<uint16_t>(columns),
                                 const_cast<q15_t*>(a)};
      arm_matrix_instance_q15 mb{static_cast<uint16_t>(columns), static_cast<uint16_t>(out),
                                 const_cast<q15_t*>(b)};
      arm_matrix_instance_q15 mc{static_cast<uint16_t>(rows), static_cast<uint16_t>(out), product};
      arm_mat_mult_q15(&ma, &mb, &mc, state);
    }
  }

  template <typename T>
  static void Add(const T* a, const T* b, T* dst, std::size_t n) {
    if constexpr (q_detail::kQ7Model) {
      arm_add_q7(a, b, dst, n);
    } else {
      arm_add_q15(a, b, dst, n);
    }
  }

  template <typename T>
  static void Shift(T* data, int shift, std::size_t n) {
    if constexpr (q_detail::kQ7Model) {
      arm_shift_q7(data, static_cast<int8_t>(shift), data, n);
    } else {
      arm_shift_q15(data, static_cast<int8_t>(shift), data, n);
    }
  }

  template <typename T>
  static void Relu(T* data, std::size_t n) {
    if constexpr (q_detail::kQ7Model) {
      arm_clip_q7(data, data, 0, q_detail::ModelFormat::kMax, n);
    } else {
      arm_clip_q15(data, data, 0, q_detail::ModelFormat::kMax, n);
    }
  }

  // One layer over `block` frames: x is its first new frame (history before it), dst the
  // next buffer's first new frame (rows of out_channels).
  template <std::size_t kLayer>
  void RunLayer(const Sample* x, Sample* dst, std::size_t block) {
    using L = q_detail::LayerOf<kLayer>;
    constexpr std::size_t kColumns = L::kKernel * L::kIn;
    const Sample* rows = x;
    if constexpr (L::kKernel > 1) {
      for (std::size_t t = 0; t < block; ++t) {
        for (std::size_t k = 0; k < L::kKernel; ++k) {
          const Sample* tap = x + (t - (L::kKernel - 1 - k) * L::kDilation) * L::kIn;
          std::memcpy(gather_ + t * kColumns + k * L::kIn, tap, L::kIn * sizeof(Sample));
        }
      }
      rows = gather_;
    }
    MatMult(rows, block, kColumns, L::kDefn.weights, L::kOut, product_, transpose_);
    for (std::size_t t = 0; t < block; ++t) {
      std::memcpy(dst + t * L::kOut, L::kDefn.bias, L::kOut * sizeof(Sample));
    }
    Add(product_, dst, dst, block * L::kOut);
    if constexpr (L::kShift != 0) Shift(dst, L::kShift, block * L::kOut);
    if constexpr (L::kRelu) Relu(dst, block * L::kOut);
  }

  template <std::size_t kLayer>
  void RunLayers(std::size_t block) {
    if constexpr (kLayer < model::kNumLayers) {
      const Sample* x = arena_ + kOffsets[kLayer] + cursor_[kLayer] * model::kLayers[kLayer].in_channels;
      Sample* dst;
      if constexpr (kLayer + 1 < model::kNumLayers) {
        dst = Room<kLayer + 1>(block);
      } else {
        dst = output_;
      }
      RunLayer<kLayer>(x, dst, block);
      cursor_[kLayer] += block;
      RunLayers<kLayer + 1>(block);
    }
  }

  alignas(16) Sample arena_[kOffsets[model::kNumLayers]] = {};
  alignas(16) Sample gather_[kMaxBlock * kGatherColumns] = {};
  alignas(16) Sample product_[kMaxBlock * kMaxOut] = {};
  alignas(16) Sample output_[kMaxBlock * kNumOutputs] = {};
  alignas(16) Sample transpose_[kTransposeSamples] = {};
  std::size_t cursor_[model::kNumLayers] = {};
};

// ---- Fast backend: SMLAD / SMLALD register tiles ----
namespace q_detail {

// Tiles of one frame and kGroup output channels (wavenet_q_kernels.h): 64-bit accumulators
// (two registers each) take 4 outputs, 32-bit ones 8 where the layer has that many. One frame
// per tile keeps every block size on the same code; the weights are re-read per frame.
// Without the M7's asm tiles (the native host build), the portable tile takes a whole layer
// at once: its loop over outputs is what the host compiler vectorises.
template <class L>
struct FastShape {
  static constexpr bool kWide = !L::kSums32;
#if DAISYNET_Q_ACLE
  static constexpr std::size_t kGroup = (!kWide && L::kOut >= 8) ? 8 : 4;
#else
  static constexpr std::size_t kGroup = L::kOut;
#endif
};

template <class L>
constexpr std::size_t PackedWords() {
  return Packed<L, FastShape<L>::kGroup>::kWords;
}

// One layer over `frames` frames from x (rows of kStrideIn, history before) into dst (rows of
// kStrideOut), with its packed weights (and biases).
template <class L, std::size_t kStrideIn, std::size_t kStrideOut>
void FastLayer(const std::uint32_t* weights, const std::int16_t* x, std::int16_t* dst,
               std::size_t frames) {
  using Shape = FastShape<L>;
  constexpr std::size_t kGroup = Shape::kGroup;
  constexpr std::size_t kFullGroups = L::kOut / kGroup;
  constexpr std::size_t kRest = L::kOut % kGroup;
  constexpr std::size_t kFullGroupWords = Packed<L, kGroup>::GroupWords(kGroup) * kFullGroups;
  // Each tile leaves w and out at the next group; out runs on into the next frame's row
  // (rows are kOut wide unless padded to a pair).
  std::int16_t* out = dst;
  const std::int16_t* const last_row = x + frames * kStrideIn;
  for (const std::int16_t* row = x; row != last_row; row += kStrideIn) {
    const std::uint32_t* w = weights;
    if constexpr (kFullGroups > 0) {
      const std::uint32_t* const end = weights + kFullGroupWords;
      do {
        Tile<L, Shape::kWide, kGroup, kStrideIn, kStrideOut % 2 == 0>(w, row, out);
      } while (w != end);
    }
    if constexpr (kRest > 0) Tile<L, Shape::kWide, kRest, kStrideIn, false>(w, row, out);
    if constexpr (kStrideOut != L::kOut) out += kStrideOut - L::kOut;
  }
}

// q7 weights widened into RAM at Init(): each layer's first word there (q15: none).
template <std::size_t kLayer>
constexpr void AddRamWeightOffsets(std::array<std::size_t, model::kNumLayers + 1>& offsets) {
  if constexpr (kLayer < model::kNumLayers) {
    offsets[kLayer + 1] = offsets[kLayer] + (kQ7Model ? PackedWords<LayerOf<kLayer>>() : 0);
    AddRamWeightOffsets<kLayer + 1>(offsets);
  }
}
template <std::size_t kAny>
constexpr std::array<std::size_t, model::kNumLayers + 1> RamWeightOffsets() {
  std::array<std::size_t, model::kNumLayers + 1> offsets{};
  AddRamWeightOffsets<kAny * 0>(offsets);
  return offsets;
}

}  // namespace q_detail

template <std::size_t kMaxBlockFrames>
class FastQBackend {
 public:
  static constexpr std::size_t kMaxBlock = kMaxBlockFrames;
  static constexpr std::size_t kNumInputs = model::kNumInputs;
  static constexpr std::size_t kNumOutputs = model::kNumOutputs;
  static constexpr bool kFloatOutputs = false;
  static constexpr std::array<std::size_t, model::kNumLayers + 1> kOffsets =
      q_detail::Offsets<kMaxBlock, q_detail::PairedChannels>();
  static constexpr std::array<std::size_t, model::kNumLayers + 1> kRamWeightOffsets =
      q_detail::RamWeightOffsets<kMaxBlock>();
  static constexpr std::size_t kRamWeightWords = kRamWeightOffsets[model::kNumLayers];

  // q7: widens the weights into RAM (once; the flash keeps one byte a weight).
  void Init() {
    if constexpr (kRamWeightWords > 0) FillWeights<0>();
  }

  void Reset() { engine_detail::ClearHistories(arena_, cursor_); }

  void ProcessBlock(const float* const* inputs, std::size_t first, float* out,
                    std::size_t block) {
    q_detail::QuantizeBlock<kMaxBlock>(inputs, first, block, Room<0>(block),
                                       q_detail::PairedChannels(0));
    RunLayers<0>(block);
    q_detail::DequantizeBlock<kMaxBlock>(output_, out, block * kNumOutputs);
  }

 private:
  template <std::size_t kLayer>
  void FillWeights() {
    if constexpr (kLayer < model::kNumLayers) {
      using L = q_detail::LayerOf<kLayer>;
      q_detail::Packed<L, q_detail::FastShape<L>::kGroup>::Fill(ram_weights_ +
                                                                kRamWeightOffsets[kLayer]);
      FillWeights<kLayer + 1>();
    }
  }

  template <std::size_t kLayer>
  const std::uint32_t* Weights() const {
    using L = q_detail::LayerOf<kLayer>;
    if constexpr (kRamWeightWords > 0) {
      return ram_weights_ + kRamWeightOffsets[kLayer];
    } else {
      return q_detail::FlashWeights<L, q_detail::FastShape<L>::kGroup>::kWords.data();
    }
  }

  template <std::size_t kLayer>
  std::int16_t* Room(std::size_t block) {
    return engine_detail::HistoryRoom(arena_ + kOffsets[kLayer], cursor_[kLayer], block,
                                      engine_detail::kHistoryFrames[kLayer],
                                      engine_detail::BufferFrames<kMaxBlock>(kLayer),
                                      q_detail::PairedChannels(kLayer));
  }

  template <std::size_t kLayer>
  void RunLayers(std::size_t block) {
    if constexpr (kLayer < model::kNumLayers) {
      using L = q_detail::LayerOf<kLayer>;
      constexpr std::size_t kStrideIn = q_detail::PairedChannels(kLayer);
      const std::int16_t* x = arena_ + kOffsets[kLayer] + cursor_[kLayer] * kStrideIn;
      if constexpr (kLayer + 1 < model::kNumLayers) {
        q_detail::FastLayer<L, kStrideIn, q_detail::PairedChannels(kLayer + 1)>(
            Weights<kLayer>(), x, Room<kLayer + 1>(block), block);
      } else {
        q_detail::FastLayer<L, kStrideIn, kNumOutputs>(Weights<kLayer>(), x, output_, block);
      }
      cursor_[kLayer] += block;
      RunLayers<kLayer + 1>(block);
    }
  }

  // Activations as int16 in both formats (q7 values sign-extended): pairs feed SMLAD directly.
  alignas(16) std::int16_t arena_[kOffsets[model::kNumLayers]] = {};
  alignas(16) std::int16_t output_[kMaxBlock * kNumOutputs] = {};
  alignas(16) std::uint32_t ram_weights_[kRamWeightWords > 0 ? kRamWeightWords : 1] = {};
  std::size_t cursor_[model::kNumLayers] = {};
};

}  // namespace daisynet
