#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <ctnn/kernels/gemm.hpp>
#include <ctnn/kernels/transpose.hpp>
#include <utility>
#include <vector>

#include "reference.hpp"

using namespace ctnn::kernels;
using ctnn_test::max_abs_diff;
using ctnn_test::random_vector;

namespace {

// Plain GEMM: C[M x N] = init + A[M x K] * B[K x N], all row-major.
std::vector<float> reference_gemm(const std::vector<float>& a, const std::vector<float>& b,
                                  const std::vector<float>& c0, std::size_t M, std::size_t N,
                                  std::size_t K) {
  std::vector<float> c = c0;
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) {
      double s = c[m * N + n];
      for (std::size_t k = 0; k < K; ++k) s += double(a[m * K + k]) * b[k * N + n];
      c[m * N + n] = float(s);
    }
  return c;
}

template <std::size_t M, std::size_t N, std::size_t K>
void check_plain_gemm() {
  CAPTURE(M);
  CAPTURE(N);
  CAPTURE(K);
  auto a = random_vector(M * K, 1), b = random_vector(K * N, 2), c0 = random_vector(M * N, 3);
  auto bias = random_vector(N, 4);
  constexpr Strides S{.a_row = K, .a_k2 = 1, .b_k2 = N, .c_row = N, .k2_count = K};
  // accumulate, compile-time rows
  auto c = c0;
  gemm_fixed_rows<S, M, N, Start::accumulate>(a.data(), b.data(), c.data(), {}, 1);
  CHECK(max_abs_diff(c, reference_gemm(a, b, c0, M, N, K)) < 1e-4f);
  // zero, run-time rows
  std::vector<float> z(M * N, 0.0f);
  c.assign(M * N, 123.0f);
  gemm<S, N, Start::zero>(a.data(), b.data(), c.data(), {}, M, 1);
  CHECK(max_abs_diff(c, reference_gemm(a, b, z, M, N, K)) < 1e-4f);
  // bias, run-time rows
  std::vector<float> bias_rows(M * N);
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) bias_rows[m * N + n] = bias[n];
  gemm<S, N, Start::bias>(a.data(), b.data(), c.data(), {.bias = bias.data()}, M, 1);
  CHECK(max_abs_diff(c, reference_gemm(a, b, bias_rows, M, N, K)) < 1e-4f);
}

// Every start (zero, C, bias) with every epilogue (any subset of affine, add, relu), through each
// entry point, against the plain product followed by the same operations in scalar code:
// start + A*B, then * scale + shift, + addend, max(., 0). gemm_gathered reads the rows of A in a
// shuffled order (row r of its A is row perm[r] of a), so its reference multiplies that A.
template <std::size_t M, std::size_t N, std::size_t K>
void check_epilogues() {
  CAPTURE(M);
  CAPTURE(N);
  CAPTURE(K);
  auto a = random_vector(M * K, 5), b = random_vector(K * N, 6), c0 = random_vector(M * N, 11);
  auto bias = random_vector(N, 7), scale = random_vector(N, 8), shift = random_vector(N, 9);
  auto addend = random_vector(M * N, 10);
  std::vector<std::size_t> perm(M);
  for (std::size_t r = 0; r < M; ++r) perm[r] = (r * 5 + 3) % M;  // a bijection unless 5 | M
  if (M % 5 == 0)
    for (std::size_t r = 0; r < M; ++r) perm[r] = M - 1 - r;
  std::vector<float> gathered(M * K);
  for (std::size_t r = 0; r < M; ++r)
    std::copy_n(a.begin() + perm[r] * K, K, gathered.begin() + r * K);
  std::vector<float> bias_rows(M * N), zeros(M * N, 0.0f);
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) bias_rows[m * N + n] = bias[n];
  constexpr Strides S{.a_row = K, .a_k2 = 1, .b_k2 = N, .c_row = N, .k2_count = K};
  const Extras x{
      .bias = bias.data(), .scale = scale.data(), .shift = shift.data(), .addend = addend.data()};
  auto check = [&]<Start From, Epilogue E>() {
    CAPTURE(int(From));
    CAPTURE(E.affine);
    CAPTURE(E.add);
    CAPTURE(E.relu);
    const auto& start = From == Start::zero ? zeros : From == Start::accumulate ? c0 : bias_rows;
    auto expected = [&](const std::vector<float>& a_rows) {
      auto y = reference_gemm(a_rows, b, start, M, N, K);
      for (std::size_t i = 0; i < M * N; ++i) {
        if (E.affine) y[i] = y[i] * scale[i % N] + shift[i % N];
        if (E.add) y[i] += addend[i];
        if (E.relu) y[i] = std::max(y[i], 0.0f);
      }
      return y;
    };
    const auto want = expected(a), want_gathered = expected(gathered);
    auto c = c0;
    gemm<S, N, From, E>(a.data(), b.data(), c.data(), x, M, 1);
    CHECK(max_abs_diff(c, want) < 1e-4f);
    c = c0;
    gemm_fixed_rows<S, M, N, From, E>(a.data(), b.data(), c.data(), x, 1);
    CHECK(max_abs_diff(c, want) < 1e-4f);
    c = c0;
    gemm_gathered<S, M, N, 1, From, E>([&](std::size_t r) { return a.data() + perm[r] * K; },
                                       b.data(), c.data(), x);
    CHECK(max_abs_diff(c, want_gathered) < 1e-4f);
  };
  auto every_epilogue = [&]<Start From>() {
    check.template operator()<From, Epilogue{}>();
    check.template operator()<From, Epilogue{.affine = true}>();
    check.template operator()<From, Epilogue{.add = true}>();
    check.template operator()<From, Epilogue{.relu = true}>();
    check.template operator()<From, Epilogue{.affine = true, .add = true}>();
    check.template operator()<From, Epilogue{.affine = true, .relu = true}>();
    check.template operator()<From, Epilogue{.add = true, .relu = true}>();
    check.template operator()<From, Epilogue{.affine = true, .add = true, .relu = true}>();
  };
  every_epilogue.template operator()<Start::zero>();
  every_epilogue.template operator()<Start::accumulate>();
  every_epilogue.template operator()<Start::bias>();
}

}  // namespace

