// The training objective of the recurrent family (training/recurrent.py): the masked mean
// square error of GruArchitecture's model over a batch of windows and its gradient, by
// backpropagation through time truncated at each window's start (the state starts there from
// zero or from a given state, and each window's frames before its own first scored frame run
// but are not scored); each window's last state is handed back, so the next window of the
// same stretch of audio can start from it. Plus the forward pass alone over a long sequence
// with the state carried in and out, for evaluation in bounded memory.
//
// Why not TensorFlow: its GRU on a CPU is a loop of a dozen small ops per frame, each a
// dispatch through the runtime; here one frame is a 32 x 96 matrix-vector product and a few
// vector operations on data in L1, and the two cores each take half the windows of a batch.
//
// Per frame (GruArchitecture's docstring; Keras' GRU with reset_after, gate columns z | r | n):
//   a = x W + b_in          (3 units)      c = h U + b_rec   (3 units)
//   z = sigmoid(a_z + c_z)  r = sigmoid(a_r + c_r)  n = tanh(a_n + r * c_n)
//   h' = z * h + (1 - z) * n                y = h' H + b_head + x S
// Parameters, Keras' trainable variables flattened in order: W [inputs][3 units],
// U [units][3 units], bias [2][3 units] (b_in then b_rec), H [units][outputs], b_head
// [outputs], S [inputs][outputs].
//
// Sums over a window's frames are float (at most a few thousand terms of like size, so the
// rounding stays near 1e-5 relative, below what Adam or L-BFGS notice); sums over windows
// and threads are double.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <omp.h>

