// ctnn/optim/optimizer.hpp — what fit(), Trainer and the checkpoint functions need of an
// optimizer, as concepts: the one requirement (Optimizer) and the optional capabilities they use
// when a type has them (HasLearningRate, StepsInRanges, CountsEpochs, SavesState).
//
// A type that declares a capability's member but not in the form the library uses (say
// begin_step without update, or a learning_rate() function instead of a data member) would
// silently lose the capability; instead, testing any capability of it fails to compile with a
// one-line message naming the capability and the form it needs (a static_assert).
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>

#include "state.hpp"

namespace ctnn {

/// What Trainer needs of an optimizer: step(params, grads), one update of the parameters from
/// the gradient of the loss, the two spans of equal length in the network's flat parameter
/// order. SGD, Adam and AdamW are optimizers.
template <class O>
concept Optimizer = requires(O& o, std::span<float> params, std::span<const float> grads) {
  o.step(params, grads);
};

namespace detail {

// Whether T declares a member of a given name, of any kind (data member, function, overload
// set, template): the name is ambiguous in a class deriving from T and from a probe that
// declares it too. Not for final classes, where only a data member is seen.
template <class T, class Probe>
struct probe_both : T, Probe {};
template <class T>
concept probe_base = std::is_class_v<T> && !std::is_final_v<T>;

struct learning_rate_probe {
  int learning_rate;
};
struct begin_step_probe {
  int begin_step;
};
struct update_probe {
  int update;
};
struct epochs_done_probe {
  int epochs_done;
};
struct state_probe {
  int state;
};
struct restore_probe {
  int restore;
};

template <class T>
concept declares_learning_rate =
    (probe_base<T> && !requires { &probe_both<T, learning_rate_probe>::learning_rate; }) ||
    (!probe_base<T> && requires(T & t) { t.learning_rate; });
template <class T>
concept declares_begin_step = (probe_base<T> &&
                               !requires { &probe_both<T, begin_step_probe>::begin_step; }) ||
                              (!probe_base<T> && requires(T & t) { t.begin_step; });
template <class T>
concept declares_update = (probe_base<T> && !requires { &probe_both<T, update_probe>::update; }) ||
                          (!probe_base<T> && requires(T & t) { t.update; });
template <class T>
concept declares_epochs_done = (probe_base<T> &&
                                !requires { &probe_both<T, epochs_done_probe>::epochs_done; }) ||
                               (!probe_base<T> && requires(T & t) { t.epochs_done; });
template <class T>
concept declares_state = (probe_base<T> && !requires { &probe_both<T, state_probe>::state; }) ||
                         (!probe_base<T> && requires(T & t) { t.state; });
template <class T>
concept declares_restore = (probe_base<T> &&
                            !requires { &probe_both<T, restore_probe>::restore; }) ||
                           (!probe_base<T> && requires(T & t) { t.restore; });

// The capabilities' forms, unchecked.
template <class O>
concept learning_rate_form = requires(O& o, float lr) {
  o.learning_rate = lr;
  static_cast<float>(o.learning_rate);
};
template <class O>
concept ranges_form = requires(O& o, std::size_t n, std::span<float> params,
                               std::span<const float> grads) {
  o.begin_step(n);
  o.update(n, params, grads);
};
template <class O>
concept epochs_form = requires(O& o, std::size_t n) {
  requires std::integral<std::remove_cvref_t<decltype(o.epochs_done)>>;
  o.epochs_done = n;
};
template <class O>
concept state_form = requires(O& o, const O& c, const OptimizerState& s) {
  { c.state() } -> std::same_as<OptimizerState>;
  o.restore(s);
};

/// Instantiated by every capability test: one static_assert per capability declared wrongly.
template <class O>
struct optimizer_declarations {
  static_assert(!declares_learning_rate<O> || learning_rate_form<O>,
                "ctnn optimizer: learning_rate must be a data member that reads and assigns as "
                "a float");
  static_assert(!(declares_begin_step<O> || declares_update<O>) || ranges_form<O>,
                "ctnn optimizer: begin_step and update go together, as begin_step(std::size_t n) "
                "and update(std::size_t offset, std::span<float>, std::span<const float>)");
  static_assert(!declares_epochs_done<O> || epochs_form<O>,
                "ctnn optimizer: epochs_done must be an assignable data member of an integer "
                "type (std::size_t)");
  static_assert(!(declares_state<O> || declares_restore<O>) || state_form<O>,
                "ctnn optimizer: state and restore go together, as OptimizerState state() const "
                "and restore(const OptimizerState&)");
};
// Instantiates the checks; true whatever they find (a failed check is an error of its own).
template <class O>
concept optimizer_checked = requires {
  sizeof(optimizer_declarations<std::remove_cvref_t<O>>);
};

}  // namespace detail

/// A `learning_rate` data member, read and assigned as a float: fit() sets it from
/// FitOptions::learning_rate and the schedule before each step (fit() needs it), and reports it.
template <class O>
concept HasLearningRate = detail::optimizer_checked<O> && detail::learning_rate_form<O>;

/// The step in pieces, which may run on different threads: begin_step(n) once for all n
/// parameters, then update(offset, params, grads) for disjoint ranges [offset, offset + size)
/// covering them. Trainer runs such an optimizer on all its threads, each on its own range;
/// others get one step() call.
template <class O>
concept StepsInRanges = detail::optimizer_checked<O> && detail::ranges_form<O>;

/// An `epochs_done` data member of an integer type: the epochs fit() has trained with the
/// optimizer; fit() numbers its epochs on from there and counts them up (see fit()).
template <class O>
concept CountsEpochs = detail::optimizer_checked<O> && detail::epochs_form<O>;

/// OptimizerState state() const and restore(const OptimizerState&) (optim/state.hpp): the whole
/// state, which checkpoints save and load (io/checkpoint.hpp) and distributed training compares.
template <class O>
concept SavesState = detail::optimizer_checked<O> && detail::state_form<O>;

}  // namespace ctnn
