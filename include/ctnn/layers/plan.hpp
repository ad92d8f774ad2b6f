// ctnn/layers/plan.hpp — the plan of a list of layers, decided at compile time, for inference and
// for training, and the tuple helpers the networks and the composites share.
//
// In inference a layer often needs nothing of the layer after it but its function: a ReLU, an
// inference-mode BatchNorm (a per-channel y = x * scale + shift) or a residual addition can be
// done by the layer before it as it stores its output (its epilogue, layers/contract.hpp:
// FusesOps). The plan groups a list of layers into steps: a step is a head layer and the layers
// it absorbs,
//   head [BatchNorm] [ReLU]      when the head can fuse them (Conv2D, Dense; Residual: ReLU),
//   Conv2D ReLU MaxPool2D        the pooled convolution (Conv2D::forward_relu_maxpool),
// and every other layer is a step of its own. Training fuses less, by the same function
// (make(true)): only a ReLU after a head that fuses it in training (FusesInTraining: Conv2D and
// Dense, whose backward needs only their input), so that every layer's output that backward
// reads is stored; the walk (layers/chain.hpp) runs that training plan at every depth alike. The
// caller may hand the last step operations of its own (a Residual asks its Main chain to add the
// shortcut and apply the ReLU after the block). Only step outputs exist: the outputs of absorbed
// layers are never written, and since inference keeps nothing for backward, the steps take turns on
// two buffers (sized by the largest step output) and share one scratch region (sized by the largest
// step).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../shape.hpp"
#include "contract.hpp"

namespace ctnn::detail {

constexpr std::size_t round_up(std::size_t n, std::size_t m = 16) {
  return (n + m - 1) / m * m;
}

/// The sums of a list of constants, as an array of prefix sums.
template <std::size_t N>
constexpr std::array<std::size_t, N + 1> prefix_sums(const std::array<std::size_t, N>& a) {
  std::array<std::size_t, N + 1> s{};
  for (std::size_t i = 0; i < N; ++i) s[i + 1] = s[i] + a[i];
  return s;
}

/// Calls f.template operator()<I, Part>() for every part of the tuple Parts, in order (or in
/// reverse order).
template <class Parts, class F>
void for_each_part(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f.template operator()<I, std::tuple_element_t<I, Parts>>(), ...);
  }
  (std::make_index_sequence<std::tuple_size_v<Parts>>{});
}
template <class Parts, class F>
void for_each_part_reverse(F&& f) {
  constexpr std::size_t n = std::tuple_size_v<Parts>;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f.template operator()<n - 1 - I, std::tuple_element_t<n - 1 - I, Parts>>(), ...);
  }
  (std::make_index_sequence<n>{});
}

/// f(std::type_identity<Part>{}) for every part of Parts, as an array.
template <class Parts, class F>
constexpr auto over_parts(F f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::array<std::size_t, sizeof...(I)>{
        f(std::type_identity<std::tuple_element_t<I, Parts>>{})...};
  }
  (std::make_index_sequence<std::tuple_size_v<Parts>>{});
}

/// Carves a scratch region into sub-regions, each starting on a 16-float (64-byte) boundary: a
/// region of n floats takes round_up(n) <= n + 15 floats, so 16 fixed floats per sub-region
/// cover the rounding.
class ScratchCursor {
 public:
  explicit ScratchCursor(float* base) : p_(base) {}
  float* take(std::size_t floats) {
    float* r = p_;
    p_ += round_up(floats);
    return r;
  }

 private:
  float* p_;
};

/// The inference scratch floats of layer L for a batch.
template <class L>
constexpr std::size_t inference_scratch(std::size_t batch) {
  return batch * inference_scratch_per_sample<L>() + inference_scratch_fixed<L>();
}

/// One step of a plan: parts [first, first + count), computed by part `first` (the head).
struct PlanStep {
  std::size_t first = 0, count = 1;
  unsigned ops = 0;   ///< fused operations of the head (fused::affine: part first + 1 folded)
  bool pool = false;  ///< head, ReLU, MaxPool2D: Conv2D::forward_relu_maxpool
};

/// The plan of the layers Parts (a tuple of bound layers); Tail: operations the caller asks of
/// the last step in inference (fused::add, fused::relu), taken when its head can apply them after
/// what it fuses already (takes_tail). The steps are the inference plan's; training_head<I> and
/// absorbed_in_training<I> say how the training plan (make(true)) treats part I.
template <class Parts, unsigned Tail = 0>
struct Plan {
  static constexpr std::size_t parts = std::tuple_size_v<Parts>;

