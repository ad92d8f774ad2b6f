// The part of the example classifiers that does not depend on the network type: command-line
// handling, loading Fashion-MNIST, the training recipe and the report. Compiled once, in
// common.cpp (the ctnn_examples_common library); options.hpp adds the templates that construct,
// train, evaluate and save a network.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ctnn/callbacks.hpp>
#include <ctnn/collective.hpp>
#include <ctnn/data/augment.hpp>
#include <ctnn/data/dataset.hpp>
#include <ctnn/data/stream.hpp>
#include <ctnn/error.hpp>
#include <ctnn/io/checkpoint.hpp>
#include <ctnn/kernels/softmax.hpp>
#include <ctnn/loss.hpp>
#include <ctnn/metadata.hpp>
#include <ctnn/optim/adam.hpp>
#include <ctnn/optim/schedule.hpp>
#include <ctnn/optim/state.hpp>
#include <ctnn/reports.hpp>
#include <ctnn/train.hpp>
#include <exception>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace examples {

struct Options {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::size_t epochs = 5;
  std::size_t batch_size = 32;
  float lr = 1e-3f;
  std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::uint64_t seed = 1;
  std::string save;
  // The training recipe (see usage()).
  std::string schedule = "constant";
  double warmup = 0;
  float weight_decay = 0;
  float label_smoothing = 0;
  float clip_norm = 0;
  ctnn::data::Augmentation augment;
  double validation_split = 0;
  std::size_t early_stopping = 0;
  std::string history, confusion;
  std::string checkpoint, resume;
  // Data-parallel training over MPI (mpirun -np R ... --distributed).
  bool distributed = false;
  std::size_t allreduce_bucket = std::size_t{1} << 18;  // floats; 0: one sum after backward
};

/// A flag that one example takes in addition to the common ones. `value` names its argument
/// ("DIR"), or is empty for a flag without one; `set` receives the argument (nullptr without one)
/// and returns false when it is invalid.
struct ExtraFlag {
  std::string name;
  std::string value;
  std::string help;
  std::function<bool(const char*)> set;
};

/// Prints the options with the defaults of `defaults` (an example whose recipe differs from the
/// common one passes its own). `data_dir` false leaves out --data-dir (for examples that do not
/// read Fashion-MNIST); `extra` lines come before --help.
void usage(const char* prog, const char* what, std::ostream& os,
           const std::vector<ExtraFlag>& extra = {}, bool data_dir = true,
           const Options& defaults = {});

/// Why a model cannot be saved at `path` (empty when it can): the path names something other
/// than a regular file (a directory, a device, a FIFO, a socket, a dangling symbolic link: the
/// reasons of ctnn::io::detail::save_target), or the directory of the file it replaces (the
/// target of a symbolic link) does not exist or is not writable. ctnn::save writes a temporary
/// file next to that file and renames it, so what counts is the directory.
std::string unwritable(const std::string& path);

/// A finite decimal number ("0.2", "1e-3", "5"), the whole text read by std::from_chars: nothing
/// for any other text (" 1", "1 ", "+1", "0x10", "1e999", "nan", "", "1x").
std::optional<double> parse_real(const char* text);

/// A decimal integer from 0 (or, without `allow_zero`, 1) to 2^64 - 1, or nothing for any other
/// text ("-1", "", "12x", a number out of range): the value of an option that counts.
std::optional<std::uint64_t> parse_count(const char* text, bool allow_zero);

/// Parses argv over `defaults`; exits with status 0 after --help and 2 on a bad option. `extra`,
/// `data_dir` and `defaults` are as for usage().
Options parse(int argc, char** argv, const char* what, const std::vector<ExtraFlag>& extra = {},
              bool data_dir = true, const Options& defaults = {});

/// With --distributed, the MPI processes this one trains with (MPI is initialised on first use;
/// only process 0 writes to stdout from then on); otherwise nullptr.
ctnn::Collective* collective(const Options& o);

/// Whether this process writes the log and the files: always, but with --distributed only
/// process 0.
bool leader(const Options& o);

