// ctnn/kernels/gemm.hpp — the register-blocked product behind Dense and Conv2D.
//
// One micro-kernel serves every matrix product of the library. It computes
//
//   C(p, n) (+)= sum over (k1, k2) of A(p, k1, k2) * B(k1, k2, n)      p < rows, n < N
//
// with the operands addressed by compile-time strides (floats):
//   A(p, k1, k2) = a[p * AP + k1 * A1 + k2 * A2]
//   B(k1, k2, n) = b[k1 * B1 + k2 * B2 + n]          (n contiguous)
//   C(p, n)      = c[p * CP + n]                     (n contiguous)
// The reduction runs over two nested loops: k1 < k1_count (the outer one, often a kernel row or
// a batch), k2 < K2 (compile time). Two levels are enough to express a direct convolution on
// channels-last data (k1 = kernel row, k2 = (kernel column, input channel), contiguous in both
// operands), its weight gradient (k1 = output row, k2 = output column) and a plain GEMM (k1 = 1).
//
// Blocking: a tile of P rows x NV SIMD registers of columns stays in registers for the whole
// reduction; per k step it loads NV vectors of B and broadcasts P scalars of A. P and NV are
// chosen at compile time from the register count; column tails (N % simd_width) run a scalar
// tile and row tails a smaller tile, both resolved at compile time.
#pragma once

#include <algorithm>
#include <cstddef>

#include "simd.hpp"

