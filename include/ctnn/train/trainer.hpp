// ctnn/train/trainer.hpp — Trainer: one optimizer step at a time, on threads and, distributed,
// on processes: the data-parallel forward, loss and backward of a batch, the averaging of the
// BatchNorm statistics, the gradient reduction (train/reducer.hpp) and the optimizer's update.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <new>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../aligned.hpp"
#include "../attributes.hpp"
#include "../collective.hpp"
#include "../data/augment.hpp"
#include "../data/dataset.hpp"
#include "../data/stream.hpp"
#include "../error.hpp"
#include "../loss.hpp"
#include "../network.hpp"
#include "../optim/optimizer.hpp"
#include "../parallel.hpp"
#include "../random.hpp"
#include "checks.hpp"
#include "reducer.hpp"
#include "settings.hpp"
#include "source.hpp"

namespace ctnn {

/// One optimizer step at a time: the data-parallel forward, loss, backward, gradient reduction
/// and update that fit() repeats. Useful on its own for custom loops and benchmarks.
/// The network and the optimizer must outlive the Trainer.
template <class Net, class Optimizer, class Loss = SoftmaxCrossEntropy>
class Trainer {
  static constexpr std::size_t IN = Net::input_shape::size, N = Net::output_shape::size;

 public:
  /// What one step saw: summed loss over the batch and the number of samples classified right
  /// (0 for a regression set, whose samples have targets rather than classes).
  struct Step {
    double loss = 0;
    std::size_t correct = 0;
  };

  /// Prepares per-thread workspaces for batches of up to max_batch samples on `threads` threads
  /// (0: one per hardware thread), but no more than max_batch: a thread beyond the batch would
  /// have no sample and still hold a workspace and a gradient (threads() says how many). Throws
  /// InvalidArgument when max_batch is 0 or the loss's settings are invalid (Loss::check).
  CTNN_COLD Trainer(Net& net, Optimizer& optimizer, std::size_t max_batch, std::size_t threads = 0,
                    std::uint64_t seed = 1, Loss loss = Loss{})
      : net_(net),
        optimizer_(optimizer),
        pool_(detail::useful_threads(threads, max_batch)),
        seed_(seed),
        max_batch_(max_batch),
        loss_(std::move(loss)),
        reducer_(pool_, Net::parameter_count) {
    if (max_batch == 0) throw InvalidArgument("Trainer: batch size must be at least 1");
    loss_.check(N);
    const std::size_t per_thread = (max_batch + pool_.size() - 1) / pool_.size();
    try {
      workers_.reserve(pool_.size());
      for (std::size_t t = 0; t < pool_.size(); ++t) workers_.emplace_back(per_thread);
    } catch (const std::bad_alloc&) {
      const double mib =
          double(pool_.size()) *
          double(Net::workspace_floats(per_thread) + Net::parameter_count + per_thread * (IN + N)) *
          sizeof(float) / (1024.0 * 1024.0);
      std::ostringstream msg;
      msg << "Trainer: cannot allocate the training memory for batches of " << max_batch
          << " samples on " << pool_.size() << " threads (" << std::fixed << std::setprecision(0)
          << mib << " MiB: activations, gradients and scratch); use a smaller batch";
      throw Error(msg.str());
    }
    std::vector<const float*> worker_grads;
    for (const Worker& w : workers_) worker_grads.push_back(w.grads.data());
    reducer_.set_workers(std::move(worker_grads));
  }

  /// The threads (workers) the trainer uses: the `threads` it was given, at most max_batch.
  std::size_t threads() const noexcept { return pool_.size(); }

