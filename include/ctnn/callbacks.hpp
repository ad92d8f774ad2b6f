// ctnn/callbacks.hpp — ready-made fit() callbacks (FitOptions::on_epoch_end) and the CSV files
// that show how training went: the per-epoch history and the confusion matrix.
//
//   ctnn::FitOptions o;
//   o.test = &validation;
//   o.on_epoch_end.push_back(ctnn::EarlyStopping(3));                // patience 3 epochs
//   o.on_epoch_end.push_back(ctnn::SaveBest(net, "best.ctnn"));      // lowest test loss
//   o.on_epoch_end.push_back(ctnn::HistoryCsv("history.csv"));
#pragma once

#include <cmath>
#include <cstddef>
#include <functional>
#include <iomanip>
#include <limits>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "error.hpp"
#include "io/checkpoint.hpp"
#include "io/model_file.hpp"
#include "optim/state.hpp"
#include "train.hpp"

namespace ctnn {

/// Writes `text` to `path` atomically, as save() writes a model file: a complete file or the
/// previous one, never half of one (for the CSV files below). Throws FileError on any I/O failure
/// and for a target save() refuses (a directory, device, FIFO, socket, dangling link).
inline void write_text_atomically(const std::string& path, const std::string& text) {
  io::detail::write_file_atomically(path, std::vector<unsigned char>(text.begin(), text.end()));
}

namespace detail {
/// The metric a callback watches: the test (validation) loss when fit() has a test set, else
/// the training loss.
inline double watched_loss(const EpochReport& r) {
  return std::isnan(r.test_loss) ? r.loss : r.test_loss;
}

using ctnn::write_text_atomically;
}  // namespace detail

/// Stops training when the watched loss (test loss with a test set, else training loss) has
/// not improved on its best by more than min_delta for `patience` epochs in a row, as Keras'
/// EarlyStopping(monitor="val_loss"). Copies share their state (fit() keeps a copy), which
/// state() and restore() read and set for checkpoints. Throws InvalidArgument for patience 0.
class EarlyStopping {
 public:
  explicit EarlyStopping(std::size_t patience, double min_delta = 0.0)
      : patience_(patience), min_delta_(min_delta) {
    if (patience == 0) throw InvalidArgument("EarlyStopping: patience must be at least 1");
  }
  void operator()(const EpochReport& r, TrainingControl& control) {
    const double v = detail::watched_loss(r);
    if (v < s_->best - min_delta_) {
      s_->best = v;
      s_->waited = 0;
    } else if (++s_->waited >= patience_) {
      control.stop = true;
    }
  }
  /// The best watched loss so far (infinity before the first epoch) and the epochs since.
  double best() const noexcept { return s_->best; }
  std::size_t waited() const noexcept { return s_->waited; }
  /// Its state for checkpoints (see CallbackState): name "early_stopping", values best and
  /// waited.
  CallbackState state() const {
    return {"early_stopping", {{"best", s_->best}, {"waited", double(s_->waited)}}};
  }
  /// Goes on from what state() returned. All or nothing: throws InvalidArgument, changing
  /// nothing, for a state of another name, a value missing, best NaN or waited not a whole
  /// number from 0 to OptimizerState::max_epochs.
  void restore(const CallbackState& s) {
    constexpr const char* who = "EarlyStopping::restore";
    constexpr double inf = std::numeric_limits<double>::infinity();
    s.check_name(who, "early_stopping");
    const double best = s.value(who, "best", -inf, inf);
    const double waited = s.value(who, "waited", 0, double(OptimizerState::max_epochs), true);
    s_->best = best;
    s_->waited = static_cast<std::size_t>(waited);
  }
  [[deprecated("use restore(state()): restore(const CallbackState&)")]] void restore(
      double best, std::size_t waited) noexcept {
    s_->best = best;
    s_->waited = waited;
  }

