// ctnn/kernels/elementwise.hpp — element-wise sums and ReLU over flat float arrays, and column
// sums of a row-major matrix (bias gradients). No alignment is required.
#pragma once

#include <algorithm>
#include <cstddef>

#include "simd.hpp"

namespace ctnn::kernels {

/// out[i] = a[i] + b[i] for i < n (out may be a or b).
inline void add(const float* a, const float* b, float* out, std::size_t n) {
  zip(
      n, a, b, out, [](simd x, simd y) { return x + y; }, [](float x, float y) { return x + y; });
}
/// x[i] += y[i] for i < n.
inline void add_into(float* x, const float* y, std::size_t n) {
  add(x, y, x, n);
}
/// x[i] = max(x[i], 0) for i < n.
inline void relu_in_place(float* x, std::size_t n) {
  zip(
      n, x, x, x, [](simd a, simd) { return vmax(a, simd(0.0f)); },
      [](float a, float) { return std::max(a, 0.0f); });
}

/// Column sums of a rows x N row-major matrix: acc[n] += sum over rows r of x[r * N + n].
template <std::size_t N>
inline void add_column_sums(const float* x, std::size_t rows, float* acc) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t n = 0; n < N; ++n) acc[n] += x[r * N + n];
}

}  // namespace ctnn::kernels
