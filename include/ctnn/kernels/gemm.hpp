// ctnn/kernels/gemm.hpp — the register-blocked product behind Dense, Conv2D and the recurrent
// layers.
//
// One micro-kernel serves every matrix product of the library. It computes
//
//   C(p, n) = epilogue(start(p, n) + sum over (k1, k2) of A(p, k1, k2) * B(k1, k2, n))
//                                                                  p < rows, n < N
//
// with the operands addressed by compile-time strides (in floats; a Strides value):
//   A(p, k1, k2) = a[p * a_row + k1 * a_k1 + k2 * a_k2]
//   B(k1, k2, n) = b[k1 * b_k1 + k2 * b_k2 + n]          (n contiguous)
//   C(p, n)      = c[p * c_row + n]                       (n contiguous)
// The reduction runs over two nested loops: k1 < k1_count (the outer one, often a kernel row or
// a batch; a run-time count) and k2 < k2_count (compile time). Two levels are enough to express a
// direct convolution on channels-last data (k1 = kernel row, k2 = (kernel column, input
// channel), contiguous in both operands), its weight gradient (k1 = output row, k2 = output
// column) and a plain GEMM (k1_count = 1). A row-major M x K times K x N product, for example:
//   Strides{.a_row = K, .a_k2 = 1, .b_k2 = N, .c_row = N, .k2_count = K}
//
// What a product does besides the multiply-adds is named in two parts, both compile time:
//   Start     what the accumulators hold before the reduction: zero, the current contents of C
//             (accumulate), or a bias row (bias[n]);
//   Epilogue  what is applied as a tile is stored, in this order: affine (* scale[n] +
//             shift[n]), add (+ addend(p, n)), relu (max(., 0)). These are the operations a
//             layer fuses into its output (fused::affine, add, relu in layers/layer.hpp), one
//             flag each.
// The vectors both read (bias, scale, shift, addend) come at run time in an Extras value.
//
// Entry points, one name per way of giving the rows:
//   gemm             rows known at run time (a batch)
//   gemm_fixed_rows  rows known at compile time (a convolution's output row, a weight gradient)
//   gemm_gathered    rows known at compile time, each row of A given by its own pointer
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

/// Compile-time addressing of A, B and C (floats; see the header comment). The k1 strides
/// default to 0, as a product with a single outer step (k1_count = 1) does not use them; every
/// other member must be given (-Wmissing-field-initializers). Used as a template argument:
///   gemm<Strides{.a_row = K, .a_k2 = 1, .b_k2 = N, .c_row = N, .k2_count = K}, N, ...>
struct Strides {
  std::size_t a_row;     ///< A: from row p to row p + 1 (unused by gemm_gathered)
  std::size_t a_k1 = 0;  ///< A: from outer reduction step k1 to k1 + 1
  std::size_t a_k2;      ///< A: from inner reduction step k2 to k2 + 1
  std::size_t b_k1 = 0;  ///< B: from k1 to k1 + 1
  std::size_t b_k2;      ///< B: from k2 to k2 + 1 (B's rows; its N columns are contiguous)
  std::size_t c_row;     ///< C and the addend: from row p to row p + 1 (N columns contiguous)
  std::size_t k2_count;  ///< K2, the length of the inner reduction
};

/// What the accumulators of a tile hold before the reduction.
enum class Start {
  zero,        ///< 0: C = A * B
  accumulate,  ///< the current contents of C: C += A * B
  bias,        ///< bias[n] (Extras::bias, N floats): C = bias + A * B
};

/// What is applied to a tile as it is stored, in the order of the members (each one a fused
/// operation of layers/layer.hpp):
///   affine  y * scale[n] + shift[n]: an inference-mode BatchNorm after the layer, folded into its
///           epilogue (scale = gamma / sqrt(var + eps), shift = beta - mean * scale; Ioffe &
///           Szegedy 2015, sec. 3.1). One fused multiply-add.
///   add     y + addend(p, n), a matrix addressed as C (a residual connection, He et al. 2016)
///   relu    max(y, 0) (the layer is followed by ReLU)
/// Epilogue{} stores the sum as it is.
struct Epilogue {
  bool affine = false;
  bool add = false;
  bool relu = false;
};

