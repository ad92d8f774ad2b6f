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
#include <cmath>
#include <cstddef>

#include "simd.hpp"

namespace ctnn::kernels {

/// What a tile starts from and what it stores. The start: zero, the current contents of C
/// (accumulate), or a bias row (C(p, n) = bias[n] + ...). Flags on top of `bias`, applied in
/// this order as the tile is stored (the epilogue of a layer):
///   scale  * scale[n] + shift[n] (an inference-mode BatchNorm after the layer, folded into its
///          epilogue: scale = gamma / sqrt(var + eps), shift = beta - mean * scale; Ioffe &
///          Szegedy 2015, sec. 3.1)
///   add    + addend(p, n), a matrix addressed as C (a residual connection, He et al. 2016)
///   relu   max(., 0) (the layer is followed by ReLU)
enum class Init : unsigned {
  zero = 0,
  accumulate = 1,
  bias = 2,
  relu = 4,
  scale = 8,
  add = 16,
  bias_relu = bias | relu,
};
constexpr Init operator|(Init a, Init b) {
  return static_cast<Init>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
/// Whether I has every flag of f.
constexpr bool has(Init i, Init f) {
  return (static_cast<unsigned>(i) & static_cast<unsigned>(f)) == static_cast<unsigned>(f);
}

/// Whether a tile starting as I reads the bias row.
constexpr bool reads_bias(Init i) { return has(i, Init::bias); }

/// The vectors a product reads besides A and B: bias, scale and shift (N floats each) and addend
/// (addressed as C), each read only when its flag of Init is set. Converts from a bias pointer,
/// as most products need nothing else.
struct Epilogue {
  const float* bias = nullptr;
  const float* scale = nullptr;
  const float* shift = nullptr;
  const float* addend = nullptr;
  Epilogue() = default;
  Epilogue(const float* b) : bias(b) {}  // NOLINT(google-explicit-constructor): a bias row
  Epilogue(const float* b, const float* s, const float* t, const float* a)
      : bias(b), scale(s), shift(t), addend(a) {}
  /// The epilogue of the columns from n0 on.
  Epilogue columns(std::size_t n0) const {
    auto at = [n0](const float* v) { return v ? v + n0 : nullptr; };
    return {at(bias), at(scale), at(shift), at(addend)};
  }
  /// The epilogue of the rows from the one `offset` floats into C on.
  Epilogue rows(std::size_t offset) const {
    return {bias, scale, shift, addend ? addend + offset : nullptr};
  }
};

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

/// The rows of A given one pointer each, for rows that are not S::AP apart (gemm_gathered).
struct RowPointers {
  const float* const* row;
};
/// A tile's own copy of its P row pointers (kept in registers).
template <std::size_t P>
struct TileRows {
  const float* row[P];
};

/// What a tile of P rows reads A through: a itself (rows S::AP apart), or its row pointers.
template <std::size_t P>
inline const float* tile_rows_of(const float* a) {
  return a;
}
template <std::size_t P>
inline TileRows<P> tile_rows_of(const RowPointers& a) {
  TileRows<P> t;
  for (std::size_t p = 0; p < P; ++p) t.row[p] = a.row[p];
  return t;
}

/// A(p, k1, k2) for the rows at a (S::AP apart) or in a TileRows; off = k1 * A1 + k2 * A2.
template <class S>
inline float a_at(const float* a, std::size_t p, std::size_t off) {
  return a[p * S::AP + off];
}
template <class S, std::size_t P>
inline float a_at(const TileRows<P>& a, std::size_t p, std::size_t off) {
  return a.row[p][off];
}

// A tile is never inlined into its caller: inlined into a large function (a whole network's
// forward), GCC may keep the accumulators on the stack, which triples the time of a conv. Its
// loops over rows and registers have compile-time trip counts and are unrolled completely, so
// that acc lives in registers; plain loops rather than a lambda per index keep the number of
// functions the compiler instantiates (and a network's compile time) down.
template <class S, std::size_t P, std::size_t NV, Init I, class A>
[[gnu::noinline]] void tile(const A a_rows, const float* b, float* c, const Epilogue& e,
                            std::size_t k1_count) {
  const auto a = tile_rows_of<P>(a_rows);
  simd acc[P][NV];
#pragma GCC unroll 64
  for (std::size_t p = 0; p < P; ++p)
#pragma GCC unroll 16
    for (std::size_t v = 0; v < NV; ++v) {
      if constexpr (has(I, Init::accumulate))
        acc[p][v] = simd::load_unaligned(c + p * S::CP + v * simd_width);
      else if constexpr (has(I, Init::bias))
        acc[p][v] = simd::load_unaligned(e.bias + v * simd_width);
      else
        acc[p][v] = simd(0.0f);
    }
  for (std::size_t k1 = 0; k1 < k1_count; ++k1) {
    const float* bk = b + k1 * S::B1;
    for (std::size_t k2 = 0; k2 < S::K2; ++k2) {
      simd bv[NV];
#pragma GCC unroll 16
      for (std::size_t v = 0; v < NV; ++v)
        bv[v] = simd::load_unaligned(bk + k2 * S::B2 + v * simd_width);
#pragma GCC unroll 64
      for (std::size_t p = 0; p < P; ++p) {
        const simd av(a_at<S>(a, p, k1 * S::A1 + k2 * S::A2));
#pragma GCC unroll 16
        for (std::size_t v = 0; v < NV; ++v) acc[p][v] = xsimd::fma(av, bv[v], acc[p][v]);
      }
    }
  }
#pragma GCC unroll 64
  for (std::size_t p = 0; p < P; ++p)
#pragma GCC unroll 16
    for (std::size_t v = 0; v < NV; ++v) {
      if constexpr (has(I, Init::scale))
        acc[p][v] = xsimd::fma(acc[p][v], simd::load_unaligned(e.scale + v * simd_width),
                               simd::load_unaligned(e.shift + v * simd_width));
      if constexpr (has(I, Init::add))
        acc[p][v] += simd::load_unaligned(e.addend + p * S::CP + v * simd_width);
      if constexpr (has(I, Init::relu)) acc[p][v] = vmax(acc[p][v], simd(0.0f));
      acc[p][v].store_unaligned(c + p * S::CP + v * simd_width);
    }
}

/// Columns that do not fill a SIMD register: NT < simd_width of them, scalar accumulators.
template <class S, std::size_t P, std::size_t NT, Init I, class A>
inline void tile_scalar(const A& a_rows, const float* b, float* c, const Epilogue& e,
                        std::size_t k1_count) {
  const auto a = tile_rows_of<P>(a_rows);
  alignas(64) float acc[P][NT];
  for (std::size_t p = 0; p < P; ++p)
    for (std::size_t n = 0; n < NT; ++n)
      acc[p][n] = has(I, Init::accumulate) ? c[p * S::CP + n] : has(I, Init::bias) ? e.bias[n] : 0.0f;
  for (std::size_t k1 = 0; k1 < k1_count; ++k1) {
    const float* bk = b + k1 * S::B1;
    for (std::size_t k2 = 0; k2 < S::K2; ++k2)
      for (std::size_t p = 0; p < P; ++p)
        for (std::size_t n = 0; n < NT; ++n)
          acc[p][n] += a_at<S>(a, p, k1 * S::A1 + k2 * S::A2) * bk[k2 * S::B2 + n];
  }
  for (std::size_t p = 0; p < P; ++p)
    for (std::size_t n = 0; n < NT; ++n) {
      float y = acc[p][n];
      if constexpr (has(I, Init::scale)) y = std::fma(y, e.scale[n], e.shift[n]);
      if constexpr (has(I, Init::add)) y += e.addend[p * S::CP + n];
      if constexpr (has(I, Init::relu)) y = std::max(y, 0.0f);
      c[p * S::CP + n] = y;
    }
}

/// One tile of P rows over the columns [N0, N0 + width), width = NV registers, or the scalar
/// tail when NV == 0.
template <class S, std::size_t P, std::size_t N0, std::size_t NV, std::size_t NT, Init I, class A>
inline void tile_at(const A& a, const float* b, float* c, const Epilogue& e,
                    std::size_t k1_count) {
  if constexpr (NV > 0)
    tile<S, P, NV, I>(a, b + N0, c + N0, e.columns(N0), k1_count);
  else
    tile_scalar<S, P, NT, I>(a, b + N0, c + N0, e.columns(N0), k1_count);
}

/// All column blocks of one row block of P rows.
template <class S, std::size_t N, std::size_t P, Init I, class A>
inline void row_block(const A& a, const float* b, float* c, const Epilogue& e,
                      std::size_t k1_count) {
  constexpr std::size_t vectors = N / simd_width;
  constexpr std::size_t wide = max_tile_vectors;
  for (std::size_t v0 = 0; v0 + wide <= vectors; v0 += wide)
    tile<S, P, wide, I>(a, b + v0 * simd_width, c + v0 * simd_width, e.columns(v0 * simd_width),
                        k1_count);
  constexpr std::size_t rest = vectors % wide;
  if constexpr (rest > 0)
    tile_at<S, P, (vectors - rest) * simd_width, rest, 0, I>(a, b, c, e, k1_count);
  if constexpr (N % simd_width > 0)
    tile_at<S, P, vectors * simd_width, 0, N % simd_width, I>(a, b, c, e, k1_count);
}

/// Rows per tile for a product N columns wide: sized for the widest tile it uses.
template <std::size_t N>
inline constexpr std::size_t rows_for =
    tile_rows<std::max<std::size_t>(1, std::min(max_tile_vectors, N / simd_width))>;

template <class S, std::size_t N, Init I, std::size_t R>
inline void row_tail(const float* a, const float* b, float* c, const Epilogue& e,
                     std::size_t rows, std::size_t k1_count) {
  if constexpr (R > 0) {
    if (rows == R)
      row_block<S, N, R, I>(a, b, c, e, k1_count);
    else
      row_tail<S, N, I, R - 1>(a, b, c, e, rows, k1_count);
  }
}

}  // namespace detail

/// C = (bias or C or 0) + A * B for `rows` rows known at compile time (see header comment), with
/// the epilogue I names (Init). a, b, c: operands as addressed by S; e: the bias (N floats, read
/// only when reads_bias(I)), scale and addend its flags read.
/// The rows are split into the fewest tiles of at most the register-limited height, all of
/// nearly equal height (26 rows with tiles of 6: 6+5+5+5+5, not 6+6+6+6+2), so no tile is
/// mostly empty.
template <class S, std::size_t Rows, std::size_t N, Init I>
inline void gemm(const float* a, const float* b, float* c, const Epilogue& e,
                 std::size_t k1_count) {
  constexpr std::size_t P = detail::rows_for<N>;
  constexpr std::size_t tiles = (Rows + P - 1) / P;
  constexpr std::size_t low = Rows / tiles, high_tiles = Rows % tiles;  // high = low + 1
  std::size_t r = 0;
  if constexpr (high_tiles > 0)
    for (std::size_t t = 0; t < high_tiles; ++t, r += low + 1)
      detail::row_block<S, N, low + 1, I>(a + r * S::AP, b, c + r * S::CP, e.rows(r * S::CP),
                                          k1_count);
  for (std::size_t t = high_tiles; t < tiles; ++t, r += low)
    detail::row_block<S, N, low, I>(a + r * S::AP, b, c + r * S::CP, e.rows(r * S::CP), k1_count);
}

/// The same product for a row count known only at run time (a batch): split as the
/// compile-time version, into the fewest tiles of nearly equal height (13 rows with tiles of
/// at most 6: 5+4+4, not 6+6+1 whose one-row tile would cost as much as a full one).
template <class S, std::size_t N, Init I>
inline void gemm(const float* a, const float* b, float* c, const Epilogue& e, std::size_t rows,
                 std::size_t k1_count) {
  constexpr std::size_t P = detail::rows_for<N>;
  if (rows == 0) return;
  const std::size_t tiles = (rows + P - 1) / P;
  const std::size_t low = rows / tiles, high_tiles = rows % tiles;
  std::size_t r = 0;
  if (low == P) {  // every tile full: the common case of a large batch
    for (; r < rows; r += P)
      detail::row_block<S, N, P, I>(a + r * S::AP, b, c + r * S::CP, e.rows(r * S::CP), k1_count);
    return;
  }
  for (std::size_t t = 0; t < high_tiles; ++t, r += low + 1)
    detail::row_tail<S, N, I, P>(a + r * S::AP, b, c + r * S::CP, e.rows(r * S::CP), low + 1,
                                 k1_count);
  for (std::size_t t = high_tiles; t < tiles; ++t, r += low)
    detail::row_tail<S, N, I, P>(a + r * S::AP, b, c + r * S::CP, e.rows(r * S::CP), low,
                                 k1_count);
}

/// The product for Rows rows (compile time) whose A rows are not evenly spaced: row r of A
/// starts at row_of(r) (the output pixels of several image rows, so that a tile is as tall as the
/// registers allow whatever the image's width: fewer loads of B per multiply-add, and fewer
/// passes over B). k1_count is K1 (compile time). C and the epilogue's addend are addressed as
/// in gemm (row r at r * S::CP); S::AP is unused. Columns go in blocks of the widest tile (outer
/// loop), rows in nearly equal tiles (inner loop).
template <class S, std::size_t Rows, std::size_t N, std::size_t K1, Init I, class RowOf>
inline void gemm_gathered(RowOf&& row_of, const float* b, float* c, const Epilogue& e) {
  constexpr std::size_t vectors = N / simd_width;
  constexpr std::size_t NV =
      std::max<std::size_t>(1, std::min(detail::max_tile_vectors, vectors));
  constexpr std::size_t P = detail::tile_rows<NV>;
  constexpr std::size_t tiles = (Rows + P - 1) / P;
  constexpr std::size_t low = Rows / tiles, high_tiles = Rows % tiles;  // high = low + 1
  // All row tiles of the columns [N0, N0 + width): width NV2 registers, or NT scalar columns.
  auto columns = [&]<std::size_t N0, std::size_t NV2, std::size_t NT>() {
    auto one = [&]<std::size_t R>(std::size_t r) {
      const float* rows[R];
      for (std::size_t p = 0; p < R; ++p) rows[p] = row_of(r + p);
      detail::tile_at<S, R, N0, NV2, NT, I>(detail::RowPointers{rows}, b, c + r * S::CP,
                                             e.rows(r * S::CP), K1);
    };
    std::size_t r = 0;
    if constexpr (high_tiles > 0)
      for (std::size_t t = 0; t < high_tiles; ++t, r += low + 1)
        one.template operator()<low + 1>(r);
    for (std::size_t t = high_tiles; t < tiles; ++t, r += low) one.template operator()<low>(r);
  };
  static_for<vectors / NV>(
      [&](auto v) { columns.template operator()<v * NV * simd_width, NV, 0>(); });
  constexpr std::size_t rest = vectors % NV;
  if constexpr (rest > 0) columns.template operator()<(vectors - rest) * simd_width, rest, 0>();
  if constexpr (N % simd_width > 0)
    columns.template operator()<vectors * simd_width, 0, N % simd_width>();
}

}  // namespace ctnn::kernels
