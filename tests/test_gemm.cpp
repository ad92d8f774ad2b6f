#include <doctest/doctest.h>

#include <ctnn/kernels/gemm.hpp>
#include <ctnn/kernels/transpose.hpp>

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
  using S = Strides<K, 0, 1, 0, N, K, N>;
  // accumulate, compile-time rows
  auto c = c0;
  gemm<S, M, N, Init::accumulate>(a.data(), b.data(), c.data(), nullptr, 1);
  CHECK(max_abs_diff(c, reference_gemm(a, b, c0, M, N, K)) < 1e-4f);
  // zero, run-time rows
  std::vector<float> z(M * N, 0.0f);
  c.assign(M * N, 123.0f);
  gemm<S, N, Init::zero>(a.data(), b.data(), c.data(), nullptr, M, 1);
  CHECK(max_abs_diff(c, reference_gemm(a, b, z, M, N, K)) < 1e-4f);
  // bias, run-time rows
  std::vector<float> bias_rows(M * N);
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) bias_rows[m * N + n] = bias[n];
  gemm<S, N, Init::bias>(a.data(), b.data(), c.data(), bias.data(), M, 1);
  CHECK(max_abs_diff(c, reference_gemm(a, b, bias_rows, M, N, K)) < 1e-4f);
}

// The fused epilogues against the plain product followed by the same operations in scalar code:
// (bias +) A*B, then * scale + shift, + addend, max(., 0), for every combination of flags, with
// compile-time and run-time rows.
template <std::size_t M, std::size_t N, std::size_t K>
void check_epilogues() {
  CAPTURE(M);
  CAPTURE(N);
  CAPTURE(K);
  auto a = random_vector(M * K, 5), b = random_vector(K * N, 6);
  auto bias = random_vector(N, 7), scale = random_vector(N, 8), shift = random_vector(N, 9);
  auto addend = random_vector(M * N, 10);
  std::vector<float> bias_rows(M * N);
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) bias_rows[m * N + n] = bias[n];
  const auto product = reference_gemm(a, b, bias_rows, M, N, K);
  using S = Strides<K, 0, 1, 0, N, K, N>;
  const Epilogue e(bias.data(), scale.data(), shift.data(), addend.data());
  auto check = [&]<Init I>() {
    std::vector<float> want(M * N);
    for (std::size_t i = 0; i < M * N; ++i) {
      float y = product[i];
      if (has(I, Init::scale)) y = y * scale[i % N] + shift[i % N];
      if (has(I, Init::add)) y += addend[i];
      if (has(I, Init::relu)) y = std::max(y, 0.0f);
      want[i] = y;
    }
    std::vector<float> c(M * N, 99.0f);
    gemm<S, M, N, I>(a.data(), b.data(), c.data(), e, 1);
    CHECK(max_abs_diff(c, want) < 1e-4f);
    c.assign(M * N, 99.0f);
    gemm<S, N, I>(a.data(), b.data(), c.data(), e, M, 1);
    CHECK(max_abs_diff(c, want) < 1e-4f);
  };
  check.template operator()<Init::bias | Init::scale>();
  check.template operator()<Init::bias | Init::scale | Init::relu>();
  check.template operator()<Init::bias | Init::scale | Init::add>();
  check.template operator()<Init::bias | Init::scale | Init::add | Init::relu>();
  check.template operator()<Init::bias | Init::add>();
  check.template operator()<Init::bias | Init::add | Init::relu>();
  check.template operator()<Init::bias_relu>();
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
  // One output row of a valid 3x3 convolution on channels-last data, as Conv2D issues it.
  constexpr std::size_t H = 9, W = 11, C = 5, F = 21, K = 3, OW = W - K + 1;
  auto in = random_vector(H * W * C, 7), w = random_vector(K * K * C * F, 8);
  auto bias = random_vector(F, 9);
  auto ref = ctnn_test::conv2d_valid(in, w, bias, 1, H, W, C, F, K, 1);
  std::vector<float> out(ref.size());
  using S = Strides<C, W * C, 1, K * C * F, F, K * C, F>;
  for (std::size_t oh = 0; oh < H - K + 1; ++oh)
    gemm<S, OW, F, Init::bias>(in.data() + oh * W * C, w.data(), out.data() + oh * OW * F,
                               bias.data(), K);
  CHECK(max_abs_diff(out, ref) < 1e-4f);
}

TEST_CASE("transpose moves every element, with strides and partial blocks") {
  for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{1, 1}, {3, 40}, {16, 16},
                            {37, 21}, {64, 5}}) {
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
