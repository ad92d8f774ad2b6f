// ctnn/train/fit.hpp — fit(): epochs of shuffled mini-batches through a Trainer, with the
// schedule, the callbacks and the test evaluation after every epoch.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../data/dataset.hpp"
#include "../data/stream.hpp"
#include "../error.hpp"
#include "../loss.hpp"
#include "../optim/optimizer.hpp"
#include "../optim/schedule.hpp"
#include "../random.hpp"
#include "../reports.hpp"
#include "checks.hpp"
#include "evaluate.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "settings.hpp"
#include "source.hpp"
#include "trainer.hpp"

namespace ctnn {

namespace detail {

/// fit()'s epochs over a reader (train/source.hpp) of a checked Dataset or SampleStream. Each
/// epoch plans, in batch order, the samples this process computes of every batch (with a
/// collective, its share; otherwise all of them), and each step reads its part of that plan.
template <class Loss, class Net, class Optimizer, class Reader>
std::vector<EpochReport> fit_epochs(Net& net, Optimizer& optimizer, Reader& train,
                                    const FitOptions& options, const Loss& loss_function) {
  if (options.test && options.test_stream)
    throw InvalidArgument("fit: give the test set as `test` or as `test_stream`, not both");
  if (options.test) detail::check_dataset<Net>(*options.test, "fit (test set)");
  if (options.test_stream) detail::check_stream<Net>(*options.test_stream, "fit (test set)");
  detail::check_loss_for_data<Loss>(train.has_targets(), "fit");
  if (options.test)
    detail::check_loss_for_data<Loss>(options.test->has_targets(), "fit (test set)");
  if (options.batch_size == 0) throw InvalidArgument("fit: batch size must be at least 1");
  if (options.test_batch_size == 0)
    throw InvalidArgument("fit: the test batch size must be at least 1");
  if (options.learning_rate) optimizer.learning_rate = *options.learning_rate;
  if constexpr (HasLearningRate<Optimizer>)
    if (!(std::isfinite(float(optimizer.learning_rate)) && float(optimizer.learning_rate) >= 0))
      throw InvalidArgument("fit: the learning rate must be a finite number >= 0, not " +
                            std::to_string(float(optimizer.learning_rate)));

  // A batch larger than the data set is the whole data set.
  const std::size_t B = std::min(options.batch_size, train.size());
  Trainer<Net, Optimizer, Loss> trainer(net, optimizer, B, options.threads, options.seed,
                                        loss_function);
  trainer.clip_gradient_norm(options.clip_norm);
  trainer.augment(options.augmentation);
  const bool leader = !options.collective || options.collective->rank() == 0;
  std::vector<std::size_t> order(train.size());
  std::vector<EpochReport> reports;
  // The default callbacks (FitOptions::progress, FitOptions::log), run on process 0 only: the
  // progress line after the batch callbacks, the log before the epoch callbacks.
  std::optional<ProgressLine> progress;
  if (options.progress && leader && ProgressLine::stderr_is_terminal()) progress.emplace();
  std::optional<EpochLog> log;
  if (options.log && leader) log.emplace(*options.log, options.collective != nullptr);
  const std::size_t batches = (train.size() + B - 1) / B;
  std::size_t first = 0;  // epochs trained before this call
  if constexpr (CountsEpochs<Optimizer>) first = optimizer.epochs_done;
  if (options.epochs > std::numeric_limits<std::size_t>::max() - first)
    throw InvalidArgument("fit: the optimizer has trained " + std::to_string(first) + " epochs; " +
                          std::to_string(options.epochs) + " more overflow the epoch count");
  const std::size_t last = first + options.epochs;
  if (options.collective) {
    // Alone, nothing to compare (nor to hash).
    const auto settings = options.collective->size() > 1
                              ? fit_settings(train.source(), options, first, last, batches)
                              : std::vector<Setting>{};
    trainer.distribute(*options.collective, options.allreduce_bucket, settings);
  }

  for (std::size_t done = first; done < last; ++done) {
    const std::size_t epoch = done + 1;
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (options.shuffle) {  // Fisher-Yates, from a generator of this epoch's own
      Rng shuffle_rng(derive_seed(options.seed, 0x5f3759df, epoch));
      ctnn::shuffle(order, shuffle_rng);
    }
    {  // this process's samples of every batch, in batch order
      std::vector<std::size_t> plan;
      plan.reserve(order.size());
      for (std::size_t b0 = 0; b0 < order.size(); b0 += B) {
        const auto [lo, hi] = trainer.local_share(std::min(B, order.size() - b0));
        plan.insert(plan.end(), order.begin() + std::ptrdiff_t(b0 + lo),
                    order.begin() + std::ptrdiff_t(b0 + hi));
      }
      train.start(std::move(plan));
    }
    double loss_sum = 0;
    std::size_t right = 0, seen = 0;
    bool stop = false;
    const auto start = std::chrono::steady_clock::now();
    const double waited_before = trainer.communication_wait_seconds();
    for (std::size_t bi = 0; bi < batches && !stop; ++bi) {
      const std::size_t b0 = bi * B, bn = std::min(B, train.size() - b0);
      typename Trainer<Net, Optimizer, Loss>::Step st;
      if (options.schedule) {
        const float lr = options.schedule(
            TrainingProgress{(epoch - 1) * batches + bi, epoch - 1, last, batches});
        if (!(std::isfinite(lr) && lr >= 0.0f))
          throw InvalidArgument("fit: the schedule gave the learning rate " + std::to_string(lr) +
                                " at batch " + std::to_string(bi + 1) + " of epoch " +
                                std::to_string(epoch));
        optimizer.learning_rate = lr;
      }
      try {
        st = trainer.step_from(train, bn, (epoch - 1) * batches + bi);
      } catch (const TrainingDiverged& e) {
        if (progress) progress->interrupted();
        throw TrainingDiverged("training diverged at batch " + std::to_string(bi + 1) +
                               " of epoch " + std::to_string(epoch) + ": " + e.what());
      }
      loss_sum += st.loss;
      right += st.correct;
      seen += bn;
      if (!options.on_batch_end.empty() || progress) {
        BatchReport br;
        br.epoch = epoch;
        br.batch = bi + 1;
        br.batches = batches;
        br.samples = bn;
        br.loss = st.loss / static_cast<double>(bn);
        if constexpr (HasLearningRate<Optimizer>)
          br.learning_rate = double(optimizer.learning_rate);
        br.epochs = last;
        br.epoch_loss = loss_sum / double(seen);
        br.epoch_samples = seen;
        br.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        TrainingControl batch_control;
        for (const auto& callback : options.on_batch_end) callback(br, batch_control);
        if (progress) (*progress)(br, batch_control);
        stop = batch_control.stop;
      }
    }
    EpochReport r;
    r.epoch = epoch;
    r.epochs = last;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.loss = loss_sum / static_cast<double>(seen);
    r.train_accuracy = train.has_targets() ? std::numeric_limits<double>::quiet_NaN()
                                           : static_cast<double>(right) / static_cast<double>(seen);
    r.images_per_second = static_cast<double>(seen) / r.seconds;
    r.communication_seconds = trainer.communication_wait_seconds() - waited_before;
    if constexpr (HasLearningRate<Optimizer>) r.learning_rate = double(optimizer.learning_rate);
    if (options.test || options.test_stream) {
      const std::size_t tb = options.test_batch_size;
      const Evaluation e = options.test ? evaluate(net, *options.test, trainer.threads(), tb,
                                                   loss_function, options.collective)
                                        : evaluate(net, *options.test_stream, trainer.threads(), tb,
                                                   loss_function, options.collective);
      r.test_accuracy = e.accuracy;
      r.test_loss = e.loss;
      r.test_rmse = e.rmse;
    }
    reports.push_back(r);
    if constexpr (CountsEpochs<Optimizer>) optimizer.epochs_done = epoch;
    TrainingControl control;
    if (log) (*log)(r, control);
    for (const auto& callback : options.on_epoch_end) callback(r, control);
    if (control.stop || stop) break;
  }
  return reports;
}

}  // namespace detail

/// Trains `net` on `train` with `optimizer` (any type with step(span<float>, span<const float>)
/// and a learning_rate member) for options.epochs epochs of mini-batches; returns one report per
/// epoch and writes a line per epoch to options.log. The gradient of each step is the mean over
/// the batch; a batch size larger than the data set is taken as the data set's size.
/// Regression: a data set with real-valued targets (data::Dataset::targets, one row of the
/// output's size per sample) trains with Loss = MeanSquaredError (the only loss here that takes
/// targets); the reports then have no accuracy (NaN) and the test set's RMSE. Throws
/// InvalidArgument for data that does not fit the network (targets of another size included), a
/// data set with targets given to a loss that takes class labels, holds a NaN or an infinity
/// (naming the sample), a zero batch size or a learning rate that is negative or not finite;
/// TrainingDiverged when a batch's loss or gradient is not finite, or the update overflows a
/// parameter (naming epoch, batch, what went non-finite and the layer; see Trainer::step);
/// ctnn::Error when the threads or the training memory cannot be had; with a collective,
/// SettingMismatch on every process when the processes' data or settings differ
/// (FitOptions::collective), before any parameter is sent or changed.
///
/// Continuing: an optimizer with an `epochs_done` member (SGD, Adam, AdamW) counts the epochs it
/// has trained; fit() numbers its epochs on from there, and since each epoch's shuffle and each
/// step's Dropout masks and augmentation are drawn from generators seeded by options.seed and the
/// epoch or step number, calling fit() again with the same optimizer goes on exactly as one
/// longer call would (schedules see the whole run as epochs_done + options.epochs epochs). Set
/// epochs_done to 0, or use a new optimizer, to start over. Throws InvalidArgument when
/// epochs_done + options.epochs does not fit in a size_t.
template <class Loss = SoftmaxCrossEntropy, class Net, class Optimizer>
std::vector<EpochReport> fit(Net& net, Optimizer& optimizer, const data::Dataset& train,
                             const FitOptions& options = {}, const Loss& loss_function = Loss{}) {
  detail::check_dataset<Net>(train, "fit");
  detail::DatasetReader reader(train);
  return detail::fit_epochs(net, optimizer, reader, options, loss_function);
}

/// fit() on a stream (data::SampleStream, e.g. data::ImageFileStream over image files): the same
/// training, bit for bit, as on a Dataset holding the same samples. At the start of each epoch,
/// fit() plans (start()) the samples this process computes of every batch of the epoch, in
/// batch order (with a collective, only its share: each process reads only its part of the
/// data); each step reads its samples (Trainer::step on a stream). Throws as fit() on a
/// Dataset, InvalidArgument when a sample read holds a NaN or an infinity (naming its place in
/// the batch), and what the stream throws (a FileError naming an image file that cannot be
/// decoded), with the epochs trained so far kept (epochs_done, checkpoints).
template <class Loss = SoftmaxCrossEntropy, class Net, class Optimizer>
std::vector<EpochReport> fit(Net& net, Optimizer& optimizer, data::SampleStream& train,
                             const FitOptions& options = {}, const Loss& loss_function = Loss{}) {
  detail::check_stream<Net>(train, "fit");
  detail::Staging staging;
  detail::StreamReader reader(train, staging);
  return detail::fit_epochs(net, optimizer, reader, options, loss_function);
}

}  // namespace ctnn
