// ctnn/layers/composite.hpp — layers made of layers: Chain (layers/chain.hpp), Residual and
// Concat, and, for residual networks, Identity (layers/activation.hpp) and GlobalAvgPool2D
// (layers/pooling.hpp).
//
//   using Block = ctnn::Residual<ctnn::Chain<ctnn::Conv2D<16, 3, 1, ctnn::Same>, ctnn::BatchNorm,
//                                            ctnn::ReLU, ctnn::Conv2D<16, 3, 1, ctnn::Same>,
//                                            ctnn::BatchNorm>>;
//   using Net = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::Conv2D<16, 3, 1, ctnn::Same>,
//                                Block, ctnn::ReLU, ctnn::GlobalAvgPool2D, ctnn::Dense<10>>;
//
// A composite is a layer like any other (layer.hpp): its parameters and state are its parts'
// slices one after the other (Chain: in order; Residual: Main then Shortcut; Concat: branches in
// order), and its parts' activations, input gradients and scratch live in its own scratch. Shapes
// are bound and checked at compile time, part by part; composites nest.
//
// Input gradients: a layer's backward writes dL/din (it overwrites din). Where an input feeds two
// parts (Residual's Main and Shortcut, Concat's branches), the composite gives the first part din
// itself and the others a buffer of their own, and adds those buffers into din.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../attributes.hpp"
#include "../kernels/elementwise.hpp"
#include "activation.hpp"
#include "binding.hpp"
#include "chain.hpp"
#include "contract.hpp"
#include "plan.hpp"
#include "pooling.hpp"

namespace ctnn {

namespace detail {
template <class Main, class Shortcut, class MainOut, class ShortcutOut>
struct residual_shapes_differ {
  static_assert(always_false<Main>,
                "Residual: Main and Shortcut give different shapes; their outputs must be added "
                "element by element (the instantiation notes show both shapes, MainOut and "
                "ShortcutOut); a shortcut that changes the shape is a projection, e.g. "
                "Chain<Conv2D<C, 1, 2>, BatchNorm>");
};
}  // namespace detail

/// Residual<Main, Shortcut = Identity>: y = Main(x) + Shortcut(x) (He et al. 2016, "Deep
/// Residual Learning for Image Recognition", eq. 1 and, with a projection shortcut, eq. 2).
/// Main and Shortcut are specs, usually Chains; their output shapes must be equal (a compile
/// error names both otherwise). Parameters and state: Main's, then Shortcut's. The activation
/// after the addition is a layer of its own after the block (ReLU in the original ResNet).
/// dL/dx = Main'(x)^T dL/dy + Shortcut'(x)^T dL/dy.
template <class Main, class Shortcut = Identity>
struct Residual {
  template <class In>
  struct bind : detail::CompositeRejection<bind<In>> {
    using main_ = typename Main::template bind<In>;
    using shortcut_ = typename Shortcut::template bind<In>;
    // After a rejected part, stand-ins keep the type well-formed (one error per mistake).
    using main_type = std::conditional_t<detail::rejected_v<main_>, detail::Unbound<In>, main_>;
    using shortcut_type =
        std::conditional_t<detail::rejected_v<shortcut_>, detail::Unbound<In>, shortcut_>;
    using parts = std::tuple<main_type, shortcut_type>;
    using info = detail::PartsInfo<parts>;
    // Rejected (CompositeRejection) when a part does not bind or the shapes differ.
    using failure = detail::first_rejected<In, main_, shortcut_>;
    static constexpr bool mismatch =
        !failure::found &&
        !std::is_same_v<typename main_type::output_shape, typename shortcut_type::output_shape>;
    struct mismatch_report {
      using type = decltype(sizeof(
          detail::residual_shapes_differ<Main, Shortcut, typename main_type::output_shape,
                                         typename shortcut_type::output_shape>));
    };
    static constexpr bool rejected = failure::found || mismatch;
    static constexpr bool reported = failure::found && failure::reported;

