// The batch-normalisation kernels (kernels/batchnorm.hpp) against scalar double-precision
// references written from the formulas of Ioffe & Szegedy 2015 (Algorithm 1; gradients in sec. 3).
#include <doctest/doctest.h>

#include <cmath>
#include <ctnn/kernels/batchnorm.hpp>
#include <vector>

#include "reference.hpp"

using namespace ctnn::kernels;
using ctnn_test::random_vector;

namespace {

// Difference of a float result from a double reference, relative to the reference's largest
// magnitude (or 1e-3 when all of it is near zero, as the gradient of a one-row batch).
template <class A, class B>
double relative(const A& got, const B& want) {
  double d = 0, m = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    d = std::max(d, std::abs(double(got[i]) - double(want[i])));
    m = std::max(m, std::abs(double(want[i])));
  }
  return d / std::max(m, 1e-3);
}

template <std::size_t C>
void check_batchnorm_kernels(std::size_t rows, float offset) {
  CAPTURE(C);
  CAPTURE(rows);
  CAPTURE(offset);
  // Data with a large mean for its spread, where a one-pass variance would cancel.
  auto x = random_vector(rows * C, 11, offset - 1.0f, offset + 1.0f);
  const auto dy = random_vector(rows * C, 12);
  const auto gamma = random_vector(C, 13, 0.5f, 1.5f), beta = random_vector(C, 14);

  std::vector<double> mean_ref(C, 0.0), var_ref(C, 0.0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < C; ++c) mean_ref[c] += x[r * C + c];
  for (auto& m : mean_ref) m /= double(rows);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < C; ++c) {
      const double d = x[r * C + c] - mean_ref[c];
      var_ref[c] += d * d;
    }
  for (auto& v : var_ref) v /= double(rows);

  std::vector<double> mean(C), var(C);
  batchnorm_statistics<C>(x.data(), rows, mean.data(), var.data());
  CHECK(relative(mean, mean_ref) < 1e-6);
  CHECK(relative(var, var_ref) < 1e-5);

  std::vector<float> m(C), inv_std(C), scale(C);
  for (std::size_t c = 0; c < C; ++c) {
    m[c] = float(mean_ref[c]);
    inv_std[c] = float(1.0 / std::sqrt(var_ref[c] + 1e-5));
    scale[c] = gamma[c] * inv_std[c];
  }
  // Forward: y = gamma (x - mean) / sqrt(var + eps) + beta.
  std::vector<float> y(rows * C);
  std::vector<double> y_ref(rows * C);
  batchnorm_apply<C>(x.data(), rows, m.data(), scale.data(), beta.data(), y.data());
  for (std::size_t i = 0; i < rows * C; ++i) {
    const std::size_t c = i % C;
    y_ref[i] = gamma[c] * (x[i] - mean_ref[c]) / std::sqrt(var_ref[c] + 1e-5) + beta[c];
  }
  CHECK(relative(y, y_ref) < 1e-5);

  // Backward sums and the input gradient of training mode:
  // dx = gamma inv_std / m (m dy - sum dy - xh sum(dy xh)).
  std::vector<double> sdy(C), sdyx(C), sdy_ref(C, 0.0), sdyx_ref(C, 0.0);
  batchnorm_backward_sums<C>(x.data(), dy.data(), rows, m.data(), inv_std.data(), sdy.data(),
                             sdyx.data());
  for (std::size_t i = 0; i < rows * C; ++i) {
    const std::size_t c = i % C;
    sdy_ref[c] += dy[i];
    sdyx_ref[c] += dy[i] * (x[i] - mean_ref[c]) / std::sqrt(var_ref[c] + 1e-5);
  }
  CHECK(relative(sdy, sdy_ref) < 1e-5);
  CHECK(relative(sdyx, sdyx_ref) < 1e-5);
  std::vector<float> dx(rows * C);
  std::vector<double> dx_ref(rows * C);
  batchnorm_backward_input<C>(x.data(), dy.data(), rows, gamma.data(), m.data(), inv_std.data(),
                              sdy_ref.data(), sdyx_ref.data(), dx.data());
  // The terms cancel (exactly, for one row): the error is measured against gamma inv_std dy.
  double err = 0, term = 0;
  for (std::size_t i = 0; i < rows * C; ++i) {
    const std::size_t c = i % C;
    const double is = 1.0 / std::sqrt(var_ref[c] + 1e-5), xh = (x[i] - mean_ref[c]) * is;
    dx_ref[i] =
        gamma[c] * is / double(rows) * (double(rows) * dy[i] - sdy_ref[c] - xh * sdyx_ref[c]);
    err = std::max(err, std::abs(dx[i] - dx_ref[i]));
    term = std::max(term, std::abs(gamma[c] * is * dy[i]));
  }
  CHECK(err / term < 1e-5);

  // Inference mode: dx = dy gamma inv_std.
  batchnorm_backward_input_frozen<C>(dy.data(), rows, scale.data(), dx.data());
  for (std::size_t i = 0; i < rows * C; ++i) dx_ref[i] = double(dy[i]) * scale[i % C];
  CHECK(relative(dx, dx_ref) < 1e-6);
}

}  // namespace

TEST_CASE("batch normalisation kernels match their double-precision formulas") {
  check_batchnorm_kernels<16>(25088, 0.0f);  // a 32-image batch of 28x28x16 maps
  check_batchnorm_kernels<16>(1000, 30.0f);  // a mean 30 times the spread
  check_batchnorm_kernels<64>(130, 0.5f);    // a partial last block of rows
  check_batchnorm_kernels<5>(7, -2.0f);      // fewer channels than a register, a few rows
  check_batchnorm_kernels<37>(1, 0.0f);      // one row, a vector and a tail of channels
}