namespace {

struct Shape {
  int inputs, units, outputs;
  int gates() const { return 3 * units; }
};

struct Weights {
  const float *kernel, *recurrent, *input_bias, *recurrent_bias, *head, *head_bias, *skip;
};

Weights Unpack(const Shape& s, const float* p) {
  Weights w;
  w.kernel = p;
  w.recurrent = w.kernel + static_cast<std::size_t>(s.inputs) * s.gates();
  w.input_bias = w.recurrent + static_cast<std::size_t>(s.units) * s.gates();
  w.recurrent_bias = w.input_bias + s.gates();
  w.head = w.recurrent_bias + s.gates();
  w.head_bias = w.head + static_cast<std::size_t>(s.units) * s.outputs;
  w.skip = w.head_bias + s.outputs;
  return w;
}

std::size_t ParameterCount(const Shape& s) {
  return static_cast<std::size_t>(s.inputs + s.units + 2) * s.gates()
         + static_cast<std::size_t>(s.units + 1 + s.inputs) * s.outputs;
}

// Both through expf, which the compiler vectorizes (libmvec); glibc's tanhf is not, and took
// two fifths of the time. Clamped where the result is 0 or 1 to float precision anyway, so
// exp never overflows (-ffast-math assumes no infinities). Error ~1e-7 absolute.
inline float Sigmoid(float v) {
  return 1.0f / (1.0f + std::exp(-std::min(std::max(v, -40.0f), 40.0f)));
}
inline float Tanh(float v) {
  return 1.0f - 2.0f / (std::exp(2.0f * std::min(std::max(v, -20.0f), 20.0f)) + 1.0f);
}

// out[k] += sum_j v[j] m[j][k] for k < columns, m row-major [rows][columns]. Blocks of
// `Width` columns keep their sums in registers over all rows, and two rows per step give two
// independent chains of adds: a plain loop over k inside a loop over j kept the sums in
// memory, and the store-to-load latency per row took a fifth of the time.
template <int Width>
inline int AddProductBlocks(const float* __restrict v, int rows, const float* __restrict m,
                            int columns, int first, float* __restrict out) {
  int k0 = first;
  for (; k0 + Width <= columns; k0 += Width) {
    float even[Width], odd[Width];
    for (int k = 0; k < Width; ++k) {
      even[k] = out[k0 + k];
      odd[k] = 0.0f;
    }
    int j = 0;
    for (; j + 1 < rows; j += 2) {
      const float* a = m + static_cast<std::size_t>(j) * columns + k0;
      const float* b = a + columns;
      for (int k = 0; k < Width; ++k) {
        even[k] += v[j] * a[k];
        odd[k] += v[j + 1] * b[k];
      }
    }
    if (j < rows) {
      const float* a = m + static_cast<std::size_t>(j) * columns + k0;
      for (int k = 0; k < Width; ++k) even[k] += v[j] * a[k];
    }
    for (int k = 0; k < Width; ++k) out[k0 + k] = even[k] + odd[k];
  }
  return k0;
}

inline void AddProduct(const float* __restrict v, int rows, const float* __restrict m,
                       int columns, float* __restrict out) {
  int k = AddProductBlocks<32>(v, rows, m, columns, 0, out);
  k = AddProductBlocks<8>(v, rows, m, columns, k, out);
  AddProductBlocks<1>(v, rows, m, columns, k, out);
}

// One frame: from state h and input frame x, the gates z, r, n, the recurrent candidate part
// c_n (kept for the backward pass) and the new state h_next. `scratch` holds 6 units.
inline void Step(const Shape& s, const Weights& w, const float* __restrict x,
                 const float* __restrict h, float* __restrict z, float* __restrict r,
                 float* __restrict n, float* __restrict c_n, float* __restrict h_next,
                 float* __restrict scratch) {
  const int u = s.units, g = s.gates();
  float* __restrict a = scratch;      // x W + b_in, then the gates' sums
  float* __restrict c = scratch + g;  // h U + b_rec
  for (int k = 0; k < g; ++k) {
    a[k] = w.input_bias[k];
    c[k] = w.recurrent_bias[k];
  }
  AddProduct(x, s.inputs, w.kernel, g, a);
  AddProduct(h, u, w.recurrent, g, c);
  for (int k = 0; k < 2 * u; ++k) a[k] = Sigmoid(a[k] + c[k]);
  for (int k = 0; k < u; ++k) {
    z[k] = a[k];
    r[k] = a[u + k];
    c_n[k] = c[2 * u + k];
  }
  for (int k = 0; k < u; ++k) n[k] = Tanh(a[2 * u + k] + r[k] * c_n[k]);
  for (int k = 0; k < u; ++k) h_next[k] = z[k] * h[k] + (1.0f - z[k]) * n[k];
}

// The backward pass of one frame's gates: from dh (the loss gradient of the new state) the
// gradients of the input-side (da) and recurrent-side (dc) pre-activations; dh becomes the
// part that flows straight back to the previous state.
inline void GateGradients(int u, const float* __restrict z, const float* __restrict r,
                          const float* __restrict n, const float* __restrict c_n,
                          const float* __restrict h_prev, float* __restrict dh,
                          float* __restrict da, float* __restrict dc) {
  for (int k = 0; k < u; ++k) {
    const float dz = dh[k] * (h_prev[k] - n[k]);
    const float dn_pre = dh[k] * (1.0f - z[k]) * (1.0f - n[k] * n[k]);
    const float dr = dn_pre * c_n[k];
    da[k] = dc[k] = dz * z[k] * (1.0f - z[k]);
    da[u + k] = dc[u + k] = dr * r[k] * (1.0f - r[k]);
    da[2 * u + k] = dn_pre;
    dc[2 * u + k] = dn_pre * r[k];
    dh[k] *= z[k];
  }
}

// out[j][k] += sum over t < count of a[t][j] b[t][k] (a: rows `a_stride` apart, j < rows;
// b: [count][columns]). Four rows of `out` by 32 columns stay in registers over all t.
inline void AddOuterProducts(const float* __restrict a, std::size_t a_stride,
                             const float* __restrict b, int columns, int count, int rows,
                             float* __restrict out) {
  constexpr int kRows = 4, kColumns = 32;
  for (int j0 = 0; j0 < rows; j0 += kRows) {
    const int j_count = std::min(kRows, rows - j0);
    for (int k0 = 0; k0 < columns; k0 += kColumns) {
      const int k_count = std::min(kColumns, columns - k0);
      float sum[kRows][kColumns] = {};
      if (j_count == kRows && k_count == kColumns) {
        for (int t = 0; t < count; ++t) {
          const float* at = a + a_stride * t + j0;
          const float* bt = b + static_cast<std::size_t>(t) * columns + k0;
          for (int j = 0; j < kRows; ++j) {
            for (int k = 0; k < kColumns; ++k) sum[j][k] += at[j] * bt[k];
          }
        }
      } else {
        for (int t = 0; t < count; ++t) {
          const float* at = a + a_stride * t + j0;
          const float* bt = b + static_cast<std::size_t>(t) * columns + k0;
          for (int j = 0; j < j_count; ++j) {
            for (int k = 0; k < k_count; ++k) sum[j][k] += at[j] * bt[k];
          }
        }
      }
      for (int j = 0; j < j_count; ++j) {
        for (int k = 0; k < k_count; ++k) {
          out[static_cast<std::size_t>(j0 + j) * columns + k0 + k] += sum[j][k];
        }
      }
    }
  }
}

inline void Output(const Shape& s, const Weights& w, const float* x, const float* h, float* y) {
  for (int o = 0; o < s.outputs; ++o) {
    float sum = w.head_bias[o];
    for (int j = 0; j < s.units; ++j) sum += h[j] * w.head[j * s.outputs + o];
    for (int i = 0; i < s.inputs; ++i) sum += x[i] * w.skip[i * s.outputs + o];
    y[o] = sum;
  }
}

// One window's squared error sum (double) and its gradient added to `grad` (float, this
// window's own buffer), from the state `h0` (units floats); the state after its last frame
// goes to `h_last`. `store` holds frames x 5 units: z, r, n, c_n and the state after each
// frame.
// `recurrent_transposed` is U as [3 units][units], for the gradient flowing back into h.
double Window(const Shape& s, const Weights& w, const float* recurrent_transposed,
              const float* x, const float* y, int frames, int warmup, float error_scale,
              const float* h0, float* h_last, std::vector<float>& store,
              std::vector<float>& recurrent_sums, float* grad) {
  const int u = s.units, g = s.gates();
  const std::size_t stride = 5 * static_cast<std::size_t>(u);
  store.resize(stride * frames);
  std::vector<float> scratch(2 * g), prediction(s.outputs);
  for (int t = 0; t < frames; ++t) {
    float* at = store.data() + stride * t;
    const float* h = t == 0 ? h0 : store.data() + stride * (t - 1) + 4 * u;
    Step(s, w, x + static_cast<std::size_t>(t) * s.inputs, h, at, at + u, at + 2 * u,
         at + 3 * u, at + 4 * u, scratch.data());
  }
  Weights d = Unpack(s, grad);  // the same layout, pointing into the gradient
  float* d_kernel = const_cast<float*>(d.kernel);
  float* d_recurrent = const_cast<float*>(d.recurrent);
  float* d_input_bias = const_cast<float*>(d.input_bias);
  float* d_recurrent_bias = const_cast<float*>(d.recurrent_bias);
  float* d_head = const_cast<float*>(d.head);
  float* d_head_bias = const_cast<float*>(d.head_bias);
  float* d_skip = const_cast<float*>(d.skip);

  double loss = 0.0;
  std::vector<float> dh(u, 0.0f), d_error(s.outputs), da(g);
  recurrent_sums.resize(static_cast<std::size_t>(frames) * g);  // dc of every frame
  for (int t = frames - 1; t >= 0; --t) {
    const float* at = store.data() + stride * t;
    const float *z = at, *r = at + u, *n = at + 2 * u, *c_n = at + 3 * u, *h = at + 4 * u;
    const float* h_prev = t == 0 ? h0 : store.data() + stride * (t - 1) + 4 * u;
    const float* xt = x + static_cast<std::size_t>(t) * s.inputs;
    if (t >= warmup) {
      Output(s, w, xt, h, prediction.data());
      for (int o = 0; o < s.outputs; ++o) {
        const float error = prediction[o] - y[static_cast<std::size_t>(t) * s.outputs + o];
        loss += static_cast<double>(error) * error;
        d_error[o] = 2.0f * error * error_scale;
        d_head_bias[o] += d_error[o];
        for (int i = 0; i < s.inputs; ++i) d_skip[i * s.outputs + o] += xt[i] * d_error[o];
        for (int j = 0; j < u; ++j) {
          d_head[j * s.outputs + o] += h[j] * d_error[o];
          dh[j] += w.head[j * s.outputs + o] * d_error[o];
        }
      }
    }
    // Through h' = z h + (1 - z) n, the gates and the candidate, to the pre-activations
    // da (input side) and dc (recurrent side); they differ only in the candidate's columns.
    float* __restrict dc = recurrent_sums.data() + static_cast<std::size_t>(t) * g;
    GateGradients(u, z, r, n, c_n, h_prev, dh.data(), da.data(), dc);
    for (int k = 0; k < g; ++k) {
      d_input_bias[k] += da[k];
      d_recurrent_bias[k] += dc[k];
    }
    for (int i = 0; i < s.inputs; ++i) {
      const float xi = xt[i];
      float* row = d_kernel + static_cast<std::size_t>(i) * g;
      for (int k = 0; k < g; ++k) row[k] += xi * da[k];
    }
    if (t == 0) break;  // h_prev is the window's start: the gradient is truncated there
    AddProduct(dc, g, recurrent_transposed, u, dh.data());
  }
  // dU = sum over frames t of h[t-1]^T dc[t] (h[-1] = h0), as one product after the loop:
  // per frame it streamed all of dU through L1 and took a quarter of the time.
  AddOuterProducts(h0, 0, recurrent_sums.data(), g, 1, u, d_recurrent);
  AddOuterProducts(store.data() + 4 * u, stride, recurrent_sums.data() + g, g, frames - 1, u,
                   d_recurrent);
  std::copy(store.data() + stride * (frames - 1) + 4 * u, store.data() + stride * frames,
            h_last);
  return loss;
}

}  // namespace

