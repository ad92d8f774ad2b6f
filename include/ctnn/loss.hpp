// ctnn/loss.hpp — loss functions: value and gradient for one sample.
//
// Each loss provides
//   template <std::size_t N> static float compute(const float* y, std::int32_t label,
//                                                 const float* target, float* dy, float scale);
// returning the sample's loss and writing dy = scale * dL/dy (N floats). `label` is the class
// index; `target` (N floats) is used by regression losses when non-null.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ctnn {

/// Softmax cross-entropy from logits z (N classes):
///   L = log(sum_j exp(z_j)) - z_label,  computed as m + log(sum_j exp(z_j - m)), m = max_j z_j,
/// which never overflows; dL/dz = softmax(z) - onehot(label).
struct SoftmaxCrossEntropy {
  template <std::size_t N>
  static float compute(const float* z, std::int32_t label, const float*, float* dz, float scale) {
    const float m = *std::max_element(z, z + N);
    float s = 0;
    for (std::size_t j = 0; j < N; ++j) s += std::exp(z[j] - m);
    const float inv = 1.0f / s;
    for (std::size_t j = 0; j < N; ++j) dz[j] = scale * std::exp(z[j] - m) * inv;
    dz[label] -= scale;
    return m + std::log(s) - z[label];
  }
};

/// Mean squared error over the N outputs: L = (1/N) sum_j (y_j - t_j)^2, dL/dy = 2 (y - t) / N.
/// The target t is `target` when given, else the one-hot vector of `label`.
struct MeanSquaredError {
  template <std::size_t N>
  static float compute(const float* y, std::int32_t label, const float* target, float* dy,
                       float scale) {
    float l = 0;
    for (std::size_t j = 0; j < N; ++j) {
      const float t = target ? target[j] : (static_cast<std::int32_t>(j) == label ? 1.0f : 0.0f);
      const float d = y[j] - t;
      l += d * d;
      dy[j] = scale * 2.0f * d / static_cast<float>(N);
    }
    return l / static_cast<float>(N);
  }
};

}  // namespace ctnn
