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
// and run with `mpirun -np R program ...`. MPI calls are made by the thread that calls fit() or
// evaluate() only (MPI_THREAD_FUNNELED).
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
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../collective.hpp"
#include "../error.hpp"

namespace ctnn::mpi {

/// Initialises MPI for the program's life (MPI_Init_thread asking for MPI_THREAD_FUNNELED) and
/// finalises it on destruction. Throws ctnn::Error when MPI cannot be initialised or gives less
/// than MPI_THREAD_FUNNELED. One per program, before any Communicator.
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
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw Error("MPI: MPI_Init_thread failed");
    if (provided < MPI_THREAD_FUNNELED) {
      MPI_Finalize();
      throw Error("MPI: the library does not allow threads in an MPI process (it provides " +
                  std::to_string(provided) + ", less than MPI_THREAD_FUNNELED)");
    }
  }
};

/// A Collective over an MPI communicator (MPI_COMM_WORLD by default). Every operation is bounded
/// by a time limit: when one does not complete within `timeout_seconds` (a process died, the
/// network broke), the process prints "ctnn: rank R: ... no answer ..." on stderr and aborts the
/// whole job (MPI_Abort, exit status 1), rather than waiting for ever. Errors MPI reports are
/// thrown as ctnn::Error naming the operation.
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
  }
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    watchdog_.join();
  }

  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }
  MPI_Comm comm() const { return comm_; }

  void broadcast(float* data, std::size_t n) override {
    const Guard g(*this, "broadcast");
    for (std::size_t at = 0; at < n; at += chunk)
      check(MPI_Bcast(data + at, count(n - at), MPI_FLOAT, 0, comm_), "MPI_Bcast");
  }

  void allreduce_sum(float* data, std::size_t n) override {
    const Guard g(*this, "allreduce");
    for (std::size_t at = 0; at < n; at += chunk)
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, count(n - at), MPI_FLOAT, MPI_SUM, comm_),
            "MPI_Allreduce");
  }

  void allreduce_sum(double* data, std::size_t n) override {
    const Guard g(*this, "allreduce");
    for (std::size_t at = 0; at < n; at += chunk)
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, count(n - at), MPI_DOUBLE, MPI_SUM, comm_),
            "MPI_Allreduce");
  }

  std::size_t start_allreduce_sum(float* data, std::size_t n) override {
    const std::size_t handle = pending_.size();
    Pending p;
    for (std::size_t at = 0; at < n; at += chunk) {
      MPI_Request r = MPI_REQUEST_NULL;
      check(MPI_Iallreduce(MPI_IN_PLACE, data + at, count(n - at), MPI_FLOAT, MPI_SUM, comm_, &r),
            "MPI_Iallreduce");
      p.requests.push_back(r);
    }
    pending_.push_back(std::move(p));
    return handle;
  }

  void poll() override {
    for (Pending& p : pending_) {
      if (p.requests.empty()) continue;
      int flag = 0;
      check(MPI_Testall(static_cast<int>(p.requests.size()), p.requests.data(), &flag,
                        MPI_STATUSES_IGNORE),
            "MPI_Testall");
    }
  }

  void wait(std::size_t handle) override {
    if (handle >= pending_.size()) throw InvalidArgument("Communicator::wait: unknown handle");
    const Guard g(*this, "allreduce");
    auto& requests = pending_[handle].requests;
    if (!requests.empty())
      check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE),
            "MPI_Waitall");
    requests.clear();
    // Handles are reused once all are complete.
    if (std::all_of(pending_.begin(), pending_.end(),
                    [](const Pending& q) { return q.requests.empty(); }))
      pending_.clear();
  }

 private:
  /// Counts are ints in MPI: larger arrays go in chunks of 2^30 elements.
  static constexpr std::size_t chunk = std::size_t{1} << 30;
  static int count(std::size_t left) { return static_cast<int>(std::min(left, chunk)); }

  void check(int rc, const char* what) const {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw Error("MPI: " + std::string(what) + " failed on rank " + std::to_string(rank_) + ": " +
                std::string(text, static_cast<std::size_t>(length)));
  }

  /// Marks an operation in progress for the watchdog.
  struct Guard {
    Communicator& c;
    Guard(Communicator& comm, const char* what) : c(comm) {
      std::lock_guard<std::mutex> lock(c.mutex_);
      c.what_ = what;
      c.started_ = std::chrono::steady_clock::now();
      c.busy_ = true;
      c.wake_.notify_all();
    }
    ~Guard() {
      std::lock_guard<std::mutex> lock(c.mutex_);
      c.busy_ = false;
    }
  };

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

  struct Pending {
    std::vector<MPI_Request> requests;
  };

  MPI_Comm comm_;
  double timeout_;
  std::size_t rank_ = 0, size_ = 1;
  std::vector<Pending> pending_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool busy_ = false, stop_ = false;
  const char* what_ = "";
  std::chrono::steady_clock::time_point started_;
  std::thread watchdog_;
};

}  // namespace ctnn::mpi
