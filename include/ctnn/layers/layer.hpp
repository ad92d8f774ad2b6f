// ctnn/layers/layer.hpp — the contract every layer follows, and weight initialisers.
//
// A layer *spec* (Conv2D<32, 3>) holds hyper-parameters only. `Spec::bind<InShape>` is the
// concrete layer for that input shape. A bound layer provides:
//   using input_shape, output_shape;                    shapes of one sample
//   static constexpr std::size_t parameter_count;       trainable floats in the flat array
//   static constexpr std::size_t state_count;           non-trainable floats saved with the model
//   static constexpr std::size_t scratch_per_sample;    workspace floats per sample
//   static constexpr std::size_t scratch_fixed;         workspace floats per call
//   static constexpr std::size_t flops;                 forward floating-point ops per sample
//   static constexpr LayerKind kind;                    Conv2D, Dense, LSTM, ...
//   static std::string name();                          e.g. "Conv2D<32,3,1,valid>"
//   static void init(float* params, float* state, Rng&);
//   static void forward(const Pass&);                   out = f(in)
//   static void backward(const Pass&);                  grads += dL/dparams; din = dL/din
// Layers hold no data: parameters, state and activations live in arrays owned by the network.
//
// When a spec cannot take an input shape (Conv2D after Dense, a kernel larger than the image),
// `Spec::bind<InShape>` is a detail::Rejected layer instead: `rejected` is true and the nested
// `report<>` holds the spec's static_assert, which Sequential instantiates for the first rejected
// layer only, so that one mistake gives one error.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>

#include "../random.hpp"
#include "../shape.hpp"

namespace ctnn {

/// What a bound layer is, for code that treats layer types differently (file formats, summaries):
/// every bound layer has `static constexpr LayerKind kind`.
enum class LayerKind {
  conv2d, maxpool2d, avgpool2d, flatten, dense, activation, softmax, dropout, batchnorm,
  lstm, gru, simple_rnn, bidirectional, identity, global_avgpool2d, chain, residual, concat
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
};

/// Name helper: "Layer<a,b,c>".
template <class... T>
std::string layer_name(const char* base, const T&... args) {
  std::string s = base;
  if constexpr (sizeof...(T) > 0) {
    s += '<';
    bool first = true;
    ((s += (first ? "" : ","), s += args, first = false), ...);
    s += '>';
  }
  return s;
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
inline constexpr bool rejected_v = requires { requires L::rejected; };

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
