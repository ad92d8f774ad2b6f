// ctnn/layers/layer.hpp — the contract every layer follows (BoundLayer), what file formats ask
// of a layer (TensorDesc), and weight initialisers. docs/layers.md explains it, with a guide to
// adding a layer outside the library.
//
// A layer *spec* (Conv2D<32, 3>) holds hyper-parameters only. `Spec::bind<InShape>` is the
// concrete layer for that input shape: a class with static members only, satisfying BoundLayer
// (below). Layers hold no data: parameters, state and activations live in arrays owned by the
// network, and every call receives its slices in a Pass.
//
// Input gradients: backward writes dL/din into din (it overwrites; it never adds), or does
// nothing there when din is nullptr (nobody needs it). Where one input feeds two layers (the
// parts of Residual and Concat, layers/composite.hpp), the composite gives each its own buffer
// and adds them. Parameter gradients are the other way round: backward adds into grads.
//
// When a spec cannot take an input shape (Conv2D after Dense, a kernel larger than the image),
// `Spec::bind<InShape>` is a detail::Rejected layer instead: `rejected` is true and the nested
// `report<>` holds the spec's static_assert, which Sequential instantiates for the first rejected
// layer only, so that one mistake gives one error.
#pragma once

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "../random.hpp"
#include "../shape.hpp"

namespace ctnn {

/// What a bound layer is, for code that treats layer types differently (file formats, summaries):
/// every bound layer has `static constexpr LayerKind kind`.
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

/// Everything one forward or backward call of a layer sees. Activations are batches of samples
/// stored back to back (batch outermost, then the shape's own layout).
struct Pass {
  const float* params = nullptr;  ///< this layer's slice of the flat parameter array
  float* grads = nullptr;         ///< its slice of the gradient array (backward adds into it)
  float* state = nullptr;         ///< its non-trainable state (BatchNorm running statistics)
  float* scratch = nullptr;       ///< batch * scratch_per_sample + scratch_fixed floats
  const float* in = nullptr;      ///< batch * input_shape::size
  float* out = nullptr;           ///< batch * output_shape::size (forward writes it)
  const float* dout = nullptr;    ///< dL/dout, batch * output_shape::size
  float* din = nullptr;           ///< dL/din, or nullptr when nobody needs it (first layer)
  std::size_t batch = 0;
  bool training = false;  ///< Dropout and BatchNorm behave differently while training
  Rng* rng = nullptr;     ///< per-thread generator (Dropout masks)
  /// The scratch holds only what inference needs (batch * inference_scratch_per_sample +
  /// inference_scratch_fixed floats, see BoundLayer): an inference-only workspace, forward in
  /// inference mode only. Composites lay out their parts' scratch by it.
  bool inference_only = false;
};

/// The contract of a bound layer (Spec::bind<In>), checked by Sequential for every layer:
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
/// Optional capabilities:
///   static constexpr LayerKind kind;                    a label (LayerKind::custom without)
///   static std::vector<TensorDesc> tensors(const TensorContext&);   its tensors in safetensors
///                                                       files; required when it has parameters
///                                                       or state and is saved that way
///   static constexpr bool keeps_order;                  its output, read flat, is its input's
///                                                       elements in order (Flatten, activations)
///   static constexpr bool fuses_relu;  template <bool Relu> forward(const Pass&);
///                                                       computes a following ReLU in its forward
///   static constexpr bool is_relu;                      it is a ReLU that can be fused so
///   static constexpr unsigned fused_ops;  template <unsigned Ops> forward_fused(const Pass&,
///       const FusedOutput&);                            inference forward that also applies the
///                                                       operations Ops (a subset of fused_ops;
///                                                       fused::affine, add, relu) to its output
///   static constexpr bool folds_into_previous;  inference_affine(const Pass&, float* scale,
///       float* shift);                                  inference forward is per channel
///                                                       y = x * scale + shift (BatchNorm), so a
///                                                       layer before it with fused::affine can
///                                                       apply it; scale and shift: a channel
///                                                       count each, in this layer's scratch
///   static constexpr std::size_t inference_scratch_per_sample, inference_scratch_fixed;
///                                                       the scratch forward needs in inference
///                                                       (default: all of it); it must be the
///                                                       start of the scratch's layout, since an
///                                                       inference-only workspace gives no more
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

/// Operations a layer may fuse into the end of its inference forward (its fused_ops and the Ops
/// of forward_fused<Ops>), applied in this order: affine, y = y * scale[c] + shift[c] per output
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

/// The operations L can fuse (L::fused_ops, or none).
template <class L>
constexpr unsigned fused_ops_of() {
  if constexpr (requires { L::fused_ops; })
    return L::fused_ops;
  else
    return 0;
}

/// The scratch floats per sample and per call that L's forward needs in inference: its
/// inference_scratch_* members, or all of its scratch.
template <class L>
constexpr std::size_t inference_scratch_per_sample() {
  if constexpr (requires { L::inference_scratch_per_sample; })
    return L::inference_scratch_per_sample;
  else
    return L::scratch_per_sample;
}
template <class L>
constexpr std::size_t inference_scratch_fixed() {
  if constexpr (requires { L::inference_scratch_fixed; })
    return L::inference_scratch_fixed;
  else
    return L::scratch_fixed;
}

/// The label of bound layer L: L::kind, or LayerKind::custom for a layer without one.
template <class L>
constexpr LayerKind kind_of() {
  if constexpr (requires { L::kind; })
    return L::kind;
  else
    return LayerKind::custom;
}

/// The image whose channels-last flattening a Vector is: h, w, c (h == 0: it is no image). File
/// formats that store PyTorch's (c, h, w) order need it for the layers reading such a Vector.
struct FlatImage {
  std::size_t h = 0, w = 0, c = 0;
  /// PyTorch's position q in a (c, h, w)-flattened image -> ctnn's (h, w, c) position (q when
  /// this is no image).
  constexpr std::size_t from_chw(std::size_t q) const {
    if (h == 0) return q;
    const std::size_t ci = q / (h * w), hi = q / w % h, wi = q % w;
    return (hi * w + wi) * c + ci;
  }
};

/// Where the elements of a Vector are in PyTorch's order of the same values: segments one after
/// the other, each `size` elements that are a flattened image (`image`: ctnn's (h, w, c), PyTorch's
/// (c, h, w); size = h * w * c) or, with image.h == 0, in the same order in both. A Flatten of an
/// Image is one image segment; a Concat of Vectors joins its branches' segments (a
/// GlobalAvgPool2D or Dense output is a same-order segment). No segments: the same order.
struct ElementOrder {
  struct Segment {
    std::size_t size = 0;
    FlatImage image;
  };
  std::vector<Segment> segments;

