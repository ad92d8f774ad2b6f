// ctnn/optim/state.hpp — the state of what training keeps besides the network, as a checkpoint
// stores it: an optimizer's (OptimizerState) and a schedule's or a callback's (CallbackState).
// Each such type has `State state() const` and `void restore(const State&)`, restore() taking
// all or nothing.
#pragma once

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../attributes.hpp"
#include "../error.hpp"

namespace ctnn {

/// Everything an optimizer needs to go on exactly where it stopped (io/checkpoint.hpp writes it
/// to a checkpoint file):
///   - type: the optimizer's name ("SGD", "Adam", "AdamW"); restore() refuses another type;
///   - settings: its hyper-parameters by name (learning_rate, beta1, ...), as PyTorch's
///     param_groups: restore() sets them, like torch.optim.Optimizer.load_state_dict;
///   - steps: update steps taken (Adam's t, which its bias corrections need);
///   - epochs_done: epochs fit() has trained with it (fit() numbers its epochs on from there);
///   - buffers: its per-parameter arrays by name, each empty (before the first step) or one
///     float per network parameter, in the network's flat parameter order (Adam: "exp_avg" and
///     "exp_avg_sq", the first and second moments m and v; SGD: "momentum_buffer").
///
/// restore() refuses a state past max_epochs or max_steps, a setting outside its range or a
/// buffer holding a NaN or an infinity, naming it; so does load_checkpoint(), which also
/// refuses a type or buffer name longer than 200 characters.
struct OptimizerState {
  /// The most epochs_done a state may hold.
  static constexpr std::size_t max_epochs = 100'000;
  /// The most steps a state may hold: 2^53, the largest count a double holds exactly.
  static constexpr std::uint64_t max_steps = std::uint64_t{1} << 53;

  std::string type;
  std::map<std::string, double> settings;
  std::uint64_t steps = 0;
  std::size_t epochs_done = 0;
  std::vector<std::pair<std::string, std::vector<float>>> buffers;

  /// The buffer named `name`, or nullptr.
  const std::vector<float>* buffer(const std::string& name) const {
    for (const auto& [n, b] : buffers)
      if (n == name) return &b;
    return nullptr;
  }

  /// Throws InvalidArgument, naming `who` and the field, when epochs_done or steps pass their
  /// limits or a buffer holds a NaN or an infinity (or, with `non_negative`, a value below 0).
  void check_counts_and_buffers(const char* who, const char* non_negative = nullptr) const {
    if (epochs_done > max_epochs)
      throw InvalidArgument(std::string(who) + ": the state has done " +
                            std::to_string(epochs_done) + " epochs, more than the " +
                            std::to_string(max_epochs) + " it may hold");
    if (steps > max_steps)
      throw InvalidArgument(std::string(who) + ": the state has taken " + std::to_string(steps) +
                            " steps, more than the " + std::to_string(max_steps) + " it may hold");
    for (const auto& [name, b] : buffers)
      for (std::size_t i = 0; i < b.size(); ++i)
        if (!std::isfinite(b[i]) || (non_negative && name == non_negative && b[i] < 0))
          throw InvalidArgument(std::string(who) + ": the buffer " + name + " holds " +
                                number_text(b[i]) + " at index " + std::to_string(i) +
                                (non_negative && name == non_negative
                                     ? ", expected a finite number >= 0"
                                     : ", expected a finite number"));
  }

  /// The setting `name` as a float, checked: throws InvalidArgument naming `who` and the setting
  /// when it is missing, is not a finite float, or lies outside [low, high] (or [low, high),
  /// (low, high] with the open ends set).
  float setting(const char* who, const char* name, double low, double high, bool low_open = false,
                bool high_open = false) const {
    const auto it = settings.find(name);
    if (it == settings.end())
      throw InvalidArgument(std::string(who) + ": the state lacks the setting " + name);
    const double v = it->second;
    const bool representable =
        std::isfinite(v) && std::fabs(v) <= std::numeric_limits<float>::max();
    const float f = representable ? static_cast<float>(v) : 0.0f;
    if (!representable || (low_open ? !(f > low) : !(f >= low)) ||
        (high_open ? !(f < high) : !(f <= high)))
      throw InvalidArgument(std::string(who) + ": the setting " + name + " is " + number_text(v) +
                            ", expected a finite float " +
                            (std::isinf(high)
                                 ? (low_open ? "> " : ">= ") + number_text(low)
                                 : "in " + std::string(low_open ? "(" : "[") + number_text(low) +
                                       ", " + number_text(high) + (high_open ? ")" : "]")));
    return f;
  }

  /// `v` as error messages show it: the shortest text that reads back as `v`, "nan", "inf".
  static std::string number_text(double v) {
    char text[32];
    return std::string(text, std::to_chars(text, text + sizeof text, v).ptr);
  }
};

/// The state of a schedule or a callback that learns from the epochs it sees (ReduceLROnPlateau,
/// EarlyStopping, SaveBest): a few named numbers, which save_checkpoint() files in
/// TrainingState::values as "<name>.<key>" (e.g. "plateau.best") and load_checkpoint() gives
/// back to restore(). NaN and infinities are kept. restore() refuses a state of another name, a
/// missing value or one out of its range, naming it as the checkpoint does
/// ("values.plateau.bad_epochs").
struct CallbackState {
  /// The name its values are filed under: "plateau", "early_stopping", "save_best".
  std::string name;
  std::map<std::string, double> values;

  /// Throws InvalidArgument naming `who` when the state is not named `expected`.
  void check_name(const char* who, const char* expected) const {
    if (name != expected)
      throw InvalidArgument(std::string(who) + ": the state is " + name + "'s, expected " +
                            expected + "'s");
  }

  /// The value `key`, checked: throws InvalidArgument naming `who` and values.<name>.<key> when
  /// it is missing, NaN, outside [low, high] or, with `whole`, not a whole number.
  CTNN_COLD double value(const char* who, const char* key, double low, double high,
                         bool whole = false) const {
    const std::string what = "values." + name + "." + key;
    const auto it = values.find(key);
    if (it == values.end()) throw InvalidArgument(std::string(who) + ": the state lacks " + what);
    const double v = it->second;
    // The bounds as written: 100000, not 1e+05.
    const auto bound = [](double b) {
      return std::fabs(b) < 1e15 && b == std::floor(b) ? std::to_string(static_cast<long long>(b))
                                                       : OptimizerState::number_text(b);
    };
    if (!(v >= low && v <= high) || (whole && v != std::floor(v)))
      throw InvalidArgument(std::string(who) + ": " + what + " is " +
                            OptimizerState::number_text(v) + ", expected a " +
                            (whole ? "whole number" : "number") + " from " + bound(low) + " to " +
                            bound(high));
    return v;
  }
};

/// What save_checkpoint() and load_checkpoint() take besides the network and the optimizer: a
/// schedule or callback with CallbackState state() const and restore(const CallbackState&).
template <class T>
concept SavesCallbackState = requires(T& t, const T& c, const CallbackState& s) {
  { c.state() } -> std::same_as<CallbackState>;
  t.restore(s);
};

}  // namespace ctnn