/// The vectors a product reads besides A and B: bias (N floats, read only with Start::bias);
/// scale and shift (N floats each, read only with Epilogue::affine) and addend (addressed as C,
/// read only with Epilogue::add). What a product does not read may stay null.
struct Extras {
  const float* bias = nullptr;
  const float* scale = nullptr;
  const float* shift = nullptr;
  const float* addend = nullptr;
  /// The extras of the columns from n0 on.
  Extras columns(std::size_t n0) const {
    auto at = [n0](const float* v) { return v ? v + n0 : nullptr; };
    return {at(bias), at(scale), at(shift), at(addend)};
  }
  /// The extras of the rows from the one `offset` floats into C on.
  Extras rows(std::size_t offset) const {
    return {bias, scale, shift, addend ? addend + offset : nullptr};
  }
};

namespace detail {

/// Rows per tile for a tile NV registers wide: all accumulators, the NV loaded B vectors and a
/// broadcast register must fit in the register file.
template <std::size_t NV>
inline constexpr std::size_t tile_rows = std::min<std::size_t>(12, (simd_registers - NV - 1) / NV);

/// Widest tile in registers: 4 with 32 registers (AVX-512), 2 with 16 (AVX2, SSE).
inline constexpr std::size_t max_tile_vectors = simd_registers >= 32 ? 4 : 2;

/// The rows of A given one pointer each, for rows that are not S.a_row apart (gemm_gathered).
struct RowPointers {
  const float* const* row;
};
/// A tile's own copy of its P row pointers (kept in registers).
template <std::size_t P>
struct TileRows {
  const float* row[P];
};

/// What a tile of P rows reads A through: a itself (rows S.a_row apart), or its row pointers.
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

/// A(p, k1, k2) for the rows at a (S.a_row apart) or in a TileRows; off = k1 * a_k1 + k2 * a_k2.
template <Strides S>
inline float a_at(const float* a, std::size_t p, std::size_t off) {
  return a[p * S.a_row + off];
}
template <Strides S, std::size_t P>
inline float a_at(const TileRows<P>& a, std::size_t p, std::size_t off) {
  return a.row[p][off];
}

// A tile is never inlined into its caller: inlined into a large function (a whole network's
// forward), GCC may keep the accumulators on the stack, which triples the time of a conv. Its
// loops over rows and registers have compile-time trip counts and are unrolled completely, so
// that acc lives in registers; plain loops rather than a lambda per index keep the number of
// functions the compiler instantiates (and a network's compile time) down.
template <Strides S, std::size_t P, std::size_t NV, Start From, Epilogue E, class A>
[[gnu::noinline]] void tile(const A a_rows, const float* b, float* c, const Extras& x,
                            std::size_t k1_count) {
  const auto a = tile_rows_of<P>(a_rows);
  simd acc[P][NV];
#pragma GCC unroll 64
  for (std::size_t p = 0; p < P; ++p)
#pragma GCC unroll 16
    for (std::size_t v = 0; v < NV; ++v) {
      if constexpr (From == Start::accumulate)
        acc[p][v] = simd::load_unaligned(c + p * S.c_row + v * simd_width);
      else if constexpr (From == Start::bias)
        acc[p][v] = simd::load_unaligned(x.bias + v * simd_width);
      else
        acc[p][v] = simd(0.0f);
    }
  for (std::size_t k1 = 0; k1 < k1_count; ++k1) {
    const float* bk = b + k1 * S.b_k1;
    for (std::size_t k2 = 0; k2 < S.k2_count; ++k2) {
      simd bv[NV];
#pragma GCC unroll 16
      for (std::size_t v = 0; v < NV; ++v)
        bv[v] = simd::load_unaligned(bk + k2 * S.b_k2 + v * simd_width);
#pragma GCC unroll 64
      for (std::size_t p = 0; p < P; ++p) {
        const simd av(a_at<S>(a, p, k1 * S.a_k1 + k2 * S.a_k2));
#pragma GCC unroll 16
        for (std::size_t v = 0; v < NV; ++v) acc[p][v] = xsimd::fma(av, bv[v], acc[p][v]);
      }
    }
  }
#pragma GCC unroll 64
  for (std::size_t p = 0; p < P; ++p)
#pragma GCC unroll 16
    for (std::size_t v = 0; v < NV; ++v) {
      if constexpr (E.affine)
        acc[p][v] = xsimd::fma(acc[p][v], simd::load_unaligned(x.scale + v * simd_width),
                               simd::load_unaligned(x.shift + v * simd_width));
      if constexpr (E.add)
        acc[p][v] += simd::load_unaligned(x.addend + p * S.c_row + v * simd_width);
      if constexpr (E.relu) acc[p][v] = vmax(acc[p][v], simd(0.0f));
      acc[p][v].store_unaligned(c + p * S.c_row + v * simd_width);
    }
}

/// Columns that do not fill a SIMD register: NT < simd_width of them, scalar accumulators.
template <Strides S, std::size_t P, std::size_t NT, Start From, Epilogue E, class A>
inline void tile_scalar(const A& a_rows, const float* b, float* c, const Extras& x,
                        std::size_t k1_count) {
  const auto a = tile_rows_of<P>(a_rows);
  alignas(64) float acc[P][NT];
  for (std::size_t p = 0; p < P; ++p)
    for (std::size_t n = 0; n < NT; ++n)
      acc[p][n] = From == Start::accumulate ? c[p * S.c_row + n]
                  : From == Start::bias     ? x.bias[n]
                                            : 0.0f;
  for (std::size_t k1 = 0; k1 < k1_count; ++k1) {
    const float* bk = b + k1 * S.b_k1;
    for (std::size_t k2 = 0; k2 < S.k2_count; ++k2)
      for (std::size_t p = 0; p < P; ++p)
        for (std::size_t n = 0; n < NT; ++n)
          acc[p][n] += a_at<S>(a, p, k1 * S.a_k1 + k2 * S.a_k2) * bk[k2 * S.b_k2 + n];
  }
  for (std::size_t p = 0; p < P; ++p)
    for (std::size_t n = 0; n < NT; ++n) {
      float y = acc[p][n];
      if constexpr (E.affine) y = std::fma(y, x.scale[n], x.shift[n]);
      if constexpr (E.add) y += x.addend[p * S.c_row + n];
      if constexpr (E.relu) y = std::max(y, 0.0f);
      c[p * S.c_row + n] = y;
    }
}

/// One tile of P rows over the columns [N0, N0 + width), width = NV registers, or the scalar
/// tail when NV == 0.
template <Strides S, std::size_t P, std::size_t N0, std::size_t NV, std::size_t NT, Start From,
          Epilogue E, class A>
inline void tile_at(const A& a, const float* b, float* c, const Extras& x, std::size_t k1_count) {
  if constexpr (NV > 0)
    tile<S, P, NV, From, E>(a, b + N0, c + N0, x.columns(N0), k1_count);
  else
    tile_scalar<S, P, NT, From, E>(a, b + N0, c + N0, x.columns(N0), k1_count);
}

/// All column blocks of one row block of P rows.
template <Strides S, std::size_t N, std::size_t P, Start From, Epilogue E, class A>
inline void row_block(const A& a, const float* b, float* c, const Extras& x, std::size_t k1_count) {
  constexpr std::size_t vectors = N / simd_width;
  constexpr std::size_t wide = max_tile_vectors;
  for (std::size_t v0 = 0; v0 + wide <= vectors; v0 += wide)
    tile<S, P, wide, From, E>(a, b + v0 * simd_width, c + v0 * simd_width,
                              x.columns(v0 * simd_width), k1_count);
  constexpr std::size_t rest = vectors % wide;
  if constexpr (rest > 0)
    tile_at<S, P, (vectors - rest) * simd_width, rest, 0, From, E>(a, b, c, x, k1_count);
  if constexpr (N % simd_width > 0)
    tile_at<S, P, vectors * simd_width, 0, N % simd_width, From, E>(a, b, c, x, k1_count);
}

/// Rows per tile for a product N columns wide: sized for the widest tile it uses.
template <std::size_t N>
inline constexpr std::size_t rows_for =
    tile_rows<std::max<std::size_t>(1, std::min(max_tile_vectors, N / simd_width))>;

template <Strides S, std::size_t N, Start From, Epilogue E, std::size_t R>
inline void row_tail(const float* a, const float* b, float* c, const Extras& x, std::size_t rows,
                     std::size_t k1_count) {
  if constexpr (R > 0) {
    if (rows == R)
      row_block<S, N, R, From, E>(a, b, c, x, k1_count);
    else
      row_tail<S, N, From, E, R - 1>(a, b, c, x, rows, k1_count);
  }
}

}  // namespace detail

