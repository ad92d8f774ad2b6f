// ctnn/train/reducer.hpp — the gradient of a training step, reduced: the workers' gradients
// summed into one, across processes too when training is distributed, checked, and clipped.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "../aligned.hpp"
#include "../attributes.hpp"
#include "../collective.hpp"
#include "../parallel.hpp"
#include "checks.hpp"

namespace ctnn::detail {

/// Sums the gradients of a pool's workers (one array of `parameters` floats each, in worker
/// order) into one array, on all threads of the pool: every parameter is the sum in worker
/// order (thread 0's gradient plus thread 1's, ...), so the result does not depend on how the
/// parameters are split among the threads. Distributed (distribute()), the sum then goes on
/// across the processes, in buckets of whole layers that start while the workers' backward
/// still runs, or in one sum after it; the time spent waiting for it is measured.
///
/// A step: begin(); each worker's backward reports completed(t, k) as it goes (or only
/// completed(t, 0) at its end, or nothing without buckets); finish_buckets(); reduce(); then
/// clip() and the update read and change gradient().
class GradientReducer {
 public:
  /// `pool` must outlive the reducer; set_workers() before the first step.
  GradientReducer(ThreadPool& pool, std::size_t parameters)
      : pool_(pool), grads_(parameters), ready_(pool.size()) {}

  /// The workers' gradient arrays, one per thread of the pool, in order; they must outlive the
  /// reducer.
  void set_workers(std::vector<const float*> workers) { workers_ = std::move(workers); }

  /// Sums across the processes of `c` from now on, in buckets of whole layers of about
  /// `bucket_floats` floats, from the last layer on: a bucket closes once it holds
  /// bucket_floats (the first layer closes the last one). `layer_offsets`: where each layer's
  /// parameters begin, ascending. 0: one sum of the whole gradient after backward.
  CTNN_COLD void distribute(Collective& c, std::span<const std::size_t> layer_offsets,
                            std::size_t bucket_floats) {
    collective_ = &c;
    buckets_.clear();
    if (bucket_floats == 0) return;
    std::size_t top = grads_.size();  // the upper end of the bucket being filled
    for (std::size_t i = layer_offsets.size(); i-- > 0;) {
      const std::size_t lo = layer_offsets[i];
      if (top - lo >= bucket_floats || (i == 0 && top > lo)) {
        buckets_.push_back({lo, top});
        top = lo;
      }
    }
  }

  /// Whether buckets are summed across processes while backward runs.
  bool overlapping() const noexcept { return collective_ && !buckets_.empty(); }

  /// Before the workers' backward of a step.
  void begin() {
    if (!overlapping()) return;
    for (auto& r : ready_) r.store(grads_.size(), std::memory_order_relaxed);
    next_bucket_ = 0;
  }

  /// Worker t's backward has completed its gradient from parameter k on (0: all of it; a
  /// worker without samples says so at once). Called on worker t's thread; worker 0 runs on
  /// the calling thread, which alone makes the collective's calls (starting the buckets that
  /// every worker has completed). Only while overlapping().
  void completed(std::size_t t, std::size_t k) {
    ready_[t].store(k, std::memory_order_release);
    if (t == 0) start_buckets();
  }

  /// After the workers' backward: starts the buckets left and waits for all of them.
  void finish_buckets() {
    if (!overlapping()) return;
    start_buckets();  // the rest: every worker is done
    timed_wait([&] {
      for (const Bucket& b : buckets_) collective_->wait(b.handle);
    });
  }

  /// Completes the sum (finish_buckets() first): without buckets, sums the workers' gradients
  /// on all threads, then across the processes when distributed. Returns the index of the
  /// first parameter whose summed gradient is not finite, or gradient().size() (checked in the
  /// same pass in one process; after the sum across processes, the same everywhere).
  std::size_t reduce() {
    if (overlapping()) return first_non_finite_gradient();
    const std::size_t bad = over_ranges([&](std::size_t lo, std::size_t hi) {
      sum_workers(lo, hi);
      return collective_ ? hi : lo + first_non_finite(grads_.data() + lo, hi - lo);
    });
    if (!collective_) return bad;
    timed_wait([&] { collective_->allreduce_sum(grads_.data(), grads_.size()); });
    return first_non_finite_gradient();
  }

