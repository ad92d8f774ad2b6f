// ctnn/kernels/conv2d.hpp — direct 2-D convolution on channels-last data, forward and backward.
//
// Shapes (one sample): input H x W x C, weights K x K x C x F ([kh][kw][c][f], "HWIO"),
// output OH x OW x F with OH = (H - K) / S + 1, OW = (W - K) / S + 1 (valid convolution; the
// Conv2D layer pads its input for "same"). As in every deep-learning library the operation is a
// cross-correlation:
//   out[oh, ow, f] = bias[f] + sum_{kh, kw, c} in[oh*S + kh, ow*S + kw, c] * w[kh, kw, c, f]
// Each output row is one gemm: rows = the OW output pixels, columns = the F filters, reduction =
// (kh) x (kw, c), where (kw, c) is contiguous in both the input row and the weights.
#pragma once

#include <algorithm>
#include <cstddef>

#include "gemm.hpp"
#include "pool2d.hpp"

namespace ctnn::kernels {

/// Output size of a valid convolution along one axis.
template <std::size_t N, std::size_t K, std::size_t S>
inline constexpr std::size_t conv_out = (N - K) / S + 1;

/// The forward convolution as a product (gemm.hpp): row p of A is output pixel p of a row
/// (S input pixels apart), k1 the kernel row (an input row further), k2 = (kernel column, input
/// channel), contiguous in the input row and in the weights; the columns are the F filters.
template <std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S>
constexpr Strides conv2d_forward_strides() {
  return {.a_row = S * C,
          .a_k1 = W * C,
          .a_k2 = 1,
          .b_k1 = K * C * F,
          .b_k2 = F,
          .c_row = F,
          .k2_count = K * C};
}

/// out (batch x OH x OW x F) = conv(in (batch x H x W x C), w) started from x.bias (F floats),
/// with the epilogue E (gemm.hpp: affine, * x.scale + x.shift per filter; add, + x.addend, a
/// batch x OH x OW x F tensor; relu, max(., 0)).
template <std::size_t H, std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S,
          Epilogue E>
inline void conv2d_forward_fused(const float* in, const float* w, const Extras& x, float* out,
                                 std::size_t batch) {
  constexpr std::size_t OH = conv_out<H, K, S>, OW = conv_out<W, K, S>;
  constexpr Strides St = conv2d_forward_strides<W, C, F, K, S>();
  // The OH x OW output pixels of a sample as one product, tiles spanning image rows: pixel q
  // reads the input from row (q / OW) * S, column (q % OW) * S on.
  for (std::size_t b = 0; b < batch; ++b) {
    const float* xb = in + b * H * W * C;
    const std::size_t o = b * OH * OW * F;
    gemm_gathered<St, OH * OW, F, K, Start::bias, E>(
        [xb](std::size_t q) { return xb + (q / OW * S * W + q % OW * S) * C; }, w, out + o,
        x.rows(o));
  }
}

/// out (batch x OH x OW x F) = bias + conv(in (batch x H x W x C), w); with Relu, max(., 0) of it.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S,
          bool Relu = false>
inline void conv2d_forward(const float* in, const float* w, const float* bias, float* out,
                           std::size_t batch) {
  conv2d_forward_fused<H, W, C, F, K, S, Epilogue{.relu = Relu}>(in, w, {.bias = bias}, out, batch);
}

/// out (batch x PH x PW x F) = maxpool_P(relu(bias + conv(in, w))) with a P x P window and
/// stride P (PH = OH / P, PW = OW / P): the convolution, ReLU and max pooling of inference in
/// one pass. P rows of the convolution at a time go to `rows` (P x OW x F floats) and are pooled
/// from there while still in cache, instead of writing the whole OH x OW x F map and reading it
/// back. The result equals conv2d_forward<..., true> followed by maxpool2d_forward bit for bit.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S,
          std::size_t P>
inline void conv2d_forward_relu_maxpool(const float* in, const float* w, const float* bias,
                                        float* out, float* rows, std::size_t batch) {
  constexpr std::size_t OH = conv_out<H, K, S>, OW = conv_out<W, K, S>;
  constexpr std::size_t PH = conv_out<OH, P, P>, PW = conv_out<OW, P, P>;
  constexpr Strides St = conv2d_forward_strides<W, C, F, K, S>();
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t ph = 0; ph < PH; ++ph) {
      for (std::size_t i = 0; i < P; ++i)
        gemm_fixed_rows<St, OW, F, Start::bias, Epilogue{.relu = true}>(
            in + (b * H + (ph * P + i) * S) * W * C, w, rows + i * OW * F, {.bias = bias}, K);
      maxpool2d_forward<P, OW, F, P, P>(rows, out + (b * PH + ph) * PW * F, 1);
    }
}

