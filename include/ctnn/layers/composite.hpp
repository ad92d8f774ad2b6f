// ctnn/layers/composite.hpp — layers made of layers: Chain, Residual, Concat, and the Identity
// and GlobalAvgPool2D that residual networks need.
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

#include "../kernels/simd.hpp"
#include "../network.hpp"
#include "layer.hpp"

namespace ctnn {

namespace detail {

/// out[i] = a[i] + b[i] for i < n (out may be a).
inline void add(const float* a, const float* b, float* out, std::size_t n) {
  kernels::zip(
      n, a, b, out, [](kernels::simd x, kernels::simd y) { return x + y; },
      [](float x, float y) { return x + y; });
}
/// x[i] += y[i] for i < n.
inline void add_into(float* x, const float* y, std::size_t n) {
  add(x, y, x, n);
}
/// x[i] = max(x[i], 0) for i < n.
inline void relu_in_place(float* x, std::size_t n) {
  kernels::zip(
      n, x, x, x,
      [](kernels::simd a, kernels::simd) { return kernels::vmax(a, kernels::simd(0.0f)); },
      [](float a, float) { return std::max(a, 0.0f); });
}

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
    q.scratch = scratch;
    return q;
  }
};

/// The message of part L of a composite, which does not take its input In (instantiated only
/// through `type`, when the network reports its first failure).
template <class L, class In>
struct part_report {
  using type = typename report_failure<void, L, In>::type;
};
/// Whether one of the bindings Ls is rejected, and whether its message has been given; `message`
/// is a class whose `type` instantiates the message of the first (nested, so that only asking
/// for it does: Clang drops what a class declares after an error).
template <class In, class... Ls>
struct first_rejected {
  static constexpr bool found = false, reported = false;
  struct message {
    using type = void;
  };
};
template <class In, class L, class... Rest>
struct first_rejected<In, L, Rest...> {
  using next = first_rejected<In, Rest...>;
  static constexpr bool found = rejected_v<L> || next::found;
  static constexpr bool reported = rejected_v<L> ? requires { requires L::reported; } : next::reported;
  struct message {
    using type = typename std::conditional_t<rejected_v<L>, part_report<L, In>,
                                             typename next::message>::type;
  };
};

/// Base of every composite binding Self: when a part does not bind (or, as Self::mismatch says,
/// the parts do not fit together) the composite is a rejected binding (layer.hpp) whose report<>
/// gives that one message: the network around it reports it as its first failure and says
/// nothing more. Self::failure is first_rejected over its parts; Self::mismatch_report a class
/// whose `type` instantiates the mismatch message.
template <class Self>
struct CompositeRejection {
  template <class = void>
  struct report {
    using type = typename std::conditional_t<Self::failure::found, typename Self::failure::message,
                                             typename Self::mismatch_report>::type;
  };
  /// Instantiates the message when a rejected composite is used outside a network.
  template <class S = Self>
  static constexpr std::size_t report_now() {
    if constexpr (S::failure::found || S::mismatch) {
      if constexpr (!(S::failure::found && S::failure::reported)) {
        using message [[maybe_unused]] = decltype(sizeof(typename S::template report<>::type*));
      }
    }
    return 0;
  }
};

/// No mismatch message.
struct no_mismatch {
  using type = void;
};

}  // namespace detail

/// Identity: y = x, any shape. The default shortcut of Residual (nn.Identity).
struct Identity {
  template <class In>
  struct bind {
    static_assert(Shape<In>, "Identity needs a shape input");
    using input_shape = In;
    using output_shape = In;
    static constexpr LayerKind kind = LayerKind::identity;
    static constexpr bool keeps_order = true;
    static constexpr bool is_identity = true;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0, flops = 0;
    static std::string name() { return "Identity"; }
    static void init(float*, float*, Rng&) {}
    static void forward(const Pass& p) { std::copy_n(p.in, p.batch * In::size, p.out); }
    static void backward(const Pass& p) {
      if (p.din) std::copy_n(p.dout, p.batch * In::size, p.din);
    }
  };
};

