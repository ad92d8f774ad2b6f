// ctnn/collective.hpp — what data-parallel training needs from a group of processes.
//
// fit(), Trainer and evaluate() take a Collective (FitOptions::collective) to train one network
// on R processes: each process computes its share of every batch and the gradients are summed
// across the processes, so that all of them apply the same update (see docs/distributed.md).
// The core library depends on no communication library: ctnn/distributed/mpi.hpp implements this
// interface on MPI; a test can implement it on threads.
#pragma once

#include <cstddef>

namespace ctnn {

/// A group of `size()` processes, this one being number `rank()` (0 .. size() - 1), and the
/// collective operations among them. Every process of the group must make the same calls in the
/// same order with the same counts (as MPI requires). Implementations throw ctnn::Error when an
/// operation fails, for instance when a process of the group has died.
class Collective {
 public:
  virtual ~Collective() = default;

  virtual std::size_t rank() const = 0;
  virtual std::size_t size() const = 0;

  /// Copies process 0's `n` floats at `data` into `data` on every process.
  virtual void broadcast(float* data, std::size_t n) = 0;

  /// Replaces `data[0..n)` on every process with the element-wise sum over the processes (in an
  /// order fixed by the implementation, the same on every process, so every process gets the same
  /// bits).
  virtual void allreduce_sum(float* data, std::size_t n) = 0;
  virtual void allreduce_sum(double* data, std::size_t n) = 0;

  /// Starts allreduce_sum(data, n) and returns at once; wait() completes it. `data` must not be
  /// touched in between. Returns a handle for wait(). The default runs it at once.
  virtual std::size_t start_allreduce_sum(float* data, std::size_t n) {
    allreduce_sum(data, n);
    return 0;
  }
  /// Waits for the operation started with `handle` (each handle once).
  virtual void wait(std::size_t /*handle*/) {}
  /// Lets started operations advance, for an implementation that progresses them only inside
  /// its own calls (as MPI's non-blocking collectives do); the trainer calls it between layers
  /// of backward. ctnn::mpi::Communicator runs them on a thread of its own and needs none.
  virtual void poll() {}
};

}  // namespace ctnn
