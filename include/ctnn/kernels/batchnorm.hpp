// ctnn/kernels/batchnorm.hpp — the per-channel passes of batch normalisation (Ioffe & Szegedy
// 2015, "Batch Normalization", Algorithm 1 and the gradients of sec. 3) on rows x C data with
// the channels contiguous (a channels-last image batch is batch*H*W rows).
//
// Sums over rows are taken in float SIMD registers over blocks of `block_rows` rows and added
// into double totals per block, so that the statistics of a large batch lose no more than a
// float sum of block_rows values does.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "simd.hpp"

namespace ctnn::kernels {

namespace detail {
inline constexpr std::size_t block_rows = 64;

/// For every row r < rows and channel c < C: acc[c] += f(row r, channel c), with f given for a
/// vector of channels (vf(r, c0) -> simd) and a single channel (sf(r, c) -> float); acc is C
/// floats.
template <std::size_t C, class VF, class SF>
inline void accumulate_rows(std::size_t r0, std::size_t r1, float* acc, VF&& vf, SF&& sf) {
  constexpr std::size_t full = C / simd_width * simd_width;
  for (std::size_t c = 0; c < full; c += simd_width) {
    simd a = simd::load_unaligned(acc + c);
    for (std::size_t r = r0; r < r1; ++r) a += vf(r, c);
    a.store_unaligned(acc + c);
  }
  for (std::size_t c = full; c < C; ++c)
    for (std::size_t r = r0; r < r1; ++r) acc[c] += sf(r, c);
}

/// total[c] = sum over rows of f(r, c), block by block (see the header comment).
template <std::size_t C, class VF, class SF>
inline void sum_rows(std::size_t rows, double* total, VF&& vf, SF&& sf) {
  std::fill_n(total, C, 0.0);
  std::vector<float> acc(C);
  for (std::size_t r0 = 0; r0 < rows; r0 += block_rows) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    accumulate_rows<C>(r0, std::min(rows, r0 + block_rows), acc.data(), vf, sf);
    for (std::size_t c = 0; c < C; ++c) total[c] += acc[c];
  }
}

/// Calls vf(r, c0) for every row r < rows and vector of channels from c0, then sf(r, c) for
/// each channel of the tail.
template <std::size_t C, class VF, class SF>
inline void for_rows(std::size_t rows, VF&& vf, SF&& sf) {
  constexpr std::size_t full = C / simd_width * simd_width;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < full; c += simd_width) vf(r, c);
    for (std::size_t c = full; c < C; ++c) sf(r, c);
  }
}
}  // namespace detail

/// mean[c] and biased variance var[c] of x (rows x C) over the rows, in two passes (the mean,
/// then the mean squared deviation from it).
template <std::size_t C>
inline void batchnorm_statistics(const float* x, std::size_t rows, double* mean, double* var) {
  detail::sum_rows<C>(
      rows, mean, [&](std::size_t r, std::size_t c) { return simd::load_unaligned(x + r * C + c); },
      [&](std::size_t r, std::size_t c) { return x[r * C + c]; });
  std::vector<float> m(C);
  for (std::size_t c = 0; c < C; ++c) {
    mean[c] /= static_cast<double>(rows);
    m[c] = static_cast<float>(mean[c]);
  }
  detail::sum_rows<C>(
      rows, var,
      [&](std::size_t r, std::size_t c) {
        const simd d = simd::load_unaligned(x + r * C + c) - simd::load_unaligned(m.data() + c);
        return d * d;
      },
      [&](std::size_t r, std::size_t c) {
        const float d = x[r * C + c] - m[c];
        return d * d;
      });
  for (std::size_t c = 0; c < C; ++c) var[c] /= static_cast<double>(rows);
}

