// ctnn/layers/padding.hpp — how Conv2D, MaxPool2D and AvgPool2D treat the image border.
//
// A padding is a value of the class type ctnn::Padding given as a template argument:
//   ctnn::Valid                    no padding: only windows that fit inside the image
//   ctnn::Same                     Conv2D only: TensorFlow's "SAME", out = ceil(in / stride), the
//                                  odd padding row (column) at the bottom (right)
//   ctnn::Pad<P>                   P rows/columns on all four sides: PyTorch's padding=P
//   ctnn::Pad<PH, PW>              PH rows at top and bottom, PW columns at left and right:
//                                  PyTorch's padding=(PH, PW)
//   ctnn::Pad<Top, Bottom, Left, Right>   asymmetric, as ONNX's pads (x1_begin, x2_begin,
//                                  x1_end, x2_end) = (Top, Left, Bottom, Right) state them
// With explicit pads a window of size K and stride S over an axis of N gives
//   out = floor((N + pad_before + pad_after - K) / S) + 1
// (the formula of PyTorch's nn.Conv2d and nn.MaxPool2d documentation, dilation 1). Conv2D and
// AvgPool2D read zeros in the pads, MaxPool2D -infinity (layers/conv2d.hpp, layers/pooling.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <string>

namespace ctnn {

/// The border handling of a layer: a structural class type, usable as a template argument.
/// Padding::valid and Padding::same (also spelled ctnn::Valid and ctnn::Same) hold no pads;
/// an explicit padding (kind pads, written ctnn::Pad<...>) holds its four. Two paddings are
/// equal when kind and pads are; Pad<0> is Padding::valid.
struct Padding {
  enum class Kind : unsigned char { valid, same, pads };
  Kind kind = Kind::valid;
  std::size_t top = 0, bottom = 0, left = 0, right = 0;

  static const Padding valid;
  static const Padding same;

  friend constexpr bool operator==(const Padding&, const Padding&) = default;
};
inline constexpr Padding Padding::valid{};
inline constexpr Padding Padding::same{Padding::Kind::same};

inline constexpr Padding Valid = Padding::valid;
inline constexpr Padding Same = Padding::same;

namespace detail {
constexpr Padding explicit_pads(std::size_t top, std::size_t bottom, std::size_t left,
                                std::size_t right) {
  if (top == 0 && bottom == 0 && left == 0 && right == 0) return Padding::valid;
  return {Padding::Kind::pads, top, bottom, left, right};
}

template <std::size_t... P>
consteval Padding make_pad() {
  constexpr std::size_t n = sizeof...(P);
  static_assert(n == 1 || n == 2 || n == 4,
                "ctnn::Pad takes 1, 2 or 4 values: Pad<P> (P on all four sides, PyTorch's "
                "padding=P), Pad<PH, PW> (PyTorch's padding=(PH, PW)) or Pad<Top, Bottom, Left, "
                "Right>");
  constexpr std::array<std::size_t, n> a{P...};
  if constexpr (n == 1)
    return explicit_pads(a[0], a[0], a[0], a[0]);
  else if constexpr (n == 2)
    return explicit_pads(a[0], a[0], a[1], a[1]);
  else if constexpr (n == 4)
    return explicit_pads(a[0], a[1], a[2], a[3]);
  else
    return Padding::valid;
}
}  // namespace detail

/// Explicit zero padding: Pad<P>, Pad<PH, PW> or Pad<Top, Bottom, Left, Right> (rows above and
/// below, columns left and right of the image). All zero is Padding::valid.
template <std::size_t... P>
inline constexpr Padding Pad = detail::make_pad<P...>();

/// The pads a layer with padding `p`, window K and stride S applies to an H x W image:
/// Padding::same's total per axis is max((ceil(N / S) - 1) * S + K - N, 0), its smaller half
/// before (top, left) and the rest after (TensorFlow's rule); valid has none.
struct Pads {
  std::size_t top = 0, bottom = 0, left = 0, right = 0;
};
constexpr Pads pads_of(Padding p, std::size_t H, std::size_t W, std::size_t K, std::size_t S) {
  if (p.kind == Padding::Kind::pads) return {p.top, p.bottom, p.left, p.right};
  if (p.kind == Padding::Kind::valid) return {};
  const auto total = [&](std::size_t n) {
    const std::size_t reach = ((n + S - 1) / S - 1) * S + K;
    return reach > n ? reach - n : 0;
  };
  const std::size_t th = total(H), tw = total(W);
  return {th / 2, th - th / 2, tw / 2, tw - tw / 2};
}

/// The padding's name in layer signatures: "valid", "same" or "pad(T,B,L,R)".
inline std::string padding_name(Padding p) {
  if (p.kind == Padding::Kind::valid) return "valid";
  if (p.kind == Padding::Kind::same) return "same";
  return "pad(" + std::to_string(p.top) + "," + std::to_string(p.bottom) + "," +
         std::to_string(p.left) + "," + std::to_string(p.right) + ")";
}

}  // namespace ctnn
