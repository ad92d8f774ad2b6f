// Command-line handling and the train-then-evaluate driver shared by the example classifiers.
#pragma once

#include <ctnn/ctnn.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <iomanip>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace examples {

struct Options {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::size_t epochs = 5;
  std::size_t batch_size = 32;
  float lr = 1e-3f;
  std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::uint64_t seed = 1;
  std::string save;
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
     << "  --save PATH        write the trained model to PATH\n";
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
  const std::string dir =
      slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
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
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      usage(argv[0], what, std::cout, extra, data_dir);
      std::exit(0);
    }
    const auto x = std::find_if(extra.begin(), extra.end(),
                                [&](const ExtraFlag& f) { return a == f.name; });
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
    } else if (a == "--lr") {
      char* end = nullptr;
      errno = 0;
      o.lr = std::strtof(v, &end);
      if (errno || *end || end == v || !std::isfinite(o.lr) || !(o.lr > 0.0f))
        fail(std::string("invalid value for --lr: '") + v + "' (a finite number > 0)");
    } else
      fail("unknown option: " + std::string(a));
  }
  return o;
}

/// Prints a line naming the data and settings and the network summary, trains a new network
/// with Adam, printing one line per epoch, saves it when --save was given and prints last
/// "test accuracy: 0.xxxx". Throws what fit(), evaluate() and save() throw.
template <class Net>
void train_and_report(const Options& o, const char* name, const ctnn::data::Dataset& train,
                      const ctnn::data::Dataset& test) {
  std::cout << name << ": " << train.size() << " training and " << test.size()
            << " test images, " << o.threads << " threads, batch " << o.batch_size
            << ", Adam lr " << o.lr << ", seed " << o.seed << "\n";
  ctnn::summary<Net>(std::cout);
  auto net = std::make_unique<Net>(o.seed);
  ctnn::Adam adam;
  adam.learning_rate = o.lr;
  ctnn::FitOptions fo;
  fo.epochs = o.epochs;
  fo.batch_size = o.batch_size;
  fo.threads = o.threads;
  fo.seed = o.seed;
  fo.test = &test;
  fo.log = &std::cout;
  ctnn::fit(*net, adam, train, fo);
  const auto e = ctnn::evaluate(*net, test, o.threads);
  if (!o.save.empty()) {
    ctnn::save(*net, o.save);
    std::cout << "saved the model to " << o.save << "\n";
  }
  std::cout << "test accuracy: " << std::fixed << std::setprecision(4) << e.accuracy << "\n";
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
    train_and_report<Net>(o, name, train, test);
  } catch (const std::exception& e) {
    std::cerr << name << ": error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace examples
