// ctnn/layers/contract.hpp — the contract every layer follows: what one call sees (Pass), the
// mode a network runs in (Mode, Context), what a bound layer must have (BoundLayer), and the
// optional capabilities, each a concept that the network checks when it binds a layer
// (layers/binding.hpp): a layer that declares a capability wrongly gets one message naming it.
// docs/layers.md explains it, with a guide to adding a layer outside the library.
//
// A layer *spec* (Conv2D<32, 3>) holds hyper-parameters only. `Spec::bind<InShape>` is the
// concrete layer for that input shape: a class with static members only, satisfying BoundLayer.
// Layers hold no data: parameters, state and activations live in arrays owned by the network,
// and every call receives its slices in a Pass.
//
// Input gradients: backward writes dL/din into din (it overwrites; it never adds), or does
// nothing there when din is nullptr (nobody needs it). Where one input feeds two layers (the
// parts of Residual and Concat, layers/composite.hpp), the composite gives each its own buffer
// and adds them. Parameter gradients are the other way round: backward adds into grads.
#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "../random.hpp"
#include "../shape.hpp"
#include "tensors.hpp"

namespace ctnn {

/// What a bound layer is, for summaries and for code that must know a layer (the model file's
/// version check): `static constexpr LayerKind kind`, optional; layers without one (defined
/// outside the library) are `custom`. File formats do not switch on it: they ask the layer
/// (TensorDesc).
enum class LayerKind {
  conv2d,
  maxpool2d,
  avgpool2d,
  flatten,
  dense,
  activation,
  softmax,
  dropout,
  batchnorm,
  lstm,
  gru,
  simple_rnn,
  bidirectional,
  identity,
  global_avgpool2d,
  chain,
  residual,
  concat,
  custom
};

/// How a network runs: inference (Dropout off, BatchNorm with its running statistics, the
/// inference plan's fusions, layers/plan.hpp) or training (Dropout on, BatchNorm with the batch's
/// statistics, everything kept for backward).
enum class Mode { inference, training };

/// What a training forward pass writes besides activations, given by name:
/// `net.forward(x, n, ws, ctnn::Mode::training, {.state = s.data(), .rng = &rng})`.
struct Context {
  float* state = nullptr;  ///< the network's state to update (BatchNorm running statistics), or
                           ///< nullptr: not updated
  Rng* rng = nullptr;      ///< the generator of Dropout's masks (nullptr: no Dropout may run)
};

/// Everything one forward or backward call of a layer sees. Activations are batches of samples
/// stored back to back (batch outermost, then the shape's own layout).
struct Pass {
  const float* params = nullptr;  ///< this layer's slice of the flat parameter array
  float* grads = nullptr;         ///< its slice of the gradient array (backward adds into it)
  /// Its non-trainable state (BatchNorm running statistics), read-only: in inference the
  /// network's own; in training the state being updated (the same array as state_update), or
  /// nullptr when the caller keeps none.
  const float* state = nullptr;
  /// Training only: the state to update in place (BatchNorm's running statistics), or nullptr
  /// when it is not to be updated. Inference never writes state.
  float* state_update = nullptr;
  float* scratch = nullptr;     ///< batch * scratch_per_sample + scratch_fixed floats
  const float* in = nullptr;    ///< batch * input_shape::size
  float* out = nullptr;         ///< batch * output_shape::size (forward writes it)
  const float* dout = nullptr;  ///< dL/dout, batch * output_shape::size
  float* din = nullptr;         ///< dL/din, or nullptr when nobody needs it (first layer)
  std::size_t batch = 0;
  bool training = false;  ///< Mode::training: Dropout and BatchNorm behave differently
  Rng* rng = nullptr;     ///< per-thread generator (Dropout masks)
  /// The scratch holds only what inference needs (batch * inference_scratch_per_sample +
  /// inference_scratch_fixed floats, see HasInferenceScratch): the inference plan runs the layer
  /// (forward in inference mode only). Composites lay out their parts' scratch by it.
  bool inference_only = false;
};

/// The contract of a bound layer (Spec::bind<In>), checked by the network for every layer:
///   using input_shape, output_shape;                    shapes of one sample (shape.hpp)
///   static constexpr std::size_t parameter_count;       trainable floats in the flat array
///   static constexpr std::size_t state_count;           non-trainable floats saved with the model
///   static constexpr std::size_t scratch_per_sample;    workspace floats per sample
///   static constexpr std::size_t scratch_fixed;         workspace floats per call
///   static constexpr std::size_t flops;                 forward floating-point ops per sample
///   static std::string name();                          e.g. "Conv2D<32,3,1,valid>": the model
///                                                       file's signature is made of these
///   static void init(float* params, float* state, Rng&);
///   static void forward(const Pass&);                   out = f(in)
///   static void backward(const Pass&);                  grads += dL/dparams; din = dL/din
/// Optional capabilities are the concepts below; a layer has one by declaring its first member.
template <class L>
concept BoundLayer = requires(const Pass& p, float* f, Rng& rng) {
  typename L::input_shape;
  typename L::output_shape;
  requires std::convertible_to<decltype(L::parameter_count), std::size_t>;
  requires std::convertible_to<decltype(L::state_count), std::size_t>;
  requires std::convertible_to<decltype(L::scratch_per_sample), std::size_t>;
  requires std::convertible_to<decltype(L::scratch_fixed), std::size_t>;
  requires std::convertible_to<decltype(L::flops), std::size_t>;
  { L::name() } -> std::convertible_to<std::string>;
  L::init(f, f, rng);
  L::forward(p);
  L::backward(p);
};

/// Operations a layer may fuse into the end of its forward (its fused_ops and the Ops of
/// forward_fused<Ops>), applied in this order: affine, y = y * scale[c] + shift[c] per output
/// channel (a BatchNorm after the layer, folded in); add, y += addend (a tensor of the output's
/// shape: a residual connection); relu, y = max(y, 0).
namespace fused {
inline constexpr unsigned affine = 1, add = 2, relu = 4;
}
/// The operands of the fused operations: scale and shift (a channel count each), addend (the
/// output's shape, batch included).
struct FusedOutput {
  const float* scale = nullptr;
  const float* shift = nullptr;
  const float* addend = nullptr;
};

// Optional capabilities. Each is declared by its first member; the network refuses a layer
// that declares one without the rest (binding.hpp, one message naming the capability).

/// Labelled: `static constexpr LayerKind kind`.
template <class L>
concept Labelled = requires {
  { L::kind } -> std::convertible_to<LayerKind>;
};
/// FusesOps: `static constexpr unsigned fused_ops` (fused::affine | add | relu) and
/// `template <unsigned Ops> static void forward_fused(const Pass&, const FusedOutput&)`, the
/// inference forward that also applies Ops (a subset of fused_ops) to its output.
template <class L>
concept FusesOps = requires(const Pass& p, const FusedOutput& f) {
  { L::fused_ops } -> std::convertible_to<unsigned>;
  L::template forward_fused<L::fused_ops>(p, f);
};
/// FusesInTraining: `static constexpr unsigned training_fused_ops` (a subset of fused_ops,
/// fused::relu only): forward_fused<Ops> for these Ops also works in training mode, and backward
/// needs only the layer's input, not its own output (Conv2D, Dense), so that the layer can
/// write the output of a ReLU after it in training too.
template <class L>
concept FusesInTraining = FusesOps<L> && requires {
  { L::training_fused_ops } -> std::convertible_to<unsigned>;
  requires(L::training_fused_ops & ~unsigned{fused::relu}) == 0;
  requires(L::training_fused_ops & ~unsigned{L::fused_ops}) == 0;
};
/// ChannelAffine: `static constexpr bool is_channel_affine = true` and
/// `static void inference_affine(const Pass&, float* scale, float* shift)`: its inference
/// forward is y = x * scale + shift per channel (BatchNorm), so a layer before it with
/// fused::affine applies it; scale and shift: a channel count each, in this layer's scratch.
template <class L>
concept ChannelAffine = requires(const Pass& p, float* f) {
  requires L::is_channel_affine;
  L::inference_affine(p, f, f);
};
/// IsRelu: `static constexpr bool is_relu = true`: y = max(x, 0), which fused::relu computes.
template <class L>
concept IsRelu = requires {
  requires L::is_relu;
};
/// IsIdentity: `static constexpr bool is_identity = true`: y = x.
template <class L>
concept IsIdentity = requires {
  requires L::is_identity;
};
/// PoolsAfterConv: `static constexpr bool pools_after_conv = true` and
/// `static constexpr std::size_t pool_size`: a max pooling with stride = window that a Conv2D
/// and ReLU before it compute in inference (Conv2D::forward_relu_maxpool<pool_size>, which
/// gets this layer's scratch: pool_size input rows).
template <class L>
concept PoolsAfterConv = requires {
  requires L::pools_after_conv;
  { L::pool_size } -> std::convertible_to<std::size_t>;
};
/// KeepsOrder: `static constexpr bool keeps_order`: its output, read flat, is its input's
/// elements in order (Flatten, activations), which file formats storing PyTorch's layouts use.
template <class L>
concept KeepsOrder = requires {
  { L::keeps_order } -> std::convertible_to<bool>;
};
/// DescribesTensors: `static std::vector<TensorDesc> tensors(const TensorContext&)`, its
/// tensors in safetensors files (io/safetensors.hpp); required when it has parameters or state
/// and is saved that way.
template <class L>
concept DescribesTensors = requires(const TensorContext& c) {
  { L::tensors(c) } -> std::same_as<std::vector<TensorDesc>>;
};
/// HasInferenceScratch: `static constexpr std::size_t inference_scratch_per_sample,
/// inference_scratch_fixed`: the scratch forward needs in inference (default: all of it); it
/// must be the start of the scratch's layout, since an inference-only workspace gives no more.
template <class L>
concept HasInferenceScratch = requires {
  { L::inference_scratch_per_sample } -> std::convertible_to<std::size_t>;
  { L::inference_scratch_fixed } -> std::convertible_to<std::size_t>;
};
/// Composite: a layer made of bound layers `parts` (a std::tuple), with
/// `static std::string part_name(std::size_t)` (the part's name in PyTorch's module) and
/// `static constexpr bool parts_chained` (each part reads the one before; else all read the
/// input, their outputs summed (parts_summed) or joined (parts_joined)).
template <class L>
concept Composite = requires(std::size_t i) {
  typename L::parts;
  { L::part_name(i) } -> std::convertible_to<std::string>;
  { L::parts_chained } -> std::convertible_to<bool>;
};

/// The operations L can fuse (FusesOps), in inference or, with training, in training.
template <class L>
constexpr unsigned fused_ops_of(bool training = false) {
  if constexpr (FusesInTraining<L>)
    return training ? unsigned{L::training_fused_ops} : unsigned{L::fused_ops};
  else if constexpr (FusesOps<L>)
    return training ? 0u : unsigned{L::fused_ops};
  else
    return 0;
}

/// The scratch floats per sample and per call that L's forward needs in inference: its
/// HasInferenceScratch members, or all of its scratch.
template <class L>
constexpr std::size_t inference_scratch_per_sample() {
  if constexpr (HasInferenceScratch<L>)
    return L::inference_scratch_per_sample;
  else
    return L::scratch_per_sample;
}
template <class L>
constexpr std::size_t inference_scratch_fixed() {
  if constexpr (HasInferenceScratch<L>)
    return L::inference_scratch_fixed;
  else
    return L::scratch_fixed;
}

/// The label of bound layer L: L::kind, or LayerKind::custom for a layer without one.
template <class L>
constexpr LayerKind kind_of() {
  if constexpr (Labelled<L>)
    return L::kind;
  else
    return LayerKind::custom;
}

/// Name helper: "Layer<a,b,c>".
template <class... T>
std::string layer_name(const char* base, const T&... args) {
  return detail::angle_name(base, {std::string_view(args)...});
}

/// A float as the shortest decimal text that reads back to the same value ("0.1", "1e-05").
inline std::string format_float(float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

namespace detail {
template <class>
inline constexpr bool always_false = false;
}  // namespace detail

}  // namespace ctnn
