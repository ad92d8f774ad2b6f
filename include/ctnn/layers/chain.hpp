// ctnn/layers/chain.hpp — the one engine: Chain<Specs...>, the specs applied in order, and the
// walk that runs a list of bound layers forward and backward. A network (Sequential,
// network.hpp) is parameter storage over the same walk, so a layer is computed alike at top
// level and inside a composite, at any depth.
//
// The walk (detail::ChainOver<In, Parts>):
//   - inference (Pass::inference_only): the inference plan (plan.hpp), BatchNorm folded, ReLU,
//     pooling and residual additions fused, only step outputs stored;
//   - otherwise (training, or a forward kept for backward): the training plan, which stores
//     every output backward reads: only a ReLU after Conv2D or Dense is computed by the layer
//     before it (FusesInTraining); backward runs the parts last to first.
// Parameters, state and scratch: the parts' slices one after the other (PartsInfo).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "binding.hpp"
#include "contract.hpp"
#include "plan.hpp"

namespace ctnn {

namespace detail {

/// Names of the parts joined with ','.
template <class Parts>
std::string part_names() {
  std::string s;
  for_each_part<Parts>([&]<std::size_t I, class P>() {
    if (I > 0) s += ',';
    s += P::name();
  });
  return s;
}

/// Parameter, state and scratch bookkeeping of a composite over the bound layers Parts.
template <class Parts>
struct PartsInfo {
  static constexpr std::size_t count = std::tuple_size_v<Parts>;
  static constexpr auto parameter_offsets =
      prefix_sums(over_parts<Parts>([](auto l) { return decltype(l)::type::parameter_count; }));
  static constexpr auto state_offsets =
      prefix_sums(over_parts<Parts>([](auto l) { return decltype(l)::type::state_count; }));
  static constexpr std::size_t parameter_count = parameter_offsets[count];
  static constexpr std::size_t state_count = state_offsets[count];
  static constexpr std::size_t flops = [] {
    std::size_t s = 0;
    for (auto f : over_parts<Parts>([](auto l) { return decltype(l)::type::flops; })) s += f;
    return s;
  }();
  /// Floats per sample and fixed floats of all the parts' own scratch (one region each).
  static constexpr std::size_t scratch_per_sample = [] {
    std::size_t s = 0;
    for (auto f : over_parts<Parts>([](auto l) { return decltype(l)::type::scratch_per_sample; }))
      s += f;
    return s;
  }();
  static constexpr std::size_t scratch_fixed = [] {
    std::size_t s = 0;
    for (auto f : over_parts<Parts>([](auto l) { return decltype(l)::type::scratch_fixed; }))
      s += f + 16;
    return s;
  }();

  /// The same for an inference-only scratch (Pass::inference_only).
  static constexpr std::size_t inference_scratch_per_sample = [] {
    std::size_t s = 0;
    for (auto f : over_parts<Parts>([](auto l) {
           return ctnn::inference_scratch_per_sample<typename decltype(l)::type>();
         }))
      s += f;
    return s;
  }();
  static constexpr std::size_t inference_scratch_fixed = [] {
    std::size_t s = 0;
    for (auto f : over_parts<Parts>(
             [](auto l) { return ctnn::inference_scratch_fixed<typename decltype(l)::type>(); }))
      s += f + 16;
    return s;
  }();
  /// The scratch floats of part P for a batch, full or for inference only.
  template <class P>
  static std::size_t part_scratch(std::size_t batch, bool inference_only) {
    return inference_only ? batch * ctnn::inference_scratch_per_sample<P>() +
                                ctnn::inference_scratch_fixed<P>()
                          : batch * P::scratch_per_sample + P::scratch_fixed;
  }

  static void init(float* params, float* state, Rng& rng) {
    for_each_part<Parts>([&]<std::size_t I, class P>() {
      P::init(params + parameter_offsets[I], state + state_offsets[I], rng);
    });
  }

  /// The Pass of part I from the composite's pass p: its slices of parameters, gradients and
  /// state, and its scratch region.
  template <std::size_t I>
  static Pass part_pass(const Pass& p, float* scratch) {
    Pass q = p;
    q.params = p.params + parameter_offsets[I];
    q.grads = p.grads ? p.grads + parameter_offsets[I] : nullptr;
    q.state = p.state ? p.state + state_offsets[I] : nullptr;
    q.state_update = p.state_update ? p.state_update + state_offsets[I] : nullptr;
    q.scratch = scratch;
    return q;
  }
};

/// The walk over the bound layers Parts, which take In: a layer made of them (see the header).
template <class In, class Parts>
struct ChainOver {
  using parts = Parts;
  using info = PartsInfo<parts>;
  static constexpr std::size_t count = info::count;
  template <std::size_t I>
  using part = std::tuple_element_t<I, parts>;

  using input_shape = In;
  using output_shape = typename part<count - 1>::output_shape;
  static constexpr std::size_t parameter_count = info::parameter_count;
  static constexpr std::size_t state_count = info::state_count;
  static constexpr std::size_t flops = info::flops;
  using plan = Plan<parts>;

 private:
  static constexpr auto output_sizes =
      over_parts<parts>([](auto l) { return decltype(l)::type::output_shape::size; });
  static constexpr std::size_t max_io = [] {
    std::size_t m = In::size;
    for (auto s : output_sizes) m = std::max(m, s);
    return m;
  }();
  static constexpr std::size_t activations = [] {
    std::size_t s = 0;
    for (std::size_t i = 0; i + 1 < count; ++i) s += output_sizes[i];
    return s;
  }();

