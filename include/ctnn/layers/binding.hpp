// ctnn/layers/binding.hpp — binding specs to shapes, and the one message of a binding that
// fails: a network (network.hpp) and the composites (layers/composite.hpp) bind their specs one
// after the other with bind_all.
//
// When a spec cannot take an input shape (Conv2D after Dense, a kernel larger than the image),
// `Spec::bind<InShape>` is a detail::Rejected layer instead: `rejected` is true and the nested
// `report<>` holds the spec's static_assert, which the network instantiates for the first
// rejected layer only, so that one mistake gives one error. A binding that is not rejected but
// breaks the contract (layers/contract.hpp: BoundLayer, or a capability declared without the
// members it asks) is made a rejected one whose message names what is missing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../random.hpp"
#include "../shape.hpp"
#include "contract.hpp"

namespace ctnn::detail {

/// Base of a rejected binding `Self` (see the header comment). Self defines
///   template <class = void> struct report { static_assert(always_false<...>, "what is wrong"); };
/// Reported = true when the spec's own assertion has already given the message (invalid
/// hyper-parameters): then nothing more is said. Using a layer member of a rejected binding
/// directly (outside a Sequential) instantiates report<> and gives its message.
template <class Self, bool Reported = false>
struct Rejected {
  static constexpr bool rejected = true, reported = Reported;

