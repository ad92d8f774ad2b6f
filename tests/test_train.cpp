#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctnn/callbacks.hpp>
#include <ctnn/ctnn.hpp>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "datasets.hpp"
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
    for (std::size_t b = 0; b < 4; ++b)
      total += e.confusion[a][b], right += a == b ? e.confusion[a][b] : 0;
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
  using Plain =
      Sequential<Input<8, 8, 1>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Dense<16>, ReLU, Dense<4>>;
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

TEST_CASE("a network constructed without arguments is initialised and trains") {
  const auto train = quadrants(512, 1), test = quadrants(256, 2);
  Net net;
  const Net seeded(1);
  CHECK(std::equal(net.parameters().begin(), net.parameters().end(), seeded.parameters().begin()));
  CHECK(std::any_of(net.parameters().begin(), net.parameters().end(),
                    [](float v) { return v != 0.0f; }));
  Adam adam(1e-2f);
  FitOptions o;
  o.epochs = 3;
  o.batch_size = 16;
  o.threads = 2;
  fit(net, adam, train, o);
  CHECK(evaluate(net, test, 1).accuracy > 0.95);

  const Net empty(uninitialized);
  CHECK(std::all_of(empty.parameters().begin(), empty.parameters().end(),
                    [](float v) { return v == 0.0f; }));
}

TEST_CASE("fit and evaluate refuse a NaN or an infinity in the data, naming the sample") {
  Net net(1);
  Adam adam;
  auto d = quadrants(10, 6);
  d.inputs[5 * 64 + 3] = std::numeric_limits<float>::infinity();
  FitOptions o;
  o.epochs = 1;
  o.threads = 1;
  try {
    fit(net, adam, d, o);
    FAIL("fit accepted an infinite input");
  } catch (const InvalidArgument& e) {
    CHECK(std::string(e.what()) ==
          "fit: sample 5 holds +infinity at element 3; inputs must be finite numbers");
  }
  d.inputs[5 * 64 + 3] = std::nanf("");
  CHECK_THROWS_WITH_AS(evaluate(net, d), doctest::Contains("sample 5 holds NaN"), InvalidArgument);
  auto test = quadrants(10, 7);
  test.inputs[9 * 64] = -std::numeric_limits<float>::infinity();
  o.test = &test;
  CHECK_THROWS_WITH_AS(fit(net, adam, quadrants(10, 6), o),
                       doctest::Contains("test set): sample 9 holds -infinity at element 0"),
                       InvalidArgument);
}

namespace {
// y = w x + b with w = 1, b = 0, and one sample x of class 0 (target 1 for MeanSquaredError).
using Line = Sequential<Input<1>, Dense<1>>;
Line unit_line() {
  Line net(uninitialized);
  net.parameters()[0] = 1.0f;
  return net;
}
data::Dataset one_sample(float x) {
  data::Dataset d;
  d.sample_size = 1;
  d.classes = 1;
  d.inputs = {x};
  d.labels = {0};
  return d;
}
}  // namespace

TEST_CASE("a non-finite gradient stops fit before the parameters change") {
  // y = w x + b with x = 1.5e19: the loss (y - 1)^2 = 2.25e38 is finite, its gradient with respect
  // to w, 2 (y - 1) x = 4.5e38, is not.
  Line net = unit_line();
  const data::Dataset d = one_sample(1.5e19f);
  SGD sgd(0.1f);
  FitOptions o;
  o.epochs = 1;
  o.threads = 1;
  try {
    fit<MeanSquaredError>(net, sgd, d, o);
    FAIL("fit accepted an infinite gradient");
  } catch (const TrainingDiverged& e) {
    CHECK(std::string(e.what()).find("batch 1 of epoch 1: the gradient of layer 1 (Dense") !=
          std::string::npos);
    CHECK(std::string(e.what()).find("+infinity") != std::string::npos);
  }
  CHECK(net.parameters()[0] == 1.0f);
  CHECK(net.parameters()[1] == 0.0f);
}

