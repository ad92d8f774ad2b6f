// ctnn/optim/adam.hpp — Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization").
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "../aligned.hpp"
#include "../error.hpp"
#include "state.hpp"

namespace ctnn {

/// Adam, Algorithm 1 of Kingma & Ba 2015, with PyTorch's defaults and L2 weight decay added to
/// the gradient (as torch.optim.Adam):
///   g = grad + weight_decay * p;   t += 1
///   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
///   p -= learning_rate * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
/// With `decoupled` set (AdamW below), the decay is applied to the parameter instead of being
/// added to the gradient: p *= 1 - learning_rate * weight_decay, then the step above with g = grad.
struct Adam {
  explicit Adam(float learning_rate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
                float epsilon = 1e-8f, float weight_decay = 0.0f)
      : learning_rate(learning_rate),
        beta1(beta1),
        beta2(beta2),
        epsilon(epsilon),
        weight_decay(weight_decay) {}

  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float weight_decay = 0.0f;
  /// Decoupled weight decay (AdamW); see above.
  bool decoupled = false;
  /// Epochs fit() has trained with this optimizer; fit() goes on from here (see fit()).
  std::size_t epochs_done = 0;

  /// One update of params from grads (same length). Throws InvalidArgument if the length
  /// changes between calls.
  void step(std::span<float> params, std::span<const float> grads) {
    if (params.size() != grads.size())
      throw InvalidArgument("Adam::step: parameter and gradient sizes differ");
    begin_step(params.size());
    update(0, params, grads);
  }

  /// The same step in pieces, which may run on different threads: begin_step(n) once for all
  /// n parameters (t += 1; throws InvalidArgument if n changes between steps), then update()
  /// for disjoint ranges covering them, params and grads being the range [offset, offset +
  /// size) of the whole arrays.
  void begin_step(std::size_t n) {
    if (m_.empty()) {
      m_.assign(n, 0.0f);
      v_.assign(n, 0.0f);
    }
    if (m_.size() != n)
      throw InvalidArgument("Adam::step: called with " + std::to_string(n) + " parameters after " +
                            std::to_string(m_.size()));
    ++t_;
    c1_ = 1.0f / (1.0f - static_cast<float>(std::pow(double(beta1), double(t_))));
    c2_ = 1.0f / (1.0f - static_cast<float>(std::pow(double(beta2), double(t_))));
  }
  void update(std::size_t offset, std::span<float> params, std::span<const float> grads) {
    const float b1 = beta1, b2 = beta2, lr = learning_rate, eps = epsilon, wd = weight_decay;
    const float c1 = c1_, c2 = c2_;
    float* m = m_.data() + offset;
    float* v = v_.data() + offset;
    float* p = params.data();
    const float* gr = grads.data();
    if (decoupled) {
      const float keep = 1.0f - lr * wd;
      for (std::size_t i = 0; i < params.size(); ++i) {
        p[i] *= keep;
        m[i] = b1 * m[i] + (1.0f - b1) * gr[i];
        v[i] = b2 * v[i] + (1.0f - b2) * gr[i] * gr[i];
        p[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
      }
      return;
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      const float g = gr[i] + wd * p[i];
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      p[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
    }
  }

  /// Steps taken so far.
  std::uint64_t steps() const noexcept { return t_; }

  /// The whole state (see OptimizerState): type "Adam", or "AdamW" when decoupled; settings
  /// learning_rate, beta1, beta2, epsilon, weight_decay; buffers "exp_avg" (m) and "exp_avg_sq"
  /// (v), PyTorch's names.
  OptimizerState state() const {
    OptimizerState s;
    s.type = decoupled ? "AdamW" : "Adam";
    s.settings = {{"learning_rate", learning_rate},
                  {"beta1", beta1},
                  {"beta2", beta2},
                  {"epsilon", epsilon},
                  {"weight_decay", weight_decay}};
    s.steps = t_;
    s.epochs_done = epochs_done;
    s.buffers = {{"exp_avg", std::vector<float>(m_.begin(), m_.end())},
                 {"exp_avg_sq", std::vector<float>(v_.begin(), v_.end())}};
    return s;
  }

  /// Sets this optimizer to what state() returned, hyper-parameters included. All or nothing:
  /// throws InvalidArgument, leaving the optimizer unchanged, when the state is another type's
  /// (Adam and AdamW differ), lacks a setting or buffer, or its two buffers differ in length;
  /// when a setting is not a finite float in its range (learning_rate and weight_decay >= 0,
  /// beta1 and beta2 in [0, 1), epsilon > 0), a buffer holds a NaN or an infinity (or
  /// exp_avg_sq a negative value), or epochs_done or steps pass OptimizerState's limits.
  void restore(const OptimizerState& s) {
    const char* mine = decoupled ? "AdamW" : "Adam";
    if (s.type != mine)
      throw InvalidArgument("Adam::restore: the state is " + s.type + "'s, this optimizer is " +
                            mine);
    const auto* m = s.buffer("exp_avg");
    const auto* v = s.buffer("exp_avg_sq");
    if (!m || !v || m->size() != v->size())
      throw InvalidArgument(
          "Adam::restore: the state needs buffers exp_avg and exp_avg_sq of "
          "equal length");
    constexpr double inf = std::numeric_limits<double>::infinity();
    float values[5];
    values[0] = s.setting("Adam::restore", "learning_rate", 0, inf);
    values[1] = s.setting("Adam::restore", "beta1", 0, 1, false, true);
    values[2] = s.setting("Adam::restore", "beta2", 0, 1, false, true);
    values[3] = s.setting("Adam::restore", "epsilon", 0, inf, true);
    values[4] = s.setting("Adam::restore", "weight_decay", 0, inf);
    s.check_counts_and_buffers("Adam::restore", "exp_avg_sq");
    aligned_vector<float> new_m(m->begin(), m->end()), new_v(v->begin(), v->end());
    learning_rate = values[0];
    beta1 = values[1];
    beta2 = values[2];
    epsilon = values[3];
    weight_decay = values[4];
    m_.swap(new_m);
    v_.swap(new_v);
    t_ = s.steps;
    epochs_done = s.epochs_done;
  }

 private:
  aligned_vector<float> m_, v_;
  float c1_ = 1.0f, c2_ = 1.0f;
  std::uint64_t t_ = 0;
};

/// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"), as
/// torch.optim.AdamW with its defaults (weight_decay 0.01): Adam whose weight decay shrinks the
/// parameters directly, p *= 1 - learning_rate * weight_decay, instead of entering the moments.
struct AdamW : Adam {
  explicit AdamW(float learning_rate = 1e-3f, float weight_decay = 1e-2f, float beta1 = 0.9f,
                 float beta2 = 0.999f, float epsilon = 1e-8f)
      : Adam(learning_rate, beta1, beta2, epsilon, weight_decay) {
    decoupled = true;
  }
};

}  // namespace ctnn
