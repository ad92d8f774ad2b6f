// Regression: fit() and evaluate() on data sets with real-valued targets and MeanSquaredError,
// the gradient of a step against central differences and against PyTorch's MSELoss, the
// refusals, random_split and Standardization.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <ctnn/ctnn.hpp>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "reference.hpp"

using namespace ctnn;

namespace {

// y = A x + b (3 outputs of 4 inputs), with fixed A and b.
data::Dataset linear_problem(std::size_t n, std::uint32_t seed) {
  const float A[3][4] = {
      {0.5f, -1.0f, 0.25f, 2.0f}, {1.5f, 0.0f, -0.5f, 0.75f}, {-2.0f, 0.5f, 1.0f, 0.0f}};
  const float b[3] = {0.3f, -0.7f, 1.1f};
  data::Dataset d;
  d.sample_size = 4;
  d.target_size = 3;
  d.inputs = ctnn_test::random_vector(n * 4, seed, -1.0f, 1.0f);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t o = 0; o < 3; ++o) {
      float y = b[o];
      for (std::size_t k = 0; k < 4; ++k) y += A[o][k] * d.inputs[i * 4 + k];
      d.targets.push_back(y);
    }
  return d;
}

using Linear = Sequential<Input<4>, Dense<3>>;
using Small = Sequential<Input<5>, Dense<7>, Tanh, Dense<3>>;

}  // namespace

TEST_CASE("regression: fit with MeanSquaredError drives a linear problem's loss to near zero") {
  const data::Dataset train = linear_problem(256, 3), test = linear_problem(64, 4);
  Linear net(5);
  Adam opt(0.05f);
  const float before = float(evaluate<MeanSquaredError>(net, test).loss);
  FitOptions o;
  o.epochs = 60;
  o.batch_size = 32;
  o.threads = 2;
  o.progress = false;
  o.test = &test;
  std::ostringstream log;
  o.log = &log;
  const auto reports = fit<MeanSquaredError>(net, opt, train, o);
  const Evaluation e = evaluate<MeanSquaredError>(net, test);
  INFO("loss before " << before << ", after " << e.loss);
  CHECK(before > 0.5f);
  CHECK(e.loss < 1e-4);
  CHECK(e.rmse == doctest::Approx(std::sqrt(e.loss)).epsilon(1e-6));  // MSE over N per sample
  CHECK(e.mae <= e.rmse);
  CHECK(std::isnan(e.accuracy));
  CHECK(e.confusion.empty());
  CHECK(std::isnan(reports.back().train_accuracy));
  CHECK(std::isnan(reports.back().test_accuracy));
  CHECK(reports.back().test_rmse == doctest::Approx(e.rmse));
  CHECK(log.str().find("test RMSE") != std::string::npos);
  CHECK(log.str().find("accuracy") == std::string::npos);
  CHECK(history_csv(reports).find("nan") == std::string::npos);
}

TEST_CASE("regression: the RMSE and MAE of evaluate are those of the outputs against the targets") {
  data::Dataset d = linear_problem(10, 8);
  Linear net(2);
  const Evaluation e = evaluate<MeanSquaredError>(net, d, 1, 3);
  Workspace<Linear> ws(10);
  const float* y = net.forward(d.inputs.data(), 10, ws);
  double sq = 0, ab = 0;
  for (std::size_t i = 0; i < 30; ++i) {
    sq += (double(y[i]) - d.targets[i]) * (double(y[i]) - d.targets[i]);
    ab += std::abs(double(y[i]) - d.targets[i]);
  }
  CHECK(e.rmse == doctest::Approx(std::sqrt(sq / 30)).epsilon(1e-5));
  CHECK(e.mae == doctest::Approx(ab / 30).epsilon(1e-5));
  CHECK(e.loss == doctest::Approx(sq / 30).epsilon(1e-5));  // MSE: mean over samples and outputs
}