    using input_shape = In;
    using output_shape = typename main_type::output_shape;
    static constexpr LayerKind kind = LayerKind::residual;
    static constexpr bool identity_shortcut = IsIdentity<shortcut_type>;
    static constexpr std::size_t parameter_count = info::parameter_count;
    static constexpr std::size_t state_count = info::state_count;
    static constexpr std::size_t flops = info::flops + output_shape::size;
    /// Whether Main can add the shortcut's output to its own as it stores it in inference
    /// (fused::add: a Chain ending in Conv2D, or Conv2D and BatchNorm).
    static constexpr unsigned main_ops = fused_ops_of<main_type>();
    static constexpr bool main_adds = (main_ops & fused::add) != 0;

   private:
    static constexpr std::size_t Out = output_shape::size;
    // Scratch: Main's output (kept for Main's backward, the sum goes to out), Shortcut's output
    // and its input gradient (unless it is the identity), then the parts' own scratch.
    struct Layout {
      float *main_out, *short_out = nullptr, *short_din = nullptr, *main_scratch, *short_scratch;
      Layout(float* base, std::size_t batch) {
        detail::ScratchCursor c(base);
        main_out = c.take(batch * Out);
        if constexpr (!identity_shortcut) {
          short_out = c.take(batch * Out);
          short_din = c.take(batch * In::size);
        }
        main_scratch = c.take(info::template part_scratch<main_type>(batch, false));
        short_scratch = c.take(info::template part_scratch<shortcut_type>(batch, false));
      }
    };
    // An inference-only scratch: Shortcut's output (unless it is the identity), Main's output
    // (unless Main adds), then one region the parts use in turn (Shortcut first).
    struct InferenceLayout {
      float *short_out = nullptr, *main_out = nullptr, *parts;
      InferenceLayout(float* base, std::size_t batch) {
        detail::ScratchCursor c(base);
        if constexpr (!identity_shortcut) short_out = c.take(batch * Out);
        if constexpr (!main_adds) main_out = c.take(batch * Out);
        parts = c.take(0);
      }
    };

   public:
    static constexpr std::size_t scratch_per_sample =
        Out + (identity_shortcut ? 0 : Out + In::size) + info::scratch_per_sample;
    static constexpr std::size_t scratch_fixed = 16 * 3 + info::scratch_fixed;
    static constexpr std::size_t inference_scratch_per_sample =
        (identity_shortcut ? 0 : Out) + (main_adds ? 0 : Out) +
        std::max(ctnn::inference_scratch_per_sample<main_type>(),
                 ctnn::inference_scratch_per_sample<shortcut_type>());
    static constexpr std::size_t inference_scratch_fixed =
        16 * 3 + std::max(ctnn::inference_scratch_fixed<main_type>(),
                          ctnn::inference_scratch_fixed<shortcut_type>());

    CTNN_COLD static std::string name() {
      return detail::angle_name("Residual", {main_type::name(), shortcut_type::name()});
    }
    /// The parts in PyTorch's module: attributes main and shortcut, both reading the input.
    static std::string part_name(std::size_t i) { return i == 0 ? "main" : "shortcut"; }
    static constexpr bool parts_chained = false;
    /// Its output is the sum of its parts' (element by element).
    static constexpr bool parts_summed = true;
    static void init(float* params, float* state, Rng& rng) { info::init(params, state, rng); }

    /// Inference (an inference-only pass) with the ReLU after the block fused: Shortcut runs
    /// first, then Main adds its output and applies the ReLU as it stores its own (when it can:
    /// fused::add), else the block adds and applies it.
    static constexpr unsigned fused_ops = fused::relu;
    template <unsigned Ops>
    static void forward_fused(const Pass& p, const FusedOutput&) {
      const InferenceLayout l(p.scratch, p.batch);
      const float* addend = p.in;
      if constexpr (!identity_shortcut) {
        Pass s = info::template part_pass<1>(p, l.parts);
        s.out = l.short_out;
        shortcut_type::forward(s);
        addend = l.short_out;
      }
      Pass m = info::template part_pass<0>(p, l.parts);
      const std::size_t n = p.batch * Out;
      constexpr bool relu = (Ops & fused::relu) != 0;
      if constexpr (main_adds) {
        m.out = p.out;
        constexpr unsigned ops = fused::add | (relu ? main_ops & fused::relu : 0u);
        main_type::template forward_fused<ops>(m, {nullptr, nullptr, addend});
        if constexpr (relu && !(ops & fused::relu)) kernels::relu_in_place(p.out, n);
      } else {
        m.out = l.main_out;
        main_type::forward(m);
        kernels::add(l.main_out, addend, p.out, n);
        if constexpr (relu) kernels::relu_in_place(p.out, n);
      }
    }