TEST_CASE("an update that overflows a parameter stops fit and says so") {
  Line net = unit_line();
  const data::Dataset d = one_sample(3.0f);  // gradient of w: 2 (3 - 1) 3 = 12; 1e38 x 12 overflows
  SGD sgd(1e38f);
  FitOptions o;
  o.epochs = 1;
  o.threads = 2;
  CHECK_THROWS_WITH_AS(fit<MeanSquaredError>(net, sgd, d, o),
                       doctest::Contains("the optimizer step made a parameter of layer 1 (Dense"),
                       TrainingDiverged);
}

TEST_CASE("fit refuses a learning rate that is not a finite non-negative number") {
  Net net(1);
  const auto d = quadrants(10, 6);
  for (float lr : {std::numeric_limits<float>::infinity(), std::nanf(""), -1e-3f}) {
    Adam adam(lr);
    CHECK_THROWS_WITH_AS(fit(net, adam, d), doctest::Contains("learning rate"), InvalidArgument);
  }
}

TEST_CASE("a batch size larger than the data set takes the whole data set") {
  const auto train = quadrants(64, 5);
  Net a(2), b(2);
  Adam adam_a, adam_b;
  FitOptions o;
  o.epochs = 2;
  o.threads = 2;
  o.batch_size = 100'000'000;
  const auto reports = fit(a, adam_a, train, o);
  REQUIRE(reports.size() == 2);
  o.batch_size = 64;
  fit(b, adam_b, train, o);
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
}

TEST_CASE("memory that cannot be had is a ctnn::Error naming what was being allocated") {
  Net net(1);
  Adam adam;
  CHECK_THROWS_WITH_AS((Trainer<Net, Adam>(net, adam, std::size_t{1} << 62, 1)),
                       doctest::Contains("more memory than any machine has"), InvalidArgument);
#if !defined(__SANITIZE_ADDRESS__)  // ASan ends the process on a request over 1 TiB
  // Large enough to fail, small enough not to wrap around: 2^34 samples.
  CHECK_THROWS_WITH_AS((Trainer<Net, Adam>(net, adam, std::size_t{1} << 34, 1)),
                       doctest::Contains("cannot allocate"), Error);
#endif
}

#if !defined(__SANITIZE_ADDRESS__)  // ASan reserves its shadow memory outside RLIMIT_AS' reach
TEST_CASE("threads that cannot be started are a ctnn::Error, and the started ones are released") {
  // Limit the address space to what the process uses plus 64 MiB: 1000 thread stacks do not fit.
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_AS, &old) == 0);
  std::size_t pages = 0;
  {
    std::ifstream statm("/proc/self/statm");
    statm >> pages;
  }
  REQUIRE(pages > 0);
  rlimit tight = old;
  tight.rlim_cur = pages * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (64u << 20);
  REQUIRE(setrlimit(RLIMIT_AS, &tight) == 0);
  std::string pool_error, fit_error;
  try {
    ThreadPool pool(1000);
  } catch (const Error& e) {
    pool_error = e.what();
  }
  try {
    Net net(1);
    Adam adam;
    FitOptions o;
    o.epochs = 1;
    o.threads = 1000;
    o.batch_size = 1000;  // fit starts no more threads than a batch has samples
    fit(net, adam, quadrants(1000, 1), o);
  } catch (const Error& e) {
    fit_error = e.what();
  }
  REQUIRE(setrlimit(RLIMIT_AS, &old) == 0);
  CHECK(pool_error.find("cannot start 1000 threads") != std::string::npos);
  CHECK(fit_error.find("cannot start 1000 threads") != std::string::npos);
  ThreadPool pool(2);  // the process is still able to make threads
  std::vector<int> ran(2, 0);
  pool.run([&](std::size_t t) { ran[t] = 1; });
  CHECK(ran == std::vector<int>{1, 1});
}
#endif