TEST_CASE("regression: a step's gradient equals the central differences of the batch's MSE") {
  data::Dataset d;
  d.sample_size = 5;
  d.target_size = 3;
  d.inputs = ctnn_test::random_vector(8 * 5, 21, -1.0f, 1.0f);
  d.targets = ctnn_test::random_vector(8 * 3, 22, -2.0f, 2.0f);
  Small net(7);
  const std::vector<float> p0(net.parameters().begin(), net.parameters().end());
  const auto batch_loss = [&] {  // mean over samples of mean over outputs, in double
    Workspace<Small> ws(8);
    const float* y = net.forward(d.inputs.data(), 8, ws);
    double s = 0;
    for (std::size_t i = 0; i < 24; ++i) s += (double(y[i]) - d.targets[i]) * (y[i] - d.targets[i]);
    return s / 24;
  };
  std::vector<double> numeric(p0.size());
  const float h = 1e-2f;
  for (std::size_t i = 0; i < p0.size(); ++i) {
    auto p = net.parameters();
    p[i] = p0[i] + h;
    const double fp = batch_loss();
    p[i] = p0[i] - h;
    const double fm = batch_loss();
    p[i] = p0[i];
    numeric[i] = (fp - fm) / (2 * h);
  }
  const double loss0 = batch_loss();
  SGD sgd(1.0f);  // params -= 1 * gradient
  Trainer<Small, SGD, MeanSquaredError> trainer(net, sgd, 8, 2);
  std::vector<std::size_t> idx(8);
  std::iota(idx.begin(), idx.end(), 0);
  const auto st = trainer.step(d, idx.data(), 8, 0);
  CHECK(st.loss / 8 == doctest::Approx(loss0).epsilon(1e-5));
  const auto p = net.parameters();
  std::size_t checked = 0;
  for (std::size_t i = 0; i < p0.size(); ++i) {
    const double analytic = double(p0[i]) - double(p[i]);
    INFO("parameter " << i << ": analytic " << analytic << ", numeric " << numeric[i]);
    CHECK(std::abs(analytic - numeric[i]) <= 2e-3 * std::max(1.0, std::abs(numeric[i])));
    ++checked;
  }
  CHECK(checked == Small::parameter_count);
}

TEST_CASE("regression: one SGD step with MSELoss matches PyTorch's (tests/data/regression)") {
  const auto fx = ctnn_test::read_fixture("regression/mse_step.txt");
  Small net(uninitialized);
  const auto& params = fx.at("params").values;
  REQUIRE(params.size() == Small::parameter_count);
  std::copy(params.begin(), params.end(), net.parameters().begin());
  data::Dataset d;
  d.sample_size = 5;
  d.target_size = 3;
  d.inputs = fx.at("inputs").values;
  d.targets = fx.at("targets").values;
  REQUIRE(d.size() == 6);
  SGD sgd(0.1f);
  Trainer<Small, SGD, MeanSquaredError> trainer(net, sgd, 6, 2);
  std::vector<std::size_t> idx(6);
  std::iota(idx.begin(), idx.end(), 0);
  const auto st = trainer.step(d, idx.data(), 6, 0);
  CHECK(st.loss / 6 == doctest::Approx(fx.at("loss").values[0]).epsilon(1e-5));
  const auto& after = fx.at("after").values;
  const auto p = net.parameters();
  for (std::size_t i = 0; i < after.size(); ++i) {
    INFO("parameter " << i);
    CHECK(p[i] == doctest::Approx(after[i]).epsilon(1e-5));
  }
}