/// With --distributed, prints "NAME: process R of N: parameter checksum X" on stderr: equal on
/// every process when their parameters are bit-identical.
void print_checksum(const Options& o, const char* name, std::span<const float> parameters);

/// Whether `s` is valid UTF-8 (as nlohmann-json checks it when writing JSON): the metadata of a
/// model file, JSON, holds only UTF-8 text.
bool is_utf8(const std::string& s);

/// The ten Fashion-MNIST classes, in label order.
extern const std::vector<std::string> fashion_classes;

/// The Fashion-MNIST training and test sets, and how an image file becomes a sample like theirs
/// (28 x 28 grey, byte / 255, standardised as the sets are).
struct FashionMnist {
  ctnn::data::Dataset train, test;
  ctnn::Preprocessing preprocessing;
};

/// Loads Fashion-MNIST from --data-dir; with `standardize`, shifts and scales the pixels of both
/// sets to zero mean and unit variance with the training set's statistics (which the
/// preprocessing records as its mean and std). Throws what ctnn::data::load_fashion_mnist throws.
FashionMnist load_fashion(const Options& o, bool standardize = false);

/// Prints "NAME: error: WHAT" on stderr and returns 1, the exit status for it.
int report_error(const char* name, const std::exception& e);

/// Adam, or AdamW with --weight-decay, chosen when the program runs: one optimizer type, so that
/// the training code is compiled once. An optimizer for fit() and the checkpoint functions with
/// every capability of Adam's (ctnn::HasLearningRate, StepsInRanges, CountsEpochs, SavesState);
/// learning_rate and epochs_done are its own, which fit() sets and reads, and pass to the
/// optimizer chosen before each step and in state().
class AdamOrAdamW {
 public:
  /// AdamW with `weight_decay` when it is > 0, else Adam without weight decay.
  AdamOrAdamW(float learning_rate, float weight_decay);

  float learning_rate;
  std::size_t epochs_done = 0;

  /// Whether it is AdamW, and its weight decay.
  bool is_adamw() const { return chosen_.index() == 1; }
  float weight_decay() const;

  void step(std::span<float> params, std::span<const float> grads);
  void begin_step(std::size_t n);
  void update(std::size_t offset, std::span<float> params, std::span<const float> grads);
  /// The state of the optimizer chosen (type "Adam" or "AdamW").
  ctnn::OptimizerState state() const;
  /// Restores the optimizer chosen, learning_rate and epochs_done with it; throws what its
  /// restore() throws (InvalidArgument for the other one's state), changing nothing.
  void restore(const ctnn::OptimizerState& s);

 private:
  std::variant<ctnn::Adam, ctnn::AdamW> chosen_;
};

/// Softmax cross-entropy over the first `classes` outputs of a network (all of them when
/// `classes` is 0 or at least the output count N): ctnn::SoftmaxCrossEntropy's formula
/// (ctnn/loss.hpp, with its label smoothing) with `classes` in place of N. The other outputs get
/// a zero gradient. For a network with more outputs than its data set has classes (FolderCnn).
struct ClassesCrossEntropy {
  float label_smoothing = 0.0f;
  std::size_t classes = 0;

  /// Throws InvalidArgument as ctnn::SoftmaxCrossEntropy::check() does.
  void check(std::size_t n) const {
    ctnn::SoftmaxCrossEntropy all;
    all.label_smoothing = label_smoothing;
    all.check(n);
  }

  template <std::size_t N>
  float compute(const float* z, std::int32_t label, const float* target, float* dz,
                float scale) const {
    if (classes == 0 || classes >= N) {
      ctnn::SoftmaxCrossEntropy all;
      all.label_smoothing = label_smoothing;
      return all.template compute<N>(z, label, target, dz, scale);
    }
    const std::size_t n = classes;
    const auto [m, s] = ctnn::kernels::exp_shifted(z, dz, n);  // dz_j = exp(z_j - m), j < n
    const float inv = 1.0f / s, log_s = std::log(s), e = label_smoothing;
    float l = (1.0f - e) * (m + log_s - z[label]);
    if (e != 0.0f) {
      float mean_neg_log_p = 0;
      for (std::size_t j = 0; j < n; ++j) mean_neg_log_p += m + log_s - z[j];
      l += e * mean_neg_log_p / static_cast<float>(n);
    }
    for (std::size_t j = 0; j < n; ++j) dz[j] = scale * (dz[j] * inv - e / static_cast<float>(n));
    dz[label] -= scale * (1.0f - e);
    std::fill(dz + n, dz + N, 0.0f);
    return l;
  }
};