  /// The order of one flattened image.
  static ElementOrder of_image(FlatImage im) { return {{{im.h * im.w * im.c, im}}}; }
  /// PyTorch's position q -> ctnn's position (q itself past the segments).
  std::size_t from_chw(std::size_t q) const {
    std::size_t start = 0;
    for (const Segment& s : segments) {
      if (q - start < s.size) return start + s.image.from_chw(q - start);
      start += s.size;
    }
    return q;
  }
};

/// What a layer's tensors() may depend on besides its own type.
struct TensorContext {
  /// The order of the layer's input read flat when it is a Vector (for an Image input: the
  /// image's own): an image flattened by Flatten, also as the last part of a Chain, a Residual
  /// or a Concat branch, with only order-keeping layers (keeps_order) between, is in PyTorch's
  /// (c, h, w) order in file formats that store PyTorch's layouts (io/safetensors.hpp).
  ElementOrder flat_input;
};

/// One tensor of a layer as PyTorch's state_dict holds it (safetensors files, io/safetensors.hpp):
/// its name within the layer's module ("weight", "bias", "running_mean"), PyTorch's shape, and
/// where each of its elements lives: element e (row-major over shape) is the float at index(e)
/// in the layer's slice of the parameters, or of the state with in_state. `counter`: an I64
/// scalar that ctnn does not keep (BatchNorm's num_batches_tracked: written as 0, ignored when
/// read).
struct TensorDesc {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::function<std::size_t(std::size_t)> index;
  bool in_state = false;
  bool counter = false;
};

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

namespace init {

/// He et al. 2015, "Delving Deep into Rectifiers": uniform on [-l, l], l = sqrt(6 / fan_in).
struct HeUniform {
  static void fill(float* w, std::size_t n, std::size_t fan_in, std::size_t, Rng& rng) {
    const float l = std::sqrt(6.0f / static_cast<float>(fan_in));
    for (std::size_t i = 0; i < n; ++i) w[i] = rng.uniform(-l, l);
  }
};
/// He et al. 2015: normal with standard deviation sqrt(2 / fan_in).
struct HeNormal {
  static void fill(float* w, std::size_t n, std::size_t fan_in, std::size_t, Rng& rng) {
    const float s = std::sqrt(2.0f / static_cast<float>(fan_in));
    for (std::size_t i = 0; i < n; ++i) w[i] = s * rng.normal();
  }
};
/// Glorot & Bengio 2010: uniform on [-l, l], l = sqrt(6 / (fan_in + fan_out)). The default of
/// Conv2D and Dense, as in Keras.
struct GlorotUniform {
  static void fill(float* w, std::size_t n, std::size_t fan_in, std::size_t fan_out, Rng& rng) {
    const float l = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
    for (std::size_t i = 0; i < n; ++i) w[i] = rng.uniform(-l, l);
  }
};
/// Glorot & Bengio 2010: normal with standard deviation sqrt(2 / (fan_in + fan_out)).
struct GlorotNormal {
  static void fill(float* w, std::size_t n, std::size_t fan_in, std::size_t fan_out, Rng& rng) {
    const float s = std::sqrt(2.0f / static_cast<float>(fan_in + fan_out));
    for (std::size_t i = 0; i < n; ++i) w[i] = s * rng.normal();
  }
};

}  // namespace init

namespace detail {
template <class>
inline constexpr bool always_false = false;

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

/// Column sums: acc[n] += sum over rows r of x[r * N + n].
template <std::size_t N>
inline void add_column_sums(const float* x, std::size_t rows, float* acc) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t n = 0; n < N; ++n) acc[n] += x[r * N + n];
}
}  // namespace detail

}  // namespace ctnn