    static void forward(const Pass& p) {
      if (p.inference_only) return forward_fused<0>(p, {});
      const Layout l(p.scratch, p.batch);
      Pass m = info::template part_pass<0>(p, l.main_scratch);
      m.out = l.main_out;
      main_type::forward(m);
      const std::size_t n = p.batch * Out;
      if constexpr (identity_shortcut) {
        kernels::add(l.main_out, p.in, p.out, n);
      } else {
        Pass s = info::template part_pass<1>(p, l.short_scratch);
        s.out = l.short_out;
        shortcut_type::forward(s);
        kernels::add(l.main_out, l.short_out, p.out, n);
      }
    }
    static void backward(const Pass& p) {
      const Layout l(p.scratch, p.batch);
      Pass m = info::template part_pass<0>(p, l.main_scratch);
      m.out = l.main_out;
      m.din = p.din;
      main_type::backward(m);
      if constexpr (identity_shortcut) {
        if (p.din) kernels::add_into(p.din, p.dout, p.batch * In::size);
      } else {
        Pass s = info::template part_pass<1>(p, l.short_scratch);
        s.out = l.short_out;
        s.din = p.din ? l.short_din : nullptr;
        shortcut_type::backward(s);
        if (p.din) kernels::add_into(p.din, l.short_din, p.batch * In::size);
      }
    }
  };
};

namespace detail {
/// Concat's output shape for branch outputs Outs: Images of equal H and W give Image<H, W, sum
/// of C>; Vectors give Vector<sum of N>; anything else is rejected (void).
template <class... Outs>
struct concat_shape {
  using type = void;
};
template <std::size_t H, std::size_t W, std::size_t... C>
struct concat_shape<Image<H, W, C>...> {
  using type = Image<H, W, (C + ...)>;
};
template <std::size_t... N>
struct concat_shape<Vector<N>...> {
  using type = Vector<(N + ...)>;
};
template <class Branches, class Outs>
struct concat_mismatch {
  static_assert(always_false<Branches>,
                "Concat: the branches' outputs must all be Images of the same height and width "
                "(joined along channels) or all Vectors (joined along features); the "
                "instantiation notes show them (Outs)");
};
}  // namespace detail

/// Concat<Branches...>: every branch applied to the same input, their outputs joined along
/// channels (Images of equal H and W: y[h][w] = [b1(x)[h][w], b2(x)[h][w], ...]) or features
/// (Vectors), as torch.cat(dim=1) over the branches (Szegedy et al. 2015, "Going Deeper with
/// Convolutions", the Inception module). Parameters and state: the branches' in order.
template <class... Branches>
struct Concat {
  static_assert(sizeof...(Branches) > 0, "Concat needs at least one branch");

  template <class In>
  struct bind : detail::CompositeRejection<bind<In>> {
    template <class B>
    using raw_branch_ = typename B::template bind<In>;
    // A branch that does not take the input reports its own message; a stand-in keeps the type
    // well-formed (one error per mistake).
    template <class B>
    using bound_branch =
        std::conditional_t<detail::rejected_v<raw_branch_<B>>, detail::Unbound<In>, raw_branch_<B>>;
    using parts = std::tuple<bound_branch<Branches>...>;
    using info = detail::PartsInfo<parts>;
    static constexpr std::size_t count = info::count;
    using joined_ =
        typename detail::concat_shape<typename bound_branch<Branches>::output_shape...>::type;
    // Rejected (CompositeRejection) when a branch does not bind or the outputs cannot be joined.
    using failure = detail::first_rejected<In, raw_branch_<Branches>...>;
    static constexpr bool mismatch = !failure::found && std::is_void_v<joined_>;
    struct mismatch_report {
      using type = decltype(sizeof(
          detail::concat_mismatch<std::tuple<Branches...>,
                                  std::tuple<typename bound_branch<Branches>::output_shape...>>));
    };
    static constexpr bool rejected = failure::found || mismatch;
    static constexpr bool reported = failure::found && failure::reported;
    using input_shape = In;
    using output_shape = std::conditional_t<std::is_void_v<joined_>, Vector<1>, joined_>;
    static constexpr LayerKind kind = LayerKind::concat;
    static constexpr std::size_t parameter_count = info::parameter_count;
    static constexpr std::size_t state_count = info::state_count;
    static constexpr std::size_t flops = info::flops + output_shape::size;

