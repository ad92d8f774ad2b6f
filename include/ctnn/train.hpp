// ctnn/train.hpp — fit() and evaluate(): mini-batch training and evaluation on a Dataset.
//
// Data parallelism: each batch is split into `threads` contiguous shares; every thread runs
// forward and backward on its share with its own workspace and gradient array, and the
// gradients are summed in thread order into one array before the optimizer step. The same seed
// and thread count therefore give bit-identical training; different thread counts agree to
// within float reassociation, except for layers whose forward pass depends on the batch
// (BatchNorm normalises over each thread's share).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iomanip>
#include <limits>
#include <new>
#include <numeric>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "aligned.hpp"
#include "collective.hpp"
#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "data/stream.hpp"
#include "error.hpp"
#include "loss.hpp"
#include "network.hpp"
#include "optim/schedule.hpp"
#include "parallel.hpp"
#include "random.hpp"

namespace ctnn {

struct EpochReport;

/// What a fit() callback can do: stop training (after the current epoch, or from a batch
/// callback after the current batch).
struct TrainingControl {
  bool stop = false;
};

/// What fit() tells a batch callback after every optimizer step.
struct BatchReport {
  std::size_t epoch = 0;     ///< 1-based
  std::size_t batch = 0;     ///< 1-based, within the epoch
  std::size_t batches = 0;   ///< batches per epoch
  std::size_t samples = 0;   ///< samples in this batch
  double loss = 0;           ///< mean loss over the batch
  double learning_rate = 0;  ///< the optimizer's rate for this step
};

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
  /// Per-epoch lines go here (nullptr: silent).
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
  /// `program > log` keeps both the log and the progress on the screen).
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

/// What fit() measured in one epoch.
struct EpochReport {
  std::size_t epoch = 0;      ///< 1-based
  double loss = 0;            ///< mean training loss over the epoch's batches
  double train_accuracy = 0;  ///< fraction of training samples classified right (in training mode)
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();  ///< NaN without a test set
  double test_loss = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;            ///< training time of the epoch (without evaluation)
  double images_per_second = 0;  ///< training samples per second
  double learning_rate = 0;      ///< the optimizer's rate at the epoch's last step
  /// Distributed training: seconds this process waited, after its backward, for the gradient
  /// sums across processes (the communication its computation did not hide); 0 otherwise.
  double communication_seconds = 0;
};

/// Result of evaluate(): mean loss, accuracy and the confusion matrix
/// (confusion[true_class][predicted_class] counts).
struct Evaluation {
  double loss = 0;
  double accuracy = 0;
  std::vector<std::vector<std::size_t>> confusion;
};

namespace detail {

/// Index of the first NaN or infinity among x[0..n), or n when all are finite. The first pass
/// only ORs a flag per element (vectorisable); the second runs only when something was found.
inline std::size_t first_non_finite(const float* x, std::size_t n) {
  std::uint32_t any = 0;
  for (std::size_t i = 0; i < n; ++i)
    any |= (std::bit_cast<std::uint32_t>(x[i]) & 0x7f800000u) == 0x7f800000u;
  if (!any) return n;
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return i;
  return n;
}

inline std::string describe_value(float v) {
  return std::isnan(v) ? "NaN" : v > 0 ? "+infinity" : "-infinity";
}

/// Throws InvalidArgument unless samples of `sample_size` floats fit the network's input, there
/// is at least one, and every label_of(i), i < size, indexes one of its outputs.
template <class Net, class LabelOf>
void check_samples(std::size_t sample_size, std::size_t size, LabelOf label_of, const char* what) {
  if (sample_size != Net::input_shape::size)
    throw InvalidArgument(std::string(what) + ": samples have " + std::to_string(sample_size) +
                          " floats, the network's input " + Net::input_shape::name() + " needs " +
                          std::to_string(Net::input_shape::size));
  if (size == 0) throw InvalidArgument(std::string(what) + ": the data set is empty");
  for (std::size_t i = 0; i < size; ++i)
    if (const std::int32_t l = label_of(i);
        l < 0 || static_cast<std::size_t>(l) >= Net::output_shape::size)
      throw InvalidArgument(std::string(what) + ": label " + std::to_string(l) + " of sample " +
                            std::to_string(i) + " is outside the network's " +
                            std::to_string(Net::output_shape::size) + " outputs");
}

template <class Net>
void check_dataset(const data::Dataset& d, const char* what) {
  check_samples<Net>(
      d.sample_size, d.size(), [&](std::size_t i) { return d.labels[i]; }, what);
  if (d.inputs.size() != d.size() * d.sample_size)
    throw InvalidArgument(std::string(what) + ": inputs hold " + std::to_string(d.inputs.size()) +
                          " floats for " + std::to_string(d.size()) + " samples");
  if (const std::size_t i = first_non_finite(d.inputs.data(), d.inputs.size());
      i != d.inputs.size())
    throw InvalidArgument(std::string(what) + ": sample " + std::to_string(i / d.sample_size) +
                          " holds " + describe_value(d.inputs[i]) + " at element " +
                          std::to_string(i % d.sample_size) + "; inputs must be finite numbers");
}

template <class Net>
void check_stream(const data::SampleStream& d, const char* what) {
  check_samples<Net>(
      d.sample_size(), d.size(), [&](std::size_t i) { return d.label(i); }, what);
}

/// Throws InvalidArgument naming the sample when one of the n samples of `inputs` (read from a
/// stream, the `first`-th of the batch on) holds a NaN or an infinity.
inline void check_finite_samples(const float* inputs, std::size_t n, std::size_t sample_size,
                                 std::size_t first, const char* what) {
  if (const std::size_t i = first_non_finite(inputs, n * sample_size); i != n * sample_size)
    throw InvalidArgument(
        std::string(what) + ": sample " + std::to_string(first + i / sample_size) +
        " of the batch read from the stream holds " + describe_value(inputs[i]) + " at element " +
        std::to_string(i % sample_size) + "; inputs must be finite numbers");
}

inline std::size_t argmax(const float* x, std::size_t n) {
  return static_cast<std::size_t>(std::max_element(x, x + n) - x);
}

/// Share [begin, end) of `n` items for thread t of `threads`.
inline std::pair<std::size_t, std::size_t> share(std::size_t n, std::size_t t,
                                                 std::size_t threads) {
  return {n * t / threads, n * (t + 1) / threads};
}

// What the processes of a distributed run must agree on (check_agreement()).

inline std::string hex(std::uint64_t h) {
  std::ostringstream s;
  s << std::hex << std::setw(16) << std::setfill('0') << h;
  return s.str();
}

/// The network: its signature (the layers and their shapes), by hash.
template <class Net>
Setting network_setting() {
  const std::uint64_t h = hash_text(Net::signature());
  return Setting::digest("network", h,
                         std::to_string(Net::layer_count) + " layers, " +
                             std::to_string(Net::parameter_count) + " parameters, signature " +
                             hex(h));
}

/// A data set's size, sample size, classes, and a hash of its labels and inputs; `what` begins
/// the names ("training ", "test ").
inline void add_data_settings(std::vector<Setting>& out, const std::string& what,
                              const data::Dataset& d) {
  out.push_back(Setting::integer(what + "samples", d.size()));
  out.push_back(Setting::integer(what + "sample_size", d.sample_size));
  out.push_back(Setting::integer(what + "classes", d.classes));
  const std::uint64_t h = hash_words(std::span<const float>(d.inputs),
                                     hash_words(std::span<const std::int32_t>(d.labels)));
  out.push_back(Setting::digest(what + "data", h, "labels and inputs hash " + hex(h)));
}

/// The same for a stream, whose inputs are not read here: a hash of its labels.
inline void add_data_settings(std::vector<Setting>& out, const std::string& what,
                              const data::SampleStream& d) {
  out.push_back(Setting::integer(what + "samples", d.size()));
  out.push_back(Setting::integer(what + "sample_size", d.sample_size()));
  out.push_back(Setting::integer(what + "classes", d.classes()));
  std::uint64_t h = hash_text("");
  for (std::size_t i = 0; i < d.size(); ++i) {
    const std::int32_t l = d.label(i);
    h = hash_words(std::span<const std::int32_t>(&l, 1), h);
  }
  out.push_back(Setting::digest(what + "data", h, "labels hash " + hex(h)));
}

/// The settings of the loss function that change what it computes.
template <class Loss>
void add_loss_settings(std::vector<Setting>& out, const Loss& loss) {
  if constexpr (requires { float(loss.label_smoothing); })
    out.push_back(Setting::real("label_smoothing", loss.label_smoothing));
  if constexpr (requires { std::span<const float>(loss.class_weights); }) {
    std::string text = loss.class_weights.empty() ? "none" : "";
    for (const float w : loss.class_weights) {
      if (!text.empty()) text += ',';
      text += Setting::real("", w).text;
    }
    out.push_back(Setting::digest("class_weights",
                                  hash_words(std::span<const float>(loss.class_weights)), text));
  }
}

/// The optimizer: with a state() (SGD, Adam, AdamW; optim/state.hpp) its type, every setting,
/// its step and epoch counts and a hash of its buffers; otherwise its learning rate, if any.
template <class Optimizer>
void add_optimizer_settings(std::vector<Setting>& out, const Optimizer& optimizer) {
  if constexpr (requires { optimizer.state(); }) {
    const auto state = optimizer.state();
    out.push_back(Setting::label("optimizer", state.type));
    for (const auto& [name, value] : state.settings) out.push_back(Setting::real(name, value));
    out.push_back(Setting::integer("optimizer steps", state.steps));
    out.push_back(Setting::integer("epochs_done", state.epochs_done));
    std::uint64_t h = hash_text("");
    for (const auto& [name, buffer] : state.buffers)
      h = hash_words(std::span<const float>(buffer), hash_text(name, h));
    out.push_back(Setting::digest("optimizer state", h, "buffers hash " + hex(h)));
  } else if constexpr (requires { float(optimizer.learning_rate); }) {
    out.push_back(Setting::real("learning_rate", float(optimizer.learning_rate)));
  }
}

inline std::string describe(const data::Augmentation& a) {
  if (!a.enabled()) return "none";
  return "shift " + std::to_string(a.shift) + ", hflip " + (a.hflip ? "yes" : "no") + ", erase " +
         Setting::real("", a.erase).text + " (value " + Setting::real("", a.erase_value).text + ")";
}

/// The Evaluation of per-thread loss sums and confusion matrices (thread t's row a is
/// confusion[t * N + a]), summed over the threads and, with a collective, over the processes;
/// `size` samples in all. With a collective, first checks that every process has the same N
/// and size (SettingMismatch otherwise), since the sum's length depends on N.
inline Evaluation combine_evaluation(const std::vector<double>& loss,
                                     const std::vector<std::vector<std::size_t>>& confusion,
                                     std::size_t N, Collective* collective, std::size_t size) {
  if (collective) {
    const Setting sizes[] = {Setting::integer("classes", N), Setting::integer("samples", size)};
    check_agreement(*collective, sizes, "evaluate");
  }
  const std::size_t T = loss.size();
  Evaluation e;
  e.confusion.assign(N, std::vector<std::size_t>(N, 0));
  std::size_t right = 0;
  for (std::size_t t = 0; t < T; ++t) {
    e.loss += loss[t];
    for (std::size_t a = 0; a < N; ++a)
      for (std::size_t b = 0; b < N; ++b) e.confusion[a][b] += confusion[t * N + a][b];
  }
  if (collective) {  // counts below 2^53 are exact in doubles
    std::vector<double> totals(1 + N * N);
    totals[0] = e.loss;
    for (std::size_t a = 0; a < N; ++a)
      for (std::size_t b = 0; b < N; ++b) totals[1 + a * N + b] = double(e.confusion[a][b]);
    collective->allreduce_sum(totals.data(), totals.size());
    e.loss = totals[0];
    for (std::size_t a = 0; a < N; ++a)
      for (std::size_t b = 0; b < N; ++b)
        e.confusion[a][b] = static_cast<std::size_t>(totals[1 + a * N + b]);
  }
  for (std::size_t a = 0; a < N; ++a) right += e.confusion[a][a];
  e.loss /= static_cast<double>(size);
  e.accuracy = static_cast<double>(right) / static_cast<double>(size);
  return e;
}

/// With a collective, checks that every process evaluates the same network on the same data
/// with the same loss (check_agreement()).
template <class Net, class Loss, class Data>
void check_evaluation_agreement(Collective* collective, const Data& data, const Loss& loss) {
  if (!collective || collective->size() < 2) return;  // nothing to compare (nor to hash)
  std::vector<Setting> settings{network_setting<Net>()};
  add_data_settings(settings, "", data);
  add_loss_settings(settings, loss);
  check_agreement(*collective, settings, "evaluate");
}

inline bool stderr_is_terminal() {
  return ::isatty(2) == 1;
}

}  // namespace detail

/// Loss, accuracy and confusion matrix of `net` on `data` (inference mode), with `threads`
/// threads (0: all; no more than the samples evaluated here, since each holds a workspace), each
/// running its share of the data in forward calls of `batch_size` samples (small batches keep
/// activations in cache). With a `collective`, every process of the group calls evaluate() with
/// the same network and data, evaluates its share of the samples, and all get the totals; the
/// threads and batch_size may differ between the processes. Throws InvalidArgument when the data
/// does not fit the network; with a collective, SettingMismatch on every process when the
/// processes' networks (signatures), data (size, sample size, classes, a hash of labels and
/// inputs) or loss settings differ, checked before any other communication (check_agreement());
/// what the collective throws.
template <class Loss = SoftmaxCrossEntropy, class Net>
Evaluation evaluate(const Net& net, const data::Dataset& data, std::size_t threads = 0,
                    std::size_t batch_size = 16, const Loss& loss_function = Loss{},
                    Collective* collective = nullptr) {
  detail::check_dataset<Net>(data, "evaluate");
  loss_function.check(Net::output_shape::size);
  if (batch_size == 0) throw InvalidArgument("evaluate: batch size must be at least 1");
  detail::check_evaluation_agreement<Net>(collective, data, loss_function);
  constexpr std::size_t N = Net::output_shape::size;
  // This process's share of the samples, split among its threads.
  const auto part = collective ? detail::share(data.size(), collective->rank(), collective->size())
                               : std::pair<std::size_t, std::size_t>{0, data.size()};
  const std::size_t first = part.first, past = part.second;
  ThreadPool pool(detail::useful_threads(threads, past - first));
  const std::size_t T = pool.size();
  const std::size_t per_thread = batch_size;  // samples per forward call of each thread
  std::vector<Workspace<Net>> ws;
  for (std::size_t t = 0; t < T; ++t) ws.emplace_back(per_thread, inference_only);
  std::vector<double> loss(T, 0.0);
  std::vector<std::vector<std::size_t>> confusion(T * N, std::vector<std::size_t>(N, 0));
  pool.run([&](std::size_t t) {
    auto [begin, end] = detail::share(past - first, t, T);
    begin += first;
    end += first;
    std::array<float, N> dz;
    for (std::size_t i = begin; i < end; i += per_thread) {
      const std::size_t n = std::min(per_thread, end - i);
      const float* y = net.forward(data.sample(i), n, ws[t]);
      for (std::size_t s = 0; s < n; ++s) {
        loss[t] += loss_function.template compute<N>(y + s * N, data.labels[i + s], nullptr,
                                                     dz.data(), 1.0f);
        ++confusion[t * N + data.labels[i + s]][detail::argmax(y + s * N, N)];
      }
    }
  });
  return detail::combine_evaluation(loss, confusion, N, collective, data.size());
}

/// evaluate() on a stream (data::SampleStream): plans this process's share of the samples in
/// order (start()) and reads it in blocks of threads x batch_size samples, which the threads
/// share. The counts and the accuracy equal those of a Dataset holding the same samples; the
/// loss, summed in another order, agrees up to rounding. Throws as evaluate() on a Dataset (the
/// processes compare a hash of the stream's labels, not of its inputs), InvalidArgument when a
/// sample read holds a NaN or an infinity, and what the stream throws.
template <class Loss = SoftmaxCrossEntropy, class Net>
Evaluation evaluate(const Net& net, data::SampleStream& data, std::size_t threads = 0,
                    std::size_t batch_size = 16, const Loss& loss_function = Loss{},
                    Collective* collective = nullptr) {
  detail::check_stream<Net>(data, "evaluate");
  loss_function.check(Net::output_shape::size);
  if (batch_size == 0) throw InvalidArgument("evaluate: batch size must be at least 1");
  detail::check_evaluation_agreement<Net>(collective, data, loss_function);
  constexpr std::size_t IN = Net::input_shape::size, N = Net::output_shape::size;
  const auto [first, past] =
      collective ? detail::share(data.size(), collective->rank(), collective->size())
                 : std::pair<std::size_t, std::size_t>{0, data.size()};
  ThreadPool pool(detail::useful_threads(threads, past - first));
  const std::size_t T = pool.size();
  std::vector<Workspace<Net>> ws;
  for (std::size_t t = 0; t < T; ++t) ws.emplace_back(batch_size, inference_only);
  std::vector<double> loss(T, 0.0);
  std::vector<std::vector<std::size_t>> confusion(T * N, std::vector<std::size_t>(N, 0));
  std::vector<std::size_t> plan(past - first);
  std::iota(plan.begin(), plan.end(), first);
  data.start(std::move(plan));
  const std::size_t block = T * batch_size;
  aligned_vector<float> inputs(block * IN);
  std::vector<std::int32_t> labels(block);
  for (std::size_t i = first; i < past; i += block) {
    const std::size_t n = std::min(block, past - i);
    data.read(n, inputs.data(), labels.data());
    detail::check_finite_samples(inputs.data(), n, IN, 0, "evaluate");
    pool.run([&](std::size_t t) {
      const auto [begin, end] = detail::share(n, t, T);
      std::array<float, N> dz;
      for (std::size_t j = begin; j < end; j += batch_size) {
        const std::size_t m = std::min(batch_size, end - j);
        const float* y = net.forward(inputs.data() + j * IN, m, ws[t]);
        for (std::size_t s = 0; s < m; ++s) {
          loss[t] +=
              loss_function.template compute<N>(y + s * N, labels[j + s], nullptr, dz.data(), 1.0f);
          ++confusion[t * N + static_cast<std::size_t>(labels[j + s])]
                     [detail::argmax(y + s * N, N)];
        }
      }
    });
  }
  return detail::combine_evaluation(loss, confusion, N, collective, data.size());
}

/// One optimizer step at a time: the data-parallel forward, loss, backward, gradient reduction
/// and update that fit() repeats. Useful on its own for custom loops and benchmarks.
/// The network and the optimizer must outlive the Trainer.
template <class Net, class Optimizer, class Loss = SoftmaxCrossEntropy>
class Trainer {
  static constexpr std::size_t IN = Net::input_shape::size, N = Net::output_shape::size;

