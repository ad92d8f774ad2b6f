// Plain scalar references and helpers the tests compare the kernels and layers against.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace ctnn_test {

/// n floats uniform in [lo, hi) from a fixed seed.
inline std::vector<float> random_vector(std::size_t n, std::uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>(gen() >> 8) * (1.0f / 16777216.0f);
  return v;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

/// Valid 2-D convolution (cross-correlation, as in every deep-learning library), NHWC input,
/// weights [kh][kw][c][f], output NHWC: out[b,oh,ow,f] = bias[f] +
/// sum_{kh,kw,c} in[b, oh*S+kh, ow*S+kw, c] * w[kh,kw,c,f].
inline std::vector<float> conv2d_valid(const std::vector<float>& in, const std::vector<float>& w,
                                       const std::vector<float>& bias, std::size_t batch,
                                       std::size_t H, std::size_t W, std::size_t C, std::size_t F,
                                       std::size_t K, std::size_t S) {
  const std::size_t OH = (H - K) / S + 1, OW = (W - K) / S + 1;
  std::vector<float> out(batch * OH * OW * F);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t oh = 0; oh < OH; ++oh)
      for (std::size_t ow = 0; ow < OW; ++ow)
        for (std::size_t f = 0; f < F; ++f) {
          double s = bias[f];
          for (std::size_t kh = 0; kh < K; ++kh)
            for (std::size_t kw = 0; kw < K; ++kw)
              for (std::size_t c = 0; c < C; ++c)
                s += double(in[((b * H + oh * S + kh) * W + ow * S + kw) * C + c]) *
                     w[((kh * K + kw) * C + c) * F + f];
          out[((b * OH + oh) * OW + ow) * F + f] = float(s);
        }
  return out;
}

}  // namespace ctnn_test
