// ctnn/reports.hpp — what training and evaluation report: the per-batch and per-epoch reports
// of fit(), the control a callback answers with, and evaluate()'s result. Plain data, so that
// io/ (checkpoints keep the history of epoch reports) does not depend on the training code.
#pragma once

#include <cstddef>
#include <limits>
#include <vector>

namespace ctnn {

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
  std::size_t epochs = 0;    ///< the epoch this fit() call trains up to (epochs_done + epochs)
  /// Mean loss over the epoch's samples so far, this batch included.
  double epoch_loss = 0;
  std::size_t epoch_samples = 0;  ///< samples of the epoch so far, this batch included
  double seconds = 0;             ///< since the epoch began (steady clock)
};

/// What fit() measured in one epoch.
struct EpochReport {
  std::size_t epoch = 0;  ///< 1-based
  double loss = 0;        ///< mean training loss over the epoch's batches
  /// Fraction of training samples classified right (in training mode); NaN for a regression
  /// set (samples with targets, which have no classes).
  double train_accuracy = 0;
  /// NaN without a test set, or for a regression set.
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();
  double test_loss = std::numeric_limits<double>::quiet_NaN();  ///< NaN without a test set
  /// Regression: the test set's root mean squared error (Evaluation::rmse); NaN otherwise.
  double test_rmse = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;            ///< training time of the epoch (without evaluation)
  double images_per_second = 0;  ///< training samples per second
  double learning_rate = 0;      ///< the optimizer's rate at the epoch's last step
  /// Distributed training: seconds this process waited, after its backward, for the gradient
  /// sums across processes (the communication its computation did not hide); 0 otherwise.
  double communication_seconds = 0;
  /// The epoch the fit() call that made this report trains up to (epochs_done + epochs); not
  /// kept in checkpoints (0 in a history read back).
  std::size_t epochs = 0;
};

/// Result of evaluate(): mean loss, accuracy and the confusion matrix
/// (confusion[true_class][predicted_class] counts) of a classification set. For a regression set
/// (samples with real-valued targets) there are no classes: accuracy is NaN and confusion empty,
/// and rmse and mae give the error in the targets' units over all the samples' output values:
/// rmse = sqrt(mean (y - t)^2), mae = mean |y - t| (NaN for a classification set).
struct Evaluation {
  double loss = 0;
  double accuracy = 0;
  std::vector<std::vector<std::size_t>> confusion;
  double rmse = std::numeric_limits<double>::quiet_NaN();
  double mae = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace ctnn