/// What train_and_report() does that does not depend on the network: the validation split, the
/// line naming the data and settings, the optimizer (Adam, or AdamW with --weight-decay), the
/// loss, the FitOptions with the schedule and the callbacks of the recipe, the schedule and the
/// callback whose state a checkpoint keeps, and the report after training.
/// Neither copied nor moved: the FitOptions point into it.
class Training {
 public:
  /// Splits off the validation set (--validation-split), sets up the recipe and prints the line
  /// naming the data and settings. Throws InvalidArgument when the training or the watched set
  /// is empty.
  Training(const Options& o, const char* name, const ctnn::data::Dataset& full_train,
           const ctnn::data::Dataset& test);
  /// The same for data read as streams (fit_options.test_stream is `test`); throws
  /// InvalidArgument with --validation-split, which needs the training set in memory.
  Training(const Options& o, const char* name, ctnn::data::SampleStream& train,
           ctnn::data::SampleStream& test);
  Training(const Training&) = delete;
  Training& operator=(const Training&) = delete;

  /// The training set: all of the given one, or what the validation split left of it.
  const ctnn::data::Dataset& train() const {
    return o_.validation_split > 0 ? train_part_ : *full_train_;
  }

  /// The training state a checkpoint of a new run starts from: the seed, batch size and threads,
  /// and the value "options.lr" (--lr, which resuming checks).
  ctnn::TrainingState initial_state() const;
  /// Throws `e`, which load_checkpoint() threw for --resume, with a hint at --weight-decay when
  /// it is about another optimizer's state.
  [[noreturn]] void resume_failed(const ctnn::InvalidArgument& e) const;
  /// Goes on from `earlier`, which load_checkpoint() read for --resume into the network, the
  /// optimizer, plateau() and stopping(): checks the seed, the batch size, the learning rate
  /// and the weight decay (throws InvalidArgument when they differ), prints the "resumed from"
  /// line (and says so when the checkpoint has trained --epochs already) and leaves to fit() the
  /// epochs up to --epochs.
  void resumed(ctnn::TrainingState& earlier);
  /// Adds the --history callback (with the epochs of `earlier`); before the checkpoint's.
  void add_history(const ctnn::TrainingState& earlier);
  /// The schedule and the callback with a state, which checkpoints keep: the plateau schedule
  /// (made whatever the schedule, used with --schedule plateau) and the early stopping (made
  /// always, used with --early-stopping).
  ctnn::ReduceLROnPlateau& plateau() { return *plateau_; }
  ctnn::EarlyStopping& stopping() { return stopping_; }

  /// Prints the line that says where the model was saved.
  void saved() const;
  /// Prints the confusion matrix of the test set (and writes it to --confusion) and last
  /// "test accuracy: 0.xxxx". With fewer class names than the network has outputs, the matrix
  /// is cut to the named classes when no sample was predicted as another output.
  void report(const ctnn::Evaluation& e, const std::vector<std::string>& class_names) const;

  AdamOrAdamW optimizer;
  ClassesCrossEntropy loss;
  ctnn::FitOptions fit_options;

 private:
  // The line naming the data and settings, and the FitOptions and recipe (test set aside).
  void set_up(const char* name, std::size_t train_size, std::size_t watched_size,
              std::size_t test_size);

  const Options& o_;
  const ctnn::data::Dataset* full_train_ = nullptr;
  ctnn::data::Dataset train_part_, validation_;
  std::shared_ptr<ctnn::ReduceLROnPlateau> plateau_;
  ctnn::EarlyStopping stopping_{1};
};

}  // namespace examples