 public:
  /// What one step saw: summed loss over the batch and the number of samples classified right.
  struct Step {
    double loss = 0;
    std::size_t correct = 0;
  };

  /// Prepares per-thread workspaces for batches of up to max_batch samples on `threads` threads
  /// (0: one per hardware thread), but no more than max_batch: a thread beyond the batch would
  /// have no sample and still hold a workspace and a gradient (threads() says how many). Throws
  /// InvalidArgument when max_batch is 0 or the loss's settings are invalid (Loss::check).
  Trainer(Net& net, Optimizer& optimizer, std::size_t max_batch, std::size_t threads = 0,
          std::uint64_t seed = 1, Loss loss = Loss{})
      : net_(net),
        optimizer_(optimizer),
        pool_(detail::useful_threads(threads, max_batch)),
        seed_(seed),
        max_batch_(max_batch),
        loss_(std::move(loss)),
        grads_(Net::parameter_count) {
    if (max_batch == 0) throw InvalidArgument("Trainer: batch size must be at least 1");
    ready_ = std::vector<std::atomic<std::size_t>>(pool_.size());
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
  void distribute(Collective& c, std::size_t bucket_floats = std::size_t{1} << 18,
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
    buckets_.clear();
    if (bucket_floats == 0) return;
    // Whole layers, last layer first: a bucket closes once it holds bucket_floats (the first
    // layer closes the last one).
    constexpr auto offsets = []<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<std::size_t, sizeof...(I)>{Net::template parameter_offset<I>...};
    }
    (std::make_index_sequence<Net::layer_count>{});
    std::size_t top = Net::parameter_count;  // the upper end of the bucket being filled
    for (std::size_t i = Net::layer_count; i-- > 0;) {
      const std::size_t lo = offsets[i];
      if (top - lo >= bucket_floats || (i == 0 && top > lo)) {
        buckets_.push_back({lo, top});
        top = lo;
      }
    }
  }

