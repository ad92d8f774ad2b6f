// ctnn/optim/schedule.hpp — learning-rate schedules.
//
// A schedule maps where training stands (TrainingProgress: the step about to be taken, the
// epoch, the planned length) to a learning rate. Every schedule here is a pure function of that
// position, except ReduceLROnPlateau, which watches a metric once per epoch; so a run resumed at
// a given step gets the same rates as one that never stopped.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <string>

#include "../error.hpp"
#include "state.hpp"

namespace ctnn {

/// Where training stands before a step: `step` is the 0-based index of the step about to be
/// taken over the whole run, `epoch` the 0-based epoch it belongs to; the run is planned as
/// `epochs` epochs of `steps_per_epoch` steps.
struct TrainingProgress {
  std::size_t step = 0;
  std::size_t epoch = 0;
  std::size_t epochs = 1;
  std::size_t steps_per_epoch = 1;
  /// Steps of the whole planned run.
  std::size_t total_steps() const noexcept { return epochs * steps_per_epoch; }
};

namespace detail {
inline void check_rate(float lr, const char* who) {
  if (!(std::isfinite(lr) && lr > 0.0f))
    throw InvalidArgument(std::string(who) +
                          ": the learning rate must be a finite number > 0, not " +
                          std::to_string(lr));
}
/// Cosine interpolation from `from` (pct = 0) to `to` (pct = 1).
inline float cosine_between(float from, float to, double pct) {
  return static_cast<float>(to +
                            (double(from) - to) * 0.5 * (1.0 + std::cos(std::numbers::pi * pct)));
}
}  // namespace detail

/// The same rate at every step.
struct ConstantLR {
  float base = 1e-3f;
  explicit ConstantLR(float base) : base(base) { detail::check_rate(base, "ConstantLR"); }
  float operator()(const TrainingProgress&) const noexcept { return base; }
};

/// lr = base * gamma^floor(epoch / step_epochs): the rate is multiplied by gamma every
/// step_epochs epochs (PyTorch's StepLR). Throws InvalidArgument for step_epochs 0 or a gamma
/// outside (0, 1].
struct StepLR {
  float base;
  std::size_t step_epochs;
  float gamma;
  StepLR(float base, std::size_t step_epochs, float gamma = 0.1f)
      : base(base), step_epochs(step_epochs), gamma(gamma) {
    detail::check_rate(base, "StepLR");
    if (step_epochs == 0) throw InvalidArgument("StepLR: step_epochs must be at least 1");
    if (!(gamma > 0.0f && gamma <= 1.0f))
      throw InvalidArgument("StepLR: gamma must be in (0, 1], not " + std::to_string(gamma));
  }
  float operator()(const TrainingProgress& p) const {
    return static_cast<float>(base * std::pow(double(gamma), double(p.epoch / step_epochs)));
  }
};

/// Cosine decay with linear warm-up, per step. With W = round(warmup_epochs * steps_per_epoch)
/// warm-up steps and T = total_steps():
///   step < W:   lr = base * (step + 1) / W                          (Goyal et al. 2017)
///   otherwise:  lr = min + (base - min) * (1 + cos(pi * (step - W) / (T - W))) / 2
/// (Loshchilov & Hutter 2017, "SGDR", one cycle without restarts). Throws InvalidArgument for a
/// negative warm-up or a min_lr outside [0, base].
struct CosineLR {
  float base;
  double warmup_epochs;
  float min_lr;
  explicit CosineLR(float base, double warmup_epochs = 0.0, float min_lr = 0.0f)
      : base(base), warmup_epochs(warmup_epochs), min_lr(min_lr) {
    detail::check_rate(base, "CosineLR");
    if (!(warmup_epochs >= 0.0 && std::isfinite(warmup_epochs)))
      throw InvalidArgument("CosineLR: the warm-up must be a finite number of epochs >= 0");
    if (!(min_lr >= 0.0f && min_lr <= base))
      throw InvalidArgument("CosineLR: min_lr must be in [0, base]");
  }
  float operator()(const TrainingProgress& p) const {
    const std::size_t T = p.total_steps();
    const auto W = std::min<std::size_t>(
        T, static_cast<std::size_t>(std::llround(warmup_epochs * double(p.steps_per_epoch))));
    if (p.step < W) return static_cast<float>(double(base) * double(p.step + 1) / double(W));
    if (T <= W) return base;
    return detail::cosine_between(base, min_lr, double(p.step - W) / double(T - W));
  }
};

/// The one-cycle policy (Smith & Topin 2019), as PyTorch's OneCycleLR with cosine annealing:
/// from max_lr / div_factor up to max_lr over the first pct_start of the steps, then down to
/// max_lr / (div_factor * final_div_factor) at the last step, each phase a cosine.
/// Throws InvalidArgument for pct_start outside (0, 1) or factors < 1.
struct OneCycleLR {
  float max_lr;
  double pct_start;
  float div_factor;
  float final_div_factor;
  explicit OneCycleLR(float max_lr, double pct_start = 0.3, float div_factor = 25.0f,
                      float final_div_factor = 1e4f)
      : max_lr(max_lr),
        pct_start(pct_start),
        div_factor(div_factor),
        final_div_factor(final_div_factor) {
    detail::check_rate(max_lr, "OneCycleLR");
    if (!(pct_start > 0.0 && pct_start < 1.0))
      throw InvalidArgument("OneCycleLR: pct_start must be in (0, 1)");
    if (!(div_factor >= 1.0f && final_div_factor >= 1.0f))
      throw InvalidArgument("OneCycleLR: div_factor and final_div_factor must be >= 1");
  }
  float operator()(const TrainingProgress& p) const {
    const double initial = double(max_lr) / div_factor, last = initial / final_div_factor;
    const double end = double(p.total_steps()) - 1.0;  // index of the last step
    const double up = pct_start * double(p.total_steps()) - 1.0;
    const double s = double(p.step);
    if (end <= 0) return max_lr;
    if (s <= up) return detail::cosine_between(float(initial), max_lr, up > 0 ? s / up : 1.0);
    return detail::cosine_between(max_lr, float(last), std::min(1.0, (s - up) / (end - up)));
  }
};

/// Lowers the rate when a watched metric (a loss: lower is better) stops improving, as
/// PyTorch's ReduceLROnPlateau in "min" mode with a relative threshold: after each epoch,
/// observe(metric); a metric below best * (1 - threshold) is an improvement; after more than
/// `patience` epochs without one, the scale is multiplied by `factor` (never taking the rate
/// below min_lr) and the count starts again. The rate is base * scale().
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(float base, float factor = 0.1f, std::size_t patience = 10,
                             double threshold = 1e-4, float min_lr = 0.0f)
      : base_(base), factor_(factor), patience_(patience), threshold_(threshold), min_lr_(min_lr) {
    detail::check_rate(base, "ReduceLROnPlateau");
    if (!(factor > 0.0f && factor < 1.0f))
      throw InvalidArgument("ReduceLROnPlateau: factor must be in (0, 1)");
    if (!(threshold >= 0.0 && threshold < 1.0))
      throw InvalidArgument("ReduceLROnPlateau: threshold must be in [0, 1)");
  }