  // Scratch: the outputs of all parts but the last (kept for backward), two gradient buffers
  // between parts, then each part's own scratch. An inference-only scratch is the inference
  // plan's (plan.hpp): two buffers for the outputs of its steps and their shared scratch.
  struct Layout {
    std::array<float*, count> act{}, scratch{};
    std::array<float*, 2> grad{};
    Layout(float* base, std::size_t batch) {
      ScratchCursor c(base);
      for (std::size_t i = 0; i + 1 < count; ++i) act[i] = c.take(batch * output_sizes[i]);
      for (auto& g : grad) g = c.take(batch * max_io);
      for_each_part<parts>([&]<std::size_t I, class P>() {
        scratch[I] = c.take(info::template part_scratch<P>(batch, false));
      });
    }
  };
  template <unsigned Ops>
  static void run_plan(const Pass& p, const FusedOutput& f) {
    const auto pass_of = [&p]<std::size_t I>() { return info::template part_pass<I>(p, nullptr); };
    Plan<parts, Ops>::run(pass_of, p.in, p.out, p.scratch, p.batch, f);
  }

 public:
  static constexpr std::size_t scratch_per_sample =
      activations + 2 * max_io + info::scratch_per_sample;
  static constexpr std::size_t scratch_fixed = 16 * (count + 1) + info::scratch_fixed;
  static constexpr std::size_t inference_scratch_per_sample =
      2 * plan::max_output(false) + plan::scratch_per_sample;
  static constexpr std::size_t inference_scratch_fixed = 16 * 3 + plan::scratch_fixed;

  static void init(float* params, float* state, Rng& rng) { info::init(params, state, rng); }

  /// Inference (an inference-only pass) runs the inference plan; any other pass the training
  /// plan, keeping what backward reads.
  static void forward(const Pass& p) {
    if (p.inference_only) return run_plan<0>(p, {});
    const Layout l(p.scratch, p.batch);
    for_each_part<parts>([&]<std::size_t I, class P>() {
      if constexpr (!plan::template absorbed_in_training<I>) {
        constexpr unsigned ops = plan::template training_ops<I>;
        // The last part this step computes: the head, or the ReLU after it.
        constexpr std::size_t last = ops == 0 ? I : I + 1;
        Pass q = info::template part_pass<I>(p, l.scratch[I]);
        q.in = I == 0 ? p.in : l.act[I - 1];
        q.out = last + 1 == count ? p.out : l.act[last];
        if constexpr (ops == 0)
          P::forward(q);
        else
          P::template forward_fused<ops>(q, {});
      }
    });
  }
  /// Inference (an inference-only pass) with operations fused into the last step of the plan:
  /// those its last part can apply after what it fuses already (a Residual's addition and the
  /// ReLU after it, into the last Conv2D and its BatchNorm).
  static constexpr unsigned fused_ops = plan::tail_room;
  template <unsigned Ops>
  static void forward_fused(const Pass& p, const FusedOutput& f) {
    run_plan<Ops>(p, f);
  }
  /// Backward after forward on the same pass; calls done(k) after each part with parameters,
  /// k being the offset of its first one in the chain's parameters: the parts run last to first,
  /// so grads[k .. parameter_count) are then complete.
  template <class Done>
  static void backward(const Pass& p, Done&& done) {
    const Layout l(p.scratch, p.batch);
    const float* g = p.dout;
    for_each_part_reverse<parts>([&]<std::size_t I, class P>() {
      Pass q = info::template part_pass<I>(p, l.scratch[I]);
      q.in = I == 0 ? p.in : l.act[I - 1];
      q.out = I + 1 == count ? p.out : l.act[I];
      q.dout = g;
      q.din = I == 0 ? p.din : l.grad[I % 2];
      P::backward(q);
      g = q.din;
      if constexpr (P::parameter_count > 0) done(info::parameter_offsets[I]);
    });
  }
  static void backward(const Pass& p) {
    backward(p, [](std::size_t) {});
  }
};

}  // namespace detail

/// Chain<Specs...>: the specs applied in order, used as one layer (PyTorch's nn.Sequential inside
/// a model). Input: what the first spec takes; output: the last one's. Parameters and state: the
/// parts' in order. A part that does not take its input stops compilation with that part's own
/// message.
template <class... Specs>
struct Chain {
  static_assert(sizeof...(Specs) > 0, "Chain needs at least one layer");

  template <class In>
  struct bind : detail::CompositeRejection<bind<In>>,
                detail::ChainOver<In, typename detail::bind_all<In, Specs...>::type> {
    using bound_ = detail::bind_all<In, Specs...>;
    // A part that does not bind makes the Chain a rejected binding (CompositeRejection).
    using failure = detail::first_rejected<typename bound_::failed_input, typename bound_::failed>;
    static constexpr bool mismatch = false;
    using mismatch_report = detail::no_mismatch;
    static constexpr bool rejected = failure::found, reported = failure::reported;
    using walk_ = detail::ChainOver<In, typename bound_::type>;
    using typename walk_::parts;
    static constexpr LayerKind kind = LayerKind::chain;

    static std::string name() { return detail::join({"Chain<", detail::part_names<parts>(), ">"}); }
    /// Part i in PyTorch's module (nn.Sequential): "i"; each part reads the one before.
    static std::string part_name(std::size_t i) { return std::to_string(i); }
    static constexpr bool parts_chained = true;
  };
};

}  // namespace ctnn
