#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <ctnn/loss.hpp>
#include <ctnn/optim/adam.hpp>
#include <ctnn/optim/optimizer.hpp>
#include <ctnn/optim/sgd.hpp>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "reference.hpp"

using namespace ctnn;

TEST_CASE("softmax cross-entropy from logits: value and gradient by hand") {
  // z = (1, 2, 3), label 2: softmax = e^z / (e + e^2 + e^3).
  const float z[3] = {1, 2, 3};
  float dz[3];
  const double s = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const float l = SoftmaxCrossEntropy{}.compute<3>(z, 2, nullptr, dz, 0.5f);
  CHECK(l == doctest::Approx(std::log(s) - 3.0));
  CHECK(dz[0] == doctest::Approx(0.5 * std::exp(1.0) / s));
  CHECK(dz[1] == doctest::Approx(0.5 * std::exp(2.0) / s));
  CHECK(dz[2] == doctest::Approx(0.5 * (std::exp(3.0) / s - 1.0)));
}

TEST_CASE("softmax cross-entropy stays finite for huge logits") {
  const float z[4] = {1000.0f, -1000.0f, 999.0f, 0.0f};
  float dz[4];
  const float l = SoftmaxCrossEntropy{}.compute<4>(z, 2, nullptr, dz, 1.0f);
  CHECK(std::isfinite(l));
  CHECK(l == doctest::Approx(std::log(1.0 + std::exp(-1.0)) + 1.0).epsilon(1e-4));
  for (float d : dz) CHECK(std::isfinite(d));
}

TEST_CASE("mean squared error: value and gradient by hand, one-hot or explicit target") {
  const float y[3] = {0.5f, 0.25f, -1.0f};
  float dy[3];
  // one-hot target of label 1: (0, 1, 0)
  float l = MeanSquaredError{}.compute<3>(y, 1, nullptr, dy, 1.0f);
  CHECK(l == doctest::Approx((0.25 + 0.5625 + 1.0) / 3));
  CHECK(dy[0] == doctest::Approx(2 * 0.5 / 3));
  CHECK(dy[1] == doctest::Approx(2 * -0.75 / 3));
  const float t[3] = {0.5f, 0.0f, 1.0f};
  l = MeanSquaredError{}.compute<3>(y, 0, t, dy, 2.0f);
  CHECK(l == doctest::Approx((0.0625 + 4.0) / 3));
  CHECK(dy[2] == doctest::Approx(2.0 * 2 * -2.0 / 3));
}

TEST_CASE("SGD steps: plain, momentum, Nesterov and weight decay by hand") {
  std::vector<float> p = {1.0f, -2.0f};
  const std::vector<float> g = {0.5f, 1.0f};
  SGD plain{0.1f};
  plain.step(p, g);
  CHECK(p[0] == doctest::Approx(0.95));
  CHECK(p[1] == doctest::Approx(-2.1));

  p = {1.0f, -2.0f};
  SGD mom{0.1f, 0.9f};
  mom.step(p, g);  // v = g
  mom.step(p, g);  // v = 0.9 g + g = 1.9 g
  CHECK(p[0] == doctest::Approx(1.0 - 0.1 * 0.5 - 0.1 * 1.9 * 0.5));

  p = {1.0f, -2.0f};
  SGD nest{0.1f, 0.9f, true};
  nest.step(p, g);  // v = g; step g + 0.9 v = 1.9 g
  CHECK(p[0] == doctest::Approx(1.0 - 0.1 * 1.9 * 0.5));

  p = {1.0f, -2.0f};
  SGD wd{0.1f, 0.0f, false, 0.01f};
  wd.step(p, g);  // g' = g + 0.01 p
  CHECK(p[1] == doctest::Approx(-2.0 - 0.1 * (1.0 - 0.02)));
}

TEST_CASE("Adam steps by hand (Kingma & Ba 2015, Algorithm 1)") {
  std::vector<float> p = {1.0f};
  Adam adam;  // lr 1e-3, betas 0.9 / 0.999, eps 1e-8
  // Step 1: m = 0.1 g, v = 0.001 g^2; bias-corrected m^ = g, v^ = g^2: p -= lr * g / (|g| + eps).
  adam.step(p, std::vector<float>{2.0f});
  CHECK(p[0] == doctest::Approx(1.0 - 1e-3).epsilon(1e-6));
  // Step 2 with g = -1: m = 0.09*2... computed in double.
  double m = 0.1 * 2.0, v = 0.001 * 4.0;
  m = 0.9 * m + 0.1 * -1.0;
  v = 0.999 * v + 0.001 * 1.0;
  const double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
  const double expect = (1.0 - 1e-3) - 1e-3 * mh / (std::sqrt(vh) + 1e-8);
  adam.step(p, std::vector<float>{-1.0f});
  CHECK(p[0] == doctest::Approx(expect).epsilon(1e-6));
  CHECK(adam.steps() == 2);
  std::vector<float> other = {1.0f, 2.0f};
  CHECK_THROWS_AS(adam.step(other, std::vector<float>{1.0f, 1.0f}), InvalidArgument);
}