 private:
  struct State {
    double best = std::numeric_limits<double>::infinity();
    std::size_t waited = 0;
  };
  std::size_t patience_;
  double min_delta_;
  std::shared_ptr<State> s_ = std::make_shared<State>();
};

/// Saves the network (ctnn::save, atomically) after every epoch whose watched loss is the
/// lowest so far: the file always holds the best network seen. The network must outlive the
/// callback. Copies share the best loss, which state() and restore() read and set for
/// checkpoints. Throws what save() throws.
template <class Net>
class SaveBest {
 public:
  SaveBest(const Net& net, std::string path) : net_(&net), path_(std::move(path)) {}
  void operator()(const EpochReport& r, TrainingControl&) {
    const double v = detail::watched_loss(r);
    if (!(v < *best_)) return;
    save(*net_, path_);
    *best_ = v;
  }
  double best() const noexcept { return *best_; }
  /// Its state for checkpoints (see CallbackState): name "save_best", value best.
  CallbackState state() const { return {"save_best", {{"best", *best_}}}; }
  /// Goes on from what state() returned. All or nothing: throws InvalidArgument, changing
  /// nothing, for a state of another name or best missing or NaN.
  void restore(const CallbackState& s) {
    constexpr double inf = std::numeric_limits<double>::infinity();
    s.check_name("SaveBest::restore", "save_best");
    *best_ = s.value("SaveBest::restore", "best", -inf, inf);
  }
  [[deprecated("use restore(state()): restore(const CallbackState&)")]] void restore(
      double best) noexcept {
    *best_ = best;
  }

 private:
  const Net* net_;
  std::string path_;
  std::shared_ptr<double> best_ = std::make_shared<double>(std::numeric_limits<double>::infinity());
};

/// The header of the history CSV.
inline constexpr const char* history_csv_header =
    "epoch,learning_rate,loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second";

/// One history row per report (test columns empty without a test set, accuracies empty for a
/// regression set), with a header line.
inline std::string history_csv(const std::vector<EpochReport>& reports) {
  std::ostringstream os;
  os << history_csv_header << "\n" << std::setprecision(9);
  for (const EpochReport& r : reports) {
    os << r.epoch << "," << r.learning_rate << "," << r.loss << ",";
    if (!std::isnan(r.train_accuracy)) os << r.train_accuracy;
    os << ",";
    if (!std::isnan(r.test_loss)) os << r.test_loss;
    os << ",";
    if (!std::isnan(r.test_accuracy)) os << r.test_accuracy;
    os << "," << r.seconds << "," << r.images_per_second << "\n";
  }
  return os.str();
}

/// Rewrites `path` (atomically) after every epoch with the history so far, so the file is
/// complete whenever training stops. Columns: history_csv_header. `earlier` are the rows of
/// epochs trained before (TrainingState::history when resuming from a checkpoint). Throws
/// FileError.
class HistoryCsv {
 public:
  explicit HistoryCsv(std::string path, std::vector<EpochReport> earlier = {})
      : path_(std::move(path)),
        reports_(std::make_shared<std::vector<EpochReport>>(std::move(earlier))) {}
  void operator()(const EpochReport& r, TrainingControl&) {
    reports_->push_back(r);
    detail::write_text_atomically(path_, history_csv(*reports_));
  }

 private:
  std::string path_;
  // Shared, so that the copy std::function keeps and the caller's object see the same rows.
  std::shared_ptr<std::vector<EpochReport>> reports_;
};

/// Writes a checkpoint (save_checkpoint, atomically) after every epoch: the network, the
/// optimizer, the state of `parts` (schedules and callbacks with state() and restore(): see
/// CallbackState) and `training` with this epoch's report added to its history:
///
///   o.on_epoch_end.push_back(ctnn::SaveCheckpoint(net, adam, "run.ckpt", training, stopping));
///
/// Put it last in FitOptions::on_epoch_end, so that the callbacks before it have seen the epoch.
/// The network, the optimizer and the parts must outlive the callback (copies of EarlyStopping
/// and SaveBest share their state: give the one you keep). The older form takes, instead of
/// parts, a function `collect` that fills in values of the caller's own
/// (TrainingState::values) before each write. Throws what save_checkpoint throws.
template <class Net, class Optimizer, class... Parts>
class SaveCheckpoint {
 public:
  SaveCheckpoint(const Net& net, const Optimizer& optimizer, std::string path,
                 TrainingState training, std::function<void(TrainingState&)> collect = {})
      : net_(&net),
        optimizer_(&optimizer),
        path_(std::move(path)),
        training_(std::make_shared<TrainingState>(std::move(training))),
        collect_(std::move(collect)) {}
  SaveCheckpoint(const Net& net, const Optimizer& optimizer, std::string path,
                 TrainingState training,
                 const Parts&... parts) requires(sizeof...(Parts) > 0 &&
                                                 (SavesCallbackState<Parts> && ...))
      : net_(&net),
        optimizer_(&optimizer),
        path_(std::move(path)),
        training_(std::make_shared<TrainingState>(std::move(training))),
        parts_(&parts...) {}
  void operator()(const EpochReport& r, TrainingControl&) {
    training_->history.push_back(r);
    if (collect_) collect_(*training_);
    std::apply(
        [&](const Parts*... p) { save_checkpoint(path_, *net_, *optimizer_, *training_, *p...); },
        parts_);
  }