   private:
    static constexpr auto widths = detail::over_parts<parts>(
        [](auto l) { return channels_of<typename decltype(l)::type::output_shape>(); });
    static constexpr auto width_offsets = detail::prefix_sums(widths);
    static constexpr std::size_t total_width = width_offsets[count];
    static constexpr std::size_t positions = output_shape::size / total_width;  // H*W or 1
    static constexpr auto out_sizes =
        detail::over_parts<parts>([](auto l) { return decltype(l)::type::output_shape::size; });

    // Scratch: each branch's output and output gradient, one input-gradient buffer, then each
    // branch's own scratch.
    // (An inference-only scratch has the outputs and the branches' inference scratch only.)
    struct Layout {
      std::array<float*, count> out{}, dout{}, scratch{};
      float* din = nullptr;
      Layout(float* base, std::size_t batch, bool inference_only) {
        detail::ScratchCursor c(base);
        for (std::size_t i = 0; i < count; ++i) out[i] = c.take(batch * out_sizes[i]);
        if (!inference_only) {
          for (std::size_t i = 0; i < count; ++i) dout[i] = c.take(batch * out_sizes[i]);
          din = c.take(batch * In::size);
        }
        detail::for_each_part<parts>([&]<std::size_t I, class P>() {
          scratch[I] = c.take(info::template part_scratch<P>(batch, inference_only));
        });
      }
    };

   public:
    static constexpr std::size_t scratch_per_sample =
        2 * output_shape::size + In::size + info::scratch_per_sample;
    static constexpr std::size_t scratch_fixed = 16 * (2 * count + 1) + info::scratch_fixed;
    static constexpr std::size_t inference_scratch_per_sample =
        output_shape::size + info::inference_scratch_per_sample;
    static constexpr std::size_t inference_scratch_fixed =
        16 * count + info::inference_scratch_fixed;

    CTNN_COLD static std::string name() {
      return detail::join({"Concat<", detail::part_names<parts>(), ">"});
    }
    /// The branches in PyTorch's module: an nn.ModuleList `branches`, all reading the input.
    static std::string part_name(std::size_t i) { return "branches." + std::to_string(i); }
    static constexpr bool parts_chained = false;
    /// Its output is its parts' joined (Vectors: one after the other).
    static constexpr bool parts_joined = true;
    static void init(float* params, float* state, Rng& rng) { info::init(params, state, rng); }

    static void forward(const Pass& p) {
      const Layout l(p.scratch, p.batch, p.inference_only);
      detail::for_each_part<parts>([&]<std::size_t I, class P>() {
        Pass q = info::template part_pass<I>(p, l.scratch[I]);
        q.out = l.out[I];
        P::forward(q);
        // Interleave: position r of sample b gets the branch's widths[I] values at its offset.
        const std::size_t rows = p.batch * positions;
        for (std::size_t r = 0; r < rows; ++r)
          std::copy_n(l.out[I] + r * widths[I], widths[I],
                      p.out + r * total_width + width_offsets[I]);
      });
    }
    static void backward(const Pass& p) {
      const Layout l(p.scratch, p.batch, false);
      detail::for_each_part<parts>([&]<std::size_t I, class P>() {
        const std::size_t rows = p.batch * positions;
        for (std::size_t r = 0; r < rows; ++r)
          std::copy_n(p.dout + r * total_width + width_offsets[I], widths[I],
                      l.dout[I] + r * widths[I]);
        Pass q = info::template part_pass<I>(p, l.scratch[I]);
        q.out = l.out[I];
        q.dout = l.dout[I];
        q.din = !p.din ? nullptr : I == 0 ? p.din : l.din;
        P::backward(q);
        if (I > 0 && p.din) kernels::add_into(p.din, l.din, p.batch * In::size);
      });
    }
  };
};

}  // namespace ctnn
