// ctnn/parallel.hpp — the one threading mechanism of ctnn: a small fork-join pool.
//
// `ThreadPool pool(n)` keeps n-1 worker threads; `pool.run(f)` calls f(t) for t = 0 .. n-1, with
// t = 0 on the calling thread, and returns when all calls have returned. Training splits each
// batch into n contiguous shares this way; batched inference does the same. An exception thrown
// by any f(t) is rethrown by run() after all threads have finished.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "attributes.hpp"
#include "error.hpp"

namespace ctnn {

namespace detail {

/// The threads that `work` items (samples, files) can use: `threads` (0: one per hardware
/// thread), but at most `work` and at least 1. A thread beyond the items would have nothing to
/// do and still cost its stack and whatever per-thread memory its user gives it.
inline std::size_t useful_threads(std::size_t threads, std::size_t work) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  return std::max<std::size_t>(1, std::min(threads, work));
}

}  // namespace detail

/// Part `part` < `parts` of the items [0, n), as [begin, end): contiguous parts in order. With
/// granule 1, [n * part / parts, n * (part + 1) / parts), so sizes differ by at most one. With
/// granule g > 1 the same split of the ceil(n / g) granules, each bound a multiple of g capped
/// at n (e.g. 16 floats: whole cache lines, so that threads writing neighbouring parts do not
/// share a line). Every split of ctnn uses this: batches among threads and processes, the
/// parameters among threads, batched inference.
inline std::pair<std::size_t, std::size_t> split_range(std::size_t n, std::size_t part,
                                                       std::size_t parts, std::size_t granule = 1) {
  const std::size_t units = (n + granule - 1) / granule;
  return {std::min(n, units * part / parts * granule),
          std::min(n, units * (part + 1) / parts * granule)};
}

class ThreadPool {
 public:
  /// threads == 0 means one per hardware thread. Throws ctnn::Error, after stopping the
  /// threads it did start, when the system cannot create them all (out of memory for their
  /// stacks, a process limit).
  CTNN_COLD explicit ThreadPool(std::size_t threads = 0) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    size_ = threads;
    try {
      workers_.reserve(threads - 1);
      for (std::size_t t = 1; t < threads; ++t) workers_.emplace_back([this, t] { loop(t); });
    } catch (const std::exception& e) {
      const std::size_t started = workers_.size() + 1;
      stop();
      throw Error("cannot start " + std::to_string(threads) + " threads (started " +
                  std::to_string(started) + "): " + e.what() +
                  "; use fewer threads or raise the memory and process limits");
    }
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() { stop(); }

  std::size_t size() const noexcept { return size_; }

  /// Runs f(0) .. f(size()-1) concurrently and waits for all of them.
  void run(const std::function<void(std::size_t)>& f) {
    if (size_ == 1) {
      f(0);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      job_ = &f;
      pending_ = size_ - 1;
      errors_.assign(size_, nullptr);
      ++generation_;
    }
    start_.notify_all();
    try {
      f(0);
    } catch (...) {
      errors_[0] = std::current_exception();
    }
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
    for (auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  void loop(std::size_t t) {
    std::size_t seen = 0;
    for (;;) {
      const std::function<void(std::size_t)>* job;
      {
        std::unique_lock lock(mutex_);
        start_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      std::exception_ptr error;
      try {
        (*job)(t);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard lock(mutex_);
      errors_[t] = error;
      if (--pending_ == 0) done_.notify_one();
    }
  }

  void stop() noexcept {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::size_t size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const std::function<void(std::size_t)>* job_ = nullptr;
  std::size_t pending_ = 0, generation_ = 0;
  std::vector<std::exception_ptr> errors_;
  bool stop_ = false;
};

}  // namespace ctnn
