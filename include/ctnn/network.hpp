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
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "aligned.hpp"
#include "attributes.hpp"
#include "error.hpp"
#include "layers/binding.hpp"
#include "layers/chain.hpp"
#include "layers/contract.hpp"
#include "layers/plan.hpp"
#include "random.hpp"
#include "shape.hpp"

namespace ctnn {

namespace detail {

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
/// Layout (floats, every region 64-byte aligned): the network's output for the whole batch, then
/// the walk's scratch (layers/chain.hpp: every other layer's output, two gradient buffers as
/// large as the largest activation, each layer's scratch); inference uses it as the inference
/// plan's buffers. A workspace made with `inference_only` holds only what the inference plan
/// needs (layers/plan.hpp: two buffers for the outputs of its steps and one scratch region they
/// share; Net::inference_workspace_bytes for batch 1); forward in training mode and backward refuse
/// it.
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

/// Sequential<Input<...>, Layers...>: layers applied in order; see the header comment. It holds
/// the parameters and the state; the layers run in the one walk every composite runs
/// (layers/chain.hpp, detail::ChainOver): in inference the inference plan, in training the
/// training plan (layers/plan.hpp), at top level as inside a Chain.
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
  using walk_ = detail::ChainOver<input_shape, layers>;
  using plan_ = typename walk_::plan;
  static constexpr auto& parameter_offsets = walk_::info::parameter_offsets;
  static constexpr auto& state_offsets = walk_::info::state_offsets;
  // A training workspace: the network's output, then the walk's scratch (every layer's output
  // but the last, two gradient buffers, each layer's scratch).
  static constexpr std::size_t training_floats(std::size_t batch) {
    return detail::round_up(batch * output_shape::size) +
           detail::round_up(batch * walk_::scratch_per_sample + walk_::scratch_fixed);
  }

 public:
  /// Trainable floats of the whole network.
  static constexpr std::size_t parameter_count = walk_::parameter_count;
  /// Non-trainable floats saved with the model (BatchNorm running statistics).
  static constexpr std::size_t state_count = walk_::state_count;
  /// Forward floating-point operations per sample (a multiply-add counts 2).
  static constexpr std::size_t flops = walk_::flops;

  /// Workspace floats for a batch of `batch` samples (activations, gradients, scratch; at least
  /// what the inference plan needs, which inference runs in it), or with `inference`, of an
  /// inference-only workspace: the inference plan's (layers/plan.hpp) two step buffers and shared
  /// scratch.
  static constexpr std::size_t workspace_floats(std::size_t batch, bool inference = false) {
    if (inference) return plan_::floats(batch, true);
    return std::max(training_floats(batch), plan_::floats(batch, true));
  }
  /// Workspace floats per sample (the size of a Workspace for batch 1).
  static constexpr std::size_t workspace_size = workspace_floats(1, false);
  static constexpr std::size_t workspace_bytes = workspace_size * sizeof(float);
  /// The bytes of an inference-only Workspace for batch 1.
  static constexpr std::size_t inference_workspace_bytes =
      workspace_floats(1, true) * sizeof(float);

  /// Whether layer J is a ReLU computed by the layer before it (Conv2D, Dense) in training as in
  /// inference (layers/plan.hpp: the training plan).
  template <std::size_t J>
  static constexpr bool fused_into_previous = [] {
    if constexpr (J >= layer_count)
      return false;
    else
      return plan_::template absorbed_in_training<J>;
  }();
  /// Whether layer J is a MaxPool2D (stride = window) after a Conv2D and a ReLU: in inference
  /// the convolution computes the three at once (Conv2D::forward_relu_maxpool).
  template <std::size_t J>
  static constexpr bool pooled_by_conv = plan_::template pooled_by_conv<J>;

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
    walk_::init(params_.data(), state_.data(), rng);
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
    detail::for_each_part<layers>([&]<std::size_t I, class L>() {
      if (i >= parameter_offsets[I] && i < parameter_offsets[I + 1])
        s = "layer " + std::to_string(I + 1) + " (" + L::name() + ")";
    });
    return s;
  }

  /// One line per layer: index, name, input and output shape, parameter count. Model files store
  /// it to recognise the network they belong to.
  CTNN_COLD static std::string signature() {
    std::string s = detail::join({"Input ", input_shape::name(), "\n"});
    detail::for_each_part<layers>([&]<std::size_t I, class L>() {
      s += detail::join({std::to_string(I + 1), " ", L::name(), " ", L::input_shape::name(), " -> ",
                         L::output_shape::name(), " ", std::to_string(L::parameter_count), "\n"});
    });
    return s;
  }