  /// Seconds spent waiting for the gradient sums across processes after backward (the part of
  /// the communication that computation did not hide), over all steps so far.
  double communication_wait_seconds() const noexcept { return wait_seconds_; }

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
  /// The message says which of these happened and names the layer.
  Step step(const data::Dataset& data, const std::size_t* indices, std::size_t n,
            std::uint64_t step_id) {
    check_batch(n);
    return run_step(
        [&](std::size_t position, float* input) {
          const std::size_t i = indices[position];
          std::copy_n(data.sample(i), IN, input);
          return data.labels[i];
        },
        n, step_id);
  }

  /// One step on a batch of n samples read from a stream: this process reads the samples of its
  /// share of the batch, positions local_share(n) (all n without a collective), with
  /// data.read(), so the caller plans them (data.start()) batch after batch; see fit(). Throws as
  /// the other step(), InvalidArgument when a sample read holds a NaN or an infinity, and what
  /// the stream throws.
  Step step(data::SampleStream& data, std::size_t n, std::uint64_t step_id) {
    check_batch(n);
    const auto share = local_share(n);
    const std::size_t lo = share.first, hi = share.second;
    staged_inputs_.resize((hi - lo) * IN);
    staged_labels_.resize(hi - lo);
    if (hi > lo) {
      data.read(hi - lo, staged_inputs_.data(), staged_labels_.data());
      detail::check_finite_samples(staged_inputs_.data(), hi - lo, IN, lo, "Trainer::step");
    }
    return run_step(
        [&](std::size_t position, float* input) {
          std::copy_n(staged_inputs_.data() + (position - lo) * IN, IN, input);
          return staged_labels_[position - lo];
        },
        n, step_id);
  }