/// GlobalAvgPool2D: Image<H, W, C> -> Vector<C>, y[c] = mean over h, w of x[h][w][c] (Lin et al.
/// 2014, "Network In Network"; PyTorch's nn.AdaptiveAvgPool2d(1) followed by nn.Flatten).
/// dL/dx[h][w][c] = dL/dy[c] / (H W). No parameters.
struct GlobalAvgPool2D {
  template <class In>
  struct bind : detail::Rejected<bind<In>> {
    template <class = void>
    struct report {
      static_assert(detail::always_false<In>,
                    "GlobalAvgPool2D needs an Image<H,W,C> input (the instantiation notes show "
                    "the shape it got)");
    };
  };
  template <std::size_t H, std::size_t W, std::size_t C>
  struct bind<Image<H, W, C>> {
    using input_shape = Image<H, W, C>;
    using output_shape = Vector<C>;
    static constexpr LayerKind kind = LayerKind::global_avgpool2d;
    static constexpr std::size_t parameter_count = 0, state_count = 0;
    static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0;
    static constexpr std::size_t flops = H * W * C;
    static std::string name() { return "GlobalAvgPool2D"; }
    static void init(float*, float*, Rng&) {}
    static void forward(const Pass& p) {
      constexpr float scale = 1.0f / float(H * W);
      for (std::size_t b = 0; b < p.batch; ++b) {
        const float* x = p.in + b * H * W * C;
        float* y = p.out + b * C;
        std::fill_n(y, C, 0.0f);
        for (std::size_t i = 0; i < H * W; ++i) detail::add_into(y, x + i * C, C);
        for (std::size_t c = 0; c < C; ++c) y[c] *= scale;
      }
    }
    static void backward(const Pass& p) {
      if (!p.din) return;
      constexpr float scale = 1.0f / float(H * W);
      for (std::size_t b = 0; b < p.batch; ++b) {
        const float* g = p.dout + b * C;
        float* d = p.din + b * H * W * C;
        for (std::size_t c = 0; c < C; ++c) d[c] = g[c] * scale;
        for (std::size_t i = 1; i < H * W; ++i) std::copy_n(d, C, d + i * C);
      }
    }
  };
};

/// Chain<Specs...>: the specs applied in order, used as one layer (PyTorch's nn.Sequential inside
/// a model). Input: what the first spec takes; output: the last one's. Parameters and state: the
/// parts' in order. A part that does not take its input stops compilation with that part's own
/// message.
template <class... Specs>
struct Chain {
  static_assert(sizeof...(Specs) > 0, "Chain needs at least one layer");

  template <class In>
  struct bind : detail::CompositeRejection<bind<In>> {
    using bound_ = detail::bind_all<In, Specs...>;
    // A part that does not bind makes the Chain a rejected binding (CompositeRejection).
    using failure = detail::first_rejected<typename bound_::failed_input, typename bound_::failed>;
    static constexpr bool mismatch = false;
    using mismatch_report = detail::no_mismatch;
    static constexpr bool rejected = failure::found, reported = failure::reported;
    using parts = typename bound_::type;
    using info = detail::PartsInfo<parts>;
    static constexpr std::size_t count = info::count;
    template <std::size_t I>
    using part = std::tuple_element_t<I, parts>;

    using input_shape = In;
    using output_shape = typename part<count - 1>::output_shape;
    static constexpr LayerKind kind = LayerKind::chain;
    static constexpr std::size_t parameter_count = info::parameter_count;
    static constexpr std::size_t state_count = info::state_count;
    static constexpr std::size_t flops = info::flops;