 private:
  static constexpr auto ops_ = over_parts<Parts>(
      [](auto l) { return std::size_t{fused_ops_of<typename decltype(l)::type>(false)}; });
  static constexpr auto training_ops_ = over_parts<Parts>(
      [](auto l) { return std::size_t{fused_ops_of<typename decltype(l)::type>(true)}; });
  static constexpr auto relu_ =
      over_parts<Parts>([](auto l) { return std::size_t{IsRelu<typename decltype(l)::type>}; });
  static constexpr auto affine_ = over_parts<Parts>(
      [](auto l) { return std::size_t{ChannelAffine<typename decltype(l)::type>}; });
  static constexpr auto pool_ = over_parts<Parts>(
      [](auto l) { return std::size_t{PoolsAfterConv<typename decltype(l)::type>}; });
  static constexpr auto conv_ = over_parts<Parts>([](auto l) {
    return std::size_t{kind_of<typename decltype(l)::type>() == LayerKind::conv2d};
  });
  static constexpr auto out_sizes_ =
      over_parts<Parts>([](auto l) { return decltype(l)::type::output_shape::size; });
  static constexpr auto scratch_per_sample_ = over_parts<Parts>(
      [](auto l) { return inference_scratch_per_sample<typename decltype(l)::type>(); });
  static constexpr auto scratch_fixed_ = over_parts<Parts>(
      [](auto l) { return inference_scratch_fixed<typename decltype(l)::type>(); });

  struct Result {
    std::array<PlanStep, parts> steps{};
    std::size_t count = 0;
    bool tail_taken = false;
    unsigned tail_room = 0;
  };
  /// The steps in inference, or with training those of a training pass (its heads' training
  /// operations only, no tail).
  static constexpr Result make(bool training) {
    Result r;
    const auto& op = training ? training_ops_ : ops_;
    for (std::size_t i = 0; i < parts;) {
      PlanStep s;
      s.first = i;
      std::size_t j = i + 1;
      if ((op[i] & fused::affine) && j < parts && affine_[j]) {
        s.ops |= fused::affine;
        ++j;
      }
      if ((op[i] & fused::relu) && j < parts && relu_[j]) {
        s.ops |= fused::relu;
        ++j;
        if (!training && conv_[i] && !(s.ops & fused::affine) && j < parts && pool_[j]) {
          s.pool = true;
          ++j;
        }
      }
      if (!training && j == parts && !(s.ops & fused::relu)) {
        r.tail_room = op[i] & (fused::add | fused::relu);
        if (Tail != 0 && (r.tail_room & Tail) == Tail) {
          s.ops |= Tail;
          r.tail_taken = true;
        }
      }
      s.count = j - i;
      r.steps[r.count++] = s;
      i = j;
    }
    return r;
  }
  static constexpr Result result_ = make(false);
  static constexpr Result training_ = make(true);
  static constexpr auto training_roles_ = [] {
    std::array<std::size_t, parts> head{};  // 1 + the head's ops; 0: absorbed
    for (std::size_t k = 0; k < training_.count; ++k)
      head[training_.steps[k].first] = 1 + training_.steps[k].ops;
    return head;
  }();

 public:
  static constexpr std::size_t step_count = result_.count;
  template <std::size_t K>
  static constexpr PlanStep step = result_.steps[K];
  /// Whether the last step applies Tail.
  static constexpr bool takes_tail = Tail == 0 || result_.tail_taken;
  /// The operations (fused::add, fused::relu) the last step could take from a caller.
  static constexpr unsigned tail_room = result_.tail_room;
  /// Whether part I is computed by the part before it in training (a ReLU after Conv2D or
  /// Dense), and the operations the head part I applies in training (0: a plain forward).
  template <std::size_t I>
  static constexpr bool absorbed_in_training = training_roles_[I] == 0;
  template <std::size_t I>
  static constexpr unsigned training_ops = training_roles_[I] == 0
                                               ? 0u
                                               : unsigned(training_roles_[I] - 1);
  /// Whether part I is a MaxPool2D that the convolution two parts before it computes in
  /// inference (Conv2D::forward_relu_maxpool).
  template <std::size_t I>
  static constexpr bool pooled_by_conv = [] {
    for (std::size_t k = 0; k < result_.count; ++k)
      if (result_.steps[k].pool && result_.steps[k].first + 2 == I) return true;
    return false;
  }();