TEST_CASE("regression: data sets with targets are refused where they cannot be used") {
  data::Dataset d = linear_problem(16, 1);
  Linear net(1);
  Adam opt(0.01f);
  FitOptions o;
  o.epochs = 1;
  o.progress = false;
  // a loss that takes class labels
  CHECK_THROWS_WITH_AS(fit(net, opt, d, o), doctest::Contains("MeanSquaredError"), InvalidArgument);
  CHECK_THROWS_AS(evaluate(net, d), InvalidArgument);
  SGD sgd(0.1f);
  Trainer<Linear, SGD> labels_only(net, sgd, 4, 1);
  std::vector<std::size_t> idx{0, 1, 2, 3};
  CHECK_THROWS_AS(labels_only.step(d, idx.data(), 4, 0), InvalidArgument);
  // targets of another size than the output
  data::Dataset wide = d;
  wide.target_size = 2;
  wide.targets.resize(16 * 2);
  CHECK_THROWS_WITH_AS(fit<MeanSquaredError>(net, opt, wide, o),
                       "fit: targets have 2 floats per sample, the network's output Vector<3> "
                       "gives 3",
                       InvalidArgument);
  // a target that is not a number
  data::Dataset bad = d;
  bad.targets[7] = std::nanf("");
  CHECK_THROWS_WITH_AS(fit<MeanSquaredError>(net, opt, bad, o),
                       doctest::Contains("the target of sample 2 holds NaN"), InvalidArgument);
  // no classes to stratify by
  CHECK_THROWS_WITH_AS(data::stratified_split(d, 0.25), doctest::Contains("random_split"),
                       InvalidArgument);
}

TEST_CASE("random_split keeps samples and targets together") {
  const data::Dataset d = linear_problem(40, 5);
  const auto [train, val] = data::random_split(d, 0.25, 3);
  CHECK(val.size() == 10);
  CHECK(train.size() == 30);
  CHECK(train.target_size == 3);
  CHECK(train.sample_size == 4);
  // every sample of either part is a sample of d with its own target, each used once
  std::vector<int> used(40, 0);
  for (const data::Dataset* p : {&train, &val})
    for (std::size_t i = 0; i < p->size(); ++i)
      for (std::size_t j = 0; j < 40; ++j)
        if (std::equal(p->sample(i), p->sample(i) + 4, d.sample(j))) {
          CHECK(std::equal(p->target(i), p->target(i) + 3, d.target(j)));
          ++used[j];
        }
  CHECK(std::count(used.begin(), used.end(), 1) == 40);
  CHECK_THROWS_AS(data::random_split(d, 1.0), InvalidArgument);
}

TEST_CASE("Standardization: mean 0 and std 1 per column from the training split") {
  data::Dataset d;
  d.sample_size = 3;
  d.classes = 2;
  d.inputs = {1, 10, 5, 3, 30, 5, 5, 50, 5, 7, 70, 5};  // the last column is constant
  d.labels = {0, 1, 0, 1};
  const auto s = data::Standardization::of_inputs(d);
  CHECK(s.mean[0] == doctest::Approx(4.0));
  CHECK(s.std[0] == doctest::Approx(std::sqrt(5.0)));  // population std, as StandardScaler
  CHECK(s.std[2] == 1.0);
  s.apply_to_inputs(d);
  for (std::size_t c = 0; c < 2; ++c) {
    double m = 0, v = 0;
    for (std::size_t i = 0; i < 4; ++i) m += d.inputs[i * 3 + c];
    for (std::size_t i = 0; i < 4; ++i) v += d.inputs[i * 3 + c] * d.inputs[i * 3 + c];
    CHECK(m / 4 == doctest::Approx(0.0).epsilon(1e-6));
    CHECK(v / 4 == doctest::Approx(1.0).epsilon(1e-6));
  }
  CHECK(d.inputs[2] == 0.0f);
  std::vector<float> back(d.inputs.begin(), d.inputs.begin() + 3);
  s.invert(back.data(), 1);
  CHECK(back[0] == doctest::Approx(1.0f));
  CHECK(back[1] == doctest::Approx(10.0f));
  data::Dataset other;
  other.sample_size = 2;
  other.inputs = {1, 2};
  other.labels = {0};
  CHECK_THROWS_AS(s.apply_to_inputs(other), InvalidArgument);
  CHECK_THROWS_AS(data::Standardization::of(nullptr, 0, 3), InvalidArgument);
}