  template <class S = Self>
  static constexpr std::size_t report_now() {
    if constexpr (!Reported) {
      using message [[maybe_unused]] = decltype(sizeof(typename S::template report<>));
    }
    return 0;
  }
  static constexpr std::size_t parameter_count = report_now(), state_count = report_now();
  static constexpr std::size_t scratch_per_sample = report_now(), scratch_fixed = report_now();
  static constexpr std::size_t flops = report_now();
  static std::string name() { return std::string(report_now(), ' '); }
  static void init(float*, float*, Rng&) { report_now(); }
  static void forward(const Pass&) { report_now(); }
  static void backward(const Pass&) { report_now(); }
};

/// Whether a binding is a Rejected one.
template <class L>
inline constexpr bool rejected_v = requires {
  requires L::rejected;
};

/// `type` instantiates the message of the rejected binding L unless it is already reported.
template <class L>
struct report_of {
  using type = std::integral_constant<std::size_t, L::report_now()>;
};

/// Stands for the layers of a network that does not bind, from the first layer that cannot take
/// its input on: the identity on In with nothing to train. The network stays a well-formed type,
/// so that the failing layer's message is its only error.
template <class In>
struct Unbound {
  using input_shape = In;
  using output_shape = In;
  static constexpr LayerKind kind = LayerKind::activation;
  static constexpr std::size_t parameter_count = 0, state_count = 0;
  static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0, flops = 0;
  static std::string name() { return "Unbound"; }
  static void init(float*, float*, Rng&) {}
  static void forward(const Pass& p) { std::copy_n(p.in, p.batch * In::size, p.out); }
  static void backward(const Pass& p) {
    if (p.din) std::copy_n(p.dout, p.batch * In::size, p.din);
  }
};
template <class In, class>
using unbound_for = Unbound<In>;

/// The layers of Specs bound one after the other from In: `type` is their tuple, `failed` the
/// first rejected binding (void when all bind), from which on the tuple holds Unbound layers, and
/// `failed_input` the shape it was given.
template <class In, class... Specs>
struct bind_all {
  using type = std::tuple<>;
  using failed = void;
  using failed_input = void;
};
template <class In, class Layer, bool Rejected, class... Rest>
struct bind_rest {
  using next = bind_all<typename Layer::output_shape, Rest...>;
  using type = decltype(std::tuple_cat(std::declval<std::tuple<Layer>>(),
                                       std::declval<typename next::type>()));
  using failed = typename next::failed;
  using failed_input = typename next::failed_input;
};
template <class In, class Layer, class... Rest>
struct bind_rest<In, Layer, true, Rest...> {
  using type = std::tuple<Unbound<In>, unbound_for<In, Rest>...>;
  using failed = Layer;
  using failed_input = In;
};
/// Stands for a binding L that is not rejected but does not satisfy BoundLayer (a layer defined
/// outside the library that lacks a member): a rejected binding whose message says so, given
/// as the network's only error.
template <class L>
struct ContractFailure : Rejected<ContractFailure<L>> {
  template <class = void>
  struct report {
    static_assert(always_false<L>,
                  "this layer's bind<In> does not satisfy ctnn::BoundLayer: it needs input_shape, "
                  "output_shape, parameter_count, state_count, scratch_per_sample, scratch_fixed, "
                  "flops, name(), init(), forward() and backward() (layers/layer.hpp; "
                  "docs/layers.md, \"Adding a layer\"; the instantiation notes name the layer)");
  };
};
/// The capabilities a layer declares by their first member (contract.hpp; a bool one declared
/// true) but does not have, and the names of earlier versions: the first such one, or none.
enum class BrokenCapability {
  none,
  fused_ops,
  training_fused_ops,
  channel_affine,
  pools_after_conv,
  tensors,
  inference_scratch,
  kind,
  keeps_order,
  fuses_relu,
  folds_into_previous,
  fusable_after_conv
};
template <class L>
constexpr BrokenCapability broken_capability() {
  using B = BrokenCapability;
  if constexpr (requires { L::fused_ops; } && !FusesOps<L>)
    return B::fused_ops;
  else if constexpr (requires { L::training_fused_ops; } && !FusesInTraining<L>)
    return B::training_fused_ops;
  else if constexpr (requires { requires L::is_channel_affine; } && !ChannelAffine<L>)
    return B::channel_affine;
  else if constexpr (requires { requires L::pools_after_conv; } && !PoolsAfterConv<L>)
    return B::pools_after_conv;
  else if constexpr (requires { &L::tensors; } && !DescribesTensors<L>)
    return B::tensors;
  else if constexpr ((
                         requires { L::inference_scratch_per_sample; } ||
                         requires { L::inference_scratch_fixed; }) &&
                     !HasInferenceScratch<L>)
    return B::inference_scratch;
  else if constexpr (requires { L::kind; } && !Labelled<L>)
    return B::kind;
  else if constexpr (requires { L::keeps_order; } && !KeepsOrder<L>)
    return B::keeps_order;
  else if constexpr (requires { L::fuses_relu; })
    return B::fuses_relu;
  else if constexpr (requires { L::folds_into_previous; })
    return B::folds_into_previous;
  else if constexpr (requires { L::fusable_after_conv; })
    return B::fusable_after_conv;
  else
    return B::none;
}

/// Stands for a binding L that declares a capability it does not have (broken_capability): a
/// rejected binding whose one-line message names the capability.
template <class L, BrokenCapability B>
struct CapabilityFailure : Rejected<CapabilityFailure<L, B>> {
  template <class = void>
  struct report {
    using C = BrokenCapability;
    static_assert(B != C::fused_ops,
                  "this layer declares fused_ops but has no matching "
                  "template <unsigned Ops> static void forward_fused(const Pass&, const "
                  "FusedOutput&) (capability ctnn::FusesOps, layers/contract.hpp)");
    static_assert(B != C::training_fused_ops,
                  "this layer's training_fused_ops needs FusesOps "
                  "and may hold only fused::relu of its fused_ops (capability "
                  "ctnn::FusesInTraining, layers/contract.hpp)");
    static_assert(B != C::channel_affine,
                  "this layer declares is_channel_affine but has no "
                  "static void inference_affine(const Pass&, float* scale, float* shift) "
                  "(capability ctnn::ChannelAffine, layers/contract.hpp)");
    static_assert(B != C::pools_after_conv,
                  "this layer declares pools_after_conv but has no "
                  "static constexpr std::size_t pool_size (capability ctnn::PoolsAfterConv, "
                  "layers/contract.hpp)");
    static_assert(B != C::tensors,
                  "this layer's tensors is not static std::vector<TensorDesc> "
                  "tensors(const TensorContext&) (capability ctnn::DescribesTensors, "
                  "layers/contract.hpp)");
    static_assert(B != C::inference_scratch,
                  "this layer needs both inference_scratch_per_sample "
                  "and inference_scratch_fixed, as std::size_t constants (capability "
                  "ctnn::HasInferenceScratch, layers/contract.hpp)");
    static_assert(B != C::kind,
                  "this layer's kind is not a ctnn::LayerKind (capability "
                  "ctnn::Labelled, layers/contract.hpp)");
    static_assert(B != C::keeps_order,
                  "this layer's keeps_order is not a bool constant "
                  "(capability ctnn::KeepsOrder, layers/contract.hpp)");
    static_assert(B != C::fuses_relu,
                  "fuses_relu and forward<bool Relu> are replaced: declare "
                  "fused_ops = fused::relu and forward_fused<Ops>(const Pass&, const "
                  "FusedOutput&) (capability ctnn::FusesOps, layers/contract.hpp)");
    static_assert(B != C::folds_into_previous,
                  "folds_into_previous is renamed: declare "
                  "is_channel_affine (capability ctnn::ChannelAffine, layers/contract.hpp)");
    static_assert(B != C::fusable_after_conv,
                  "fusable_after_conv is renamed: declare "
                  "pools_after_conv (capability ctnn::PoolsAfterConv, layers/contract.hpp)");
  };
};

/// The binding L as the network uses it: L, or a rejected stand-in that says what L lacks.
template <class L>
constexpr auto checked() {
  if constexpr (rejected_v<L>)
    return std::type_identity<L>{};
  else if constexpr (!BoundLayer<L>)
    return std::type_identity<ContractFailure<L>>{};
  else if constexpr (broken_capability<L>() != BrokenCapability::none)
    return std::type_identity<CapabilityFailure<L, broken_capability<L>()>>{};
  else
    return std::type_identity<L>{};
}
template <class L>
using checked_binding = typename decltype(checked<L>())::type;

template <class In, class Spec, class... Rest>
struct bind_all<In, Spec, Rest...> {
  using raw_ = typename Spec::template bind<In>;
  using layer = checked_binding<raw_>;
  using rest = bind_rest<In, layer, rejected_v<layer>, Rest...>;
  using type = typename rest::type;
  using failed = typename rest::failed;
  using failed_input = typename rest::failed_input;
};

template <class T>
struct is_input : std::false_type {};
template <std::size_t... D>
struct is_input<Input<D...>> : std::true_type {};

/// An image input that reads like channels first: Input<1, 28, 28> or Input<3, 32, 32>, where
/// Input<28, 28, 1> or Input<32, 32, 3> was meant.
template <class InputSpec>
inline constexpr bool looks_channels_first = false;
template <std::size_t H, std::size_t W, std::size_t C>
inline constexpr bool looks_channels_first<Input<H, W, C>> = H <= 4 && C > 4;

/// The one message of a network whose layer Failed is rejected, when its input reads like
/// channels-first.
template <class InputSpec, class Failed>
struct channels_last_hint {
  static_assert(always_false<Failed>,
                "the layers do not fit this Input, which reads channels-first: images are "
                "channels-last, Input<H,W,C>, e.g. Input<28,28,1> for 28x28 grey images, not "
                "Input<1,28,28> (the instantiation notes name the layer that does not fit)");
};
/// Instantiates the message of the first rejected layer Failed, which was given FailedInput.
template <class InputSpec, class Failed, class FailedInput>
struct report_failure {  // every layer bound
  using type = void;
};
template <class InputSpec, class Failed, class FailedInput>
requires(!std::is_void_v<Failed> &&
         !Failed::reported) struct report_failure<InputSpec, Failed, FailedInput> {
  using type =
      std::conditional_t<looks_channels_first<InputSpec> && is_image_v<FailedInput>,
                         channels_last_hint<InputSpec, Failed>, typename Failed::template report<>>;
  using message [[maybe_unused]] = decltype(sizeof(type));
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

}  // namespace ctnn::detail