/// dw (K x K x C x F) += sum over the batch and output pixels of in x dout;
/// dbias (F) += sum of dout over the batch and output pixels.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S>
inline void conv2d_backward_weights(const float* in, const float* dout, float* dw, float* dbias,
                                    std::size_t batch) {
  constexpr std::size_t OH = conv_out<H, K, S>, OW = conv_out<W, K, S>;
  // dw[kh, kw, c, f] = sum_{oh, ow} in[oh*S + kh, ow*S + kw, c] * dout[oh, ow, f]:
  // rows = c (stride 1), reduction = (oh) x (ow), columns = f.
  constexpr Strides St{.a_row = 1,
                       .a_k1 = S * W * C,
                       .a_k2 = S * C,
                       .b_k1 = OW * F,
                       .b_k2 = F,
                       .c_row = F,
                       .k2_count = OW};
  for (std::size_t b = 0; b < batch; ++b) {
    const float* x = in + b * H * W * C;
    const float* g = dout + b * OH * OW * F;
    for (std::size_t kh = 0; kh < K; ++kh)
      for (std::size_t kw = 0; kw < K; ++kw)
        gemm_fixed_rows<St, C, F, Start::accumulate>(x + (kh * W + kw) * C, g,
                                                     dw + (kh * K + kw) * C * F, {}, OH);
  }
  for (std::size_t r = 0; r < batch * OH * OW; ++r)
    zip(
        F, dbias, dout + r * F, dbias, [](simd a, simd b) { return a + b; },
        [](float a, float b) { return a + b; });
}

/// Workspace floats conv2d_backward_input needs.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S>
inline constexpr std::size_t conv2d_backward_input_scratch =
    K* K* F* C +
    ((conv_out<H, K, S> - 1) * S + 2 * K - 1) * ((conv_out<W, K, S> - 1) * S + 2 * K - 1) * F;

/// din (batch x H x W x C) = dL/din given dout (batch x OH x OW x F).
/// It is the full convolution of dout (dilated by S) with the weights flipped in space and
/// transposed in channels, computed as a valid convolution over a zero-padded copy of dout:
///   din[ih, iw, c] = sum_{kh, kw, f} dpad[ih + kh, iw + kw, f] * wt[kh, kw, f, c],
///   wt[kh, kw, f, c] = w[K-1-kh, K-1-kw, c, f].
/// Input rows and columns that no output reads (when (H - K) % S != 0) get zero gradient.
/// scratch: conv2d_backward_input_scratch<...> floats.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S>
inline void conv2d_backward_input(const float* dout, const float* w, float* din, float* scratch,
                                  std::size_t batch) {
  constexpr std::size_t OH = conv_out<H, K, S>, OW = conv_out<W, K, S>;
  constexpr std::size_t HR = (OH - 1) * S + K, WR = (OW - 1) * S + K;  // rows/cols reached
  constexpr std::size_t HD = HR + K - 1, WD = WR + K - 1;              // padded dout
  float* wt = scratch;
  float* dpad = scratch + K * K * F * C;
  for (std::size_t kh = 0; kh < K; ++kh)
    for (std::size_t kw = 0; kw < K; ++kw)
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t f = 0; f < F; ++f)
          wt[((kh * K + kw) * F + f) * C + c] =
              w[(((K - 1 - kh) * K + (K - 1 - kw)) * C + c) * F + f];
  std::fill(dpad, dpad + HD * WD * F, 0.0f);
  // Row q of A is input pixel q of dpad; k1 = kernel row, k2 = (kernel column, filter).
  constexpr Strides St{.a_row = F,
                       .a_k1 = WD * F,
                       .a_k2 = 1,
                       .b_k1 = K * F * C,
                       .b_k2 = C,
                       .c_row = C,
                       .k2_count = K * F};
  for (std::size_t b = 0; b < batch; ++b) {
    const float* g = dout + b * OH * OW * F;
    for (std::size_t oh = 0; oh < OH; ++oh)
      for (std::size_t ow = 0; ow < OW; ++ow)
        std::copy_n(g + (oh * OW + ow) * F, F, dpad + ((K - 1 + oh * S) * WD + K - 1 + ow * S) * F);
    float* d = din + b * H * W * C;
    if constexpr (WR == W) {  // every column reached: the HR x W pixels as one product
      gemm_gathered<St, HR * W, C, K, Start::zero>(
          [dpad](std::size_t q) { return dpad + (q / W * WD + q % W) * F; }, wt, d, {});
    } else {
      for (std::size_t ih = 0; ih < HR; ++ih) {
        gemm_fixed_rows<St, WR, C, Start::zero>(dpad + ih * WD * F, wt, d + ih * W * C, {}, K);
        std::fill(d + (ih * W + WR) * C, d + (ih + 1) * W * C, 0.0f);
      }
    }
    std::fill(d + HR * W * C, d + H * W * C, 0.0f);
  }
}

}  // namespace ctnn::kernels
