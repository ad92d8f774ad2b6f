// Command-line handling and the train-then-evaluate driver shared by the example classifiers.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctnn/callbacks.hpp>
#include <ctnn/ctnn.hpp>
#include <exception>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
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

/// Prints the options. `data_dir` false leaves out --data-dir (for examples that do not read
/// Fashion-MNIST); `extra` lines come before --help.
inline void usage(const char* prog, const char* what, std::ostream& os,
                  const std::vector<ExtraFlag>& extra = {}, bool data_dir = true) {
  os << "usage: " << prog << " [options]\n" << what << "\n\n";
  if (data_dir)
    os << "  --data-dir DIR     Fashion-MNIST idx files (default "
          "/usr/share/datasets/fashion-mnist)\n";
  os << "  --epochs N         training epochs (default 5)\n"
     << "  --batch-size N     mini-batch size (default 32)\n"
     << "  --lr X             Adam learning rate (default 0.001)\n"
     << "  --threads N        training threads (default: all cores)\n"
     << "  --seed N           seed of initialisation, shuffling and dropout (default 1)\n"
     << "  --save PATH        write the trained model to PATH\n"
     << "  --schedule S       learning-rate schedule (default constant):\n"
     << "                       constant; step (x0.1 every third of the epochs);\n"
     << "                       cosine (to 0 at the end, after --warmup); onecycle (up to --lr\n"
     << "                       over the first 30% of the steps, then down); plateau (x0.5\n"
     << "                       after 2 epochs without a lower validation or test loss)\n"
     << "  --warmup EPOCHS    linear warm-up before the cosine schedule (default 0)\n"
     << "  --weight-decay W   decoupled weight decay: AdamW instead of Adam (default 0)\n"
     << "  --label-smoothing E  label smoothing of the cross-entropy, in [0, 1) (default 0)\n"
     << "  --clip-norm N      clip the gradient to global L2 norm N (default: off)\n"
     << "  --augment LIST     training-image augmentation, comma-separated: shift (up to 2\n"
     << "                       pixels), hflip (mirror), erase (random erasing, p = 0.5)\n"
     << "  --validation-split F  hold out a stratified fraction F of the training set, report\n"
     << "                       it every epoch and keep the test set for the end\n"
     << "  --early-stopping P stop after P epochs without a lower validation (or test) loss\n"
     << "  --history PATH     write the per-epoch history as CSV (rewritten every epoch)\n"
     << "  --confusion PATH   write the test set's confusion matrix as CSV\n"
     << "  --checkpoint PATH  write a checkpoint after every epoch: the network, the optimizer's\n"
     << "                       state, the schedule's and callbacks' state and the history\n"
     << "  --resume PATH      go on from a checkpoint up to --epochs in all; give the options\n"
     << "                       of the first run (seed, batch size, schedule, ...)\n";
  for (const ExtraFlag& x : extra) {
    std::string left = "  " + x.name + (x.value.empty() ? "" : " " + x.value);
    left.resize(std::max<std::size_t>(left.size() + 1, 21), ' ');
    os << left << x.help << "\n";
  }
  os << "  --help             this text\n";
}

/// Why a model cannot be saved at `path` (empty when it can): the path names a directory, or its
/// directory does not exist or is not writable. ctnn::save writes a temporary file next to
/// `path` and renames it, so what counts is the directory.
inline std::string unwritable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return "it is a directory";
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  if (::stat(dir.c_str(), &st) != 0) return "directory '" + dir + "': " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "'" + dir + "' is not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return "directory '" + dir + "': " + std::strerror(errno);
  return {};
}