/// C (rows x N) = epilogue E of (start From + A * B), for `rows` rows known at run time (a batch).
/// a, b, c: the operands as S addresses them (see the header comment), c_row >= N; x: the
/// vectors From and E read (Extras); k1_count: the outer reduction's length (1 for a plain GEMM).
/// C may not overlap A or B; the addend may be C itself. Nothing is thrown.
/// The rows are split into the fewest tiles of at most the register-limited height, all of
/// nearly equal height (13 rows with tiles of at most 6: 5+4+4, not 6+6+1 whose one-row tile
/// would cost as much as a full one).
template <Strides S, std::size_t N, Start From, Epilogue E = Epilogue{}>
inline void gemm(const float* a, const float* b, float* c, const Extras& x, std::size_t rows,
                 std::size_t k1_count) {
  constexpr std::size_t P = detail::rows_for<N>;
  if (rows == 0) return;
  const std::size_t tiles = (rows + P - 1) / P;
  const std::size_t low = rows / tiles, high_tiles = rows % tiles;
  std::size_t r = 0;
  if (low == P) {  // every tile full: the common case of a large batch
    for (; r < rows; r += P)
      detail::row_block<S, N, P, From, E>(a + r * S.a_row, b, c + r * S.c_row, x.rows(r * S.c_row),
                                          k1_count);
    return;
  }
  for (std::size_t t = 0; t < high_tiles; ++t, r += low + 1)
    detail::row_tail<S, N, From, E, P>(a + r * S.a_row, b, c + r * S.c_row, x.rows(r * S.c_row),
                                       low + 1, k1_count);
  for (std::size_t t = high_tiles; t < tiles; ++t, r += low)
    detail::row_tail<S, N, From, E, P>(a + r * S.a_row, b, c + r * S.c_row, x.rows(r * S.c_row),
                                       low, k1_count);
}

