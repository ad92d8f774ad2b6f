// ctnn/kernels/softmax.hpp — the softmax of a vector, written once for the Softmax layer, the
// softmax cross-entropy loss and the examples' probabilities.
//
//   softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m),   m = max_j x_j
//
// Subtracting the largest value leaves the result unchanged (the factor exp(-m) cancels) and
// keeps every exp(x_i - m) in (0, 1], so that no exp overflows (Goodfellow, Bengio and Courville,
// "Deep Learning", 2016, section 4.1). The sum runs over i in order, in the type T of the output.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace ctnn::kernels {

/// The shift and the sum of a softmax: m = max_j x_j and sum_j exp(x_j - m).
template <class T>
struct SoftmaxSum {
  float max;
  T sum;
};

/// Writes e_i = exp(x_i - m) (computed in T) to y for the n >= 1 values of x and returns m and
/// the sum of the e_i (in T, in order): the softmax is e_i / sum, the log-sum-exp m + log(sum).
/// y may be x (T = float).
template <class T = float>
SoftmaxSum<T> exp_shifted(const float* x, T* y, std::size_t n) {
  const float m = *std::max_element(x, x + n);
  T s = 0;
  for (std::size_t i = 0; i < n; ++i)
    s += (y[i] = std::exp(static_cast<T>(x[i]) - static_cast<T>(m)));
  return {m, s};
}

/// y = softmax(x) over the n >= 1 values of x (y may be x): e_i times 1 / sum (exp_shifted).
inline void softmax(const float* x, float* y, std::size_t n) {
  const float inv = 1.0f / exp_shifted(x, y, n).sum;
  for (std::size_t i = 0; i < n; ++i) y[i] *= inv;
}

}  // namespace ctnn::kernels