extern "C" {

// x: [windows][frames][inputs], y: [windows][frames][outputs], frame-major as the training
// windows are stored; state: [windows][units], each window's starting state in, its last state
// out. Window v is scored from its frame scored_from[v] on (frames: not at all). Writes the
// gradient of the mean square error over the scored frames into `gradient` (parameter_count
// doubles) and returns that error (0 if no frame is scored); returns -1 if parameter_count
// does not match the shape.
double gru_loss_gradient(int inputs, int units, int outputs, const float* parameters,
                         const float* x, const float* y, int windows, int frames,
                         const int* scored_from, float* state, double* gradient,
                         int parameter_count) {
  const Shape s{inputs, units, outputs};
  if (ParameterCount(s) != static_cast<std::size_t>(parameter_count)) return -1.0;
  const Weights w = Unpack(s, parameters);
  double scored = 0.0;
  for (int v = 0; v < windows; ++v) scored += frames - scored_from[v];
  const double scale = scored > 0.0 ? 1.0 / (scored * outputs) : 0.0;
  std::vector<float> recurrent_transposed(static_cast<std::size_t>(units) * s.gates());
  for (int j = 0; j < units; ++j) {
    for (int k = 0; k < s.gates(); ++k) {
      recurrent_transposed[static_cast<std::size_t>(k) * units + j] =
          w.recurrent[static_cast<std::size_t>(j) * s.gates() + k];
    }
  }
  // Each thread sums its own share of the windows (a static split), added in thread order
  // afterwards: the same answer on every call with the same thread count.
  const int threads = omp_get_max_threads();
  std::vector<double> partial_loss(threads, 0.0);
  std::vector<std::vector<double>> partial_gradient(threads);

#pragma omp parallel num_threads(threads)
  {
    const int thread = omp_get_thread_num();
    std::vector<double>& sum = partial_gradient[thread];
    sum.assign(parameter_count, 0.0);
    std::vector<float> store, recurrent_sums, window_gradient(parameter_count), h0(units);
    double loss = 0.0;
#pragma omp for schedule(static)
    for (int v = 0; v < windows; ++v) {
      std::fill(window_gradient.begin(), window_gradient.end(), 0.0f);
      float* window_state = state + static_cast<std::size_t>(v) * units;
      std::copy(window_state, window_state + units, h0.begin());
      loss += Window(s, w, recurrent_transposed.data(),
                     x + static_cast<std::size_t>(v) * frames * inputs,
                     y + static_cast<std::size_t>(v) * frames * outputs, frames, scored_from[v],
                     static_cast<float>(scale), h0.data(), window_state, store, recurrent_sums,
                     window_gradient.data());
      for (int p = 0; p < parameter_count; ++p) sum[p] += window_gradient[p];
    }
    partial_loss[thread] = loss;
  }
  double loss = 0.0;
  for (int p = 0; p < parameter_count; ++p) gradient[p] = 0.0;
  for (int thread = 0; thread < threads; ++thread) {
    loss += partial_loss[thread];
    for (int p = 0; p < parameter_count; ++p) gradient[p] += partial_gradient[thread][p];
  }
  return loss * scale;
}

// The model over `frames` frames of x ([frames][inputs]) into y ([frames][outputs]), starting
// from `state` (units floats) and leaving the last state there, so a long recording can be run
// in chunks. Returns 0, or -1 if parameter_count does not match the shape.
int gru_forward(int inputs, int units, int outputs, const float* parameters, int parameter_count,
                const float* x, int frames, float* state, float* y) {
  const Shape s{inputs, units, outputs};
  if (ParameterCount(s) != static_cast<std::size_t>(parameter_count)) return -1;
  const Weights w = Unpack(s, parameters);
  std::vector<float> gates(4 * static_cast<std::size_t>(units)), next(units),
      scratch(2 * s.gates());
  for (int t = 0; t < frames; ++t) {
    const float* xt = x + static_cast<std::size_t>(t) * inputs;
    Step(s, w, xt, state, gates.data(), gates.data() + units, gates.data() + 2 * units,
         gates.data() + 3 * units, next.data(), scratch.data());
    for (int k = 0; k < units; ++k) state[k] = next[k];
    Output(s, w, xt, state, y + static_cast<std::size_t>(t) * outputs);
  }
  return 0;
}

}  // extern "C"