/// y[r, c] = (x[r, c] - mean[c]) * scale[c] + beta[c] (the normalisation and affine map of one
/// channel, scale = gamma / sqrt(var + eps)).
template <std::size_t C>
inline void batchnorm_apply(const float* x, std::size_t rows, const float* mean, const float* scale,
                            const float* beta, float* y) {
  detail::for_rows<C>(
      rows,
      [&](std::size_t r, std::size_t c) {
        const simd d = simd::load_unaligned(x + r * C + c) - simd::load_unaligned(mean + c);
        xsimd::fma(d, simd::load_unaligned(scale + c), simd::load_unaligned(beta + c))
            .store_unaligned(y + r * C + c);
      },
      [&](std::size_t r, std::size_t c) {
        y[r * C + c] = (x[r * C + c] - mean[c]) * scale[c] + beta[c];
      });
}

/// The sums of backward: sdy[c] = sum over rows of dy, sdyx[c] = sum of dy * xh with
/// xh = (x - mean[c]) * inv_std[c].
template <std::size_t C>
inline void batchnorm_backward_sums(const float* x, const float* dy, std::size_t rows,
                                    const float* mean, const float* inv_std, double* sdy,
                                    double* sdyx) {
  detail::sum_rows<C>(
      rows, sdy, [&](std::size_t r, std::size_t c) { return simd::load_unaligned(dy + r * C + c); },
      [&](std::size_t r, std::size_t c) { return dy[r * C + c]; });
  detail::sum_rows<C>(
      rows, sdyx,
      [&](std::size_t r, std::size_t c) {
        const simd xh = (simd::load_unaligned(x + r * C + c) - simd::load_unaligned(mean + c)) *
                        simd::load_unaligned(inv_std + c);
        return simd::load_unaligned(dy + r * C + c) * xh;
      },
      [&](std::size_t r, std::size_t c) {
        return dy[r * C + c] * ((x[r * C + c] - mean[c]) * inv_std[c]);
      });
}

/// dx of training mode, m = rows: dx = gamma inv_std / m (m dy - sdy - xh sdyx) with
/// xh = (x - mean) inv_std, computed as dx = alpha[c] dy + beta[c] (x - mean[c]) + delta[c]:
///   k = gamma inv_std / m,  alpha = k m,  beta = -k inv_std sdyx,  delta = -k sdy.
template <std::size_t C>
inline void batchnorm_backward_input(const float* x, const float* dy, std::size_t rows,
                                     const float* gamma, const float* mean, const float* inv_std,
                                     const double* sdy, const double* sdyx, float* dx) {
  std::vector<float> alpha(C), beta(C), delta(C);
  const double m = static_cast<double>(rows);
  for (std::size_t c = 0; c < C; ++c) {
    const double k = double(gamma[c]) * inv_std[c] / m;
    alpha[c] = static_cast<float>(k * m);
    beta[c] = static_cast<float>(-k * inv_std[c] * sdyx[c]);
    delta[c] = static_cast<float>(-k * sdy[c]);
  }
  detail::for_rows<C>(
      rows,
      [&](std::size_t r, std::size_t c) {
        const std::size_t i = r * C + c;
        const simd d = simd::load_unaligned(x + i) - simd::load_unaligned(mean + c);
        const simd t = xsimd::fma(simd::load_unaligned(beta.data() + c), d,
                                  simd::load_unaligned(delta.data() + c));
        xsimd::fma(simd::load_unaligned(alpha.data() + c), simd::load_unaligned(dy + i), t)
            .store_unaligned(dx + i);
      },
      [&](std::size_t r, std::size_t c) {
        const std::size_t i = r * C + c;
        dx[i] = alpha[c] * dy[i] + (beta[c] * (x[i] - mean[c]) + delta[c]);
      });
}

/// dx = dy * scale[c] (inference mode: the statistics are constants).
template <std::size_t C>
inline void batchnorm_backward_input_frozen(const float* dy, std::size_t rows, const float* scale,
                                            float* dx) {
  detail::for_rows<C>(
      rows,
      [&](std::size_t r, std::size_t c) {
        (simd::load_unaligned(dy + r * C + c) * simd::load_unaligned(scale + c))
            .store_unaligned(dx + r * C + c);
      },
      [&](std::size_t r, std::size_t c) { dx[r * C + c] = dy[r * C + c] * scale[c]; });
}

}  // namespace ctnn::kernels
