// ctnn/kernels/pool2d.hpp — max and average pooling on channels-last images.
//
// Input H x W x C, window P x P, stride S, output OH x OW x C with OH = (H - P) / S + 1 (windows
// that do not fit are dropped, as Keras' "valid" and PyTorch's default; the pooling layers pad
// their input with pad2d first for explicit padding). Vectorised over the channels, which are
// contiguous; the channel tail is scalar.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>

#include "simd.hpp"

namespace ctnn::kernels {

namespace detail {
/// Calls f(offset, lanes) for channel blocks of simd_width and then the scalar tail of width 1.
template <std::size_t C, class VF, class SF>
inline void for_channels(VF&& vf, SF&& sf) {
  constexpr std::size_t full = C / simd_width * simd_width;
  for (std::size_t c = 0; c < full; c += simd_width) vf(c);
  for (std::size_t c = full; c < C; ++c) sf(c);
}
}  // namespace detail

/// out (batch x (Top + H + Bottom) x (Left + W + Right) x C) = in (batch x H x W x C) with
/// Top rows above, Bottom rows below, Left and Right columns beside it set to `value` (zero for
/// a convolution or an average, -infinity for a maximum): the input of a padded layer.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t Top, std::size_t Bottom,
          std::size_t Left, std::size_t Right>
inline void pad2d(const float* in, float* out, std::size_t batch, float value) {
  constexpr std::size_t HP = Top + H + Bottom, WP = Left + W + Right;
  // Only the border is filled: the rest is overwritten by the copy.
  for (std::size_t b = 0; b < batch; ++b) {
    float* xb = out + b * HP * WP * C;
    std::fill(xb, xb + Top * WP * C, value);
    for (std::size_t h = 0; h < H; ++h) {
      float* row = xb + (h + Top) * WP * C;
      std::fill(row, row + Left * C, value);
      std::copy_n(in + (b * H + h) * W * C, W * C, row + Left * C);
      std::fill(row + (Left + W) * C, row + WP * C, value);
    }
    std::fill(xb + (Top + H) * WP * C, xb + HP * WP * C, value);
  }
}

/// out (H x W x C) = the H x W interior of one padded sample `padded` (pad2d's layout), e.g. the
/// gradient of a padded layer's input without the pads'.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t Top, std::size_t Left,
          std::size_t WP>
inline void unpad2d(const float* padded, float* out) {
  for (std::size_t h = 0; h < H; ++h)
    std::copy_n(padded + ((h + Top) * WP + Left) * C, W * C, out + h * W * C);
}

/// out[oh, ow, c] = max over the window of in[oh*S + i, ow*S + j, c].
template <std::size_t H, std::size_t W, std::size_t C, std::size_t P, std::size_t S>
inline void maxpool2d_forward(const float* in, float* out, std::size_t batch) {
  constexpr std::size_t OH = (H - P) / S + 1, OW = (W - P) / S + 1;
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t oh = 0; oh < OH; ++oh)
      for (std::size_t ow = 0; ow < OW; ++ow) {
        const float* x = in + ((b * H + oh * S) * W + ow * S) * C;
        float* y = out + ((b * OH + oh) * OW + ow) * C;
        detail::for_channels<C>(
            [&](std::size_t c) {
              simd m = simd::load_unaligned(x + c);
              for (std::size_t i = 0; i < P; ++i)
                for (std::size_t j = 0; j < P; ++j)
                  m = vmax(m, simd::load_unaligned(x + (i * W + j) * C + c));
              m.store_unaligned(y + c);
            },
            [&](std::size_t c) {
              float m = x[c];
              for (std::size_t i = 0; i < P; ++i)
                for (std::size_t j = 0; j < P; ++j) m = std::max(m, x[(i * W + j) * C + c]);
              y[c] = m;
            });
      }
}