/// Parses argv; exits with status 0 after --help and 2 on a bad option. `extra` and `data_dir`
/// are as for usage().
inline Options parse(int argc, char** argv, const char* what,
                     const std::vector<ExtraFlag>& extra = {}, bool data_dir = true) {
  Options o;
  auto fail = [&](const std::string& msg) {
    std::cerr << argv[0] << ": " << msg << "\n";
    usage(argv[0], what, std::cerr, extra, data_dir);
    std::exit(2);
  };
  // A decimal integer from 0 (or 1) to 2^64 - 1: strtoull alone would take "-1" as 2^64 - 1.
  auto number = [&](std::string_view flag, const char* text, bool allow_zero) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (errno || *end || end == text || !(*text >= '0' && *text <= '9') || (!allow_zero && v == 0))
      fail(std::string("invalid value for ") + std::string(flag) + ": '" + text + "'");
    return static_cast<std::uint64_t>(v);
  };
  // A finite number in [lo, hi] (hi itself only when hi_inclusive).
  auto real = [&](std::string_view flag, const char* text, double lo, double hi,
                  bool hi_inclusive) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(text, &end);
    if (errno || *end || end == text || !std::isfinite(v) || v < lo || v > hi ||
        (!hi_inclusive && v == hi))
      fail(std::string("invalid value for ") + std::string(flag) + ": '" + text + "'");
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      usage(argv[0], what, std::cout, extra, data_dir);
      std::exit(0);
    }
    const auto x =
        std::find_if(extra.begin(), extra.end(), [&](const ExtraFlag& f) { return a == f.name; });
    if (x != extra.end()) {
      const char* v = nullptr;
      if (!x->value.empty()) {
        if (i + 1 >= argc) fail("missing value for " + x->name);
        v = argv[++i];
      }
      if (!x->set(v))
        fail("invalid value for " + x->name + (v ? std::string(": '") + v + "'" : std::string()));
      continue;
    }
    if (i + 1 >= argc) fail("unknown option or missing value: " + std::string(a));
    const char* v = argv[++i];
    if (a == "--data-dir" && data_dir)
      o.data_dir = v;
    else if (a == "--epochs")
      o.epochs = number(a, v, true);
    else if (a == "--batch-size")
      o.batch_size = number(a, v, false);
    else if (a == "--threads")
      o.threads = number(a, v, false);
    else if (a == "--seed")
      o.seed = number(a, v, true);
    else if (a == "--save") {
      o.save = v;
      if (o.save.empty()) fail("--save needs a file name");
      // Found out now rather than after the training it would throw away.
      if (const std::string why = unwritable(o.save); !why.empty())
        fail("cannot save to '" + o.save + "': " + why);
    } else if (a == "--history" || a == "--confusion" || a == "--checkpoint") {
      std::string& path = a == "--history"     ? o.history
                          : a == "--confusion" ? o.confusion
                                               : o.checkpoint;
      path = v;
      if (path.empty()) fail(std::string(a) + " needs a file name");
      if (const std::string why = unwritable(path); !why.empty())
        fail("cannot write '" + path + "': " + why);
    } else if (a == "--resume") {
      o.resume = v;
      if (o.resume.empty()) fail("--resume needs a file name");
      if (::access(v, R_OK) != 0)
        fail("cannot resume from '" + o.resume + "': " + std::strerror(errno));
    } else if (a == "--schedule") {
      o.schedule = v;
      if (o.schedule != "constant" && o.schedule != "step" && o.schedule != "cosine" &&
          o.schedule != "onecycle" && o.schedule != "plateau")
        fail(std::string("invalid value for --schedule: '") + v +
             "' (constant, step, cosine, onecycle or plateau)");
    } else if (a == "--warmup") {
      o.warmup = real(a, v, 0.0, 1e9, true);
    } else if (a == "--weight-decay") {
      o.weight_decay = float(real(a, v, 0.0, 1.0, true));
    } else if (a == "--label-smoothing") {
      o.label_smoothing = float(real(a, v, 0.0, 1.0, false));
    } else if (a == "--clip-norm") {
      o.clip_norm = float(real(a, v, 0.0, 1e30, false));
      if (o.clip_norm == 0.0f)
        fail("invalid value for --clip-norm: '" + std::string(v) + "' (> 0)");
    } else if (a == "--validation-split") {
      o.validation_split = real(a, v, 0.0, 1.0, false);
    } else if (a == "--early-stopping") {
      o.early_stopping = number(a, v, false);
    } else if (a == "--augment") {
      try {
        o.augment = ctnn::data::parse_augmentation(v);
      } catch (const ctnn::Error& e) {
        fail(std::string("invalid value for --augment: ") + e.what());
      }
    } else if (a == "--lr") {
      char* end = nullptr;
      errno = 0;
      o.lr = std::strtof(v, &end);
      if (errno || *end || end == v || !std::isfinite(o.lr) || !(o.lr > 0.0f))
        fail(std::string("invalid value for --lr: '") + v + "' (a finite number > 0)");
    } else
      fail("unknown option: " + std::string(a));
  }
  if (o.warmup > 0 && o.schedule != "cosine") fail("--warmup applies to --schedule cosine");
  return o;
}

