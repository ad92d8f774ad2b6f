// ctnn/network.hpp — Sequential: a network as a type.
//
//   using Net = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::Conv2D<32, 3>, ctnn::ReLU,
//                                ctnn::MaxPool2D<2>, ctnn::Dense<10>>;
//
// Each layer spec is bound to the previous layer's output shape at compile time; a spec that
// cannot take that shape stops compilation with a static_assert naming the layer, and the
// instantiation notes name the shape. That is the only error: the layers from the failing one on
// are left unbound (detail::Unbound), so that nothing else about the network fails to compile.
// Everything about the network's size is constexpr.
//
// Memory: a Sequential object owns the parameters (one 64-byte aligned array of
// parameter_count floats, each layer a slice in order) and the non-trainable state (state_count
// floats, e.g. BatchNorm running statistics). Activations and scratch live in a Workspace sized
// for a maximum batch; a network used only for inference may be shared by threads that each own a
// Workspace, as all inference member functions are const.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "aligned.hpp"
#include "error.hpp"
#include "layers/layer.hpp"
#include "plan.hpp"
#include "random.hpp"
#include "shape.hpp"

namespace ctnn {

namespace detail {
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
template <class In, class Spec, class... Rest>
struct bind_all<In, Spec, Rest...> {
  using raw_ = typename Spec::template bind<In>;
  using layer =
      std::conditional_t<rejected_v<raw_> || BoundLayer<raw_>, raw_, ContractFailure<raw_>>;
  using rest = bind_rest<In, layer, rejected_v<layer>, Rest...>;
  using type = typename rest::type;
  using failed = typename rest::failed;
  using failed_input = typename rest::failed_input;
};

template <class T>
struct is_input : std::false_type {};
template <std::size_t... D>
struct is_input<Input<D...>> : std::true_type {};

/// The first checks of Sequential<InputSpec, Specs...>, its elements' checks of their own
/// parameters included (Conv2D<32, 0>): instantiated here, before anything else uses them, a
/// failure spoils only this class (with Clang, the declaration during which an error occurs is
/// invalid, and what it declares lost).
template <class InputSpec, class... Specs>
struct sequential_arguments {
  static_assert(is_input<InputSpec>::value,
                "Sequential's first element must be Input<H,W,C>, Input<T,F> or Input<N>, e.g. "
                "Sequential<Input<28,28,1>, Conv2D<32,3>, ...>");
  static_assert(!is_input<InputSpec>::value || sizeof...(Specs) > 0,
                "Sequential needs at least one layer");
  using elements_checked [[maybe_unused]] = decltype((sizeof(InputSpec) + ... + sizeof(Specs)));
};

/// The input shape and the layers of Sequential<InputSpec, Specs...>. A first element that is no
/// usable Input (its own assertion, or Sequential's, has said why) or an empty layer list gives
/// Unbound layers on Vector<1>.
template <class InputSpec, class... Specs>
struct network_layers {
  using input_shape = Vector<1>;
  using layers = std::tuple<Unbound<input_shape>, unbound_for<input_shape, Specs>...>;
  using failed = void;
  using failed_input = void;
};
template <std::size_t... D, class Spec, class... Rest>
requires Input<D...>::valid struct network_layers<Input<D...>, Spec, Rest...> {
  using input_shape = typename Input<D...>::shape;
  using bound = bind_all<input_shape, Spec, Rest...>;
  using layers = typename bound::type;
  using failed = typename bound::failed;
  using failed_input = typename bound::failed_input;
};

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

}  // namespace detail

template <class InputSpec, class... Specs>
class Sequential;

/// Tag of the constructor that leaves a network's parameters zero (for loading into):
/// `Net net(ctnn::uninitialized);`.
struct Uninitialized {
  explicit Uninitialized() = default;
};
inline constexpr Uninitialized uninitialized{};

/// Tag of the Workspace constructor for inference only: `Workspace<Net> ws(1,
/// ctnn::inference_only);`
struct InferenceOnly {
  explicit InferenceOnly() = default;
};
inline constexpr InferenceOnly inference_only{};

/// Activations, gradients and scratch for one network and up to `capacity()` samples per call.
/// Layout (floats, every region 64-byte aligned): the output of each layer for the whole batch,
/// two gradient buffers as large as the largest activation, then each layer's scratch. A
/// workspace made with `inference_only` holds only what the inference plan needs (plan.hpp: two
/// buffers for the outputs of its steps and one scratch region they share;
/// Net::inference_workspace_bytes for batch 1); forward in training mode and backward refuse it.
template <class Net>
class Workspace {
 public:
  Workspace(std::size_t max_batch, InferenceOnly) : Workspace(max_batch, true) {}
  explicit Workspace(std::size_t max_batch) : Workspace(max_batch, false) {}
  std::size_t capacity() const noexcept { return capacity_; }
  bool is_inference_only() const noexcept { return inference_; }
  float* data() noexcept { return data_.data(); }