/// The same product for Rows rows known at compile time (Rows x N), so that every tile's height
/// is a constant: split into the fewest tiles of at most the register-limited height, all of
/// nearly equal height (26 rows with tiles of 6: 6+5+5+5+5, not 6+6+6+6+2), so no tile is
/// mostly empty. Arguments as in gemm.
template <Strides S, std::size_t Rows, std::size_t N, Start From, Epilogue E = Epilogue{}>
inline void gemm_fixed_rows(const float* a, const float* b, float* c, const Extras& x,
                            std::size_t k1_count) {
  constexpr std::size_t P = detail::rows_for<N>;
  constexpr std::size_t tiles = (Rows + P - 1) / P;
  constexpr std::size_t low = Rows / tiles, high_tiles = Rows % tiles;  // high = low + 1
  std::size_t r = 0;
  if constexpr (high_tiles > 0)
    for (std::size_t t = 0; t < high_tiles; ++t, r += low + 1)
      detail::row_block<S, N, low + 1, From, E>(a + r * S.a_row, b, c + r * S.c_row,
                                                x.rows(r * S.c_row), k1_count);
  for (std::size_t t = high_tiles; t < tiles; ++t, r += low)
    detail::row_block<S, N, low, From, E>(a + r * S.a_row, b, c + r * S.c_row, x.rows(r * S.c_row),
                                          k1_count);
}

/// The product for Rows rows (compile time) whose A rows are not evenly spaced: row r of A
/// starts at row_of(r), a callable std::size_t -> const float* (the output pixels of several
/// image rows, so that a tile is as tall as the registers allow whatever the image's width:
/// fewer loads of B per multiply-add, and fewer passes over B). The outer reduction's length is
/// K1 (compile time). C and the addend are addressed as in gemm (row r at r * S.c_row); S.a_row
/// is unused. Columns go in blocks of the widest tile (outer loop), rows in nearly equal tiles
/// (inner loop).
template <Strides S, std::size_t Rows, std::size_t N, std::size_t K1, Start From,
          Epilogue E = Epilogue{}, class RowOf>
inline void gemm_gathered(RowOf&& row_of, const float* b, float* c, const Extras& x) {
  constexpr std::size_t vectors = N / simd_width;
  constexpr std::size_t NV = std::max<std::size_t>(1, std::min(detail::max_tile_vectors, vectors));
  constexpr std::size_t P = detail::tile_rows<NV>;
  constexpr std::size_t tiles = (Rows + P - 1) / P;
  constexpr std::size_t low = Rows / tiles, high_tiles = Rows % tiles;  // high = low + 1
  // All row tiles of the columns [N0, N0 + width): width NV2 registers, or NT scalar columns.
  auto columns = [&]<std::size_t N0, std::size_t NV2, std::size_t NT>() {
    auto one = [&]<std::size_t R>(std::size_t r) {
      const float* rows[R];
      for (std::size_t p = 0; p < R; ++p) rows[p] = row_of(r + p);
      detail::tile_at<S, R, N0, NV2, NT, From, E>(detail::RowPointers{rows}, b, c + r * S.c_row,
                                                  x.rows(r * S.c_row), K1);
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