TEST_CASE("gemm epilogues: scale and shift, addend and ReLU match the operations done apart") {
  check_epilogues<1, 1, 1>();
  check_epilogues<7, 10, 13>();
  check_epilogues<13, 33, 5>();
  check_epilogues<30, 64, 9>();
  check_epilogues<5, 19, 48>();
}

TEST_CASE("gemm kernel matches a scalar GEMM on odd and aligned sizes") {
  check_plain_gemm<1, 1, 1>();
  check_plain_gemm<7, 10, 13>();
  check_plain_gemm<13, 33, 5>();
  check_plain_gemm<29, 67, 31>();
  check_plain_gemm<32, 128, 64>();
  check_plain_gemm<6, 64, 288>();
  check_plain_gemm<25, 3, 100>();
}

TEST_CASE("gemm kernel with a two-level reduction computes a direct convolution row") {
  // One output row of a valid 3x3 convolution on channels-last data, as Conv2D issues it: rows =
  // output pixels, k1 = kernel row, k2 = (kernel column, input channel). Through each entry
  // point: a row at a time with compile-time and run-time rows, all pixels gathered.
  constexpr std::size_t H = 9, W = 11, C = 5, F = 21, K = 3, OH = H - K + 1, OW = W - K + 1;
  auto in = random_vector(H * W * C, 7), w = random_vector(K * K * C * F, 8);
  auto bias = random_vector(F, 9);
  auto ref = ctnn_test::conv2d_valid(in, w, bias, 1, H, W, C, F, K, 1);
  constexpr Strides S{.a_row = C,
                      .a_k1 = W * C,
                      .a_k2 = 1,
                      .b_k1 = K * C * F,
                      .b_k2 = F,
                      .c_row = F,
                      .k2_count = K * C};
  std::vector<float> out(ref.size(), 99.0f);
  for (std::size_t oh = 0; oh < OH; ++oh)
    gemm_fixed_rows<S, OW, F, Start::bias>(in.data() + oh * W * C, w.data(),
                                           out.data() + oh * OW * F, {.bias = bias.data()}, K);
  CHECK(max_abs_diff(out, ref) < 1e-4f);
  out.assign(ref.size(), 99.0f);
  for (std::size_t oh = 0; oh < OH; ++oh)
    gemm<S, F, Start::bias>(in.data() + oh * W * C, w.data(), out.data() + oh * OW * F,
                            {.bias = bias.data()}, OW, K);
  CHECK(max_abs_diff(out, ref) < 1e-4f);
  out.assign(ref.size(), 99.0f);
  gemm_gathered<S, OH * OW, F, K, Start::bias>(
      [&](std::size_t q) { return in.data() + (q / OW * W + q % OW) * C; }, w.data(), out.data(),
      {.bias = bias.data()});
  CHECK(max_abs_diff(out, ref) < 1e-4f);
}

TEST_CASE("transpose moves every element, with strides and partial blocks") {
  for (auto [rows, cols] :
       {std::pair<std::size_t, std::size_t>{1, 1}, {3, 40}, {16, 16}, {37, 21}, {64, 5}}) {
    CAPTURE(rows);
    CAPTURE(cols);
    const std::size_t ss = cols + 3, ds = rows + 2;  // padded rows on both sides
    const auto src = random_vector(rows * ss, 7);
    std::vector<float> dst(cols * ds, -99.0f);
    transpose(src.data(), rows, cols, ss, dst.data(), ds);
    bool ok = true;
    for (std::size_t c = 0; c < cols; ++c)
      for (std::size_t r = 0; r < ds; ++r)  // the padding stays untouched
        ok = ok && dst[c * ds + r] == (r < rows ? src[r * ss + c] : -99.0f);
    CHECK(ok);
  }
}
