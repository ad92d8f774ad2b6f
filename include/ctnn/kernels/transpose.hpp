// ctnn/kernels/transpose.hpp — matrix transposition, for the backward passes that multiply by a
// transposed weight matrix (Dense, the recurrent layers).
#pragma once

#include <algorithm>
#include <cstddef>

namespace ctnn::kernels {

/// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols (strides in floats).
/// Works on 16 x 16 blocks, so that every cache line of src and of dst is touched once per block
/// instead of once per element along the strided side; a plain double loop over a 416 x 1024
/// matrix is several times slower.
inline void transpose(const float* src, std::size_t rows, std::size_t cols, std::size_t src_stride,
                      float* dst, std::size_t dst_stride) {
  constexpr std::size_t block = 16;
  for (std::size_t r0 = 0; r0 < rows; r0 += block) {
    const std::size_t r1 = std::min(rows, r0 + block);
    for (std::size_t c0 = 0; c0 < cols; c0 += block) {
      const std::size_t c1 = std::min(cols, c0 + block);
      for (std::size_t c = c0; c < c1; ++c)
        for (std::size_t r = r0; r < r1; ++r) dst[c * dst_stride + r] = src[r * src_stride + c];
    }
  }
}

}  // namespace ctnn::kernels
