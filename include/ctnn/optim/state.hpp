// ctnn/optim/state.hpp — an optimizer's complete state, as a checkpoint stores it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ctnn {

/// Everything an optimizer needs to go on exactly where it stopped (io/checkpoint.hpp writes it
/// to a checkpoint file):
///   - type: the optimizer's name ("SGD", "Adam", "AdamW"); restore() refuses another type;
///   - settings: its hyper-parameters by name (learning_rate, beta1, ...), as PyTorch's
///     param_groups: restore() sets them, like torch.optim.Optimizer.load_state_dict;
///   - steps: update steps taken (Adam's t, which its bias corrections need);
///   - epochs_done: epochs fit() has trained with it (fit() numbers its epochs on from there);
///   - buffers: its per-parameter arrays by name, each empty (before the first step) or one
///     float per network parameter, in the network's flat parameter order (Adam: "exp_avg" and
///     "exp_avg_sq", the first and second moments m and v; SGD: "momentum_buffer").
struct OptimizerState {
  std::string type;
  std::map<std::string, double> settings;
  std::uint64_t steps = 0;
  std::size_t epochs_done = 0;
  std::vector<std::pair<std::string, std::vector<float>>> buffers;

  /// The buffer named `name`, or nullptr.
  const std::vector<float>* buffer(const std::string& name) const {
    for (const auto& [n, b] : buffers)
      if (n == name) return &b;
    return nullptr;
  }
};

}  // namespace ctnn