TEST_CASE("an optimizer step taken in ranges equals the whole step") {
  auto params = ctnn_test::random_vector(100, 31);
  auto run = [&](auto whole, auto pieces) {
    std::vector<float> a = params, b = params;
    for (int step = 0; step < 3; ++step) {
      const auto g = ctnn_test::random_vector(100, 40 + step);
      whole.step(a, g);
      pieces.begin_step(b.size());
      for (auto [lo, hi] : {std::pair<std::size_t, std::size_t>{0, 37}, {37, 64}, {64, 100}})
        pieces.update(lo, std::span<float>(b).subspan(lo, hi - lo),
                      std::span<const float>(g).subspan(lo, hi - lo));
    }
    CHECK(a == b);
    CHECK(a != params);
  };
  run(SGD(0.1f, 0.9f, true, 0.01f), SGD(0.1f, 0.9f, true, 0.01f));
  run(Adam(0.01f, 0.9f, 0.99f, 1e-8f, 0.01f), Adam(0.01f, 0.9f, 0.99f, 1e-8f, 0.01f));
  run(AdamW(0.01f, 0.05f, 0.9f, 0.99f), AdamW(0.01f, 0.05f, 0.9f, 0.99f));
}

namespace {

// Optimizers of a user's own: only step(), and step() with the capabilities in their forms.
struct PlainStep {
  void step(std::span<float> p, std::span<const float> g) {
    for (std::size_t i = 0; i < p.size(); ++i) p[i] -= 0.5f * g[i];
  }
};
struct AllCapabilities : PlainStep {
  double learning_rate = 0.5;  // any arithmetic type that reads and assigns as a float
  unsigned epochs_done = 0;    // any integer type
  void begin_step(std::size_t) {}
  void update(std::size_t, std::span<float>, std::span<const float>) {}
  OptimizerState state() const { return {}; }
  void restore(const OptimizerState&) {}
};

}  // namespace

TEST_CASE("the optimizer concepts: what Trainer needs and the optional capabilities") {
  static_assert(Optimizer<SGD> && Optimizer<Adam> && Optimizer<AdamW> && Optimizer<PlainStep>);
  static_assert(!Optimizer<int> && !Optimizer<OptimizerState>);
  static_assert(HasLearningRate<SGD> && StepsInRanges<SGD> && CountsEpochs<SGD> && SavesState<SGD>);
  static_assert(HasLearningRate<Adam> && StepsInRanges<Adam> && CountsEpochs<Adam> &&
                SavesState<Adam>);
  static_assert(HasLearningRate<AdamW> && StepsInRanges<AdamW> && CountsEpochs<AdamW> &&
                SavesState<AdamW>);
  static_assert(!HasLearningRate<PlainStep> && !StepsInRanges<PlainStep> &&
                !CountsEpochs<PlainStep> && !SavesState<PlainStep>);
  static_assert(HasLearningRate<AllCapabilities> && StepsInRanges<AllCapabilities> &&
                CountsEpochs<AllCapabilities> && SavesState<AllCapabilities>);
  // A capability's member declared in any form is seen (the compile_fail case optimizer_capability
  // shows the message when the form is wrong).
  static_assert(detail::declares_begin_step<AllCapabilities> &&
                !detail::declares_begin_step<PlainStep>);
  static_assert(detail::declares_learning_rate<Adam> && detail::declares_state<AdamW>);
  // AdamW is a type of its own, not an Adam.
  static_assert(!std::is_base_of_v<Adam, AdamW> && !std::is_convertible_v<AdamW&, Adam&>);
  std::vector<float> p = {1.0f, 2.0f};
  PlainStep plain;
  plain.step(p, std::vector<float>{2.0f, -2.0f});
  CHECK(p == std::vector<float>{0.0f, 3.0f});
}

TEST_CASE("every optimizer's state() restores into a new one, which goes on with the same steps") {
  auto check = [](auto original, auto fresh, const char* type) {
    INFO("optimizer: ", type);
    std::vector<float> a = ctnn_test::random_vector(50, 3);
    for (int k = 0; k < 3; ++k) original.step(a, ctnn_test::random_vector(50, 10 + k));
    original.epochs_done = 2;
    const OptimizerState s = original.state();
    CHECK(s.type == type);
    CHECK(s.steps == 3);
    fresh.restore(s);
    const OptimizerState t = fresh.state();
    CHECK(t.type == s.type);
    CHECK(t.settings == s.settings);
    CHECK(t.steps == s.steps);
    CHECK(t.epochs_done == 2);
    CHECK(t.buffers == s.buffers);
    std::vector<float> b = a;
    const auto g = ctnn_test::random_vector(50, 20);
    original.step(a, g);
    fresh.step(b, g);
    CHECK(a == b);
  };
  // `fresh` has other settings: restore() sets them, as torch's load_state_dict.
  check(SGD(0.05f, 0.9f, true, 1e-3f), SGD(0.5f), "SGD");
  check(Adam(0.01f, 0.8f, 0.99f, 1e-7f, 0.02f), Adam(0.5f), "Adam");
  check(AdamW(0.01f, 0.05f, 0.8f, 0.99f, 1e-7f), AdamW(0.5f), "AdamW");
  // The other type's state is refused, naming both, and changes nothing.
  Adam adam;
  AdamW adamw;
  std::vector<float> q = {1.0f};
  adamw.step(q, std::vector<float>{1.0f});
  CHECK_THROWS_WITH_AS(adam.restore(adamw.state()),
                       doctest::Contains("the state is AdamW's, this optimizer is Adam"),
                       InvalidArgument);
  CHECK(adam.steps() == 0);
  CHECK_THROWS_WITH_AS(adamw.restore(Adam().state()),
                       doctest::Contains("the state is Adam's, this optimizer is AdamW"),
                       InvalidArgument);
  CHECK(adamw.steps() == 1);
}
