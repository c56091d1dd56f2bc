// The CMSIS-DSP backend of GruEngine (gru_engine.h): the readable reference, which computes in
// host_sim/engine.py's order (GruSimulator) with the same calls.
//
// A block of B frames: the input projection of all B frames is one arm_mat_mult_f32 (B x
// inputs times inputs x 3U) plus the input bias, and the input skip another (B x inputs times
// inputs x outputs) plus the head bias. Then per frame: the recurrent projection h U
// (arm_mat_mult_f32, 1 x U times U x 3U) plus the recurrent bias; z | r = sigmoid(a + c) over
// their 2U columns; n = tanh(a_n + r * c_n); h = n + z * (h - n) (the docstring's
// z * h + (1 - z) * n, one product fewer); y = h H + the frame's skip. Activations are
// gru_activations.h's; everything else is a CMSIS-DSP call on whole vectors. A q15 header's
// h U is its integer contract (gru_q15.h): the state to Q15, one arm_dot_prod_q15 per gate
// column (exact 64-bit sums, which the header's bound keeps within 32 bits), each to float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "arm_math.h"
#include "gru_activations.h"
#include "gru_q15.h"
#include "model_header.h"

namespace daisynet {

namespace gru_cmsis_detail {

// rows x inner times inner x columns into product (rows x columns), all row-major. CMSIS takes
// non-const pointers but only reads the multiplicands.
inline void MatMult(const float* a, std::size_t rows, std::size_t inner, const float* b,
                    std::size_t columns, float* product) {
  arm_matrix_instance_f32 left;
  arm_matrix_instance_f32 right;
  arm_matrix_instance_f32 result;
  arm_mat_init_f32(&left, rows, inner, const_cast<float*>(a));
  arm_mat_init_f32(&right, inner, columns, const_cast<float*>(b));
  arm_mat_init_f32(&result, rows, columns, product);
  arm_mat_mult_f32(&left, &right, &result);
}

}  // namespace gru_cmsis_detail

template <std::size_t kMaxBlockFrames>
class GruCmsisBackend {
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
    using gru_cmsis_detail::MatMult;
    for (std::size_t f = 0; f < block; ++f) {
      for (std::size_t c = 0; c < kInputs; ++c) frames_[f * kInputs + c] = inputs[c][first + f];
    }
    MatMult(frames_, block, kInputs, model::kGruInputWeights, kGates, projection_);
    MatMult(frames_, block, kInputs, model::kInputSkipWeights, kOutputs, skip_);
    for (std::size_t f = 0; f < block; ++f) {
      float* a = projection_ + f * kGates;
      arm_add_f32(a, model::kGruInputBias, a, kGates);
      arm_add_f32(skip_ + f * kOutputs, model::kHeadBias, skip_ + f * kOutputs, kOutputs);
    }
    for (std::size_t f = 0; f < block; ++f) {
      const float* a = projection_ + f * kGates;
#if DAISYNET_MODEL_GRU_Q15
      for (std::size_t u = 0; u < kUnits; ++u) state_q15_[u] = gru::StateQ15(state_[u]);
      for (std::size_t j = 0; j < kGates; ++j) {
        q63_t sum;
        arm_dot_prod_q15(model::kGruRecurrentWeightsQ15 + j * kUnits, state_q15_, kUnits, &sum);
        recurrent_[j] = gru::SumToFloat(static_cast<std::int32_t>(sum));
      }
#else
      MatMult(state_, 1, kUnits, model::kGruRecurrentWeights, kGates, recurrent_);
#endif
      arm_add_f32(recurrent_, model::kGruRecurrentBias, recurrent_, kGates);
      arm_add_f32(a, recurrent_, gates_, 2 * kUnits);
      for (std::size_t j = 0; j < 2 * kUnits; ++j) gates_[j] = gru::FastSigmoid(gates_[j]);
      arm_mult_f32(gates_ + kUnits, recurrent_ + 2 * kUnits, candidate_, kUnits);
      arm_add_f32(a + 2 * kUnits, candidate_, candidate_, kUnits);
      for (std::size_t u = 0; u < kUnits; ++u) candidate_[u] = gru::FastTanh(candidate_[u]);
      arm_sub_f32(state_, candidate_, state_, kUnits);
      arm_mult_f32(gates_, state_, state_, kUnits);
      arm_add_f32(candidate_, state_, state_, kUnits);
      float* y = out + f * kOutputs;
      MatMult(state_, 1, kUnits, model::kHeadWeights, kOutputs, y);
      arm_add_f32(y, skip_ + f * kOutputs, y, kOutputs);
    }
  }

 private:
  static constexpr std::size_t kUnits = model::kGruUnits;
  static constexpr std::size_t kGates = 3 * kUnits;
  static constexpr std::size_t kInputs = model::kNumInputs;
  static constexpr std::size_t kOutputs = model::kNumOutputs;

  alignas(16) float state_[kUnits] = {};
  alignas(16) float frames_[kMaxBlock * kInputs] = {};
  alignas(16) float projection_[kMaxBlock * kGates] = {};
  alignas(16) float skip_[kMaxBlock * kOutputs] = {};
  alignas(16) float recurrent_[kGates] = {};
  alignas(16) float gates_[2 * kUnits] = {};
  alignas(16) float candidate_[kUnits] = {};
#if DAISYNET_MODEL_GRU_Q15
  alignas(16) q15_t state_q15_[kUnits] = {};
#endif
};

}  // namespace daisynet
