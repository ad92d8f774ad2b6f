// ctnn/inference.hpp — batched inference on several threads.
#pragma once

#include <cstddef>
#include <vector>

#include "network.hpp"
#include "parallel.hpp"

namespace ctnn {

/// Runs a trained network on batches split across threads: each of `threads` threads takes a
/// contiguous share of the batch with its own Workspace. The network is only read. Not itself
/// thread-safe: one Predictor per calling thread.
template <class Net>
class Predictor {
 public:
  /// Workspaces for batches of up to max_batch samples; threads == 0: one per hardware thread.
  /// Throws InvalidArgument when max_batch is 0.
  Predictor(const Net& net, std::size_t max_batch, std::size_t threads = 0)
      : net_(net), pool_(threads), max_batch_(max_batch) {
    if (max_batch == 0) throw InvalidArgument("Predictor: batch capacity must be at least 1");
    const std::size_t per_thread = (max_batch + pool_.size() - 1) / pool_.size();
    for (std::size_t t = 0; t < pool_.size(); ++t) ws_.emplace_back(per_thread);
  }

  std::size_t threads() const noexcept { return pool_.size(); }

  /// out (batch x output_shape::size) = net(in (batch x input_shape::size)), inference mode.
  /// Throws InvalidArgument when batch is 0 or exceeds the capacity.
  void predict(const float* in, float* out, std::size_t batch) {
    if (batch == 0 || batch > max_batch_)
      throw InvalidArgument("Predictor: batch of " + std::to_string(batch) +
                            " samples, capacity " + std::to_string(max_batch_));
    const std::size_t T = pool_.size();
    pool_.run([&](std::size_t t) {
      const std::size_t begin = batch * t / T, end = batch * (t + 1) / T;
      if (end > begin)
        net_.predict(in + begin * Net::input_shape::size, out + begin * Net::output_shape::size,
                     end - begin, ws_[t]);
    });
  }

 private:
  const Net& net_;
  ThreadPool pool_;
  std::size_t max_batch_;
  std::vector<Workspace<Net>> ws_;
};

}  // namespace ctnn