  /// Takes one epoch's metric; returns true when the rate was lowered. A NaN counts as no
  /// improvement.
  bool observe(double metric) {
    if (metric < best_ * (1.0 - threshold_) || (best_ == kNone && !std::isnan(metric))) {
      best_ = metric;
      bad_epochs_ = 0;
      return false;
    }
    if (++bad_epochs_ <= patience_) return false;
    bad_epochs_ = 0;
    const float lowered = std::max(min_lr_, rate() * factor_);
    if (lowered >= rate()) return false;
    scale_ = lowered / base_;
    return true;
  }

  float operator()(const TrainingProgress&) const noexcept { return rate(); }
  float rate() const noexcept { return base_ * scale_; }
  float scale() const noexcept { return scale_; }
  /// The best metric so far and the epochs since it.
  double best() const noexcept { return best_; }
  std::size_t bad_epochs() const noexcept { return bad_epochs_; }

  /// What it has learnt from the epochs (for checkpoints: see CallbackState): name "plateau",
  /// values best (infinity before the first epoch), bad_epochs and scale. The settings (base
  /// rate, factor, patience, threshold, min_lr) are the constructor's, not part of the state.
  CallbackState state() const {
    return {"plateau",
            {{"best", best_}, {"bad_epochs", double(bad_epochs_)}, {"scale", double(scale_)}}};
  }
  /// Goes on from what state() returned. All or nothing: throws InvalidArgument, changing
  /// nothing, for a state of another name, a value missing, best NaN, bad_epochs not a whole
  /// number from 0 to OptimizerState::max_epochs, or scale outside [the smallest float > 0, 1].
  void restore(const CallbackState& s) {
    constexpr const char* who = "ReduceLROnPlateau::restore";
    constexpr double inf = std::numeric_limits<double>::infinity();
    s.check_name(who, "plateau");
    const double best = s.value(who, "best", -inf, inf);
    const double bad = s.value(who, "bad_epochs", 0, double(OptimizerState::max_epochs), true);
    const double scale =
        s.value(who, "scale", double(std::numeric_limits<float>::denorm_min()), 1.0);
    best_ = best;
    bad_epochs_ = static_cast<std::size_t>(bad);
    scale_ = static_cast<float>(scale);
  }
  [[deprecated("use restore(state()): restore(const CallbackState&)")]] void restore(
      double best, std::size_t bad_epochs, float scale) noexcept {
    best_ = best;
    bad_epochs_ = bad_epochs;
    scale_ = scale;
  }

 private:
  static constexpr double kNone = std::numeric_limits<double>::infinity();
  float base_, factor_;
  std::size_t patience_;
  double threshold_;
  float min_lr_;
  double best_ = kNone;
  std::size_t bad_epochs_ = 0;
  float scale_ = 1.0f;
};

}  // namespace ctnn