  /// Makes this trainer one of `c.size()` processes training one network together (data
  /// parallel; docs/distributed.md): process 0's parameters and state are broadcast to all, and
  /// from then on every step() (called on every process with the same batch) computes this
  /// process's share of the batch, sums the gradients of all processes and applies the same
  /// update everywhere. R processes of T threads compute what one process of R * T threads does
  /// (the same samples, Dropout masks, augmentation and BatchNorm batches per worker), up to the
  /// order in which the gradients are summed; the parameters stay identical on all processes.
  ///
  /// Every process must construct its trainer alike: before anything else the processes check
  /// (check_agreement()) that they have the same network (signature), `also` (the caller's own
  /// settings: fit() adds its data, batch size, epochs, schedule and test set), threads (the
  /// workers are numbered process by process: each process must have T of them), seed,
  /// max_batch, bucket_floats, gradient clipping, augmentation, loss settings and optimizer
  /// (type, settings, step and epoch counts, a hash of its buffers). Throws SettingMismatch on
  /// every process when they do not, naming the first setting that differs and both values,
  /// without changing anything; InvalidArgument (before any communication) for more than
  /// max_agreed_settings settings in all; what the collective throws.
  ///
  /// The gradient is summed in buckets of about `bucket_floats` floats (whole top-level layers,
  /// from the last layer on): each bucket's sum starts (start_allreduce_sum) as soon as every
  /// thread's backward has passed its layers, and runs while backward goes on through the
  /// layers before it. 0: one allreduce_sum after backward.
  CTNN_COLD void distribute(Collective& c, std::size_t bucket_floats = std::size_t{1} << 18,
                            const std::vector<Setting>& also = {}) {
    std::vector<Setting> settings{detail::network_setting<Net>()};
    settings.insert(settings.end(), also.begin(), also.end());
    settings.push_back(Setting::integer("threads", pool_.size()));
    settings.push_back(Setting::integer("seed", seed_));
    settings.push_back(Setting::integer("max_batch", max_batch_));
    settings.push_back(Setting::integer("allreduce_bucket", bucket_floats));
    settings.push_back(Setting::real("clip_norm", clip_norm_));
    settings.push_back(Setting::label("augmentation", detail::describe(augmentation_)));
    detail::add_loss_settings(settings, loss_);
    detail::add_optimizer_settings(settings, optimizer_);
    check_agreement(c, settings, "distributed training");
    c.broadcast(net_.parameters().data(), Net::parameter_count);
    if constexpr (Net::state_count > 0) c.broadcast(net_.state().data(), Net::state_count);
    collective_ = &c;
    constexpr auto offsets = []<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<std::size_t, sizeof...(I)>{Net::template parameter_offset<I>...};
    }
    (std::make_index_sequence<Net::layer_count>{});
    reducer_.distribute(c, offsets, bucket_floats);
  }

  /// Seconds spent waiting for the gradient sums across processes after backward (the part of
  /// the communication that computation did not hide), over all steps so far.
  double communication_wait_seconds() const noexcept { return reducer_.wait_seconds(); }

  /// Gradient clipping by global norm (Pascanu et al. 2013), as PyTorch's clip_grad_norm_: when
  /// the L2 norm of the whole (batch-mean) gradient exceeds max_norm, the gradient is scaled by
  /// max_norm / (norm + 1e-6) before the update. 0 turns it off. Throws InvalidArgument for a
  /// negative or non-finite max_norm.
  void clip_gradient_norm(float max_norm) {
    if (!(std::isfinite(max_norm) && max_norm >= 0.0f))
      throw InvalidArgument("Trainer: the gradient clipping norm must be a finite number >= 0");
    clip_norm_ = max_norm;
  }
  /// The L2 norm of the last step's gradient before clipping (0 while clipping is off).
  double gradient_norm() const noexcept { return grad_norm_; }

  /// Augments every training sample (an Image input: H x W x C) before its forward pass; see
  /// data::augment. Each sample's generator is seeded from the trainer's seed, the step id and
  /// the sample's place in the batch, so the result does not depend on the thread count.
  /// Throws InvalidArgument when the network's input is not an Image or `a` does not fit it.
  void augment(const data::Augmentation& a) {
    if constexpr (is_image_v<typename Net::input_shape>) {
      using S = typename Net::input_shape;
      a.check(S::height, S::width);
      augmentation_ = a;
    } else if (a.enabled()) {
      throw InvalidArgument("Trainer: augmentation needs an Image input, the network takes " +
                            Net::input_shape::name());
    }
  }

  /// One step on the samples data[indices[0..n)]: the gradient is the mean over the n samples.
  /// `step_id` selects the Dropout masks (same id, same masks). Throws InvalidArgument when n is
  /// 0 or larger than max_batch, and TrainingDiverged when
  ///   - the batch's loss is not finite, or the gradient of some parameter is not: the
  ///     parameters and state are then left exactly as they were before the step;
  ///   - the optimizer's update made a parameter non-finite (an overflow: the learning rate is
  ///     far too high): the step has then been applied, and the network must not be used.
  /// The message says which of these happened and names the layer. A data set with real-valued
  /// targets needs a loss that takes them (MeanSquaredError), else InvalidArgument.
  Step step(const data::Dataset& data, const std::size_t* indices, std::size_t n,
            std::uint64_t step_id) {
    check_batch(n);
    detail::DatasetReader reader(data);
    reader.view(indices + local_share(n).first);
    return step_from(reader, n, step_id);
  }