 private:
  Workspace(std::size_t max_batch, bool inference) : capacity_(max_batch), inference_(inference) {
    if (max_batch == 0) throw InvalidArgument("Workspace: batch capacity must be at least 1");
    // workspace_floats() must not wrap around: no machine holds 2^60 bytes.
    if (max_batch > (std::size_t{1} << 58) / sizeof(float) / Net::workspace_size)
      throw InvalidArgument("Workspace: a batch capacity of " + std::to_string(max_batch) +
                            " samples needs more memory than any machine has");
    try {
      data_.assign(Net::workspace_floats(max_batch, inference), 0.0f);
    } catch (const std::bad_alloc&) {
      throw Error(
          "Workspace: cannot allocate " +
          std::to_string(Net::workspace_floats(max_batch, inference) * sizeof(float) >> 20) +
          " MiB for batches of " + std::to_string(max_batch) + " samples");
    }
  }

  std::size_t capacity_;
  bool inference_;
  aligned_vector<float> data_;
};

/// Sequential<Input<...>, Layers...>: layers applied in order; see the header comment.
template <class InputSpec, class... Specs>
class Sequential {
  // One mistake, one error: a network that does not bind is still a well-formed type (its
  // layers from the failing one on are detail::Unbound), and only the first failure is reported,
  // from a class of its own (a failed assertion here would leave Sequential without members).
  using arguments_checked_ [[maybe_unused]] =
      decltype(sizeof(detail::sequential_arguments<InputSpec, Specs...>));
  using binding_ = detail::network_layers<InputSpec, Specs...>;
  using reported_ [[maybe_unused]] =
      typename detail::report_failure<InputSpec, typename binding_::failed,
                                      typename binding_::failed_input>::type;

 public:
  using input_shape = typename binding_::input_shape;
  using layers = typename binding_::layers;
  static constexpr std::size_t layer_count = std::tuple_size_v<layers>;
  template <std::size_t I>
  using layer = std::tuple_element_t<I, layers>;
  using output_shape = typename layer<layer_count - 1>::output_shape;

 private:
  template <class F>
  static constexpr auto over_layers(F f) {
    return detail::over_parts<layers>(f);
  }
  static constexpr auto parameter_offsets =
      detail::prefix_sums(over_layers([](auto l) { return decltype(l)::type::parameter_count; }));
  static constexpr auto state_offsets =
      detail::prefix_sums(over_layers([](auto l) { return decltype(l)::type::state_count; }));
  static constexpr auto output_sizes =
      over_layers([](auto l) { return decltype(l)::type::output_shape::size; });
  static constexpr auto scratch_per_sample =
      over_layers([](auto l) { return decltype(l)::type::scratch_per_sample; });
  static constexpr auto scratch_fixed =
      over_layers([](auto l) { return decltype(l)::type::scratch_fixed; });
  using plan_ = detail::InferencePlan<layers>;
  static constexpr std::size_t max_activation =
      std::max(input_shape::size, *std::max_element(output_sizes.begin(), output_sizes.end()));

