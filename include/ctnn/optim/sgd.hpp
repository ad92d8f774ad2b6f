// ctnn/optim/sgd.hpp — stochastic gradient descent with momentum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "../aligned.hpp"
#include "../error.hpp"
#include "state.hpp"

namespace ctnn {

/// SGD with optional momentum, Nesterov momentum and L2 weight decay, in PyTorch's form
/// (Sutskever et al. 2013 for the Nesterov variant):
///   g = grad + weight_decay * p
///   v = momentum * v + g                       (v starts at 0)
///   p -= learning_rate * (nesterov ? g + momentum * v : v)      (plain g when momentum == 0)
struct SGD {
  explicit SGD(float learning_rate = 0.01f, float momentum = 0.0f, bool nesterov = false,
               float weight_decay = 0.0f)
      : learning_rate(learning_rate),
        momentum(momentum),
        nesterov(nesterov),
        weight_decay(weight_decay) {}

  float learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  float weight_decay = 0.0f;
  /// Epochs fit() has trained with this optimizer; fit() goes on from here (see fit()).
  std::size_t epochs_done = 0;

  /// One update of params from grads (same length). Throws InvalidArgument if the length
  /// changes between calls.
  void step(std::span<float> params, std::span<const float> grads) {
    if (params.size() != grads.size())
      throw InvalidArgument("SGD::step: parameter and gradient sizes differ");
    begin_step(params.size());
    update(0, params, grads);
  }

  /// The same step in pieces, which may run on different threads: begin_step(n) once for all
  /// n parameters (throws InvalidArgument if n changes between steps), then update() for
  /// disjoint ranges covering them, params and grads being the range [offset, offset + size)
  /// of the whole arrays.
  void begin_step(std::size_t n) {
    if (velocity_.empty()) velocity_.assign(n, 0.0f);
    if (velocity_.size() != n)
      throw InvalidArgument("SGD::step: called with " + std::to_string(n) + " parameters after " +
                            std::to_string(velocity_.size()));
    ++steps_;
  }
  void update(std::size_t offset, std::span<float> params, std::span<const float> grads) {
    const float lr = learning_rate, mu = momentum, wd = weight_decay;
    float* v = velocity_.data() + offset;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const float g = grads[i] + wd * params[i];
      if (mu == 0.0f) {
        params[i] -= lr * g;
        continue;
      }
      v[i] = mu * v[i] + g;
      params[i] -= lr * (nesterov ? g + mu * v[i] : v[i]);
    }
  }

  /// The whole state (see OptimizerState): type "SGD"; settings learning_rate, momentum,
  /// nesterov (0 or 1), weight_decay; buffer "momentum_buffer" (v), PyTorch's name. steps
  /// counts the steps taken.
  OptimizerState state() const {
    OptimizerState s;
    s.type = "SGD";
    s.settings = {{"learning_rate", learning_rate},
                  {"momentum", momentum},
                  {"nesterov", nesterov ? 1.0 : 0.0},
                  {"weight_decay", weight_decay}};
    s.steps = steps_;
    s.epochs_done = epochs_done;
    s.buffers = {{"momentum_buffer", std::vector<float>(velocity_.begin(), velocity_.end())}};
    return s;
  }

  /// Sets this optimizer to what state() returned, hyper-parameters included. All or nothing:
  /// throws InvalidArgument, leaving the optimizer unchanged, when the state is another type's
  /// or lacks a setting or the buffer; when a setting is not a finite float in its range
  /// (learning_rate, momentum and weight_decay >= 0, nesterov 0 or 1), the buffer
  /// holds a NaN or an infinity, or epochs_done or steps pass OptimizerState's limits.
  void restore(const OptimizerState& s) {
    if (s.type != "SGD")
      throw InvalidArgument("SGD::restore: the state is " + s.type + "'s, this optimizer is SGD");
    const auto* v = s.buffer("momentum_buffer");
    if (!v) throw InvalidArgument("SGD::restore: the state lacks the buffer momentum_buffer");
    constexpr double inf = std::numeric_limits<double>::infinity();
    float values[4];
    values[0] = s.setting("SGD::restore", "learning_rate", 0, inf);
    values[1] = s.setting("SGD::restore", "momentum", 0, inf);
    values[2] = s.setting("SGD::restore", "nesterov", 0, 1);
    values[3] = s.setting("SGD::restore", "weight_decay", 0, inf);
    if (values[2] != 0.0f && values[2] != 1.0f)
      throw InvalidArgument("SGD::restore: the setting nesterov is " +
                            OptimizerState::number_text(values[2]) + ", expected 0 or 1");
    s.check_counts_and_buffers("SGD::restore");
    aligned_vector<float> new_velocity(v->begin(), v->end());
    learning_rate = values[0];
    momentum = values[1];
    nesterov = values[2] != 0.0f;
    weight_decay = values[3];
    velocity_.swap(new_velocity);
    steps_ = s.steps;
    epochs_done = s.epochs_done;
  }

 private:
  aligned_vector<float> velocity_;
  std::uint64_t steps_ = 0;
};

}  // namespace ctnn