  /// One step on a batch of n samples read from a stream: this process reads the samples of its
  /// share of the batch, positions local_share(n) (all n without a collective), with
  /// data.read(), so the caller plans them (data.start()) batch after batch; see fit(). Throws as
  /// the other step(), InvalidArgument when a sample read holds a NaN or an infinity, and what
  /// the stream throws.
  Step step(data::SampleStream& data, std::size_t n, std::uint64_t step_id) {
    check_batch(n);
    detail::StreamReader reader(data, staging_);
    return step_from(reader, n, step_id);
  }

  /// One step on a batch of n samples whose positions local_share(n) are the next ones planned
  /// on `reader` (a detail::DatasetReader or detail::StreamReader, train/source.hpp): the one
  /// step both step() overloads and fit() take. Throws as step().
  template <class Reader>
  Step step_from(Reader& reader, std::size_t n, std::uint64_t step_id) {
    check_batch(n);
    detail::check_loss_for_data<Loss>(reader.has_targets(), "Trainer::step");
    const std::size_t lo = local_share(n).first, hi = local_share(n).second;
    reader.stage(hi - lo, lo, "Trainer::step");
    return run_step(
        [&](std::size_t position, float* input, float* target) {
          std::copy_n(reader.input(position - lo), IN, input);
          if (target)  // a stream has no targets: target_of is then always nullptr
            if (const float* t = reader.target_of(position - lo)) std::copy_n(t, N, target);
          return reader.label_of(position - lo);
        },
        n, step_id, detail::loss_takes_targets<Loss>() && reader.has_targets());
  }

  /// The positions [begin, end) of a batch of n samples that this process computes: all of
  /// them, or with a collective (distribute()) the shares of its threads' workers.
  std::pair<std::size_t, std::size_t> local_share(std::size_t n) const {
    const std::size_t T = pool_.size();
    const std::size_t G = T * (collective_ ? collective_->size() : 1);
    const std::size_t first = T * (collective_ ? collective_->rank() : 0);
    return {split_range(n, first, G).first, split_range(n, first + T - 1, G).second};
  }

 private:
  void check_batch(std::size_t n) const {
    if (n == 0 || n > max_batch_)
      throw InvalidArgument("Trainer::step: batch of " + std::to_string(n) +
                            " samples, the trainer takes 1 to " + std::to_string(max_batch_));
  }

  // The step itself; fetch(position, input, target) copies the batch's sample at `position` to
  // `input` and, with `targets`, its target (N floats) to `target`, and returns its label.
  template <class Fetch>
  Step run_step(Fetch fetch, std::size_t n, std::uint64_t step_id, bool targets) {
    const std::size_t T = pool_.size();
    // The batch is shared among all workers of all processes; this process's are numbered from
    // `first` among G.
    const std::size_t G = T * (collective_ ? collective_->size() : 1);
    const std::size_t first = T * (collective_ ? collective_->rank() : 0);
    const float scale = 1.0f / static_cast<float>(n);
    auto state = net_.state();
    // Buckets of the gradient start their sum across processes during backward (distribute()).
    const bool overlap = reducer_.overlapping();
    reducer_.begin();
    pool_.run([&](std::size_t t) {
      Worker& w = workers_[t];
      auto [begin, end] = split_range(n, first + t, G);
      const std::size_t m = end - begin;
      w.loss = 0;
      w.correct = 0;
      std::fill(w.grads.begin(), w.grads.end(), 0.0f);
      if (m == 0) {
        if (overlap) reducer_.completed(t, 0);
        return;
      }
      w.labels.resize(m);
      if (targets) w.targets.resize(m * N);
      for (std::size_t s = 0; s < m; ++s)
        w.labels[s] =
            fetch(begin + s, w.input.data() + s * IN, targets ? w.targets.data() + s * N : nullptr);
      if constexpr (is_image_v<typename Net::input_shape>) {
        using S = typename Net::input_shape;
        if (augmentation_.enabled()) {
          w.scratch.resize(IN);
          for (std::size_t s = 0; s < m; ++s) {
            Rng sample_rng(derive_seed(seed_, 0xa06d, step_id, begin + s));
            data::augment(w.input.data() + s * IN, S::height, S::width, S::channels, augmentation_,
                          sample_rng, w.scratch.data());
          }
        }
      }
      w.state.assign(state.begin(), state.end());
      Rng rng(derive_seed(seed_, step_id, first + t));
      const float* y = net_.forward(w.input.data(), m, w.ws, Mode::training,
                                    {.state = w.state.data(), .rng = &rng});
      for (std::size_t s = 0; s < m; ++s) {
        const float* target = targets ? w.targets.data() + s * N : nullptr;
        w.loss +=
            loss_.template compute<N>(y + s * N, w.labels[s], target, w.dout.data() + s * N, scale);
        if (!targets)
          w.correct += detail::argmax(y + s * N, N) == static_cast<std::size_t>(w.labels[s]);
      }
      if (!overlap) {
        net_.backward(w.input.data(), w.dout.data(), w.grads.data(), m, w.ws, Mode::training);
        return;
      }
      net_.backward(w.input.data(), w.dout.data(), w.grads.data(), m, w.ws, Mode::training,
                    [&](std::size_t k) { reducer_.completed(t, k); });
    });
    reducer_.finish_buckets();
    Step r;
    for (std::size_t t = 0; t < T; ++t) {
      r.loss += workers_[t].loss;
      r.correct += workers_[t].correct;
    }
    if (collective_) {
      double totals[2] = {r.loss, static_cast<double>(r.correct)};
      collective_->allreduce_sum(totals, 2);
      r.loss = totals[0];
      r.correct = static_cast<std::size_t>(totals[1]);
    }
    if (!std::isfinite(r.loss))
      throw TrainingDiverged(
          "the loss is not finite (the network's outputs overflowed); "
          "lower the learning rate");
    if (const std::size_t bad = reducer_.reduce(); bad != Net::parameter_count)
      throw_bad_gradient(bad);
    if (clip_norm_ > 0.0f) grad_norm_ = reducer_.clip(clip_norm_);
    if constexpr (Net::state_count > 0) {  // average the workers' running-statistics updates
      constexpr std::size_t S = Net::state_count;
      std::vector<double> acc(S + 1, 0.0);  // the sums, then the number of workers with samples
      for (std::size_t t = 0; t < T; ++t) {
        auto [begin, end] = split_range(n, first + t, G);
        if (end == begin) continue;
        acc[S] += 1;
        for (std::size_t i = 0; i < S; ++i) acc[i] += workers_[t].state[i];
      }
      if (collective_) collective_->allreduce_sum(acc.data(), acc.size());
      for (std::size_t i = 0; i < S; ++i) state[i] = static_cast<float>(acc[i] / acc[S]);
    }
    update_parameters();
    return r;
  }