  /// The positions [begin, end) of a batch of n samples that this process computes: all of
  /// them, or with a collective (distribute()) the shares of its threads' workers.
  std::pair<std::size_t, std::size_t> local_share(std::size_t n) const {
    const std::size_t T = pool_.size();
    const std::size_t G = T * (collective_ ? collective_->size() : 1);
    const std::size_t first = T * (collective_ ? collective_->rank() : 0);
    return {detail::share(n, first, G).first, detail::share(n, first + T - 1, G).second};
  }

 private:
  void check_batch(std::size_t n) const {
    if (n == 0 || n > max_batch_)
      throw InvalidArgument("Trainer::step: batch of " + std::to_string(n) +
                            " samples, the trainer takes 1 to " + std::to_string(max_batch_));
  }

  // The step itself; fetch(position, input) copies the batch's sample at `position` to `input`
  // and returns its label.
  template <class Fetch>
  Step run_step(Fetch fetch, std::size_t n, std::uint64_t step_id) {
    const std::size_t T = pool_.size();
    // The batch is shared among all workers of all processes; this process's are numbered from
    // `first` among G.
    const std::size_t G = T * (collective_ ? collective_->size() : 1);
    const std::size_t first = T * (collective_ ? collective_->rank() : 0);
    const float scale = 1.0f / static_cast<float>(n);
    auto state = net_.state();
    // Buckets of the gradient start their sum across processes during backward (distribute()).
    const bool overlap = collective_ && !buckets_.empty();
    if (overlap) {
      for (auto& r : ready_) r.store(Net::parameter_count, std::memory_order_relaxed);
      next_bucket_ = 0;
    }
    pool_.run([&](std::size_t t) {
      Worker& w = workers_[t];
      auto [begin, end] = detail::share(n, first + t, G);
      const std::size_t m = end - begin;
      w.loss = 0;
      w.correct = 0;
      std::fill(w.grads.begin(), w.grads.end(), 0.0f);
      if (m == 0) {
        if (overlap) ready_[t].store(0, std::memory_order_release);
        return;
      }
      w.labels.resize(m);
      for (std::size_t s = 0; s < m; ++s) w.labels[s] = fetch(begin + s, w.input.data() + s * IN);
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
        w.loss += loss_.template compute<N>(y + s * N, w.labels[s], nullptr, w.dout.data() + s * N,
                                            scale);
        w.correct += detail::argmax(y + s * N, N) == static_cast<std::size_t>(w.labels[s]);
      }
      if (!overlap) {
        net_.backward(w.input.data(), w.dout.data(), w.grads.data(), m, w.ws, true);
        return;
      }
      net_.backward(w.input.data(), w.dout.data(), w.grads.data(), m, w.ws, true,
                    [&](std::size_t k) {
                      ready_[t].store(k, std::memory_order_release);
                      if (t == 0) start_buckets();  // the calling thread makes the MPI calls
                    });
    });
    if (overlap) {
      start_buckets();  // the rest: every worker is done
      timed_wait([&] {
        for (const Bucket& b : buckets_) collective_->wait(b.handle);
      });
    }
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
    if (overlap)
      check_gradients();
    else
      reduce_gradients();
    clip_gradients();
    if constexpr (Net::state_count > 0) {  // average the workers' running-statistics updates
      constexpr std::size_t S = Net::state_count;
      std::vector<double> acc(S + 1, 0.0);  // the sums, then the number of workers with samples
      for (std::size_t t = 0; t < T; ++t) {
        auto [begin, end] = detail::share(n, first + t, G);
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

  /// Parameter range [lo, hi) of thread t: whole cache lines, one range per thread.
  std::pair<std::size_t, std::size_t> parameter_range(std::size_t t) const {
    const std::size_t T = pool_.size(), P = grads_.size(), lines = (P + 15) / 16;
    return {std::min(P, lines * t / T * 16), std::min(P, lines * (t + 1) / T * 16)};
  }

  /// Runs f(lo, hi) on every thread's parameter range; returns the smallest index f reported
  /// (f returns hi for "nothing to report").
  template <class F>
  std::size_t over_parameter_ranges(F f) {
    std::vector<std::size_t> found(pool_.size(), grads_.size());
    pool_.run([&](std::size_t t) {
      const auto [lo, hi] = parameter_range(t);
      if (lo == hi) return;
      if (const std::size_t r = f(lo, hi); r != hi) found[t] = r;
    });
    return *std::min_element(found.begin(), found.end());
  }

  /// grads_[lo, hi) = thread 0's gradient, plus thread 1's, ..., in that order for every
  /// parameter, so that the result does not depend on how the work is split.
  void sum_workers(std::size_t lo, std::size_t hi) {
    std::copy(workers_[0].grads.begin() + lo, workers_[0].grads.begin() + hi, grads_.begin() + lo);
    for (std::size_t t = 1; t < workers_.size(); ++t)
      for (std::size_t i = lo; i < hi; ++i) grads_[i] += workers_[t].grads[i];
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

  /// Throws TrainingDiverged when a summed gradient is not finite.
  void check_gradients() {
    const std::size_t bad = over_parameter_ranges([&](std::size_t lo, std::size_t hi) {
      return lo + detail::first_non_finite(grads_.data() + lo, hi - lo);
    });
    if (bad != grads_.size()) throw_bad_gradient(bad);
  }

  [[noreturn]] void throw_bad_gradient(std::size_t bad) const {
    throw TrainingDiverged("the gradient of " + Net::parameter_owner(bad) + " is " +
                           detail::describe_value(grads_[bad]) +
                           " (the parameters were left as they were before this batch); "
                           "lower the learning rate or check the loss");
  }

  /// Sums the threads' gradients into grads_ (sum_workers, on all threads), then across the
  /// processes when distributed, and throws TrainingDiverged when a sum is not finite (checked
  /// in the same pass in one process; after the sum across processes, the same everywhere).
  void reduce_gradients() {
    const std::size_t bad = over_parameter_ranges([&](std::size_t lo, std::size_t hi) {
      sum_workers(lo, hi);
      return collective_ ? hi : lo + detail::first_non_finite(grads_.data() + lo, hi - lo);
    });
    if (collective_) {
      timed_wait([&] { collective_->allreduce_sum(grads_.data(), grads_.size()); });
      return check_gradients();
    }
    if (bad != grads_.size()) throw_bad_gradient(bad);
  }

  /// Computes the global L2 norm of grads_ (per-range sums in double, added in thread order)
  /// and scales grads_ when it exceeds clip_norm_.
  void clip_gradients() {
    if (clip_norm_ <= 0.0f) return;
    std::vector<double> sums(pool_.size(), 0.0);
    pool_.run([&](std::size_t t) {
      const auto [lo, hi] = parameter_range(t);
      double s = 0;
      for (std::size_t i = lo; i < hi; ++i) s += double(grads_[i]) * grads_[i];
      sums[t] = s;
    });
    double total = 0;
    for (double x : sums) total += x;
    grad_norm_ = std::sqrt(total);
    if (grad_norm_ <= clip_norm_) return;
    const auto scale = static_cast<float>(clip_norm_ / (grad_norm_ + 1e-6));
    pool_.run([&](std::size_t t) {
      const auto [lo, hi] = parameter_range(t);
      for (std::size_t i = lo; i < hi; ++i) grads_[i] *= scale;
    });
  }

  /// Applies the optimizer to the reduced gradients and checks that every parameter stayed
  /// finite. Optimizers with begin_step(n) and update(offset, params, grads) (SGD, Adam) run on
  /// all threads, each on its own range of parameters; others get one step() call.
  void update_parameters() {
    const std::size_t P = grads_.size();
    auto params = net_.parameters();
    std::size_t bad = P;
    if constexpr (requires(Optimizer & o, std::span<float> p, std::span<const float> g) {
                    o.begin_step(std::size_t{});
                    o.update(std::size_t{}, p, g);
                  }) {
      optimizer_.begin_step(P);
      bad = over_parameter_ranges([&](std::size_t lo, std::size_t hi) {
        optimizer_.update(lo, params.subspan(lo, hi - lo),
                          std::span<const float>(grads_.data() + lo, hi - lo));
        return lo + detail::first_non_finite(params.data() + lo, hi - lo);
      });
    } else {
      optimizer_.step(params, std::span<const float>(grads_.data(), P));
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
    std::vector<float> state, scratch;
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
  struct Bucket {
    std::size_t lo = 0, hi = 0, handle = 0;
  };
  std::vector<Bucket> buckets_;  // last layers first
  std::size_t next_bucket_ = 0;
  std::vector<std::atomic<std::size_t>> ready_;  // per worker: its backward is done from here on
  double wait_seconds_ = 0;
  std::vector<Worker> workers_;
  aligned_vector<float> grads_;
  aligned_vector<float> staged_inputs_;  // this process's share of a batch read from a stream
  std::vector<std::int32_t> staged_labels_;
};

namespace detail {

/// What decides fit()'s computation besides the trainer's own settings (Trainer::distribute):
/// the processes compare these before training (FitOptions::collective). Epochs first + 1 ..
/// last of `batches` steps each.
template <class Data>
std::vector<Setting> fit_settings(const Data& train, const FitOptions& options, std::size_t first,
                                  std::size_t last, std::size_t batches) {
  std::vector<Setting> settings;
  add_data_settings(settings, "training ", train);
  settings.push_back(Setting::integer("batch_size", options.batch_size));
  settings.push_back(Setting::integer("epochs", options.epochs));
  settings.push_back(Setting::flag("shuffle", options.shuffle));
  if (options.schedule && last > first) {  // its rates at the first, middle and last step
    std::string text;
    std::uint64_t h = hash_text("");
    for (const std::size_t step :
         {first * batches, (first + last) * batches / 2, last * batches - 1}) {
      const float lr = options.schedule(TrainingProgress{step, step / batches, last, batches});
      h = hash_words(std::span<const float>(&lr, 1), h);
      if (!text.empty()) text += ", ";
      text += Setting::real("", lr).text;
    }
    settings.push_back(Setting::digest("schedule", h, "rates " + text));
  } else {
    settings.push_back(Setting::label("schedule", options.schedule ? "set" : "none"));
  }
  settings.push_back(Setting::label("test set", options.test          ? "in memory"
                                                : options.test_stream ? "a stream"
                                                                      : "none"));
  if (options.test) add_data_settings(settings, "test ", *options.test);
  if (options.test_stream) add_data_settings(settings, "test ", *options.test_stream);
  return settings;
}

/// fit()'s epochs over a checked Dataset or SampleStream.
template <class Loss, class Net, class Optimizer, class Data>
std::vector<EpochReport> fit_epochs(Net& net, Optimizer& optimizer, Data& train,
                                    const FitOptions& options, const Loss& loss_function) {
  constexpr bool streamed = std::is_base_of_v<data::SampleStream, Data>;
  if (options.test && options.test_stream)
    throw InvalidArgument("fit: give the test set as `test` or as `test_stream`, not both");
  if (options.test) detail::check_dataset<Net>(*options.test, "fit (test set)");
  if (options.test_stream) detail::check_stream<Net>(*options.test_stream, "fit (test set)");
  if (options.batch_size == 0) throw InvalidArgument("fit: batch size must be at least 1");
  if (options.learning_rate) optimizer.learning_rate = *options.learning_rate;
  if constexpr (requires { float(optimizer.learning_rate); })
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
  const bool progress = options.progress && leader && detail::stderr_is_terminal();
  const std::size_t batches = (train.size() + B - 1) / B;
  std::size_t first = 0;  // epochs trained before this call
  if constexpr (requires { std::size_t(optimizer.epochs_done); }) first = optimizer.epochs_done;
  if (options.epochs > std::numeric_limits<std::size_t>::max() - first)
    throw InvalidArgument("fit: the optimizer has trained " + std::to_string(first) + " epochs; " +
                          std::to_string(options.epochs) + " more overflow the epoch count");
  const std::size_t last = first + options.epochs;
  if (options.collective) {
    // Alone, nothing to compare (nor to hash).
    const auto settings = options.collective->size() > 1
                              ? fit_settings(train, options, first, last, batches)
                              : std::vector<Setting>{};
    trainer.distribute(*options.collective, options.allreduce_bucket, settings);
  }

  for (std::size_t done = first; done < last; ++done) {
    const std::size_t epoch = done + 1;
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (options.shuffle) {  // Fisher-Yates, from a generator of this epoch's own
      Rng shuffle_rng(derive_seed(options.seed, 0x5f3759df, epoch));
      for (std::size_t i = order.size() - 1; i > 0; --i)
        std::swap(order[i], order[shuffle_rng.below(i + 1)]);
    }
    if constexpr (streamed) {  // this process's samples of every batch, in batch order
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
        if constexpr (streamed)
          st = trainer.step(train, bn, (epoch - 1) * batches + bi);
        else
          st = trainer.step(train, order.data() + b0, bn, (epoch - 1) * batches + bi);
      } catch (const TrainingDiverged& e) {
        if (progress) std::fprintf(stderr, "\n");
        throw TrainingDiverged("training diverged at batch " + std::to_string(bi + 1) +
                               " of epoch " + std::to_string(epoch) + ": " + e.what());
      }
      loss_sum += st.loss;
      right += st.correct;
      seen += bn;
      if (!options.on_batch_end.empty()) {
        BatchReport br;
        br.epoch = epoch;
        br.batch = bi + 1;
        br.batches = batches;
        br.samples = bn;
        br.loss = st.loss / static_cast<double>(bn);
        if constexpr (requires { double(optimizer.learning_rate); })
          br.learning_rate = double(optimizer.learning_rate);
        TrainingControl batch_control;
        for (const auto& callback : options.on_batch_end) callback(br, batch_control);
        stop = batch_control.stop;
      }
      if (progress && (bi % 20 == 0 || bi + 1 == batches || stop)) {
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "\repoch %zu/%zu  batch %zu/%zu  loss %.4f  %.0f images/s   ", epoch,
                     last, bi + 1, batches, loss_sum / double(b0 + bn),
                     double(b0 + bn) / std::max(secs, 1e-9));
        if (bi + 1 == batches || stop) std::fprintf(stderr, "\r%*s\r", 70, "");
        std::fflush(stderr);
      }
    }
    EpochReport r;
    r.epoch = epoch;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.loss = loss_sum / static_cast<double>(seen);
    r.train_accuracy = static_cast<double>(right) / static_cast<double>(seen);
    r.images_per_second = static_cast<double>(seen) / r.seconds;
    r.communication_seconds = trainer.communication_wait_seconds() - waited_before;
    if constexpr (requires { double(optimizer.learning_rate); })
      r.learning_rate = double(optimizer.learning_rate);
    if (options.test || options.test_stream) {
      const Evaluation e = options.test ? evaluate(net, *options.test, trainer.threads(), 16,
                                                   loss_function, options.collective)
                                        : evaluate(net, *options.test_stream, trainer.threads(), 16,
                                                   loss_function, options.collective);
      r.test_accuracy = e.accuracy;
      r.test_loss = e.loss;
    }
    if (options.log && leader) {
      std::ostringstream line;
      line << std::fixed << "epoch " << epoch << "/" << last << "  loss " << std::setprecision(4)
           << r.loss << "  train accuracy " << r.train_accuracy;
      if (options.test || options.test_stream)
        line << "  test loss " << r.test_loss << "  test accuracy " << r.test_accuracy;
      line << "  " << std::setprecision(0) << r.images_per_second << " images/s  "
           << std::setprecision(1) << r.seconds << " s";
      if (options.collective)
        line << " (" << std::setprecision(2) << r.communication_seconds
             << " s waiting for the other processes)";
      line << "\n";
      *options.log << line.str() << std::flush;
    }
    reports.push_back(r);
    if constexpr (requires { std::size_t(optimizer.epochs_done); }) optimizer.epochs_done = epoch;
    TrainingControl control;
    for (const auto& callback : options.on_epoch_end) callback(r, control);
    if (control.stop || stop) break;
  }
  return reports;
}

}  // namespace detail

/// Trains `net` on `train` with `optimizer` (any type with step(span<float>, span<const float>)
/// and a learning_rate member) for options.epochs epochs of mini-batches; returns one report per
/// epoch and writes a line per epoch to options.log. The gradient of each step is the mean over
/// the batch; a batch size larger than the data set is taken as the data set's size. Throws
/// InvalidArgument for data that does not fit the network, holds a NaN or an infinity (naming the
/// sample), a zero batch size or a learning rate that is negative or not finite; TrainingDiverged
/// when a batch's loss or gradient is not finite, or the update overflows a parameter (naming
/// epoch, batch, what went non-finite and the layer; see Trainer::step); ctnn::Error when the
/// threads or the training memory cannot be had; with a collective, SettingMismatch on every
/// process when the processes' data or settings differ (FitOptions::collective), before any
/// parameter is sent or changed.
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
  return detail::fit_epochs(net, optimizer, train, options, loss_function);
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
  return detail::fit_epochs(net, optimizer, train, options, loss_function);
}

}  // namespace ctnn
