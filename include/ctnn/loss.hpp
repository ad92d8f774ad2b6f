// ctnn/loss.hpp — loss functions: value and gradient for one sample.
//
// Each loss is an object (its settings are members) providing
//   template <std::size_t N> float compute(const float* y, std::int32_t label,
//                                          const float* target, float* dy, float scale) const;
// returning the sample's loss and writing dy = scale * dL/dy (N floats), and
//   void check(std::size_t classes) const;   // throws InvalidArgument for bad settings
// `label` is the class index; `target` (N floats) is used by regression losses when non-null.
// A loss that compares the outputs with real-valued targets (a data::Dataset with targets)
// declares `static constexpr bool takes_targets = true`; fit(), evaluate() and Trainer refuse a
// data set with targets for any other loss.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "error.hpp"
#include "kernels/softmax.hpp"

namespace ctnn {

/// Softmax cross-entropy from logits z (N classes):
///   L = log(sum_j exp(z_j)) - z_label,  computed as m + log(sum_j exp(z_j - m)), m = max_j z_j,
/// which never overflows; dL/dz = softmax(z) - onehot(label) (kernels/softmax.hpp). dz must not
/// overlap z.
///
/// label_smoothing e in [0, 1) (Szegedy et al. 2016, "Rethinking the Inception Architecture",
/// as PyTorch's CrossEntropyLoss(label_smoothing=e)) takes the target distribution
/// q = (1 - e) onehot(label) + e / N:  L = -sum_j q_j log softmax(z)_j, dL/dz = softmax(z) - q.
/// class_weights (empty, or N non-negative weights) multiply each sample's loss and gradient by
/// the weight of its class, as Keras' class_weight does (the batch's mean still divides by the
/// batch size). Throws InvalidArgument from check() when either is out of range.
struct SoftmaxCrossEntropy {
  float label_smoothing = 0.0f;
  std::vector<float> class_weights;

  /// Throws InvalidArgument unless label_smoothing is in [0, 1) and class_weights is empty or
  /// holds `classes` finite non-negative weights.
  void check(std::size_t classes) const {
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
      throw InvalidArgument("SoftmaxCrossEntropy: label_smoothing must be in [0, 1), not " +
                            std::to_string(label_smoothing));
    if (!class_weights.empty() && class_weights.size() != classes)
      throw InvalidArgument("SoftmaxCrossEntropy: " + std::to_string(class_weights.size()) +
                            " class weights for " + std::to_string(classes) + " classes");
    for (float w : class_weights)
      if (!(std::isfinite(w) && w >= 0.0f))
        throw InvalidArgument("SoftmaxCrossEntropy: class weights must be finite and >= 0");
  }

  template <std::size_t N>
  float compute(const float* z, std::int32_t label, const float*, float* dz, float scale) const {
    const auto [m, s] = kernels::exp_shifted(z, dz, N);  // dz_j = exp(z_j - m)
    const float inv = 1.0f / s, log_s = std::log(s);
    const float w = class_weights.empty() ? 1.0f : class_weights[static_cast<std::size_t>(label)];
    const float e = label_smoothing, k = scale * w;
    float l = (1.0f - e) * (m + log_s - z[label]);
    if (e != 0.0f) {
      float mean_neg_log_p = 0;
      for (std::size_t j = 0; j < N; ++j) mean_neg_log_p += m + log_s - z[j];
      l += e * mean_neg_log_p / static_cast<float>(N);
    }
    for (std::size_t j = 0; j < N; ++j) dz[j] = k * (dz[j] * inv - e / static_cast<float>(N));
    dz[label] -= k * (1.0f - e);
    return w * l;
  }
};

/// Mean squared error over the N outputs: L = (1/N) sum_j (y_j - t_j)^2, dL/dy = 2 (y - t) / N
/// (PyTorch's MSELoss(reduction="mean") of one sample; the batch's mean is taken by the caller,
/// so a batch of B samples gives MSELoss over the B x N values). The target t is `target` when
/// given (regression: a data::Dataset with targets, target_size = N), else the one-hot vector of
/// `label`.
struct MeanSquaredError {
  static constexpr bool takes_targets = true;

  void check(std::size_t) const noexcept {}

  template <std::size_t N>
  float compute(const float* y, std::int32_t label, const float* target, float* dy,
                float scale) const {
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

namespace detail {

/// Whether Loss compares the outputs with real-valued targets (takes_targets).
template <class Loss>
constexpr bool loss_takes_targets() {
  if constexpr (requires { Loss::takes_targets; })
    return Loss::takes_targets;
  else
    return false;
}

}  // namespace detail

}  // namespace ctnn
