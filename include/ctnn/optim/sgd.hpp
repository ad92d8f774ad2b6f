// ctnn/optim/sgd.hpp — stochastic gradient descent with momentum.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "../aligned.hpp"
#include "../error.hpp"

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
      throw InvalidArgument("SGD::step: called with " + std::to_string(n) +
                            " parameters after " + std::to_string(velocity_.size()));
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

 private:
  aligned_vector<float> velocity_;
};

}  // namespace ctnn