/// din = dL/din: each output's gradient goes to the first position (row-major in the window)
/// holding the window's maximum; din is overwritten.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t P, std::size_t S>
inline void maxpool2d_backward(const float* in, const float* out, const float* dout, float* din,
                               std::size_t batch) {
  constexpr std::size_t OH = (H - P) / S + 1, OW = (W - P) / S + 1;
  std::fill(din, din + batch * H * W * C, 0.0f);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t oh = 0; oh < OH; ++oh)
      for (std::size_t ow = 0; ow < OW; ++ow) {
        const std::size_t base = ((b * H + oh * S) * W + ow * S) * C;
        const std::size_t o = ((b * OH + oh) * OW + ow) * C;
        detail::for_channels<C>(
            [&](std::size_t c) {
              const simd m = simd::load_unaligned(out + o + c);
              const simd g = simd::load_unaligned(dout + o + c);
              auto open = m == m;  // lanes whose maximum is not yet routed (all true)
              for (std::size_t i = 0; i < P; ++i)
                for (std::size_t j = 0; j < P; ++j) {
                  const std::size_t k = base + (i * W + j) * C + c;
                  const auto hit = open && (simd::load_unaligned(in + k) == m);
                  const simd d = simd::load_unaligned(din + k) + xsimd::select(hit, g, simd(0.0f));
                  d.store_unaligned(din + k);
                  open = open && !hit;
                }
            },
            [&](std::size_t c) {
              for (std::size_t i = 0; i < P; ++i)
                for (std::size_t j = 0; j < P; ++j) {
                  const std::size_t k = base + (i * W + j) * C + c;
                  if (in[k] == out[o + c]) {
                    din[k] += dout[o + c];
                    return;
                  }
                }
            });
      }
}

/// out[oh, ow, c] = mean over the window of in[oh*S + i, ow*S + j, c].
template <std::size_t H, std::size_t W, std::size_t C, std::size_t P, std::size_t S>
inline void avgpool2d_forward(const float* in, float* out, std::size_t batch) {
  constexpr std::size_t OH = (H - P) / S + 1, OW = (W - P) / S + 1;
  constexpr float scale = 1.0f / static_cast<float>(P * P);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t oh = 0; oh < OH; ++oh)
      for (std::size_t ow = 0; ow < OW; ++ow) {
        const float* x = in + ((b * H + oh * S) * W + ow * S) * C;
        float* y = out + ((b * OH + oh) * OW + ow) * C;
        detail::for_channels<C>(
            [&](std::size_t c) {
              simd s(0.0f);
              for (std::size_t i = 0; i < P; ++i)
                for (std::size_t j = 0; j < P; ++j)
                  s += simd::load_unaligned(x + (i * W + j) * C + c);
              (s * simd(scale)).store_unaligned(y + c);
            },
            [&](std::size_t c) {
              float s = 0;
              for (std::size_t i = 0; i < P; ++i)
                for (std::size_t j = 0; j < P; ++j) s += x[(i * W + j) * C + c];
              y[c] = s * scale;
            });
      }
}

/// din[window of (oh, ow)] += dout[oh, ow] / (P * P); din is overwritten first.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t P, std::size_t S>
inline void avgpool2d_backward(const float* dout, float* din, std::size_t batch) {
  constexpr std::size_t OH = (H - P) / S + 1, OW = (W - P) / S + 1;
  constexpr float scale = 1.0f / static_cast<float>(P * P);
  std::fill(din, din + batch * H * W * C, 0.0f);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t oh = 0; oh < OH; ++oh)
      for (std::size_t ow = 0; ow < OW; ++ow) {
        float* x = din + ((b * H + oh * S) * W + ow * S) * C;
        const float* g = dout + ((b * OH + oh) * OW + ow) * C;
        detail::for_channels<C>(
            [&](std::size_t c) {
              const simd d = simd::load_unaligned(g + c) * simd(scale);
              for (std::size_t i = 0; i < P; ++i)
                for (std::size_t j = 0; j < P; ++j) {
                  float* t = x + (i * W + j) * C + c;
                  (simd::load_unaligned(t) + d).store_unaligned(t);
                }
            },
            [&](std::size_t c) {
              for (std::size_t i = 0; i < P; ++i)
                for (std::size_t j = 0; j < P; ++j) x[(i * W + j) * C + c] += g[c] * scale;
            });
      }
}

}  // namespace ctnn::kernels