  /// The largest output of a step, of all steps or of all but the last (which a composite
  /// writes to its own output).
  static constexpr std::size_t max_output(bool with_last) {
    std::size_t m = 0;
    for (std::size_t k = 0; k < step_count; ++k)
      if (with_last || k + 1 < step_count) {
        const PlanStep& s = result_.steps[k];
        m = std::max(m, out_sizes_[s.first + s.count - 1]);
      }
    return m;
  }

 private:
  /// The most any step needs of a per-part amount, summed over the step's parts, each part
  /// adding `extra`.
  template <std::size_t N>
  static constexpr std::size_t largest_step(const std::array<std::size_t, N>& per_part,
                                            std::size_t extra) {
    std::size_t m = 0;
    for (std::size_t k = 0; k < step_count; ++k) {
      std::size_t n = 0;
      for (std::size_t i = 0; i < result_.steps[k].count; ++i)
        n += per_part[result_.steps[k].first + i] + extra;
      m = std::max(m, n);
    }
    return m;
  }

 public:
  /// Scratch of the steps (they share it; a step's parts take one sub-region each): floats per
  /// sample and per call, the most any step needs.
  static constexpr std::size_t scratch_per_sample = largest_step(scratch_per_sample_, 0);
  static constexpr std::size_t scratch_fixed = largest_step(scratch_fixed_, 16);
  /// Floats of the two step buffers and the scratch for a batch (with_last: the last step
  /// writes into them too).
  static constexpr std::size_t floats(std::size_t batch, bool with_last) {
    return 2 * round_up(batch * max_output(with_last)) +
           round_up(batch * scratch_per_sample + scratch_fixed);
  }

  /// Runs the steps on `batch` samples of `in` and returns the last step's output: in `out`
  /// when given, else in the buffers of `work` (floats(batch, out == nullptr) floats).
  /// pass_of.template operator()<I>() gives part I's Pass with its parameters and state; tail
  /// holds the operands of Tail.
  template <class PassOf>
  static const float* run(const PassOf& pass_of, const float* in, float* out, float* work,
                          std::size_t batch, const FusedOutput& tail = {}) {
    static_assert(takes_tail, "the last step cannot apply the operations asked of it");
    ScratchCursor c(work);
    float* buffers[2];
    for (auto& b : buffers) b = c.take(batch * max_output(out == nullptr));
    float* scratch = c.take(0);
    const float* x = in;
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      ((x = run_step<K>(pass_of, x, K + 1 == step_count && out ? out : buffers[K % 2], scratch,
                        batch, tail)),
       ...);
    }
    (std::make_index_sequence<step_count>{});
    return x;
  }

 private:
  template <std::size_t K, class PassOf>
  static const float* run_step(const PassOf& pass_of, const float* in, float* out, float* scratch,
                               std::size_t batch, const FusedOutput& tail) {
    constexpr PlanStep s = step<K>;
    using Head = std::tuple_element_t<s.first, Parts>;
    std::array<float*, s.count> region{};
    ScratchCursor c(scratch);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((region[I] = c.take(inference_scratch<std::tuple_element_t<s.first + I, Parts>>(batch))),
       ...);
    }
    (std::make_index_sequence<s.count>{});
    Pass p = pass_of.template operator()<s.first>();
    p.in = in;
    p.out = out;
    p.scratch = region[0];
    p.batch = batch;
    p.training = false;
    p.inference_only = true;
    if constexpr (s.pool) {
      using Pool = std::tuple_element_t<s.first + 2, Parts>;
      Head::template forward_relu_maxpool<Pool::pool_size>(p, region[2]);
    } else if constexpr (s.ops == 0) {
      Head::forward(p);
    } else {
      FusedOutput f;
      if constexpr ((s.ops & fused::affine) != 0) {
        using Folded = std::tuple_element_t<s.first + 1, Parts>;
        constexpr std::size_t channels = channels_of<typename Folded::output_shape>();
        Pass q = pass_of.template operator()<s.first + 1>();
        Folded::inference_affine(q, region[1], region[1] + channels);
        f.scale = region[1];
        f.shift = region[1] + channels;
      }
      if constexpr ((s.ops & fused::add) != 0) f.addend = tail.addend;
      Head::template forward_fused<s.ops>(p, f);
    }
    return out;
  }
};

/// The plan as inference reads it.
template <class Parts, unsigned Tail = 0>
using InferencePlan = Plan<Parts, Tail>;

}  // namespace ctnn::detail