 public:
  /// Trainable floats of the whole network.
  static constexpr std::size_t parameter_count = parameter_offsets[layer_count];
  /// Non-trainable floats saved with the model (BatchNorm running statistics).
  static constexpr std::size_t state_count = state_offsets[layer_count];
  /// Forward floating-point operations per sample (a multiply-add counts 2).
  static constexpr std::size_t flops = [] {
    std::size_t s = 0;
    for (auto f : over_layers([](auto l) { return decltype(l)::type::flops; })) s += f;
    return s;
  }();

  /// Workspace floats for a batch of `batch` samples (activations, gradients, scratch), or with
  /// `inference`, of an inference-only workspace: the inference plan's (plan.hpp) two step
  /// buffers and shared scratch.
  static constexpr std::size_t workspace_floats(std::size_t batch, bool inference = false) {
    if (inference) return plan_::floats(batch, true);
    std::size_t n = 2 * detail::round_up(batch * max_activation);
    for (std::size_t i = 0; i < layer_count; ++i)
      n += detail::round_up(batch * output_sizes[i]) +
           detail::round_up(batch * scratch_per_sample[i] + scratch_fixed[i]);
    return n;
  }
  /// Workspace floats per sample (the size of a Workspace for batch 1).
  static constexpr std::size_t workspace_size = workspace_floats(1, false);
  static constexpr std::size_t workspace_bytes = workspace_size * sizeof(float);
  /// The bytes of an inference-only Workspace for batch 1.
  static constexpr std::size_t inference_workspace_bytes =
      workspace_floats(1, true) * sizeof(float);

  // Layers computed by the layer before them (compile-time, per layer index).
  template <class L>
  static constexpr bool fuses_relu = requires {
    requires L::fuses_relu;
  };
  template <class L>
  static constexpr bool is_relu = requires {
    requires L::is_relu;
  };
  /// Whether layer J is a ReLU computed by the layer before it.
  template <std::size_t J>
  static constexpr bool fused_into_previous = [] {
    if constexpr (J == 0 || J >= layer_count)
      return false;
    else
      return fuses_relu<layer<J - 1>> && is_relu<layer<J>>;
  }();

  template <class L>
  static constexpr bool fusable_pool = requires {
    requires L::fusable_after_conv;
  };
  /// Whether layer J is a MaxPool2D (stride = window) after a Conv2D and a ReLU: in inference
  /// the convolution computes the three at once (Conv2D::forward_relu_maxpool).
  template <std::size_t J>
  static constexpr bool pooled_by_conv = [] {
    if constexpr (J < 2 || J >= layer_count)
      return false;
    else
      return kind_of<layer<J - 2>>() == LayerKind::conv2d && fused_into_previous<J - 1> &&
             fusable_pool<layer<J>>;
  }();

  /// Parameters initialised from seed 1 (see init()), ready to train, as a freshly made Keras or
  /// PyTorch model is.
  Sequential() : Sequential(std::uint64_t{1}) {}
  /// Parameters initialised from `seed` (see init()).
  explicit Sequential(std::uint64_t seed) : Sequential(uninitialized) { init(seed); }
  /// Parameters and state zero, for a network whose values are loaded next (load(),
  /// load_safetensors()) and would be overwritten anyway. A network left so does not train:
  /// every unit of a layer gets the same gradient.
  explicit Sequential(Uninitialized) : params_(parameter_count, 0.0f), state_(state_count, 0.0f) {}

  /// Initialises every layer's parameters and state from one seeded generator, layer by layer.
  void init(std::uint64_t seed) {
    Rng rng(seed);
    for_each_layer([&]<std::size_t I, class L>() {
      L::init(params_.data() + parameter_offsets[I], state_.data() + state_offsets[I], rng);
    });
  }