  /// Gradient clipping by global norm (Pascanu et al. 2013; PyTorch's clip_grad_norm_): the L2
  /// norm of gradient() (per-range sums in double, added in thread order); when it exceeds
  /// max_norm > 0, gradient() is scaled by max_norm / (norm + 1e-6). Returns the norm.
  double clip(float max_norm) {
    std::vector<double> sums(pool_.size(), 0.0);
    pool_.run([&](std::size_t t) {
      const auto [lo, hi] = range(t);
      double s = 0;
      for (std::size_t i = lo; i < hi; ++i) s += double(grads_[i]) * grads_[i];
      sums[t] = s;
    });
    double total = 0;
    for (double x : sums) total += x;
    const double norm = std::sqrt(total);
    if (norm <= max_norm) return norm;
    const auto scale = static_cast<float>(max_norm / (norm + 1e-6));
    pool_.run([&](std::size_t t) {
      const auto [lo, hi] = range(t);
      for (std::size_t i = lo; i < hi; ++i) grads_[i] *= scale;
    });
    return norm;
  }

  /// Parameter range [lo, hi) of thread t: whole cache lines, one range per thread.
  std::pair<std::size_t, std::size_t> range(std::size_t t) const {
    return split_range(grads_.size(), t, pool_.size(), 16);
  }

  /// Runs f(lo, hi) on every thread's parameter range; returns the smallest index f reported
  /// (f returns hi for "nothing to report").
  template <class F>
  std::size_t over_ranges(F f) {
    std::vector<std::size_t> found(pool_.size(), grads_.size());
    pool_.run([&](std::size_t t) {
      const auto [lo, hi] = range(t);
      if (lo == hi) return;
      if (const std::size_t r = f(lo, hi); r != hi) found[t] = r;
    });
    return *std::min_element(found.begin(), found.end());
  }

  /// The reduced gradient (valid after reduce()).
  std::span<float> gradient() noexcept { return grads_; }
  std::span<const float> gradient() const noexcept { return grads_; }

  /// Seconds spent waiting for the sums across processes after backward (the part of the
  /// communication that computation did not hide), over all steps so far.
  double wait_seconds() const noexcept { return wait_seconds_; }

 private:
  /// grads_[lo, hi) = worker 0's gradient, plus worker 1's, ..., in that order.
  void sum_workers(std::size_t lo, std::size_t hi) {
    std::copy(workers_[0] + lo, workers_[0] + hi, grads_.begin() + lo);
    for (std::size_t t = 1; t < workers_.size(); ++t)
      for (std::size_t i = lo; i < hi; ++i) grads_[i] += workers_[t][i];
  }

  std::size_t first_non_finite_gradient() {
    return over_ranges([&](std::size_t lo, std::size_t hi) {
      return lo + first_non_finite(grads_.data() + lo, hi - lo);
    });
  }

  /// Runs f(), a wait for the other processes, adding its time to wait_seconds_.
  template <class F>
  void timed_wait(F f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    wait_seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  /// Starts the sum across processes of every bucket, in order, that all workers' backward has
  /// completed: the workers' gradients of the bucket are summed into grads_ and handed to the
  /// collective. Then lets started sums advance.
  void start_buckets() {
    // Every worker has completed the gradient from `ready` on.
    std::size_t ready = 0;
    for (const auto& r : ready_) ready = std::max(ready, r.load(std::memory_order_acquire));
    while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].lo >= ready) {
      Bucket& b = buckets_[next_bucket_++];
      sum_workers(b.lo, b.hi);
      b.handle = collective_->start_allreduce_sum(grads_.data() + b.lo, b.hi - b.lo);
    }
    collective_->poll();
  }

  struct Bucket {
    std::size_t lo = 0, hi = 0, handle = 0;
  };

  ThreadPool& pool_;
  aligned_vector<float> grads_;
  std::vector<const float*> workers_;
  Collective* collective_ = nullptr;
  std::vector<Bucket> buckets_;  // last layers first
  std::size_t next_bucket_ = 0;
  std::vector<std::atomic<std::size_t>> ready_;  // per worker: its backward is done from here on
  double wait_seconds_ = 0;
};

}  // namespace ctnn::detail
