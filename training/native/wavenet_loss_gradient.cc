// The refining stage's objective (training/refine.py) for a stack of causal Conv1D layers:
// the masked mean square error over a batch of windows and its gradient with respect to every
// kernel and bias, computed window by window in channel-major buffers that stay in cache.
//
// Why not TensorFlow: the reference model has 4-8 channels, so each of TensorFlow's ops is a
// matrix product of 16 x 4 weights streamed over the whole batch through main memory; here one
// window's activations (9 layers x 8 channels x 2,304 frames x 4 B = 660 KB) stay in L2, and
// every inner loop is a multiply-add along time that the compiler vectorizes.
//
// Layer l maps in_channels[l] to out_channels[l] with kernel[l] taps spaced dilation[l] frames
// apart, Keras' causal convention: tap k reads the input (kernel - 1 - k) * dilation frames
// back, zero before the window's first frame. relu[l] is 1 for a ReLU layer, 0 for a linear
// one. Parameters are Keras' trainable variables flattened in order: kernel[k][in][out], then
// bias[out], layer by layer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <omp.h>

namespace {

struct Layer {
  int in_channels, out_channels, kernel, dilation, relu;
  const float* weights;  // [kernel][in_channels][out_channels]
  const float* bias;     // [out_channels]
  std::size_t weight_offset, bias_offset;  // into the gradient
};

// Adds sum over taps and input channels of w * input shifted, to output[o][shift..frames).
void forward_layer(const Layer& layer, const float* input, float* output, int frames) {
  for (int o = 0; o < layer.out_channels; ++o) {
    float* out = output + static_cast<std::size_t>(o) * frames;
    std::fill(out, out + frames, layer.bias[o]);
    for (int k = 0; k < layer.kernel; ++k) {
      const int shift = (layer.kernel - 1 - k) * layer.dilation;
      if (shift >= frames) continue;
      for (int c = 0; c < layer.in_channels; ++c) {
        const float w = layer.weights[(k * layer.in_channels + c) * layer.out_channels + o];
        const float* in = input + static_cast<std::size_t>(c) * frames;
        for (int t = shift; t < frames; ++t) out[t] += w * in[t - shift];
      }
    }
    if (layer.relu) {
      for (int t = 0; t < frames; ++t) out[t] = std::max(out[t], 0.0f);
    }
  }
}

// Given the output gradient (already through the ReLU), accumulates the weight and bias
// gradient and, when input_gradient is not null, writes the gradient of the layer's input.
void backward_layer(const Layer& layer, const float* input, const float* output_gradient,
                    float* input_gradient, double* gradient, int frames) {
  if (input_gradient != nullptr) {
    std::fill(input_gradient, input_gradient + static_cast<std::size_t>(layer.in_channels) * frames,
              0.0f);
  }
  for (int o = 0; o < layer.out_channels; ++o) {
    const float* g = output_gradient + static_cast<std::size_t>(o) * frames;
    float bias_sum = 0.0f;
    for (int t = 0; t < frames; ++t) bias_sum += g[t];
    gradient[layer.bias_offset + o] += bias_sum;
    for (int k = 0; k < layer.kernel; ++k) {
      const int shift = (layer.kernel - 1 - k) * layer.dilation;
      if (shift >= frames) continue;
      for (int c = 0; c < layer.in_channels; ++c) {
        const std::size_t index = (k * layer.in_channels + c) * layer.out_channels + o;
        const float* in = input + static_cast<std::size_t>(c) * frames;
        float weight_sum = 0.0f;
        for (int t = shift; t < frames; ++t) weight_sum += g[t] * in[t - shift];
        gradient[layer.weight_offset + index] += weight_sum;
        if (input_gradient != nullptr) {
          const float w = layer.weights[index];
          float* in_gradient = input_gradient + static_cast<std::size_t>(c) * frames;
          for (int t = shift; t < frames; ++t) in_gradient[t - shift] += w * g[t];
        }
      }
    }
  }
}

}  // namespace

