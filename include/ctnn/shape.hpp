// ctnn/shape.hpp — compile-time tensor shapes of one sample.
//
// A shape describes one sample; the batch dimension is a run-time value and always outermost.
// Every shape is stored densely in row-major order:
//   Image<H, W, C>   height x width x channels, channels-last (NHWC for a batch)
//   Sequence<T, F>   T time steps of F features each
//   Vector<N>        N values
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "attributes.hpp"

namespace ctnn {

namespace detail {

/// `parts` joined. The names of shapes, layers and networks are built by these non-template
/// functions, compiled once, rather than by string code repeated in every template.
inline std::string join(std::initializer_list<std::string_view> parts) {
  std::size_t n = 0;
  for (std::string_view p : parts) n += p.size();
  std::string s;
  s.reserve(n);
  for (std::string_view p : parts) s += p;
  return s;
}

/// "base<a,b,...>" ("base" without arguments).
inline std::string angle_name(std::string_view base, std::initializer_list<std::string_view> args) {
  std::string s(base);
  if (args.size() == 0) return s;
  bool first = true;
  for (std::string_view a : args) {
    s += first ? '<' : ',';
    s += a;
    first = false;
  }
  return s + '>';
}

/// "base<d0,d1,...>" for whole numbers.
CTNN_COLD inline std::string dims_name(std::string_view base,
                                       std::initializer_list<std::size_t> dims) {
  std::string s(base);
  bool first = true;
  for (std::size_t d : dims) {
    s += first ? '<' : ',';
    s += std::to_string(d);
    first = false;
  }
  return s + '>';
}

}  // namespace detail

/// An image of H rows, W columns and C channels, stored channels-last: element (h, w, c) is at
/// index (h * W + w) * C + c.
template <std::size_t H, std::size_t W, std::size_t C>
struct Image {
  static_assert(H > 0 && W > 0 && C > 0, "Image dimensions must be positive");
  static constexpr std::size_t height = H, width = W, channels = C;
  static constexpr std::size_t size = H * W * C;
  static std::string name() { return detail::dims_name("Image", {H, W, C}); }
};

/// A sequence of T steps of F features: element (t, f) is at index t * F + f.
template <std::size_t T, std::size_t F>
struct Sequence {
  static_assert(T > 0 && F > 0, "Sequence dimensions must be positive");
  static constexpr std::size_t steps = T, features = F;
  static constexpr std::size_t size = T * F;
  static std::string name() { return detail::dims_name("Sequence", {T, F}); }
};

/// A vector of N values.
template <std::size_t N>
struct Vector {
  static_assert(N > 0, "Vector size must be positive");
  static constexpr std::size_t size = N;
  static std::string name() { return detail::dims_name("Vector", {N}); }
};

template <class S>
struct is_image : std::false_type {};
template <std::size_t H, std::size_t W, std::size_t C>
struct is_image<Image<H, W, C>> : std::true_type {};
template <class S>
struct is_sequence : std::false_type {};
template <std::size_t T, std::size_t F>
struct is_sequence<Sequence<T, F>> : std::true_type {};
template <class S>
struct is_vector : std::false_type {};
template <std::size_t N>
struct is_vector<Vector<N>> : std::true_type {};

template <class S>
inline constexpr bool is_image_v = is_image<S>::value;
template <class S>
inline constexpr bool is_sequence_v = is_sequence<S>::value;
template <class S>
inline constexpr bool is_vector_v = is_vector<S>::value;

/// Any of the three shapes.
template <class S>
concept Shape = is_image_v<S> || is_sequence_v<S> || is_vector_v<S>;

/// The channels of a shape, the values that share a per-channel parameter (BatchNorm's scale,
/// Concat's joined axis): an Image's C, a Sequence's features (per time step), a Vector's size.
template <class S>
constexpr std::size_t channels_of() {
  if constexpr (is_image_v<S>)
    return S::channels;
  else if constexpr (is_sequence_v<S>)
    return S::features;
  else
    return S::size;
}

namespace detail {
template <std::size_t... D>
struct input_shape {  // a wrong number of sizes, which Input reports
  using type = Vector<1>;
};
template <std::size_t H, std::size_t W, std::size_t C>
struct input_shape<H, W, C> {
  using type = Image<H, W, C>;
};
template <std::size_t T, std::size_t F>
struct input_shape<T, F> {
  using type = Sequence<T, F>;
};
template <std::size_t N>
struct input_shape<N> {
  using type = Vector<N>;
};
}  // namespace detail

/// The first element of a Sequential: `Input<H, W, C>` is an image, `Input<T, F>` a sequence,
/// `Input<N>` a vector.
/// Images are channels-last: a 28x28 grey image is Input<28, 28, 1> and a 32x32 RGB one
/// Input<32, 32, 3> (not PyTorch's Input<1, 28, 28>).
template <std::size_t... Dims>
struct Input {
  static constexpr bool valid_count = sizeof...(Dims) >= 1 && sizeof...(Dims) <= 3;
  static_assert(valid_count,
                "Input takes 3 sizes (image H, W, C), 2 (sequence T, F) or 1 (vector N)");
  static_assert(!valid_count || ((Dims > 0) && ...), "Input sizes must be positive");
  /// Whether the sizes make a shape (otherwise the assertions above say why).
  static constexpr bool valid = valid_count && ((Dims > 0) && ...);
  using shape = std::conditional_t<valid, typename detail::input_shape<Dims...>::type, Vector<1>>;
};

}  // namespace ctnn
