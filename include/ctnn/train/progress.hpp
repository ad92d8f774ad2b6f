// ctnn/train/progress.hpp — the two things fit() shows while it trains, as callbacks: the
// progress line of the running epoch (ProgressLine, FitOptions::on_batch_end) and one line per
// epoch (EpochLog, FitOptions::on_epoch_end). fit() installs them itself from
// FitOptions::progress and FitOptions::log; the training code itself writes nothing.
//
//   ctnn::FitOptions o;
//   o.progress = false;                                    // no default progress line
//   o.on_batch_end.push_back(ctnn::ProgressLine(std::cout));  // this one instead
//   o.on_epoch_end.push_back(ctnn::EpochLog(log_file));
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <ostream>
#include <sstream>

#include "../reports.hpp"

namespace ctnn {

/// A batch callback that keeps one line up to date on a terminal while an epoch runs:
///   "\repoch E/L  batch B/N  loss X.XXXX  R images/s   "
/// (E of L epochs, B of N batches, X the mean loss of the epoch so far, R its samples per second
/// so far), after the first batch, every 20th batch after it, the last one, and a batch after
/// which a callback stops training (run it after the others: it reads control.stop); after the
/// last or stopping batch the line is erased (70 spaces between carriage returns). Every write
/// is flushed.
class ProgressLine {
 public:
  /// On std::cerr when the standard error is a terminal (so that `program > log` keeps the
  /// progress on the screen), otherwise nowhere.
  ProgressLine() : out_(stderr_is_terminal() ? &std::cerr : nullptr) {}
  /// On `out`, which must outlive the callback, terminal or not.
  explicit ProgressLine(std::ostream& out) : out_(&out) {}

  void operator()(const BatchReport& r, TrainingControl& control) const {
    if (!out_) return;
    const bool last = r.batch == r.batches || control.stop;
    if ((r.batch - 1) % 20 != 0 && !last) return;
    char line[160];
    std::snprintf(line, sizeof line, "\repoch %zu/%zu  batch %zu/%zu  loss %.4f  %.0f images/s   ",
                  r.epoch, r.epochs, r.batch, r.batches, r.epoch_loss,
                  double(r.epoch_samples) / std::max(r.seconds, 1e-9));
    *out_ << line;
    if (last) *out_ << '\r' << std::setw(70) << "" << '\r';
    *out_ << std::flush;
  }

  /// Ends the line when training stops by an error (fit() calls it before it throws
  /// TrainingDiverged), so that the message starts on a line of its own.
  void interrupted() const {
    if (out_) *out_ << '\n' << std::flush;
  }

  /// Whether the standard error (file descriptor 2) is a terminal (POSIX isatty).
  static bool stderr_is_terminal() { return ::isatty(2) == 1; }

 private:
  std::ostream* out_;
};

/// An epoch callback that writes one line per epoch to a stream and flushes it:
///   "epoch E/L  loss X  train accuracy A[  test loss Y  test accuracy B]  R images/s  S s"
/// with 4 decimals (R none, S 1); the test figures when the epoch was evaluated on a test set;
/// for a regression set (no accuracy) "epoch E/L  loss X[  test loss Y  test RMSE Z]  ...";
/// and for a distributed run " (W s waiting for the other processes)" (W with 2 decimals, the
/// report's communication_seconds). With a collective, install it on one process only.
class EpochLog {
 public:
  /// `out` must outlive the callback.
  explicit EpochLog(std::ostream& out, bool distributed = false)
      : out_(&out), distributed_(distributed) {}

  void operator()(const EpochReport& r, TrainingControl& /*control*/) const {
    std::ostringstream line;
    line << std::fixed << "epoch " << r.epoch << "/" << r.epochs << "  loss "
         << std::setprecision(4) << r.loss;
    if (!std::isnan(r.train_accuracy)) line << "  train accuracy " << r.train_accuracy;
    if (!std::isnan(r.test_loss)) line << "  test loss " << r.test_loss;
    if (!std::isnan(r.test_accuracy)) line << "  test accuracy " << r.test_accuracy;
    if (!std::isnan(r.test_rmse)) line << "  test RMSE " << r.test_rmse;
    line << "  " << std::setprecision(0) << r.images_per_second << " images/s  "
         << std::setprecision(1) << r.seconds << " s";
    if (distributed_)
      line << " (" << std::setprecision(2) << r.communication_seconds
           << " s waiting for the other processes)";
    line << "\n";
    *out_ << line.str() << std::flush;
  }

 private:
  std::ostream* out_;
  bool distributed_;
};

}  // namespace ctnn