/// The ten Fashion-MNIST classes, in label order.
inline const std::vector<std::string> fashion_classes = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/// Prints a line naming the data and settings and the network summary, trains a new network
/// with Adam (AdamW with --weight-decay) and the recipe's options, printing one line per epoch,
/// saves it when --save was given, prints the confusion matrix and last
/// "test accuracy: 0.xxxx". Returns the trained network. Throws what fit(), evaluate() and save()
/// throw.
template <class Net>
std::unique_ptr<Net> train_and_report(const Options& o, const char* name,
                                      const ctnn::data::Dataset& full_train,
                                      const ctnn::data::Dataset& test,
                                      const std::vector<std::string>& class_names = {}) {
  ctnn::data::Dataset train_part, validation;
  if (o.validation_split > 0)
    std::tie(train_part, validation) =
        ctnn::data::stratified_split(full_train, o.validation_split, o.seed);
  const ctnn::data::Dataset& train = o.validation_split > 0 ? train_part : full_train;
  const ctnn::data::Dataset& watched = o.validation_split > 0 ? validation : test;
  if (train.size() == 0 || watched.size() == 0)
    throw ctnn::InvalidArgument("--validation-split " + std::to_string(o.validation_split) +
                                " leaves " + std::to_string(train.size()) + " training and " +
                                std::to_string(watched.size()) + " validation images");

  std::cout << name << ": " << train.size() << " training, "
            << (o.validation_split > 0 ? std::to_string(validation.size()) + " validation and "
                                       : std::string())
            << test.size() << " test images, " << o.threads << " threads, batch " << o.batch_size
            << ", " << (o.weight_decay > 0 ? "AdamW" : "Adam") << " lr " << o.lr << ", schedule "
            << o.schedule << ", seed " << o.seed << "\n";
  ctnn::summary<Net>(std::cout);
  auto net = std::make_unique<Net>(o.seed);
  ctnn::FitOptions fo;
  fo.epochs = o.epochs;
  fo.batch_size = o.batch_size;
  fo.threads = o.threads;
  fo.seed = o.seed;
  fo.test = &watched;
  fo.log = &std::cout;
  fo.clip_norm = o.clip_norm;
  fo.augmentation = o.augment;
  auto plateau = std::make_shared<ctnn::ReduceLROnPlateau>(o.lr, 0.5f, 2);
  if (o.schedule == "step")
    fo.schedule = ctnn::StepLR(o.lr, std::max<std::size_t>(1, o.epochs / 3), 0.1f);
  else if (o.schedule == "cosine")
    fo.schedule = ctnn::CosineLR(o.lr, o.warmup);
  else if (o.schedule == "onecycle")
    fo.schedule = ctnn::OneCycleLR(o.lr);
  else if (o.schedule == "plateau") {
    fo.schedule = [plateau](const ctnn::TrainingProgress& p) { return (*plateau)(p); };
    fo.on_epoch_end.push_back([plateau](const ctnn::EpochReport& r, ctnn::TrainingControl&) {
      if (plateau->observe(r.test_loss))
        std::cout << "learning rate lowered to " << plateau->rate() << "\n";
    });
  }
  std::optional<ctnn::EarlyStopping> stopping;
  if (o.early_stopping > 0) {
    stopping.emplace(o.early_stopping);
    fo.on_epoch_end.push_back(*stopping);
    fo.on_epoch_end.push_back([&](const ctnn::EpochReport& r, ctnn::TrainingControl& c) {
      if (c.stop)
        std::cout << "early stop after epoch " << r.epoch << ": no lower "
                  << (o.validation_split > 0 ? "validation" : "test") << " loss for "
                  << o.early_stopping << " epochs\n";
    });
  }
  ctnn::SoftmaxCrossEntropy loss;
  loss.label_smoothing = o.label_smoothing;

  // What a checkpoint keeps besides the network and the optimizer: the schedule's and the
  // early stopping's state, by name.
  auto collect = [&](ctnn::TrainingState& t) {
    t.values["plateau.best"] = plateau->best();
    t.values["plateau.bad_epochs"] = double(plateau->bad_epochs());
    t.values["plateau.scale"] = plateau->scale();
    if (stopping) {
      t.values["early_stopping.best"] = stopping->best();
      t.values["early_stopping.waited"] = double(stopping->waited());
    }
  };
  auto train_with = [&](ctnn::Adam& optimizer) {
    ctnn::TrainingState earlier{o.seed, o.batch_size, o.threads, {}, {}};
    if (!o.resume.empty()) {
      try {
        earlier = ctnn::load_checkpoint(o.resume, *net, optimizer);
      } catch (const ctnn::InvalidArgument& e) {
        throw ctnn::InvalidArgument(std::string(e.what()) +
                                    " (resume with the options of the first run: --weight-decay "
                                    "chooses AdamW over Adam)");
      }
      if (earlier.seed != o.seed || earlier.batch_size != o.batch_size)
        throw ctnn::InvalidArgument(
            o.resume + ": the checkpoint was written with --seed " + std::to_string(earlier.seed) +
            " --batch-size " + std::to_string(earlier.batch_size) +
            "; resume with the same, since they decide the shuffle and the batches");
      const auto value = [&](const char* key, double otherwise) {
        const auto it = earlier.values.find(key);
        return it == earlier.values.end() ? otherwise : it->second;
      };
      plateau->restore(value("plateau.best", plateau->best()),
                       std::size_t(value("plateau.bad_epochs", 0)),
                       float(value("plateau.scale", 1.0)));
      if (stopping)
        stopping->restore(value("early_stopping.best", stopping->best()),
                          std::size_t(value("early_stopping.waited", 0)));
      std::cout << "resumed from " << o.resume << " after epoch " << optimizer.epochs_done;
      if (earlier.threads != o.threads)
        std::cout << " (written with " << earlier.threads
                  << " threads: the same training up to float rounding)";
      std::cout << "\n";
      fo.epochs = o.epochs - std::min(o.epochs, optimizer.epochs_done);
      earlier.threads = o.threads;
    }
    if (!o.history.empty()) fo.on_epoch_end.push_back(ctnn::HistoryCsv(o.history, earlier.history));
    if (!o.checkpoint.empty())  // last: the callbacks above have seen the epoch
      fo.on_epoch_end.push_back(
          ctnn::SaveCheckpoint(*net, optimizer, o.checkpoint, earlier, collect));
    ctnn::fit(*net, optimizer, train, fo, loss);
  };
  // One optimizer type, so that the training code is compiled once: Adam, or with
  // --weight-decay AdamW (Adam with decoupled weight decay, as ctnn::AdamW).
  ctnn::Adam adam(o.lr);
  if (o.weight_decay > 0) {
    adam.decoupled = true;
    adam.weight_decay = o.weight_decay;
  }
  train_with(adam);
  const auto e = ctnn::evaluate(*net, test, o.threads);
  if (!o.save.empty()) {
    ctnn::save(*net, o.save);
    std::cout << "saved the model to " << o.save << "\n";
  }
  std::cout << "confusion matrix of the test set (rows: true class, columns: predicted):\n";
  ctnn::print_confusion(std::cout, e, class_names);
  if (!o.confusion.empty())
    ctnn::detail::write_text_atomically(o.confusion, ctnn::confusion_csv(e, class_names));
  std::cout << "test accuracy: " << std::fixed << std::setprecision(4) << e.accuracy << "\n";
  return net;
}

/// Loads Fashion-MNIST, prints the network summary, trains with Adam, prints one line per epoch
/// and last "test accuracy: 0.xxxx". Returns the process exit status.
template <class Net>
int run_classifier(int argc, char** argv, const char* name, const char* what,
                   bool standardize = false) {
  const Options o = parse(argc, argv, what);
  try {
    auto train = ctnn::data::load_fashion_mnist(o.data_dir, ctnn::data::Split::train);
    auto test = ctnn::data::load_fashion_mnist(o.data_dir, ctnn::data::Split::test);
    if (standardize) {  // zero mean, unit variance, with the training set's statistics
      double sum = 0, sq = 0;
      for (float v : train.inputs) sum += v, sq += double(v) * v;
      const double n = double(train.inputs.size()), mean = sum / n;
      // Images that are all alike have no spread to divide by: they are only centred.
      const double var = sq / n - mean * mean;
      const float m = float(mean), inv = var > 1e-12 ? float(1.0 / std::sqrt(var)) : 1.0f;
      for (auto* d : {&train, &test})
        for (float& v : d->inputs) v = (v - m) * inv;
    }
    train_and_report<Net>(o, name, train, test, fashion_classes);
  } catch (const std::exception& e) {
    std::cerr << name << ": error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace examples
