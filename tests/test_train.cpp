#include <doctest/doctest.h>

#include <ctnn/ctnn.hpp>

#include "reference.hpp"

using namespace ctnn;

namespace {

// 8x8 images with one bright 4x4 quadrant (plus noise); the label is the quadrant.
data::Dataset quadrants(std::size_t n, std::uint32_t seed) {
  data::Dataset d;
  d.sample_size = 64;
  d.classes = 4;
  auto noise = ctnn_test::random_vector(n * 64, seed, 0.0f, 0.3f);
  d.inputs = noise;
  Rng rng(seed);
  for (std::size_t i = 0; i < n; ++i) {
    const auto q = static_cast<std::int32_t>(rng.below(4));
    d.labels.push_back(q);
    for (std::size_t r = 0; r < 4; ++r)
      for (std::size_t c = 0; c < 4; ++c)
        d.inputs[i * 64 + (r + 4 * (q / 2)) * 8 + c + 4 * (q % 2)] += 0.7f;
  }
  return d;
}

using Net = Sequential<Input<8, 8, 1>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Dense<16>, ReLU,
                       Dropout<0.1f>, Dense<4>>;

}  // namespace

TEST_CASE("fit learns a separable problem and evaluate reports it consistently") {
  const auto train = quadrants(512, 1), test = quadrants(256, 2);
  Net net(3);
  const auto before = evaluate(net, test, 1);
  Adam adam(1e-2f);
  FitOptions o;
  o.epochs = 3;
  o.batch_size = 16;
  o.threads = 2;
  o.test = &test;
  const auto reports = fit(net, adam, train, o);
  REQUIRE(reports.size() == 3);
  CHECK(reports.back().loss < reports.front().loss);
  CHECK(reports.back().test_accuracy > 0.95);
  const auto e = evaluate(net, test, 2, 50);
  CHECK(e.loss < before.loss);
  CHECK(e.accuracy == doctest::Approx(reports.back().test_accuracy));
  std::size_t total = 0, right = 0;
  for (std::size_t a = 0; a < 4; ++a)
    for (std::size_t b = 0; b < 4; ++b) total += e.confusion[a][b], right += a == b ? e.confusion[a][b] : 0;
  CHECK(total == test.size());
  CHECK(double(right) / total == doctest::Approx(e.accuracy));
}

TEST_CASE("training is bit-identical for the same seed and thread count") {
  const auto train = quadrants(200, 4);
  auto run = [&]<class N = Net>(std::size_t threads, std::uint64_t seed, N* = nullptr) {
    N net(5);
    Adam adam;
    FitOptions o;
    o.epochs = 2;
    o.batch_size = 10;
    o.threads = threads;
    o.seed = seed;
    fit(net, adam, train, o);
    return std::vector<float>(net.parameters().begin(), net.parameters().end());
  };
  const auto a = run(2, 7), b = run(2, 7), c = run(2, 8);
  CHECK(a == b);
  CHECK(a != c);
  // Without Dropout (whose masks depend on the thread), one and two threads differ only by float
  // reassociation of the summed gradients.
  using Plain = Sequential<Input<8, 8, 1>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Dense<16>, ReLU,
                           Dense<4>>;
  const auto two = run(2, 7, static_cast<Plain*>(nullptr));
  const auto one = run(1, 7, static_cast<Plain*>(nullptr));
  CHECK(ctnn_test::max_abs_diff(two, one) < 1e-4f);
}

TEST_CASE("fit stops with TrainingDiverged when the loss is no longer finite") {
  const auto train = quadrants(64, 5);
  Sequential<Input<8, 8, 1>, Dense<4>> net(1);
  SGD sgd(1e30f);
  FitOptions o;
  o.epochs = 2;
  o.batch_size = 8;
  o.threads = 1;
  try {
    fit<MeanSquaredError>(net, sgd, train, o);
    FAIL("fit did not notice the divergence");
  } catch (const TrainingDiverged& e) {
    CHECK(std::string(e.what()).find("not finite") != std::string::npos);
  }
}

TEST_CASE("fit and evaluate refuse data that does not fit the network") {
  Net net(1);
  Adam adam;
  auto d = quadrants(10, 6);
  d.sample_size = 63;
  CHECK_THROWS_AS(fit(net, adam, d), InvalidArgument);
  d = quadrants(10, 6);
  d.labels[3] = 4;
  CHECK_THROWS_AS(evaluate(net, d), InvalidArgument);
  d = quadrants(10, 6);
  FitOptions o;
  o.batch_size = 0;
  CHECK_THROWS_AS(fit(net, adam, d, o), InvalidArgument);
}