extern "C" {

// x: [windows][frames][in_channels[0]], y: [windows][frames][out_channels[last]], frame-major
// as the training windows are stored. Frames before `warmup` in each window are not scored.
// Writes the gradient of the mean square error over scored frames into `gradient` (doubles,
// as many as parameters) and returns that mean square error.
double wavenet_loss_gradient(int layer_count, const int* in_channels, const int* out_channels,
                             const int* kernel, const int* dilation, const int* relu,
                             const float* parameters, const float* x, const float* y,
                             int windows, int frames, int warmup, double* gradient,
                             int parameter_count) {
  std::vector<Layer> layers(layer_count);
  std::size_t offset = 0;
  int widest = 0;
  for (int l = 0; l < layer_count; ++l) {
    Layer& layer = layers[l];
    layer = {in_channels[l], out_channels[l], kernel[l], dilation[l], relu[l],
             nullptr, nullptr, 0, 0};
    layer.weight_offset = offset;
    layer.weights = parameters + offset;
    offset += static_cast<std::size_t>(layer.kernel) * layer.in_channels * layer.out_channels;
    layer.bias_offset = offset;
    layer.bias = parameters + offset;
    offset += layer.out_channels;
    widest = std::max({widest, layer.in_channels, layer.out_channels});
  }
  const int inputs = in_channels[0];
  const int outputs = out_channels[layer_count - 1];
  const double scale = 1.0 / (static_cast<double>(windows) * (frames - warmup) * outputs);
  // Each thread sums its own share of the windows (a static split), and the shares are added
  // in thread order afterwards: the same answer on every call with the same thread count.
  const int threads = omp_get_max_threads();
  std::vector<double> partial_loss(threads, 0.0);
  std::vector<std::vector<double>> partial_gradient(threads);

#pragma omp parallel num_threads(threads)
  {
    const int thread = omp_get_thread_num();
    double loss = 0.0;  // summed here, stored once: no cache line shared while summing
    std::vector<double>& local_gradient = partial_gradient[thread];
    local_gradient.assign(parameter_count, 0.0);
    // Per thread: every layer's input (activations[l]) and output, and two gradient buffers.
    std::vector<std::vector<float>> activations(layer_count + 1);
    activations[0].resize(static_cast<std::size_t>(inputs) * frames);
    for (int l = 0; l < layer_count; ++l) {
      activations[l + 1].resize(static_cast<std::size_t>(out_channels[l]) * frames);
    }
    std::vector<float> upstream(static_cast<std::size_t>(widest) * frames);
    std::vector<float> downstream(static_cast<std::size_t>(widest) * frames);

#pragma omp for schedule(static)
    for (int w = 0; w < windows; ++w) {
      const float* window_x = x + static_cast<std::size_t>(w) * frames * inputs;
      const float* window_y = y + static_cast<std::size_t>(w) * frames * outputs;
      for (int c = 0; c < inputs; ++c) {
        for (int t = 0; t < frames; ++t) {
          activations[0][static_cast<std::size_t>(c) * frames + t] = window_x[t * inputs + c];
        }
      }
      for (int l = 0; l < layer_count; ++l) {
        forward_layer(layers[l], activations[l].data(), activations[l + 1].data(), frames);
      }
      // d(mean square error)/d(prediction): 2 (p - y) scale on scored frames, 0 before.
      const std::vector<float>& prediction = activations[layer_count];
      for (int o = 0; o < outputs; ++o) {
        float* g = upstream.data() + static_cast<std::size_t>(o) * frames;
        std::fill(g, g + warmup, 0.0f);
        for (int t = warmup; t < frames; ++t) {
          const double error = prediction[static_cast<std::size_t>(o) * frames + t]
                               - window_y[t * outputs + o];
          loss += error * error;
          g[t] = static_cast<float>(2.0 * error * scale);
        }
      }
      for (int l = layer_count - 1; l >= 0; --l) {
        const Layer& layer = layers[l];
        if (layer.relu) {  // the output is max(z, 0): no gradient where it is 0
          const float* out = activations[l + 1].data();
          for (std::size_t i = 0; i < static_cast<std::size_t>(layer.out_channels) * frames; ++i) {
            if (out[i] <= 0.0f) upstream[i] = 0.0f;
          }
        }
        backward_layer(layer, activations[l].data(), upstream.data(),
                       l > 0 ? downstream.data() : nullptr, local_gradient.data(), frames);
        std::swap(upstream, downstream);
      }
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

}  // extern "C"
