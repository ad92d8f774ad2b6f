// ctnn/distributed/mpi.hpp — ctnn::Collective on MPI, for data-parallel training across
// processes and machines (docs/distributed.md).
//
// Needs an MPI implementation (Debian: libopenmpi-dev, openmpi-bin); link the CMake target
// ctnn::mpi, which the package defines when CMake finds MPI. Nothing else in ctnn includes this
// header. Typical use:
//
//   ctnn::mpi::Environment env(argc, argv);      // MPI_Init_thread ... MPI_Finalize
//   ctnn::mpi::Communicator world;               // MPI_COMM_WORLD
//   options.collective = &world;                 // fit() and evaluate() are now distributed
//
// and run with `mpirun -np R program ...`. The Communicator makes every MPI call from a thread of
// its own (MPI_THREAD_SERIALIZED), so that gradient sums run while backward computes.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../collective.hpp"
#include "../error.hpp"

namespace ctnn::mpi {

/// Initialises MPI for the program's life (MPI_Init_thread asking for MPI_THREAD_SERIALIZED) and
/// finalises it on destruction. Throws ctnn::Error when MPI cannot be initialised or gives less
/// than MPI_THREAD_SERIALIZED. One per program, before any Communicator.
class Environment {
 public:
  Environment(int& argc, char**& argv) { init(&argc, &argv); }
  /// Without the program's arguments (MPI-2 and later).
  Environment() { init(nullptr, nullptr); }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  ~Environment() { MPI_Finalize(); }

 private:
  static void init(int* argc, char*** argv) {
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      throw Error("MPI: MPI_Init_thread failed");
    if (provided < MPI_THREAD_SERIALIZED) {
      MPI_Finalize();
      throw Error("MPI: the library does not allow threads in an MPI process (it provides " +
                  std::to_string(provided) + ", less than MPI_THREAD_SERIALIZED)");
    }
  }
};

/// A Collective over an MPI communicator (MPI_COMM_WORLD by default).
///
/// Every MPI call is made, in the order the operations were asked for, by a communication thread
/// of the communicator's own: an all-reduce started with start_allreduce_sum() runs there, with
/// MPI's blocking (and best tuned) algorithm, while the calling thread goes on computing; the
/// blocking operations queue behind the started ones and wait. (Non-blocking MPI collectives
/// would advance only inside MPI calls of the computing thread.) Hence Environment asks for
/// MPI_THREAD_SERIALIZED.
///
/// Every wait is bounded by a time limit: when an operation does not complete within
/// `timeout_seconds` (a process died, the network broke), the process prints "ctnn: rank R of
/// N: no answer ..." on stderr and aborts the whole job (MPI_Abort, exit status 1), rather than
/// waiting for ever. Errors MPI reports are thrown as ctnn::Error naming the operation, by the
/// wait that follows them.
class Communicator final : public Collective {
 public:
  explicit Communicator(MPI_Comm comm = MPI_COMM_WORLD, double timeout_seconds = 20.0)
      : comm_(comm), timeout_(timeout_seconds) {
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    int r = 0, s = 0;
    check(MPI_Comm_rank(comm_, &r), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &s), "MPI_Comm_size");
    rank_ = static_cast<std::size_t>(r);
    size_ = static_cast<std::size_t>(s);
    watchdog_ = std::thread([this] { watch(); });
    worker_ = std::thread([this] { work(); });
  }
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    queued_.notify_all();
    worker_.join();  // after the operations already queued
    watchdog_.join();
  }

  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }
  MPI_Comm comm() const { return comm_; }

  void broadcast(float* data, std::size_t n) override {
    wait_for(enqueue([this, data, n] {
               in_chunks(data, n, [&](float* d, int c) {
                 check(MPI_Bcast(d, c, MPI_FLOAT, 0, comm_), "MPI_Bcast");
               });
             }),
             "broadcast");
  }

  void allreduce_sum(float* data, std::size_t n) override {
    wait_for(start_allreduce_sum(data, n), "allreduce");
  }

  void allreduce_sum(double* data, std::size_t n) override {
    wait_for(enqueue([this, data, n] { sum(data, n, MPI_DOUBLE); }), "allreduce");
  }

  std::size_t start_allreduce_sum(float* data, std::size_t n) override {
    return enqueue([this, data, n] { sum(data, n, MPI_FLOAT); });
  }

  void wait(std::size_t handle) override { wait_for(handle, "allreduce"); }

 private:
  /// Counts are ints in MPI: f(pointer, count) for each chunk of at most 2^30 elements.
  template <class T, class F>
  static void in_chunks(T* data, std::size_t n, F f) {
    constexpr std::size_t chunk = std::size_t{1} << 30;
    for (std::size_t at = 0; at < n; at += chunk)
      f(data + at, static_cast<int>(std::min(n - at, chunk)));
  }

  /// MPI_Allreduce(MPI_SUM) in place (on the communication thread).
  template <class T>
  void sum(T* data, std::size_t n, MPI_Datatype type) {
    in_chunks(data, n, [&](T* d, int c) {
      check(MPI_Allreduce(MPI_IN_PLACE, d, c, type, MPI_SUM, comm_), "MPI_Allreduce");
    });
  }

  void check(int rc, const char* what) const {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw Error("MPI: " + std::string(what) + " failed on rank " + std::to_string(rank_) + ": " +
                std::string(text, static_cast<std::size_t>(length)));
  }

  /// Queues an operation for the communication thread; returns its number.
  std::size_t enqueue(std::function<void()> op) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(op));
    queued_.notify_all();
    return queued_count_++;
  }

  /// Waits until operation `handle` (and all before it) is done, under the watchdog; rethrows
  /// the first error of the operations done so far.
  void wait_for(std::size_t handle, const char* what) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (handle >= queued_count_) throw InvalidArgument("Communicator::wait: unknown handle");
    if (done_count_ <= handle) {
      what_ = what;
      started_ = std::chrono::steady_clock::now();
      busy_ = true;
      wake_.notify_all();
      finished_.wait(lock, [&] { return done_count_ > handle || error_; });
      busy_ = false;
    }
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      queued_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, nothing left
      std::function<void()> op = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      std::exception_ptr failed;
      try {
        op();
      } catch (...) {
        failed = std::current_exception();
      }
      lock.lock();
      if (failed && !error_) error_ = failed;
      ++done_count_;
      finished_.notify_all();
    }
  }

  void watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      if (!busy_ || timeout_ <= 0) {
        wake_.wait(lock);
        continue;
      }
      const auto deadline =
          started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(timeout_));
      const auto started = started_;
      wake_.wait_until(lock, deadline);
      if (!stop_ && busy_ && started_ == started && std::chrono::steady_clock::now() >= deadline) {
        std::fprintf(stderr,
                     "ctnn: rank %zu of %zu: no answer from the other processes for %.0f s in "
                     "%s (a process died or the network failed); ending the job\n",
                     rank_, size_, timeout_, what_);
        std::fflush(stderr);
        MPI_Abort(comm_, 1);
        std::_Exit(1);
      }
    }
  }

  MPI_Comm comm_;
  double timeout_;
  std::size_t rank_ = 0, size_ = 1;
  std::mutex mutex_;
  std::condition_variable wake_, queued_, finished_;
  std::deque<std::function<void()>> jobs_;
  std::size_t queued_count_ = 0, done_count_ = 0;
  std::exception_ptr error_;
  bool busy_ = false, stop_ = false;
  const char* what_ = "";
  std::chrono::steady_clock::time_point started_;
  std::thread watchdog_, worker_;
};

}  // namespace ctnn::mpi