   private:
    static constexpr auto output_sizes =
        detail::over_parts<parts>([](auto l) { return decltype(l)::type::output_shape::size; });
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
        detail::ScratchCursor c(base);
        for (std::size_t i = 0; i + 1 < count; ++i) act[i] = c.take(batch * output_sizes[i]);
        for (auto& g : grad) g = c.take(batch * max_io);
        detail::for_each_part<parts>([&]<std::size_t I, class P>() {
          scratch[I] = c.take(info::template part_scratch<P>(batch, false));
        });
      }
    };
    using plan_ = detail::InferencePlan<parts>;
    template <unsigned Ops>
    static void run_plan(const Pass& p, const FusedOutput& f) {
      const auto pass_of = [&p]<std::size_t I>() {
        return info::template part_pass<I>(p, nullptr);
      };
      detail::InferencePlan<parts, Ops>::run(pass_of, p.in, p.out, p.scratch, p.batch, f);
    }

   public:
    static constexpr std::size_t scratch_per_sample =
        activations + 2 * max_io + info::scratch_per_sample;
    static constexpr std::size_t scratch_fixed = 16 * (count + 1) + info::scratch_fixed;
    static constexpr std::size_t inference_scratch_per_sample =
        2 * plan_::max_output(false) + plan_::scratch_per_sample;
    static constexpr std::size_t inference_scratch_fixed = 16 * 3 + plan_::scratch_fixed;

    static std::string name() { return detail::join({"Chain<", detail::part_names<parts>(), ">"}); }
    /// Part i in PyTorch's module (nn.Sequential): "i"; each part reads the one before.
    static std::string part_name(std::size_t i) { return std::to_string(i); }
    static constexpr bool parts_chained = true;
    static void init(float* params, float* state, Rng& rng) { info::init(params, state, rng); }

    static void forward(const Pass& p) {
      if (p.inference_only) return run_plan<0>(p, {});
      const Layout l(p.scratch, p.batch);
      detail::for_each_part<parts>([&]<std::size_t I, class P>() {
        Pass q = info::template part_pass<I>(p, l.scratch[I]);
        q.in = I == 0 ? p.in : l.act[I - 1];
        q.out = I + 1 == count ? p.out : l.act[I];
        P::forward(q);
      });
    }
    /// Inference (an inference-only pass) with operations fused into the last step of the plan:
    /// those its last part can apply after what it fuses already (a Residual's addition and the
    /// ReLU after it, into the last Conv2D and its BatchNorm).
    static constexpr unsigned fused_ops = plan_::tail_room;
    template <unsigned Ops>
    static void forward_fused(const Pass& p, const FusedOutput& f) {
      run_plan<Ops>(p, f);
    }
    static void backward(const Pass& p) {
      const Layout l(p.scratch, p.batch);
      const float* g = p.dout;
      detail::for_each_part_reverse<parts>([&]<std::size_t I, class P>() {
        Pass q = info::template part_pass<I>(p, l.scratch[I]);
        q.in = I == 0 ? p.in : l.act[I - 1];
        q.out = I + 1 == count ? p.out : l.act[I];
        q.dout = g;
        q.din = I == 0 ? p.din : l.grad[I % 2];
        P::backward(q);
        g = q.din;
      });
    }
  };
};

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
    static constexpr bool identity_shortcut = requires { requires shortcut_type::is_identity; };
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

    static std::string name() {
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
        if constexpr (relu && !(ops & fused::relu)) detail::relu_in_place(p.out, n);
      } else {
        m.out = l.main_out;
        main_type::forward(m);
        detail::add(l.main_out, addend, p.out, n);
        if constexpr (relu) detail::relu_in_place(p.out, n);
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
        detail::add(l.main_out, p.in, p.out, n);
      } else {
        Pass s = info::template part_pass<1>(p, l.short_scratch);
        s.out = l.short_out;
        shortcut_type::forward(s);
        detail::add(l.main_out, l.short_out, p.out, n);
      }
    }
    static void backward(const Pass& p) {
      const Layout l(p.scratch, p.batch);
      Pass m = info::template part_pass<0>(p, l.main_scratch);
      m.out = l.main_out;
      m.din = p.din;
      main_type::backward(m);
      if constexpr (identity_shortcut) {
        if (p.din) detail::add_into(p.din, p.dout, p.batch * In::size);
      } else {
        Pass s = info::template part_pass<1>(p, l.short_scratch);
        s.out = l.short_out;
        s.din = p.din ? l.short_din : nullptr;
        shortcut_type::backward(s);
        if (p.din) detail::add_into(p.din, l.short_din, p.batch * In::size);
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

    static std::string name() {
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
        if (I > 0 && p.din) detail::add_into(p.din, l.din, p.batch * In::size);
      });
    }
  };
};

}  // namespace ctnn
