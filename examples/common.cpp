// The network-independent part of the example classifiers (common.hpp), and the JSON code of the
// file formats, compiled here once for all the examples (see ctnn/io/detail/json_linkage.hpp).
#define CTNN_JSON_IMPLEMENTATION
#include "common.hpp"

#if defined(CTNN_EXAMPLES_MPI)
#include <ctnn/distributed/mpi.hpp>
#endif

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctnn/ctnn.hpp>
#include <ctnn/model.hpp>
#include <ctnn/predict.hpp>
#include <iomanip>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <system_error>
#include <tuple>

namespace examples {

namespace {

// A number as the options print it: "0.001", "0.05", "30".
std::string shortest(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// A number as the messages quote it: the shortest text that reads back to it ("1e-09", "0.3").
std::string exact(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// An augmentation as --augment names it.
std::string augment_list(const ctnn::data::Augmentation& a) {
  std::string list;
  auto add = [&](const char* item) {
    if (!list.empty()) list += ',';
    list += item;
  };
  if (a.shift > 0) add("shift");
  if (a.hflip) add("hflip");
  if (a.erase > 0) add("erase");
  return list.empty() ? "none" : list;
}

}  // namespace

void usage(const char* prog, const char* what, std::ostream& os,
           const std::vector<ExtraFlag>& extra, bool data_dir, const Options& d) {
  os << "usage: " << prog << " [options]\n" << what << "\n\n";
  if (data_dir)
    os << "  --data-dir DIR     Fashion-MNIST idx files (default " << d.data_dir << ")\n";
  os << "  --epochs N         training epochs (default " << d.epochs << ")\n"
     << "  --batch-size N     mini-batch size (default " << d.batch_size << ")\n"
     << "  --lr X             Adam learning rate (default " << shortest(d.lr) << ")\n"
     << "  --threads N        training threads (default: all cores)\n"
     << "  --seed N           seed of initialisation, shuffling and dropout (default " << d.seed
     << ")\n"
     << "  --save PATH        write the trained model to PATH\n"
     << "  --schedule S       learning-rate schedule (default " << d.schedule << "):\n"
     << "                       constant; step (x0.1 every third of the epochs);\n"
     << "                       cosine (to 0 at the end, after --warmup); onecycle (up to --lr\n"
     << "                       over the first 30% of the steps, then down); plateau (x0.5\n"
     << "                       after 2 epochs without a lower validation or test loss)\n"
     << "  --warmup EPOCHS    linear warm-up before the cosine schedule, at most --epochs\n"
     << "                       (default " << shortest(d.warmup) << ")\n"
     << "  --weight-decay W   decoupled weight decay: AdamW instead of Adam (default "
     << shortest(d.weight_decay) << ")\n"
     << "  --label-smoothing E  label smoothing of the cross-entropy, in [0, 1) (default "
     << shortest(d.label_smoothing) << ")\n"
     << "  --clip-norm N      clip the gradient to global L2 norm N (default: off)\n"
     << "  --augment LIST     training-image augmentation, comma-separated: shift (up to 2\n"
     << "                       pixels), hflip (mirror), erase (random erasing, p = 0.5), or\n"
     << "                       none (default " << augment_list(d.augment) << ")\n"
     << "  --validation-split F  hold out a stratified fraction F of the training set, report\n"
     << "                       it every epoch and keep the test set for the end\n"
     << "  --early-stopping P stop after P epochs without a lower validation (or test) loss\n"
     << "  --history PATH     write the per-epoch history as CSV (rewritten every epoch)\n"
     << "  --confusion PATH   write the test set's confusion matrix as CSV\n"
     << "  --checkpoint PATH  write a checkpoint after every epoch: the network, the optimizer's\n"
     << "                       state, the schedule's and callbacks' state and the history\n"
     << "  --resume PATH      go on from a checkpoint up to --epochs in all; give the options\n"
     << "                       of the first run (seed, batch size, schedule, ...)\n"
     << "  --distributed      train data-parallel with the other MPI processes of the job\n"
     << "                       (mpirun -np R ...): --batch-size is the global batch, process 0\n"
     << "                       prints and writes the files"
#if !defined(CTNN_EXAMPLES_MPI)
     << " (not in this build: no MPI)"
#endif
     << "\n"
     << "  --allreduce-bucket N  with --distributed: sum the gradient across the processes in\n"
     << "                       buckets of about N floats, started during backward; 0: one\n"
     << "                       sum after backward (default " << d.allreduce_bucket << ")\n";
  for (const ExtraFlag& x : extra) {
    std::string left = "  " + x.name + (x.value.empty() ? "" : " " + x.value);
    left.resize(std::max<std::size_t>(left.size() + 1, 21), ' ');
    os << left << x.help << "\n";
  }
  os << "  --help             this text\n";
}

std::string unwritable(const std::string& path) {
  std::string why;
  // The file a save replaces: `path`, or the file a symbolic link leads to.
  const std::string file = ctnn::io::detail::save_target(path, why).path;
  if (!why.empty()) return why;
  const std::size_t slash = file.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : file.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return "directory '" + dir + "': " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "'" + dir + "' is not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return "directory '" + dir + "': " + std::strerror(errno);
  return {};
}

std::optional<double> parse_real(const char* text) {
  // std::from_chars with chars_format::general, unlike strtod, takes no leading space, no '+'
  // and no hexadecimal ("0x10" stops after the 0); the whole text must be read.
  const char* end = text + std::strlen(text);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text, end, v, std::chars_format::general);
  if (ec != std::errc() || ptr != end || end == text || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> parse_count(const char* text, bool allow_zero) {
  // strtoull alone would take "-1" as 2^64 - 1, and " 1" as 1.
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno || *end || end == text || !(*text >= '0' && *text <= '9') || (!allow_zero && v == 0))
    return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

Options parse(int argc, char** argv, const char* what, const std::vector<ExtraFlag>& extra,
              bool data_dir, const Options& defaults) {
  Options o = defaults;
  auto fail = [&](const std::string& msg) {
    std::cerr << argv[0] << ": " << msg << "\n";
    usage(argv[0], what, std::cerr, extra, data_dir, defaults);
    std::exit(2);
  };
  auto number = [&](std::string_view flag, const char* text, bool allow_zero) {
    const std::optional<std::uint64_t> v = parse_count(text, allow_zero);
    if (!v) fail(std::string("invalid value for ") + std::string(flag) + ": '" + text + "'");
    return *v;
  };
  // A finite number in [lo, hi] (hi itself only when hi_inclusive), read by parse_real().
  auto real = [&](std::string_view flag, const char* text, double lo, double hi,
                  bool hi_inclusive) {
    const std::optional<double> v = parse_real(text);
    if (!v || *v < lo || *v > hi || (!hi_inclusive && *v == hi))
      fail(std::string("invalid value for ") + std::string(flag) + ": '" + text + "'");
    return *v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      usage(argv[0], what, std::cout, extra, data_dir, defaults);
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
    if (a == "--distributed") {
#if defined(CTNN_EXAMPLES_MPI)
      o.distributed = true;
      continue;
#else
      fail(
          "--distributed: this build has no MPI (apt-get install libopenmpi-dev openmpi-bin, "
          "then configure and build again)");
#endif
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
    } else if (a == "--allreduce-bucket") {
      o.allreduce_bucket = number(a, v, true);
    } else if (a == "--early-stopping") {
      o.early_stopping = number(a, v, false);
    } else if (a == "--augment") {
      try {
        o.augment = std::string_view(v) == "none" ? ctnn::data::Augmentation{}
                                                  : ctnn::data::parse_augmentation(v);
      } catch (const ctnn::Error& e) {
        fail(std::string("invalid value for --augment: ") + e.what());
      }
    } else if (a == "--lr") {
      // In float's range (converting a larger double is undefined) and not rounded to 0.
      const std::optional<double> lr = parse_real(v);
      if (!lr || !(*lr > 0.0) || *lr > std::numeric_limits<float>::max() ||
          static_cast<float>(*lr) == 0.0f)
        fail(std::string("invalid value for --lr: '") + v + "' (a finite number > 0)");
      o.lr = static_cast<float>(*lr);
    } else
      fail("unknown option: " + std::string(a));
  }
  if (o.warmup > 0 && o.schedule != "cosine") fail("--warmup applies to --schedule cosine");
  if (o.warmup > double(o.epochs))
    fail("--warmup " + exact(o.warmup) + " is longer than the run (--epochs " +
         std::to_string(o.epochs) + ")");
  if (o.distributed) {
    try {
      collective(o);
    } catch (const std::exception& e) {
      fail(std::string("--distributed: ") + e.what());
    }
  }
  return o;
}

#if defined(CTNN_EXAMPLES_MPI)
ctnn::Collective* collective(const Options& o) {
  if (!o.distributed) return nullptr;
  // Made on first use and kept to the end of the program (MPI_Finalize last).
  static ctnn::mpi::Environment environment;
  static ctnn::mpi::Communicator world;
  static const bool quiet = [] {
    if (world.rank() != 0) std::cout.rdbuf(nullptr);  // only process 0 prints
    return true;
  }();
  (void)quiet;
  return &world;
}
#else
ctnn::Collective* collective(const Options&) {
  return nullptr;
}
#endif

bool leader(const Options& o) {
  const ctnn::Collective* c = collective(o);
  return c == nullptr || c->rank() == 0;
}

void print_checksum(const Options& o, const char* name, std::span<const float> parameters) {
  const ctnn::Collective* c = collective(o);
  if (c == nullptr) return;
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the bytes of the parameters
  for (float x : parameters) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, 4);
    for (int i = 0; i < 4; ++i) h = (h ^ ((bits >> (8 * i)) & 0xffu)) * 1099511628211ull;
  }
  std::fprintf(stderr, "%s: process %zu of %zu: parameter checksum %016llx\n", name, c->rank(),
               c->size(), static_cast<unsigned long long>(h));
}

bool is_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

const std::vector<std::string> fashion_classes = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                  "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                  "Bag",         "Ankle boot"};

FashionMnist load_fashion(const Options& o, bool standardize) {
  FashionMnist d{ctnn::data::load_fashion_mnist(o.data_dir, ctnn::data::Split::train),
                 ctnn::data::load_fashion_mnist(o.data_dir, ctnn::data::Split::test),
                 {}};
  d.preprocessing.height = d.preprocessing.width = 28;
  if (standardize) {  // zero mean, unit variance, with the training set's statistics
    double sum = 0, sq = 0;
    for (float v : d.train.inputs) sum += v, sq += double(v) * v;
    const double n = double(d.train.inputs.size()), mean = sum / n;
    // Images that are all alike have no spread to divide by: they are only centred.
    const double var = sq / n - mean * mean;
    const float m = float(mean), inv = var > 1e-12 ? float(1.0 / std::sqrt(var)) : 1.0f;
    for (auto* s : {&d.train, &d.test})
      for (float& v : s->inputs) v = (v - m) * inv;
    d.preprocessing.mean[0] = m;
    d.preprocessing.std[0] = 1.0f / inv;
  }
  return d;
}

int report_error(const char* name, const std::exception& e) {
  std::cerr << name << ": error: " << e.what() << "\n";
  return 1;
}

AdamOrAdamW::AdamOrAdamW(float learning_rate, float weight_decay)
    : learning_rate(learning_rate),
      chosen_(weight_decay > 0 ? decltype(chosen_)(ctnn::AdamW(learning_rate, weight_decay))
                               : decltype(chosen_)(ctnn::Adam(learning_rate))) {}

float AdamOrAdamW::weight_decay() const {
  return std::visit([](const auto& o) { return o.weight_decay; }, chosen_);
}

void AdamOrAdamW::step(std::span<float> params, std::span<const float> grads) {
  std::visit(
      [&](auto& o) {
        o.learning_rate = learning_rate;
        o.step(params, grads);
      },
      chosen_);
}

void AdamOrAdamW::begin_step(std::size_t n) {
  std::visit(
      [&](auto& o) {
        o.learning_rate = learning_rate;
        o.begin_step(n);
      },
      chosen_);
}

void AdamOrAdamW::update(std::size_t offset, std::span<float> params,
                         std::span<const float> grads) {
  std::visit([&](auto& o) { o.update(offset, params, grads); }, chosen_);
}

ctnn::OptimizerState AdamOrAdamW::state() const {
  return std::visit(
      [&](auto o) {  // a copy, with the rate and the epochs of this one
        o.learning_rate = learning_rate;
        o.epochs_done = epochs_done;
        return o.state();
      },
      chosen_);
}

void AdamOrAdamW::restore(const ctnn::OptimizerState& s) {
  std::visit(
      [&](auto& o) {
        o.restore(s);
        learning_rate = o.learning_rate;
        epochs_done = o.epochs_done;
      },
      chosen_);
}

Training::Training(const Options& o, const char* name, const ctnn::data::Dataset& full_train,
                   const ctnn::data::Dataset& test)
    : optimizer(o.lr, o.weight_decay), o_(o), full_train_(&full_train) {
  if (o.validation_split > 0)
    std::tie(train_part_, validation_) =
        ctnn::data::stratified_split(full_train, o.validation_split, o.seed);
  const ctnn::data::Dataset& watched = o.validation_split > 0 ? validation_ : test;
  set_up(name, train().size(), watched.size(), test.size());
  fit_options.test = &watched;
}

Training::Training(const Options& o, const char* name, ctnn::data::SampleStream& train,
                   ctnn::data::SampleStream& test)
    : optimizer(o.lr, o.weight_decay), o_(o) {
  if (o.validation_split > 0)
    throw ctnn::InvalidArgument(
        "--validation-split needs the training images in memory; leave out --stream");
  set_up(name, train.size(), test.size(), test.size());
  fit_options.test_stream = &test;
}

void Training::set_up(const char* name, std::size_t train_size, std::size_t watched_size,
                      std::size_t test_size) {
  const Options& o = o_;
  if (o.validation_split > 0 && (train_size == 0 || watched_size == 0))
    throw ctnn::InvalidArgument("--validation-split " + exact(o.validation_split) + " leaves " +
                                std::to_string(train_size) + " training and " +
                                std::to_string(watched_size) +
                                " validation images; each needs at least one");
  if (train_size == 0 || watched_size == 0)
    throw ctnn::InvalidArgument("no " + std::string(train_size == 0 ? "training" : "test") +
                                " images");

  // nullptr without --distributed, and always in a build without MPI.
  const ctnn::Collective* c = collective(o);
  std::cout << name << ": " << train_size << " training, "
            << (o.validation_split > 0 ? std::to_string(watched_size) + " validation and "
                                       : std::string())
            << test_size << " test images, "
            << (c ? std::to_string(c->size()) + " processes x " : std::string()) << o.threads
            << " threads, batch " << o.batch_size << ", " << (o.weight_decay > 0 ? "AdamW" : "Adam")
            << " lr " << o.lr << ", schedule " << o.schedule << ", seed " << o.seed << "\n";

  ctnn::FitOptions& fo = fit_options;
  fo.epochs = o.epochs;
  fo.batch_size = o.batch_size;
  fo.threads = o.threads;
  fo.seed = o.seed;
  fo.log = &std::cout;
  fo.clip_norm = o.clip_norm;
  fo.augmentation = o.augment;
  fo.collective = collective(o);
  fo.allreduce_bucket = o.allreduce_bucket;
  plateau_ = std::make_shared<ctnn::ReduceLROnPlateau>(o.lr, 0.5f, 2);
  if (o.schedule == "step")
    fo.schedule = ctnn::StepLR(o.lr, std::max<std::size_t>(1, o.epochs / 3), 0.1f);
  else if (o.schedule == "cosine")
    fo.schedule = ctnn::CosineLR(o.lr, o.warmup);
  else if (o.schedule == "onecycle")
    fo.schedule = ctnn::OneCycleLR(o.lr);
  else if (o.schedule == "plateau") {
    fo.schedule = [plateau = plateau_](const ctnn::TrainingProgress& p) { return (*plateau)(p); };
    fo.on_epoch_end.push_back(
        [plateau = plateau_](const ctnn::EpochReport& r, ctnn::TrainingControl&) {
          if (plateau->observe(r.test_loss))
            std::cout << "learning rate lowered to " << plateau->rate() << "\n";
        });
  }
  if (o.early_stopping > 0) {
    stopping_ = ctnn::EarlyStopping(o.early_stopping);
    fo.on_epoch_end.push_back(stopping_);
    fo.on_epoch_end.push_back([validation = o.validation_split > 0, patience = o.early_stopping](
                                  const ctnn::EpochReport& r, ctnn::TrainingControl& c) {
      if (c.stop)
        std::cout << "early stop after epoch " << r.epoch << ": no lower "
                  << (validation ? "validation" : "test") << " loss for " << patience
                  << " epochs\n";
    });
  }
  loss.label_smoothing = o.label_smoothing;
}

ctnn::TrainingState Training::initial_state() const {
  return {o_.seed, o_.batch_size, o_.threads, {{"options.lr", o_.lr}}, {}};
}

void Training::resume_failed(const ctnn::InvalidArgument& e) const {
  // The hint is for another optimizer's state, not for a state out of range.
  if (std::string_view(e.what()).find(", this optimizer is ") == std::string_view::npos) throw e;
  throw ctnn::InvalidArgument(std::string(e.what()) +
                              " (resume with the options of the first run: --weight-decay "
                              "chooses AdamW over Adam)");
}

void Training::resumed(ctnn::TrainingState& earlier) {
  if (earlier.seed != o_.seed || earlier.batch_size != o_.batch_size)
    throw ctnn::InvalidArgument(
        o_.resume + ": the checkpoint was written with --seed " + std::to_string(earlier.seed) +
        " --batch-size " + std::to_string(earlier.batch_size) +
        "; resume with the same, since they decide the shuffle and the batches");
  const auto value = [&](const char* key, double otherwise) {
    const auto it = earlier.values.find(key);
    return it == earlier.values.end() ? otherwise : it->second;
  };
  // The options the checkpoint records: the learning rate (the optimizer's own with the
  // constant schedule, which restoring set) and AdamW's weight decay (restoring set it too).
  const bool constant = o_.schedule == "constant";
  const double lr = value("options.lr", constant ? optimizer.learning_rate : o_.lr);
  const double weight_decay = optimizer.is_adamw() ? optimizer.weight_decay() : o_.weight_decay;
  if (float(lr) != o_.lr || float(weight_decay) != o_.weight_decay)
    throw ctnn::InvalidArgument(
        o_.resume + ": the checkpoint was written with " +
        (float(lr) != o_.lr ? "--lr " + shortest(lr) : "--weight-decay " + shortest(weight_decay)) +
        "; resume with the same, since it is part of the training that goes on");
  // Checkpoints written from here on record --lr too, which those of old runs may lack.
  earlier.values["options.lr"] = o_.lr;
  std::cout << "resumed from " << o_.resume << " after epoch " << optimizer.epochs_done;
  if (earlier.threads != o_.threads)
    std::cout << " (written with " << earlier.threads
              << " threads: the same training up to float rounding)";
  std::cout << "\n";
  if (optimizer.epochs_done >= o_.epochs)
    std::cout << "nothing to train: the checkpoint has trained " << optimizer.epochs_done
              << " epochs, --epochs asks for " << o_.epochs << "\n";
  fit_options.epochs = o_.epochs - std::min(o_.epochs, optimizer.epochs_done);
  earlier.threads = o_.threads;
}

void Training::add_history(const ctnn::TrainingState& earlier) {
  if (!o_.history.empty() && leader(o_))
    fit_options.on_epoch_end.push_back(ctnn::HistoryCsv(o_.history, earlier.history));
}

void Training::saved() const {
  std::cout << "saved the model to " << o_.save << "\n";
}

void Training::report(const ctnn::Evaluation& e,
                      const std::vector<std::string>& class_names) const {
  // The outputs that are no class (FolderCnn's beyond the folder's classes) are left out when
  // nothing was predicted as one of them: no sample has them as its true class.
  ctnn::Evaluation shown = e;
  const std::size_t n = class_names.size();
  std::size_t outside = 0;  // the counts outside the n x n block of the named classes
  for (std::size_t a = 0; a < e.confusion.size(); ++a)
    for (std::size_t b = 0; b < e.confusion[a].size(); ++b)
      if (a >= n || b >= n) outside += e.confusion[a][b];
  if (n > 0 && n < e.confusion.size() && outside == 0) {
    shown.confusion.resize(n);
    for (auto& row : shown.confusion) row.resize(n);
  }
  std::cout << "confusion matrix of the test set (rows: true class, columns: predicted):\n";
  ctnn::print_confusion(std::cout, shown, class_names);
  if (!o_.confusion.empty() && leader(o_))
    ctnn::write_text_atomically(o_.confusion, ctnn::confusion_csv(shown, class_names));
  std::cout << "test accuracy: " << std::fixed << std::setprecision(4) << e.accuracy << "\n";
}

}  // namespace examples