TEST_CASE("threads beyond the batch are not started, and the training is that of as many threads") {
  // Each thread holds a workspace and a whole gradient; with more threads than samples the rest
  // would sit idle. Dropout's masks are drawn per worker, so the training shows which ran.
  const auto train = quadrants(24, 6);
  Net probe(1);
  Adam probe_adam;
  CHECK(Trainer<Net, Adam>(probe, probe_adam, 4, 64).threads() == 4);
  CHECK(Trainer<Net, Adam>(probe, probe_adam, 4, 3).threads() == 3);
  auto run = [&](std::size_t threads) {
    Net net(3);
    Adam adam;
    FitOptions o;
    o.epochs = 2;
    o.batch_size = 4;
    o.threads = threads;
    o.test = &train;
    o.progress = false;
    const auto reports = fit(net, adam, train, o);
    std::vector<double> figures;
    for (const EpochReport& r : reports) figures.insert(figures.end(), {r.loss, r.test_loss});
    figures.insert(figures.end(), net.parameters().begin(), net.parameters().end());
    return figures;
  };
  CHECK(run(64) == run(4));
}

TEST_CASE("the confusion matrix names the classes it has names for and numbers the others") {
  // A network with 4 outputs evaluated on a data set of 2 named classes (an image folder of 2
  // classes under a 4-output network).
  ctnn::Evaluation e;
  e.confusion = {{3, 1, 0, 0}, {0, 2, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}};
  const std::vector<std::string> names = {"cat", "dog, big"};
  std::ostringstream table;
  ctnn::print_confusion(table, e, names);
  CHECK(table.str().find("cat") != std::string::npos);
  CHECK(table.str().find("dog, big") != std::string::npos);
  CHECK(table.str().find("\n3 ") != std::string::npos);  // the fourth row, numbered
  const std::string csv = ctnn::confusion_csv(e, names);
  CHECK(csv.rfind("true\\predicted,cat,\"dog, big\",2,3,accuracy\n", 0) == 0);
  CHECK(csv.find("\n3,1,0,0,0,0\n") != std::string::npos);
  CHECK_THROWS_AS(ctnn::confusion_csv(e, {"a", "b", "c", "d", "e"}), ctnn::InvalidArgument);
  CHECK_THROWS_AS(ctnn::print_confusion(table, e, {"a", "b", "c", "d", "e"}),
                  ctnn::InvalidArgument);
}

namespace {
// A group of one process: what distributed training does besides communicating (the shares,
// the bucketed sums started during backward) must leave the result exactly as it was.
struct SoloCollective : ctnn::Collective {
  std::size_t rank() const override { return 0; }
  std::size_t size() const override { return 1; }
  void broadcast(float*, std::size_t) override {}
  void allreduce_sum(float*, std::size_t) override {}
  void allreduce_sum(double*, std::size_t) override {}
};
}  // namespace

TEST_CASE("a trainer distributed over a group of one steps exactly as a plain trainer") {
  using Net = ctnn::Sequential<ctnn::Input<6, 6, 1>, ctnn::Conv2D<4, 3>, ctnn::BatchNorm,
                               ctnn::ReLU, ctnn::Dropout<0.3f>, ctnn::Dense<3>>;
  const auto data = ctnn_test::bands(96, 8);
  std::vector<std::size_t> order(data.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  SoloCollective solo;
  for (const std::size_t threads : {1, 2, 3})
    for (const std::size_t bucket :
         {std::size_t{0}, std::size_t{1}, std::size_t{50}, std::size_t{1} << 20}) {
      INFO("threads ", threads, ", bucket ", bucket);
      Net plain(5), spread(5);
      ctnn::SGD a(0.05f, 0.9f), b(0.05f, 0.9f);
      ctnn::Trainer<Net, ctnn::SGD> ta(plain, a, 24, threads, 2), tb(spread, b, 24, threads, 2);
      tb.distribute(solo, bucket);
      for (std::size_t s = 0; s < 4; ++s) {
        ta.step(data, order.data() + 24 * s, 24, s);
        tb.step(data, order.data() + 24 * s, 24, s);
      }
      CHECK(std::equal(plain.parameters().begin(), plain.parameters().end(),
                       spread.parameters().begin()));
    }
}
