// Host build of the GRU engines' fast activations (firmware/core/gru_activations.h) as a shared
// library for Python (ctypes): tests hold them bit for bit to host_sim/activations.py and
// measure their error over every float32 of a range. Compiled by host_sim/native.py.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "gru_activations.h"

#define DN_API __attribute__((visibility("default")))

namespace {

double Exact(int function, double x) {
  return function == 0 ? std::tanh(x) : 1.0 / (1.0 + std::exp(-x));
}

float Fast(int function, float x) {
  return function == 0 ? daisynet::gru::FastTanh(x) : daisynet::gru::FastSigmoid(x);
}

}  // namespace

extern "C" {

// function 0: tanh, 1: sigmoid; out[i] = f(in[i]) for i < count.
DN_API void dn_activation(int function, const float* in, float* out, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) out[i] = Fast(function, in[i]);
}

// The largest |fast(x) - exact(x)| (exact in double) over every `stride`-th float32 x of
// [-limit, limit] (both signs, stride 1: every one); *worst gets the x where it occurs.
DN_API double dn_activation_max_error(int function, float limit, std::uint32_t stride,
                                      float* worst) {
  std::uint32_t last;
  std::memcpy(&last, &limit, sizeof(last));
  double max_error = 0.0;
  for (std::uint64_t bits = 0; bits <= last; bits += stride) {
    for (float sign : {1.0f, -1.0f}) {
      float x;
      const std::uint32_t word = static_cast<std::uint32_t>(bits);
      std::memcpy(&x, &word, sizeof(x));
      x *= sign;
      const double error = std::fabs(Fast(function, x) - Exact(function, x));
      if (error > max_error) {
        max_error = error;
        *worst = x;
      }
    }
  }
  return max_error;
}

}  // extern "C"