  [[noreturn]] void throw_bad_gradient(std::size_t bad) const {
    throw TrainingDiverged("the gradient of " + Net::parameter_owner(bad) + " is " +
                           detail::describe_value(reducer_.gradient()[bad]) +
                           " (the parameters were left as they were before this batch); "
                           "lower the learning rate or check the loss");
  }

  /// Applies the optimizer to the reduced gradients and checks that every parameter stayed
  /// finite. Optimizers with begin_step(n) and update(offset, params, grads) (SGD, Adam) run on
  /// all threads, each on its own range of parameters; others get one step() call.
  void update_parameters() {
    const std::size_t P = Net::parameter_count;
    const float* grads = reducer_.gradient().data();
    auto params = net_.parameters();
    std::size_t bad = P;
    if constexpr (StepsInRanges<Optimizer>) {
      optimizer_.begin_step(P);
      bad = reducer_.over_ranges([&](std::size_t lo, std::size_t hi) {
        optimizer_.update(lo, params.subspan(lo, hi - lo),
                          std::span<const float>(grads + lo, hi - lo));
        return lo + detail::first_non_finite(params.data() + lo, hi - lo);
      });
    } else {
      optimizer_.step(params, std::span<const float>(grads, P));
      bad = detail::first_non_finite(params.data(), P);
    }
    if (bad != P)
      throw TrainingDiverged("the optimizer step made a parameter of " + Net::parameter_owner(bad) +
                             " " + detail::describe_value(params[bad]) +
                             " (an overflow: the learning rate is far too high); the network's "
                             "parameters are no longer usable");
  }

  struct Worker {
    Workspace<Net> ws;
    aligned_vector<float> grads, input, dout;
    std::vector<float> state, scratch, targets;
    std::vector<std::int32_t> labels;
    double loss = 0;
    std::size_t correct = 0;
    explicit Worker(std::size_t cap)
        : ws(cap), grads(Net::parameter_count), input(cap * IN), dout(cap * N) {}
  };

  Net& net_;
  Optimizer& optimizer_;
  ThreadPool pool_;
  std::uint64_t seed_;
  std::size_t max_batch_;
  Loss loss_;
  float clip_norm_ = 0.0f;
  double grad_norm_ = 0.0;
  data::Augmentation augmentation_;
  Collective* collective_ = nullptr;
  std::vector<Worker> workers_;
  detail::GradientReducer reducer_;  // after pool_: it keeps a reference to it
  detail::Staging staging_;          // this process's share of a batch read from a stream
};

}  // namespace ctnn
