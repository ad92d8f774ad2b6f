// ctnn/inference.hpp — batched inference on several threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "network.hpp"
#include "parallel.hpp"

namespace ctnn {

/// Runs a trained network on batches split across threads: each of `threads` threads takes a
/// contiguous share of the batch and runs it through the whole network in chunks of at most
/// `chunk` samples with its own Workspace, so that a chunk's activations stay in cache (a
/// batch-128 share run layer by layer spills the CNN's 19 MB conv output to memory and halves
/// the conv throughput). The network is only read. Not itself thread-safe: one Predictor per
/// calling thread.
template <class Net>
class Predictor {
 public:
  /// Workspaces for batches of up to max_batch samples; threads == 0: one per hardware thread.
  /// Throws InvalidArgument when max_batch is 0.
  Predictor(const Net& net, std::size_t max_batch, std::size_t threads = 0, std::size_t chunk = 16)
      : net_(net), pool_(threads), max_batch_(max_batch) {
    if (max_batch == 0 || chunk == 0)
      throw InvalidArgument("Predictor: batch capacity and chunk must be at least 1");
    const std::size_t per_thread = (max_batch + pool_.size() - 1) / pool_.size();
    chunk_ = std::min(chunk, per_thread);
    for (std::size_t t = 0; t < pool_.size(); ++t) ws_.emplace_back(chunk_, inference_only);
  }

  std::size_t threads() const noexcept { return pool_.size(); }

  /// out (batch x output_shape::size) = net(in (batch x input_shape::size)), inference mode.
  /// Throws InvalidArgument when batch is 0 or exceeds the capacity.
  void predict(const float* in, float* out, std::size_t batch) {
    if (batch == 0 || batch > max_batch_)
      throw InvalidArgument("Predictor: batch of " + std::to_string(batch) + " samples, capacity " +
                            std::to_string(max_batch_));
    const std::size_t T = pool_.size();
    pool_.run([&](std::size_t t) {
      const auto [begin, end] = split_range(batch, t, T);
      for (std::size_t i = begin; i < end; i += chunk_)
        net_.predict(in + i * Net::input_shape::size, out + i * Net::output_shape::size,
                     std::min(chunk_, end - i), ws_[t]);
    });
  }

 private:
  const Net& net_;
  ThreadPool pool_;
  std::size_t max_batch_, chunk_ = 1;
  std::vector<Workspace<Net>> ws_;
};

}  // namespace ctnn