 private:
  const Net* net_;
  const Optimizer* optimizer_;
  std::string path_;
  std::shared_ptr<TrainingState> training_;
  std::function<void(TrainingState&)> collect_;
  std::tuple<const Parts*...> parts_;
};

/// The confusion matrix as CSV: a header `true\predicted,<class names>`, then one row per true
/// class with its counts, and a last column `accuracy` (the fraction of that class predicted
/// right). `names` names the first classes (a network may have more outputs than a data set has
/// classes); the others are numbered; names are quoted when they hold a comma or a quote.
/// Throws InvalidArgument for more names than classes.
inline std::string confusion_csv(const Evaluation& e, const std::vector<std::string>& names = {}) {
  const std::size_t n = e.confusion.size();
  if (names.size() > n)
    throw InvalidArgument("confusion_csv: " + std::to_string(names.size()) + " names for " +
                          std::to_string(n) + " classes");
  auto name = [&](std::size_t k) {
    std::string s = k < names.size() ? names[k] : std::to_string(k);
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::ostringstream os;
  os << "true\\predicted";
  for (std::size_t k = 0; k < n; ++k) os << "," << name(k);
  os << ",accuracy\n" << std::setprecision(6);
  for (std::size_t a = 0; a < n; ++a) {
    std::size_t total = 0;
    os << name(a);
    for (std::size_t b = 0; b < n; ++b) os << "," << e.confusion[a][b], total += e.confusion[a][b];
    os << ",";
    if (total) os << double(e.confusion[a][a]) / double(total);
    os << "\n";
  }
  return os.str();
}

/// Prints the confusion matrix and each class's accuracy as an aligned table; `names` as for
/// confusion_csv (the first classes' names, the others numbered). Throws InvalidArgument for more
/// names than classes.
inline void print_confusion(std::ostream& os, const Evaluation& e,
                            const std::vector<std::string>& names = {}) {
  const std::size_t n = e.confusion.size();
  if (names.size() > n)
    throw InvalidArgument("print_confusion: " + std::to_string(names.size()) + " names for " +
                          std::to_string(n) + " classes");
  auto label = [&](std::size_t k) { return k < names.size() ? names[k] : std::to_string(k); };
  std::size_t width = 6;
  for (std::size_t k = 0; k < n; ++k) width = std::max(width, label(k).size() + 1);
  os << std::left << std::setw(int(width)) << "true" << std::right;
  for (std::size_t k = 0; k < n; ++k) os << std::setw(7) << k;
  os << "  accuracy\n";
  for (std::size_t a = 0; a < n; ++a) {
    std::size_t total = 0;
    os << std::left << std::setw(int(width)) << label(a) << std::right;
    for (std::size_t b = 0; b < n; ++b)
      os << std::setw(7) << e.confusion[a][b], total += e.confusion[a][b];
    os << "  " << std::fixed << std::setprecision(4)
       << (total ? double(e.confusion[a][a]) / double(total) : 0.0) << "\n";
  }
  os << std::defaultfloat;
}

}  // namespace ctnn
