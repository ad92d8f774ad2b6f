#include <doctest/doctest.h>

#include <ctnn/ctnn.hpp>

#include "gradcheck.hpp"

using namespace ctnn;
using ctnn_test::check_layer_gradients;

TEST_CASE("Conv2D backward matches finite differences") {
  check_layer_gradients<Conv2D<5, 3>::bind<Image<7, 6, 3>>>(2, true);
  check_layer_gradients<Conv2D<17, 3>::bind<Image<9, 8, 2>>>(1, true);
  check_layer_gradients<Conv2D<4, 3, 2>::bind<Image<9, 8, 3>>>(2, true);
  check_layer_gradients<Conv2D<6, 3, 1, Same>::bind<Image<5, 7, 2>>>(2, true);
  check_layer_gradients<Conv2D<3, 2, 2, Same>::bind<Image<5, 5, 3>>>(2, true);
  check_layer_gradients<Conv2D<33, 1>::bind<Image<3, 4, 5>>>(3, true);
}

TEST_CASE("Dense backward matches finite differences") {
  check_layer_gradients<Dense<7>::bind<Vector<13>>>(3, true);
  check_layer_gradients<Dense<37>::bind<Image<3, 2, 5>>>(5, true);
  check_layer_gradients<Dense<1>::bind<Vector<1>>>(1, true);
}

TEST_CASE("pooling backward matches finite differences") {
  check_layer_gradients<MaxPool2D<2>::bind<Image<6, 7, 19>>>(2, true);
  check_layer_gradients<MaxPool2D<3, 2>::bind<Image<7, 7, 3>>>(2, true);
  check_layer_gradients<AvgPool2D<2>::bind<Image<5, 4, 17>>>(2, true);
  check_layer_gradients<AvgPool2D<3, 1>::bind<Image<5, 5, 2>>>(1, true);
}

TEST_CASE("activation layers backward match finite differences") {
  check_layer_gradients<ReLU::bind<Vector<37>>>(3, true, 1e-3f);
  check_layer_gradients<Sigmoid::bind<Image<3, 3, 5>>>(2, true, 1e-2f);
  check_layer_gradients<Tanh::bind<Vector<21>>>(2, true, 1e-2f);
  check_layer_gradients<Softmax::bind<Vector<11>>>(3, true, 1e-2f);
  check_layer_gradients<Flatten::bind<Image<2, 3, 4>>>(2, true);
}

TEST_CASE("Dropout and BatchNorm backward match finite differences in both modes") {
  check_layer_gradients<Dropout<0.3f>::bind<Vector<50>>>(3, true);
  check_layer_gradients<Dropout<0.3f>::bind<Vector<50>>>(3, false);
  check_layer_gradients<BatchNorm::bind<Image<3, 2, 5>>>(4, true, 1e-2f);
  check_layer_gradients<BatchNorm::bind<Vector<9>>>(6, true, 1e-2f);
  check_layer_gradients<BatchNorm::bind<Vector<9>>>(6, false, 1e-2f);
}

TEST_CASE("Dropout zeroes about Rate of its inputs in training and none in inference") {
  using L = Dropout<0.25f>::bind<Vector<1000>>;
  std::vector<float> in(4000, 1.0f), out(4000), scratch(4000);
  Rng rng(3);
  Pass p;
  p.in = in.data();
  p.out = out.data();
  p.scratch = scratch.data();
  p.batch = 4;
  p.training = true;
  p.rng = &rng;
  L::forward(p);
  std::size_t zeros = 0;
  for (float v : out) {
    CHECK((v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6f));
    zeros += v == 0.0f;
  }
  CHECK(zeros > 900);
  CHECK(zeros < 1100);
  p.training = false;
  L::forward(p);
  CHECK(std::count(out.begin(), out.end(), 1.0f) == 4000);
}

TEST_CASE("BatchNorm normalises each channel in training and updates its running statistics") {
  using L = BatchNorm::with<0.5f>::bind<Image<2, 2, 3>>;
  constexpr std::size_t batch = 5;
  auto in = ctnn_test::random_vector(batch * 12, 21, -3.0f, 5.0f);
  std::vector<float> params(6), state(6), out(in.size()), scratch(L::scratch_fixed);
  Rng rng(1);
  L::init(params.data(), state.data(), rng);
  Pass p;
  p.params = params.data();
  p.state = state.data();
  p.scratch = scratch.data();
  p.in = in.data();
  p.out = out.data();
  p.batch = batch;
  p.training = true;
  // Without state_update, training reads the state but leaves it as it is.
  const std::vector<float> before = state;
  L::forward(p);
  CHECK(state == before);
  p.state_update = state.data();
  L::forward(p);
  for (std::size_t c = 0; c < 3; ++c) {
    double m = 0, v = 0, mi = 0, vi = 0;
    for (std::size_t r = 0; r < batch * 4; ++r) {
      m += out[r * 3 + c];
      mi += in[r * 3 + c];
    }
    m /= batch * 4;
    mi /= batch * 4;
    for (std::size_t r = 0; r < batch * 4; ++r) {
      v += (out[r * 3 + c] - m) * (out[r * 3 + c] - m);
      vi += (in[r * 3 + c] - mi) * (in[r * 3 + c] - mi);
    }
    CHECK(std::abs(m) < 1e-5);
    CHECK(std::abs(v / (batch * 4) - 1.0) < 1e-3);
    CHECK(state[c] == doctest::Approx(0.5 * mi).epsilon(1e-5));
    CHECK(state[3 + c] == doctest::Approx(0.5 * 1.0 + 0.5 * vi / (batch * 4 - 1)).epsilon(1e-5));
  }
}
