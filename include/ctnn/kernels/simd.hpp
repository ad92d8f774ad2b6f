// ctnn/kernels/simd.hpp — the SIMD vocabulary every kernel shares.
//
// xsimd chooses the instruction set from the compiler flags (-march=native, -march=x86-64-v3,
// ...). `simd` is one register of floats; `simd_width` its lane count (16 with AVX-512, 8 with
// AVX2, 4 with SSE2); `simd_registers` how many such registers the target has.
#pragma once

#include <cstddef>
#include <utility>
#include <xsimd/xsimd.hpp>

namespace ctnn::kernels {

using simd = xsimd::batch<float>;
inline constexpr std::size_t simd_width = simd::size;
#if defined(__AVX512F__)
inline constexpr std::size_t simd_registers = 32;
#else
inline constexpr std::size_t simd_registers = 16;
#endif

/// Lane-wise maximum. (Written as a compare and blend: GCC 12 warns about xsimd::max's AVX-512
/// intrinsic, whose pass-through operand is deliberately undefined.)
inline simd vmax(simd a, simd b) {
  return xsimd::select(a > b, a, b);
}

/// Calls f(std::integral_constant<std::size_t, I>{}) for I = 0 .. N-1, unrolled at compile time.
template <std::size_t N, class F>
inline void static_for(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::integral_constant<std::size_t, I>{}), ...);
  }
  (std::make_index_sequence<N>{});
}

/// y[i] = vf(x[i]) for i < n, vectorised, with a scalar tail (`sf`); x and y may alias.
template <class VF, class SF>
inline void map(std::size_t n, const float* x, float* y, VF&& vf, SF&& sf) {
  const std::size_t full = n / simd_width * simd_width;
  for (std::size_t i = 0; i < full; i += simd_width)
    vf(simd::load_unaligned(x + i)).store_unaligned(y + i);
  for (std::size_t i = full; i < n; ++i) y[i] = sf(x[i]);
}

/// z[i] = vf(x[i], y[i]) for i < n; z may alias x or y.
template <class VF, class SF>
inline void zip(std::size_t n, const float* x, const float* y, float* z, VF&& vf, SF&& sf) {
  const std::size_t full = n / simd_width * simd_width;
  for (std::size_t i = 0; i < full; i += simd_width)
    vf(simd::load_unaligned(x + i), simd::load_unaligned(y + i)).store_unaligned(z + i);
  for (std::size_t i = full; i < n; ++i) z[i] = sf(x[i], y[i]);
}

}  // namespace ctnn::kernels
