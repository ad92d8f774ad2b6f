// ctnn/optim/adam.hpp — Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization")
// and AdamW (Loshchilov & Hutter 2019), two types sharing one implementation.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../aligned.hpp"
#include "../error.hpp"
#include "state.hpp"

namespace ctnn {

namespace detail {

/// Adam's state and step, shared by Adam and AdamW; `Decoupled` chooses how the weight decay
/// enters (see Adam and AdamW). `name` is the type's name in messages and in OptimizerState.
template <bool Decoupled>
class AdamStep {
 public:
  static constexpr const char* name = Decoupled ? "AdamW" : "Adam";

  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float weight_decay = 0.0f;
  /// Epochs fit() has trained with this optimizer; fit() goes on from here (see fit()).
  std::size_t epochs_done = 0;

  /// One update of params from grads (same length). Throws InvalidArgument if the length
  /// changes between calls.
  void step(std::span<float> params, std::span<const float> grads) {
    if (params.size() != grads.size())
      throw InvalidArgument(std::string(name) + "::step: parameter and gradient sizes differ");
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
      throw InvalidArgument(std::string(name) + "::step: called with " + std::to_string(n) +
                            " parameters after " + std::to_string(m_.size()));
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
    if constexpr (Decoupled) {
      const float keep = 1.0f - lr * wd;
      for (std::size_t i = 0; i < params.size(); ++i) {
        p[i] *= keep;
        m[i] = b1 * m[i] + (1.0f - b1) * gr[i];
        v[i] = b2 * v[i] + (1.0f - b2) * gr[i] * gr[i];
        p[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
      }
    } else {
      for (std::size_t i = 0; i < params.size(); ++i) {
        const float g = gr[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        p[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
      }
    }
  }

  /// Steps taken so far.
  std::uint64_t steps() const noexcept { return t_; }

  /// The whole state (see OptimizerState): type "Adam" or "AdamW"; settings learning_rate,
  /// beta1, beta2, epsilon, weight_decay; buffers "exp_avg" (m) and "exp_avg_sq" (v), PyTorch's
  /// names.
  OptimizerState state() const {
    OptimizerState s;
    s.type = name;
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
    const std::string who = std::string(name) + "::restore";
    if (s.type != name)
      throw InvalidArgument(who + ": the state is " + s.type + "'s, this optimizer is " + name);
    const auto* m = s.buffer("exp_avg");
    const auto* v = s.buffer("exp_avg_sq");
    if (!m || !v || m->size() != v->size())
      throw InvalidArgument(who +
                            ": the state needs buffers exp_avg and exp_avg_sq of equal "
                            "length");
    constexpr double inf = std::numeric_limits<double>::infinity();
    float values[5];
    values[0] = s.setting(who.c_str(), "learning_rate", 0, inf);
    values[1] = s.setting(who.c_str(), "beta1", 0, 1, false, true);
    values[2] = s.setting(who.c_str(), "beta2", 0, 1, false, true);
    values[3] = s.setting(who.c_str(), "epsilon", 0, inf, true);
    values[4] = s.setting(who.c_str(), "weight_decay", 0, inf);
    s.check_counts_and_buffers(who.c_str(), "exp_avg_sq");
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

 protected:
  AdamStep(float learning_rate, float beta1, float beta2, float epsilon, float weight_decay)
      : learning_rate(learning_rate),
        beta1(beta1),
        beta2(beta2),
        epsilon(epsilon),
        weight_decay(weight_decay) {}

 private:
  aligned_vector<float> m_, v_;
  float c1_ = 1.0f, c2_ = 1.0f;
  std::uint64_t t_ = 0;
};

/// What stands where Adam's `decoupled` flag was: setting or reading it fails to compile, saying
/// what to write instead.
struct RemovedDecoupled {
  template <class T>
  RemovedDecoupled& operator=(const T&) {
    static_assert(sizeof(T) == 0,
                  "Adam::decoupled is gone: for decoupled weight decay use "
                  "ctnn::AdamW(learning_rate, weight_decay)");
    return *this;
  }
  template <class T>
  operator T() const {
    static_assert(sizeof(T) == 0,
                  "Adam::decoupled is gone: Adam's weight decay is always L2 (in the gradient), "
                  "ctnn::AdamW's always decoupled");
    return T{};
  }
};

}  // namespace detail

/// Adam, Algorithm 1 of Kingma & Ba 2015, with PyTorch's defaults and L2 weight decay added to
/// the gradient (as torch.optim.Adam):
///   g = grad + weight_decay * p;   t += 1
///   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
///   p -= learning_rate * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
/// m and v start at 0, one float per parameter, allocated at the first step. For the decay of
/// AdamW (applied to the parameter, not the gradient) use AdamW, a type of its own.
struct Adam : detail::AdamStep<false> {
  explicit Adam(float learning_rate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
                float epsilon = 1e-8f, float weight_decay = 0.0f)
      : AdamStep(learning_rate, beta1, beta2, epsilon, weight_decay) {}

  /// Removed: AdamW is its own type. Setting or reading it fails to compile with a message.
  [[no_unique_address]] detail::RemovedDecoupled decoupled;
};

/// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"), as
/// torch.optim.AdamW with its defaults (weight_decay 0.01): Adam whose weight decay shrinks the
/// parameters directly instead of entering the moments:
///   p *= 1 - learning_rate * weight_decay;   t += 1
///   m = beta1 * m + (1 - beta1) * grad;   v = beta2 * v + (1 - beta2) * grad^2
///   p -= learning_rate * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
/// Its state (OptimizerState) has the type "AdamW", which Adam::restore refuses, and the names
/// of Adam's.
struct AdamW : detail::AdamStep<true> {
  explicit AdamW(float learning_rate = 1e-3f, float weight_decay = 1e-2f, float beta1 = 0.9f,
                 float beta2 = 0.999f, float epsilon = 1e-8f)
      : AdamStep(learning_rate, beta1, beta2, epsilon, weight_decay) {}
};

}  // namespace ctnn
