// ctnn/layers/activation.hpp — ReLU, Sigmoid, Tanh, Softmax and Identity.
//
// Element-wise layers keep the shape of their input and have no parameters. Their backward pass
// uses the forward output y (so the input need not be kept):
//   ReLU     y = max(x, 0)                 dy/dx = [y > 0]
//   Sigmoid  y = 1 / (1 + exp(-x))         dy/dx = y (1 - y)
//   Tanh     y = tanh(x)                   dy/dx = 1 - y^2
// Softmax works on each sample as one vector: y_i = exp(x_i - m) / sum_j exp(x_j - m) with
// m = max_j x_j, and dL/dx = y * (dL/dy - sum_j dL/dy_j y_j). For training a classifier, keep the
// logits and use SoftmaxCrossEntropy, which is exact and stable; Softmax is for outputs that must
// be probabilities.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>

#include "../kernels/simd.hpp"
#include "../kernels/softmax.hpp"
#include "layer.hpp"

namespace ctnn {

namespace detail {
struct ReluFn;

template <class Fn>
struct Elementwise {
  template <class In>
  struct bind {
    static_assert(Shape<In>, "activation layers need a shape input");
    using input_shape = In;
    using output_shape = In;
    static constexpr LayerKind kind = LayerKind::activation;
    static constexpr bool keeps_order = true;
    static constexpr bool is_relu = std::is_same_v<Fn, ReluFn>;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0;
    static constexpr std::size_t flops = In::size;
    static std::string name() { return Fn::name; }
    static void init(float*, float*, Rng&) {}
    static void forward(const Pass& p) {
      kernels::map(
          p.batch * In::size, p.in, p.out, [](kernels::simd x) { return Fn::f(x); },
          [](float x) { return Fn::f(x); });
    }
    static void backward(const Pass& p) {
      if (!p.din) return;
      kernels::zip(
          p.batch * In::size, p.out, p.dout, p.din,
          [](kernels::simd y, kernels::simd g) { return Fn::df(y) * g; },
          [](float y, float g) { return Fn::df(y) * g; });
    }
  };
};

struct ReluFn {
  static constexpr const char* name = "ReLU";
  static kernels::simd f(kernels::simd x) { return kernels::vmax(x, kernels::simd(0.0f)); }
  static float f(float x) { return std::max(x, 0.0f); }
  static kernels::simd df(kernels::simd y) {
    return xsimd::select(y > kernels::simd(0.0f), kernels::simd(1.0f), kernels::simd(0.0f));
  }
  static float df(float y) { return y > 0.0f ? 1.0f : 0.0f; }
};
struct SigmoidFn {
  static constexpr const char* name = "Sigmoid";
  static kernels::simd f(kernels::simd x) {
    return kernels::simd(1.0f) / (kernels::simd(1.0f) + xsimd::exp(-x));
  }
  static float f(float x) { return 1.0f / (1.0f + std::exp(-x)); }
  static kernels::simd df(kernels::simd y) { return y * (kernels::simd(1.0f) - y); }
  static float df(float y) { return y * (1.0f - y); }
};
struct TanhFn {
  static constexpr const char* name = "Tanh";
  static kernels::simd f(kernels::simd x) { return xsimd::tanh(x); }
  static float f(float x) { return std::tanh(x); }
  static kernels::simd df(kernels::simd y) { return kernels::simd(1.0f) - y * y; }
  static float df(float y) { return 1.0f - y * y; }
};
}  // namespace detail

/// ReLU: y = max(x, 0), any shape.
struct ReLU : detail::Elementwise<detail::ReluFn> {};
/// Sigmoid: y = 1 / (1 + exp(-x)), any shape.
struct Sigmoid : detail::Elementwise<detail::SigmoidFn> {};
/// Tanh: y = tanh(x), any shape.
struct Tanh : detail::Elementwise<detail::TanhFn> {};

/// Identity: y = x, any shape. The default shortcut of Residual (nn.Identity).
struct Identity {
  template <class In>
  struct bind {
    static_assert(Shape<In>, "Identity needs a shape input");
    using input_shape = In;
    using output_shape = In;
    static constexpr LayerKind kind = LayerKind::identity;
    static constexpr bool keeps_order = true;
    static constexpr bool is_identity = true;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0, flops = 0;
    static std::string name() { return "Identity"; }
    static void init(float*, float*, Rng&) {}
    static void forward(const Pass& p) { std::copy_n(p.in, p.batch * In::size, p.out); }
    static void backward(const Pass& p) {
      if (p.din) std::copy_n(p.dout, p.batch * In::size, p.din);
    }
  };
};

/// Softmax over all values of each sample (normally after the last Dense); see the header.
struct Softmax {
  template <class In>
  struct bind {
    static_assert(Shape<In>, "Softmax needs a shape input");
    static constexpr std::size_t N = In::size;
    using input_shape = In;
    using output_shape = In;
    static constexpr LayerKind kind = LayerKind::softmax;
    static constexpr bool keeps_order = true;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0;
    static constexpr std::size_t flops = 3 * N;
    static std::string name() { return "Softmax"; }
    static void init(float*, float*, Rng&) {}
    static void forward(const Pass& p) {
      for (std::size_t b = 0; b < p.batch; ++b) {
        kernels::softmax(p.in + b * N, p.out + b * N, N);
      }
    }
    static void backward(const Pass& p) {
      if (!p.din) return;
      for (std::size_t b = 0; b < p.batch; ++b) {
        const float* y = p.out + b * N;
        const float* g = p.dout + b * N;
        float dot = 0;
        for (std::size_t i = 0; i < N; ++i) dot += g[i] * y[i];
        for (std::size_t i = 0; i < N; ++i) p.din[b * N + i] = y[i] * (g[i] - dot);
      }
    }
  };
};

}  // namespace ctnn
