// ctnn/train/options.hpp — FitOptions: what fit() is told besides the network, the optimizer,
// the training data and the loss.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <vector>

#include "../collective.hpp"
#include "../data/augment.hpp"
#include "../data/dataset.hpp"
#include "../data/stream.hpp"
#include "../optim/schedule.hpp"
#include "../reports.hpp"

namespace ctnn {

/// Options of fit().
struct FitOptions {
  std::size_t epochs = 5;
  std::size_t batch_size = 32;
  /// When set, replaces the optimizer's learning rate.
  std::optional<float> learning_rate;
  /// 0: one per hardware thread. At most batch_size are used (Trainer), and the test set's
  /// evaluation uses as many.
  std::size_t threads = 0;
  std::uint64_t seed = 1;  ///< shuffling and dropout
  bool shuffle = true;
  /// Evaluated after every epoch when non-null (test accuracy in the report).
  const data::Dataset* test = nullptr;
  /// A test set read as a stream (data::SampleStream, e.g. data::ImageFileStream), evaluated
  /// like `test`; at most one of the two.
  data::SampleStream* test_stream = nullptr;
  /// Samples per forward call of each thread when the test set is evaluated (evaluate()'s
  /// batch_size): it changes only the speed and the memory, not the result's counts.
  std::size_t test_batch_size = 16;
  /// Per-epoch lines go here (nullptr: silent): fit() runs an EpochLog on it
  /// (train/progress.hpp) before the on_epoch_end callbacks, on process 0 only.
  std::ostream* log = nullptr;
  /// The learning rate of every step (e.g. CosineLR, see optim/schedule.hpp), set on the
  /// optimizer before the step; empty: the optimizer's rate as it is.
  std::function<float(const TrainingProgress&)> schedule;
  /// Gradient clipping by global norm (Trainer::clip_gradient_norm); 0: off.
  float clip_norm = 0.0f;
  /// On-the-fly augmentation of the training images (Trainer::augment); off by default.
  data::Augmentation augmentation;
  /// Called after every epoch (after the test evaluation) with its report; a callback stops
  /// training by setting control.stop. Called in order.
  std::vector<std::function<void(const EpochReport&, TrainingControl&)>> on_epoch_end;
  /// Called after every optimizer step, in order. A callback that sets control.stop ends
  /// training after this batch: the epoch is cut short, reported over the samples it saw, and
  /// counts as trained (epochs_done), and the epoch callbacks still run for it.
  std::vector<std::function<void(const BatchReport&, TrainingControl&)>> on_batch_end;
  /// Progress line on stderr while an epoch runs: only when stderr is a terminal (so that
  /// `program > log` keeps both the log and the progress on the screen). fit() runs a
  /// ProgressLine (train/progress.hpp) after the on_batch_end callbacks, on process 0 only;
  /// false: none (install one in on_batch_end to choose where it goes).
  bool progress = true;
  /// Data-parallel training over a group of processes (e.g. ctnn::mpi::Communicator; see
  /// Trainer::distribute and docs/distributed.md) when non-null: every process of the group
  /// calls fit() with the same data, options and optimizer and computes its share of each
  /// batch (batch_size is the global batch); the test evaluation is shared as well. Only
  /// process 0 writes `log` and the progress line; callbacks run on every process with the
  /// same reports (the times are each process's own) and must decide alike. Before training
  /// the processes check that they agree on the data and settings (Trainer::distribute; fit()
  /// adds the training data, batch_size, epochs, shuffle, the schedule's rates at the first,
  /// middle and last step, and the test set) and throw SettingMismatch where they do not.
  Collective* collective = nullptr;
  /// With a collective: the gradient is summed across the processes in buckets of about this
  /// many floats (whole layers), each started as soon as backward has completed it, so that the
  /// communication overlaps the rest of backward (Trainer::distribute). 0: one sum after
  /// backward.
  std::size_t allreduce_bucket = std::size_t{1} << 18;
};

}  // namespace ctnn