  std::span<float> parameters() noexcept { return {params_.data(), parameter_count}; }
  std::span<const float> parameters() const noexcept { return {params_.data(), parameter_count}; }
  std::span<float> state() noexcept { return {state_.data(), state_count}; }
  std::span<const float> state() const noexcept { return {state_.data(), state_count}; }

  /// Offset of layer I's slice in parameters() and in a gradient array.
  template <std::size_t I>
  static constexpr std::size_t parameter_offset = parameter_offsets[I];

  /// "layer 3 (Dense<10>)": the layer (numbered from 1, as in signature()) whose slice of
  /// parameters() holds parameter i; for messages.
  static std::string parameter_owner(std::size_t i) {
    std::string s = "parameter " + std::to_string(i);
    for_each_layer([&]<std::size_t I, class L>() {
      if (i >= parameter_offsets[I] && i < parameter_offsets[I + 1])
        s = "layer " + std::to_string(I + 1) + " (" + L::name() + ")";
    });
    return s;
  }

  /// One line per layer: index, name, input and output shape, parameter count. Model files store
  /// it to recognise the network they belong to.
  static std::string signature() {
    std::string s = detail::join({"Input ", input_shape::name(), "\n"});
    for_each_layer([&]<std::size_t I, class L>() {
      s += detail::join({std::to_string(I + 1), " ", L::name(), " ", L::input_shape::name(), " -> ",
                         L::output_shape::name(), " ", std::to_string(L::parameter_count), "\n"});
    });
    return s;
  }

  /// Inference for `batch` samples: in holds batch * input_shape::size floats, out receives
  /// batch * output_shape::size. Allocates nothing. Throws InvalidArgument if batch exceeds the
  /// workspace's capacity.
  void predict(const float* in, float* out, std::size_t batch, Workspace<Sequential>& ws) const {
    const float* y = forward(in, batch, ws, false, nullptr, nullptr);
    std::copy_n(y, batch * output_shape::size, out);
  }

  /// Inference for one sample, with a workspace of its own (allocates it on each call: for
  /// repeated calls keep a Workspace and use the overload above).
  std::array<float, output_shape::size> predict(const float* in) const {
    Workspace<Sequential> ws(1, inference_only);
    std::array<float, output_shape::size> out;
    predict(in, out.data(), 1, ws);
    return out;
  }

  /// Forward pass; returns the output activations inside ws (valid until ws is reused).
  /// training selects Dropout/BatchNorm behaviour; state (may be nullptr) receives BatchNorm's
  /// running-statistics updates; rng feeds Dropout. With an inference-only workspace the
  /// network runs its inference plan (plan.hpp: BatchNorm folded into the layer before it, ReLU
  /// and residual additions fused, only step outputs stored); the outputs equal those of a
  /// training workspace in inference mode up to rounding.
  const float* forward(const float* in, std::size_t batch, Workspace<Sequential>& ws, bool training,
                       float* state, Rng* rng) const {
    check_batch(batch, ws);
    if (ws.is_inference_only()) {
      if (training)
        throw InvalidArgument(
            "forward: training mode needs a training workspace, not one made "
            "with ctnn::inference_only");
      const auto pass_of = [this]<std::size_t I>() {
        Pass p;
        p.params = params_.data() + parameter_offsets[I];
        p.state = const_cast<float*>(state_.data()) + state_offsets[I];
        return p;
      };
      return plan_::run(pass_of, in, nullptr, ws.data(), batch);
    }
    const Layout l(ws.data(), batch);
    for_each_layer([&]<std::size_t I, class L>() {
      if constexpr (fused_into_previous<I>) return;  // that layer wrote this one's output
      if constexpr (pooled_by_conv<I>)               // Conv2D, ReLU, MaxPool2D: in inference the
        if (!training) return;                       // convolution wrote this layer's output
      Pass p;
      p.params = params_.data() + parameter_offsets[I];
      p.state = training ? (state ? state + state_offsets[I] : nullptr)
                         : const_cast<float*>(state_.data()) + state_offsets[I];
      p.scratch = l.scratch[I];
      p.in = I == 0 ? in : l.activation[I - 1];
      p.batch = batch;
      p.training = training;
      p.rng = rng;
      if constexpr (pooled_by_conv<I + 2>) {
        if (!training) {
          // Nothing reads the convolution's or the ReLU's output in inference.
          p.out = l.activation[I + 2];
          L::template forward_relu_maxpool<layer<I + 2>::pool_size>(p, l.scratch[I + 2]);
          return;
        }
      }
      if constexpr (fused_into_previous<I + 1>) {
        // Conv2D or Dense followed by ReLU: one pass writes the ReLU's output. Nothing reads
        // the pre-activation (Conv2D and Dense backward need only their input).
        p.out = l.activation[I + 1];
        L::template forward<true>(p);
      } else {
        p.out = l.activation[I];
        L::forward(p);
      }
    });
    return l.activation[layer_count - 1];
  }