  /// Inference for `batch` samples: in holds batch * input_shape::size floats, out receives
  /// batch * output_shape::size. Allocates nothing. Throws InvalidArgument if batch exceeds the
  /// workspace's capacity.
  void predict(const float* in, float* out, std::size_t batch, Workspace<Sequential>& ws) const {
    const float* y = forward(in, batch, ws);
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

  /// Forward pass of `batch` samples (in: batch * input_shape::size floats); returns the output
  /// activations inside ws (valid until ws is reused).
  ///   forward(in, batch, ws): inference, through any workspace: the inference plan
  ///   (layers/plan.hpp:
  ///     BatchNorm folded into the layer before it, ReLU, pooling and residual additions fused,
  ///     only step outputs stored), so a training workspace gives the inference-only one's
  ///     outputs;
  ///   forward(in, batch, ws, Mode::training, {.state = s, .rng = &rng}): training (Dropout on,
  ///     BatchNorm with batch statistics, its running statistics updated in s when given, rng
  ///     feeding Dropout), keeping what backward needs; needs a training workspace.
  /// Throws InvalidArgument when batch is 0 or exceeds ws's capacity, or for training through an
  /// inference-only workspace.
  const float* forward(const float* in, std::size_t batch, Workspace<Sequential>& ws,
                       Mode mode = Mode::inference, const Context& context = {}) const {
    check_batch(batch, ws);
    if (mode == Mode::inference) {
      const auto pass_of = [this]<std::size_t I>() {
        Pass p;
        p.params = params_.data() + parameter_offsets[I];
        p.state = state_.data() + state_offsets[I];
        return p;
      };
      return plan_::run(pass_of, in, nullptr, ws.data(), batch);
    }
    if (ws.is_inference_only())
      throw InvalidArgument(
          "forward: training mode needs a training workspace, not one made "
          "with ctnn::inference_only");
    Pass p = pass(in, batch, ws, true);
    p.state = context.state;
    p.state_update = context.state;
    p.rng = context.rng;
    walk_::forward(p);
    return p.out;
  }
  /// The spelling of an earlier version, forward(in, batch, ws, training, state, rng): refused
  /// with a message that names the new one.
  template <class B, class S, class R>
  requires std::same_as<B, bool>
  const float* forward(const float*, std::size_t, Workspace<Sequential>&, B, S, R) const {
    static_assert(detail::always_false<B>,
                  "forward(in, batch, ws, bool training, state, rng) is replaced: write "
                  "forward(in, batch, ws) for inference, or forward(in, batch, ws, "
                  "ctnn::Mode::training, {.state = state, .rng = &rng}) for training");
    return nullptr;
  }

  /// Backward pass after forward(in, batch, ws, Mode::training, ...): given dL/doutput (batch x
  /// output_shape::size), adds dL/dparameters into grads (parameter_count floats, same layout as
  /// parameters()). The input gradient is not computed. With Mode::inference, the gradient of
  /// the inference-mode function (Dropout off, BatchNorm's statistics constants): the layers'
  /// outputs are computed again in inference mode first (without the plan's fusions), since
  /// inference stores none of them.
  /// Throws InvalidArgument when batch is 0 or exceeds ws's capacity, or for an inference-only
  /// workspace.
  void backward(const float* in, const float* dout, float* grads, std::size_t batch,
                Workspace<Sequential>& ws, Mode mode = Mode::training) const {
    backward(in, dout, grads, batch, ws, mode, [](std::size_t) {});
  }

  /// As above, and calls done(k) after each layer with parameters, k being the index of its
  /// first one: the layers run last to first, so grads[k .. parameter_count) are then complete
  /// (distributed training starts summing them across processes while the rest runs).
  template <class Done>
  requires std::invocable<Done&, std::size_t>
  void backward(const float* in, const float* dout, float* grads, std::size_t batch,
                Workspace<Sequential>& ws, Mode mode, Done&& done) const {
    check_batch(batch, ws);
    if (ws.is_inference_only())
      throw InvalidArgument(
          "backward: needs a training workspace, not one made with "
          "ctnn::inference_only");
    const bool training = mode == Mode::training;
    Pass p = pass(in, batch, ws, training);
    if (!training) {
      p.state = state_.data();
      walk_::forward(p);
    }
    p.grads = grads;
    p.dout = dout;
    walk_::backward(p, done);
  }
  /// The spelling of an earlier version, backward(in, dout, grads, batch, ws, bool training
  /// [, done]): refused with a message that names the new one.
  template <class B, class... Done>
  requires std::same_as<B, bool> &&
      (sizeof...(Done) <= 1) void backward(const float*, const float*, float*, std::size_t,
                                           Workspace<Sequential>&, B, Done&&...) const {
    static_assert(detail::always_false<B>,
                  "backward(in, dout, grads, batch, ws, bool training) is replaced: write "
                  "backward(in, dout, grads, batch, ws) or backward(..., ws, ctnn::Mode::training, "
                  "done) for training, backward(..., ws, ctnn::Mode::inference) for the gradient "
                  "of the inference-mode function");
  }

 private:
  // The top-level pass of the walk in a training workspace.
  Pass pass(const float* in, std::size_t batch, Workspace<Sequential>& ws, bool training) const {
    Pass p;
    p.params = params_.data();
    p.out = ws.data();
    p.scratch = ws.data() + detail::round_up(batch * output_shape::size);
    p.in = in;
    p.batch = batch;
    p.training = training;
    return p;
  }

  static void check_batch(std::size_t batch, const Workspace<Sequential>& ws) {
    if (batch == 0 || batch > ws.capacity())
      throw InvalidArgument("batch of " + std::to_string(batch) +
                            " samples does not fit a workspace for " +
                            std::to_string(ws.capacity()));
  }

  aligned_vector<float> params_;
  aligned_vector<float> state_;
};

}  // namespace ctnn