namespace ctnn::kernels {

/// What a tile starts from: zero, the current contents of C (accumulate), or a bias row
/// (C(p, n) = bias[n] + ...); bias_relu also applies max(., 0) as the tile is stored (the
/// epilogue of a layer followed by ReLU).
enum class Init { zero, accumulate, bias, bias_relu };

/// Whether a tile starting as I reads the bias row.
constexpr bool reads_bias(Init i) { return i == Init::bias || i == Init::bias_relu; }

/// Compile-time addressing of A, B and C; see the header comment.
template <std::size_t AP_, std::size_t A1_, std::size_t A2_, std::size_t B1_, std::size_t B2_,
          std::size_t K2_, std::size_t CP_>
struct Strides {
  static constexpr std::size_t AP = AP_, A1 = A1_, A2 = A2_, B1 = B1_, B2 = B2_, K2 = K2_,
                               CP = CP_;
};

namespace detail {

/// Rows per tile for a tile NV registers wide: all accumulators, the NV loaded B vectors and a
/// broadcast register must fit in the register file.
template <std::size_t NV>
inline constexpr std::size_t tile_rows = std::min<std::size_t>(12, (simd_registers - NV - 1) / NV);

/// Widest tile in registers: 4 with 32 registers (AVX-512), 2 with 16 (AVX2, SSE).
inline constexpr std::size_t max_tile_vectors = simd_registers >= 32 ? 4 : 2;

// A tile is never inlined into its caller: inlined into a large function (a whole network's
// forward), GCC may keep the accumulators on the stack, which triples the time of a conv.
template <class S, std::size_t P, std::size_t NV, Init I>
[[gnu::noinline]] void tile(const float* a, const float* b, float* c, const float* bias,
                            std::size_t k1_count) {
  simd acc[P][NV];
  static_for<P>([&](auto p) {
    static_for<NV>([&](auto v) {
      if constexpr (I == Init::zero)
        acc[p][v] = simd(0.0f);
      else if constexpr (I == Init::accumulate)
        acc[p][v] = simd::load_unaligned(c + p * S::CP + v * simd_width);
      else
        acc[p][v] = simd::load_unaligned(bias + v * simd_width);
    });
  });
  for (std::size_t k1 = 0; k1 < k1_count; ++k1) {
    const float* ak = a + k1 * S::A1;
    const float* bk = b + k1 * S::B1;
    for (std::size_t k2 = 0; k2 < S::K2; ++k2) {
      simd bv[NV];
      static_for<NV>([&](auto v) { bv[v] = simd::load_unaligned(bk + k2 * S::B2 + v * simd_width); });
      static_for<P>([&](auto p) {
        const simd av(ak[p * S::AP + k2 * S::A2]);
        static_for<NV>([&](auto v) { acc[p][v] = xsimd::fma(av, bv[v], acc[p][v]); });
      });
    }
  }
  static_for<P>([&](auto p) {
    static_for<NV>([&](auto v) {
      if constexpr (I == Init::bias_relu) acc[p][v] = vmax(acc[p][v], simd(0.0f));
      acc[p][v].store_unaligned(c + p * S::CP + v * simd_width);
    });
  });
}

/// Columns that do not fill a SIMD register: NT < simd_width of them, scalar accumulators.
template <class S, std::size_t P, std::size_t NT, Init I>
inline void tile_scalar(const float* a, const float* b, float* c, const float* bias,
                        std::size_t k1_count) {
  alignas(64) float acc[P][NT];
  for (std::size_t p = 0; p < P; ++p)
    for (std::size_t n = 0; n < NT; ++n)
      acc[p][n] = I == Init::zero ? 0.0f : I == Init::accumulate ? c[p * S::CP + n] : bias[n];
  for (std::size_t k1 = 0; k1 < k1_count; ++k1) {
    const float* ak = a + k1 * S::A1;
    const float* bk = b + k1 * S::B1;
    for (std::size_t k2 = 0; k2 < S::K2; ++k2)
      for (std::size_t p = 0; p < P; ++p)
        for (std::size_t n = 0; n < NT; ++n)
          acc[p][n] += ak[p * S::AP + k2 * S::A2] * bk[k2 * S::B2 + n];
  }
  for (std::size_t p = 0; p < P; ++p)
    for (std::size_t n = 0; n < NT; ++n)
      c[p * S::CP + n] = I == Init::bias_relu ? std::max(acc[p][n], 0.0f) : acc[p][n];
}

/// One tile of P rows over the columns [N0, N0 + width), width = NV registers, or the scalar
/// tail when NV == 0.
template <class S, std::size_t P, std::size_t N0, std::size_t NV, std::size_t NT, Init I>
inline void tile_at(const float* a, const float* b, float* c, const float* bias,
                    std::size_t k1_count) {
  if constexpr (NV > 0)
    tile<S, P, NV, I>(a, b + N0, c + N0, bias + (reads_bias(I) ? N0 : 0), k1_count);
  else
    tile_scalar<S, P, NT, I>(a, b + N0, c + N0, bias + (reads_bias(I) ? N0 : 0), k1_count);
}

/// All column blocks of one row block of P rows.
template <class S, std::size_t N, std::size_t P, Init I>
inline void row_block(const float* a, const float* b, float* c, const float* bias,
                      std::size_t k1_count) {
  constexpr std::size_t vectors = N / simd_width;
  constexpr std::size_t wide = max_tile_vectors;
  for (std::size_t v0 = 0; v0 + wide <= vectors; v0 += wide)
    tile<S, P, wide, I>(a, b + v0 * simd_width, c + v0 * simd_width,
                        bias + (reads_bias(I) ? v0 * simd_width : 0), k1_count);
  constexpr std::size_t rest = vectors % wide;
  if constexpr (rest > 0)
    tile_at<S, P, (vectors - rest) * simd_width, rest, 0, I>(a, b, c, bias, k1_count);
  if constexpr (N % simd_width > 0)
    tile_at<S, P, vectors * simd_width, 0, N % simd_width, I>(a, b, c, bias, k1_count);
}

/// Rows per tile for a product N columns wide: sized for the widest tile it uses.
template <std::size_t N>
inline constexpr std::size_t rows_for =
    tile_rows<std::max<std::size_t>(1, std::min(max_tile_vectors, N / simd_width))>;

template <class S, std::size_t N, Init I, std::size_t R>
inline void row_tail(const float* a, const float* b, float* c, const float* bias,
                     std::size_t rows, std::size_t k1_count) {
  if constexpr (R > 0) {
    if (rows == R)
      row_block<S, N, R, I>(a, b, c, bias, k1_count);
    else
      row_tail<S, N, I, R - 1>(a, b, c, bias, rows, k1_count);
  }
}

}  // namespace detail

/// C = (bias or C or 0) + A * B for `rows` rows known at compile time (see header comment).
/// a, b, c: operands as addressed by S; bias: N floats (read only when reads_bias(I)).
/// The rows are split into the fewest tiles of at most the register-limited height, all of
/// nearly equal height (26 rows with tiles of 6: 6+5+5+5+5, not 6+6+6+6+2), so no tile is
/// mostly empty.
template <class S, std::size_t Rows, std::size_t N, Init I>
inline void gemm(const float* a, const float* b, float* c, const float* bias,
                 std::size_t k1_count) {
  constexpr std::size_t P = detail::rows_for<N>;
  constexpr std::size_t tiles = (Rows + P - 1) / P;
  constexpr std::size_t low = Rows / tiles, high_tiles = Rows % tiles;  // high = low + 1
  std::size_t r = 0;
  if constexpr (high_tiles > 0)
    for (std::size_t t = 0; t < high_tiles; ++t, r += low + 1)
      detail::row_block<S, N, low + 1, I>(a + r * S::AP, b, c + r * S::CP, bias, k1_count);
  for (std::size_t t = high_tiles; t < tiles; ++t, r += low)
    detail::row_block<S, N, low, I>(a + r * S::AP, b, c + r * S::CP, bias, k1_count);
}

/// The same product for a row count known only at run time (a batch): split as the
/// compile-time version, into the fewest tiles of nearly equal height (13 rows with tiles of
/// at most 6: 5+4+4, not 6+6+1 whose one-row tile would cost as much as a full one).
template <class S, std::size_t N, Init I>
inline void gemm(const float* a, const float* b, float* c, const float* bias, std::size_t rows,
                 std::size_t k1_count) {
  constexpr std::size_t P = detail::rows_for<N>;
  if (rows == 0) return;
  const std::size_t tiles = (rows + P - 1) / P;
  const std::size_t low = rows / tiles, high_tiles = rows % tiles;
  std::size_t r = 0;
  if (low == P) {  // every tile full: the common case of a large batch
    for (; r < rows; r += P)
      detail::row_block<S, N, P, I>(a + r * S::AP, b, c + r * S::CP, bias, k1_count);
    return;
  }
  for (std::size_t t = 0; t < high_tiles; ++t, r += low + 1)
    detail::row_tail<S, N, I, P>(a + r * S::AP, b, c + r * S::CP, bias, low + 1, k1_count);
  for (std::size_t t = high_tiles; t < tiles; ++t, r += low)
    detail::row_tail<S, N, I, P>(a + r * S::AP, b, c + r * S::CP, bias, low, k1_count);
}

}  // namespace ctnn::kernels