  /// Backward pass after forward(in, batch, ws, training, ...): given dL/doutput (batch x
  /// output_shape::size), adds dL/dparameters into grads (parameter_count floats, same layout as
  /// parameters()). The input gradient is not computed.
  void backward(const float* in, const float* dout, float* grads, std::size_t batch,
                Workspace<Sequential>& ws, bool training = true) const {
    backward(in, dout, grads, batch, ws, training, [](std::size_t) {});
  }

  /// As above, and calls done(k) after each layer with parameters, k being the index of its
  /// first one: the layers run last to first, so grads[k .. parameter_count) are then complete
  /// (distributed training starts summing them across processes while the rest runs).
  template <class Done>
  void backward(const float* in, const float* dout, float* grads, std::size_t batch,
                Workspace<Sequential>& ws, bool training, Done&& done) const {
    check_batch(batch, ws);
    if (ws.is_inference_only())
      throw InvalidArgument(
          "backward: needs a training workspace, not one made with "
          "ctnn::inference_only");
    const Layout l(ws.data(), batch);
    const float* g = dout;
    for_each_layer_reverse([&]<std::size_t I, class L>() {
      float* din = I == 0 ? nullptr : l.gradient[I % 2];
      Pass p;
      p.params = params_.data() + parameter_offsets[I];
      p.grads = grads + parameter_offsets[I];
      p.scratch = l.scratch[I];
      p.in = I == 0 ? in : l.activation[I - 1];
      p.out = l.activation[I];
      p.dout = g;
      p.din = din;
      p.batch = batch;
      p.training = training;
      L::backward(p);
      g = din;
      if constexpr (L::parameter_count > 0) done(parameter_offsets[I]);
    });
  }

 private:
  struct Layout {
    std::array<float*, layer_count> activation, scratch;
    std::array<float*, 2> gradient;
    Layout(float* base, std::size_t batch) {
      for (std::size_t i = 0; i < layer_count; ++i) {
        activation[i] = base;
        base += detail::round_up(batch * output_sizes[i]);
      }
      for (auto& g : gradient) {
        g = base;
        base += detail::round_up(batch * max_activation);
      }
      for (std::size_t i = 0; i < layer_count; ++i) {
        scratch[i] = base;
        base += detail::round_up(batch * scratch_per_sample[i] + scratch_fixed[i]);
      }
    }
  };

  static void check_batch(std::size_t batch, const Workspace<Sequential>& ws) {
    if (batch == 0 || batch > ws.capacity())
      throw InvalidArgument("batch of " + std::to_string(batch) +
                            " samples does not fit a workspace for " +
                            std::to_string(ws.capacity()));
  }

  template <class F>
  static void for_each_layer(F&& f) {
    detail::for_each_part<layers>(f);
  }
  template <class F>
  static void for_each_layer_reverse(F&& f) {
    detail::for_each_part_reverse<layers>(f);
  }

  aligned_vector<float> params_;
  aligned_vector<float> state_;
};

}  // namespace ctnn
