// The pieces fit() is made of, each on its own: the shuffle, the range split, the gradient
// reducer, the progress and log callbacks; and that training writes nothing of its own.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctnn/ctnn.hpp>
#include <ctnn/train/reducer.hpp>
#include <iostream>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

using namespace ctnn;

TEST_CASE("shuffle draws as the textbook Fisher-Yates loop and gives a permutation") {
  for (const std::size_t n : {0u, 1u, 2u, 7u, 100u}) {
    std::vector<std::size_t> a(n), b(n);
    std::iota(a.begin(), a.end(), std::size_t{0});
    std::iota(b.begin(), b.end(), std::size_t{0});
    Rng r1(derive_seed(42, n)), r2(derive_seed(42, n));
    ctnn::shuffle(a, r1);
    for (std::size_t i = n; i-- > 1;) std::swap(b[i], b[r2.below(i + 1)]);
    CHECK(a == b);
    CHECK(r1.next() == r2.next());  // the same number of draws
    std::sort(a.begin(), a.end());
    std::vector<std::size_t> id(n);
    std::iota(id.begin(), id.end(), std::size_t{0});
    CHECK(a == id);
  }
}

TEST_CASE("shuffle of fewer than two items draws nothing") {
  std::vector<int> one{5};
  Rng r(3), fresh(3);
  ctnn::shuffle(one, r);
  CHECK(one == std::vector<int>{5});
  CHECK(r.next() == fresh.next());
}

TEST_CASE("split_range covers 0 .. n-1 with contiguous parts in order") {
  for (const std::size_t n : {0u, 1u, 5u, 16u, 17u, 1000u, 1025u})
    for (const std::size_t parts : {1u, 2u, 3u, 7u, 64u})
      for (const std::size_t g : {1u, 16u}) {
        std::size_t at = 0, smallest = n, largest = 0;
        for (std::size_t p = 0; p < parts; ++p) {
          const auto [b, e] = split_range(n, p, parts, g);
          CHECK(b == at);
          CHECK(e >= b);
          if (e != n) CHECK(e % g == 0);
          if (g == 1) {
            CHECK(b == n * p / parts);
            CHECK(e == n * (p + 1) / parts);
          }
          smallest = std::min(smallest, e - b);
          largest = std::max(largest, e - b);
          at = e;
        }
        CHECK(at == n);
        CHECK(largest - smallest < 2 * g);
      }
}

namespace {

std::vector<float> noise(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(-1.0f, 1.0f);
  return v;
}

// A second process simulated: every sum adds what that process holds at the same place of the
// gradient (`base`), and the buckets started are counted.
struct TwoProcesses : Collective {
  const float* base = nullptr;
  std::vector<float> other;
  std::size_t starts = 0;
  std::size_t rank() const override { return 0; }
  std::size_t size() const override { return 2; }
  void broadcast(float*, std::size_t) override {}
  void allreduce_sum(float* d, std::size_t n) override {
    const auto at = static_cast<std::size_t>(d - base);
    for (std::size_t i = 0; i < n; ++i) d[i] += other[at + i];
  }
  void allreduce_sum(double*, std::size_t) override {}
  std::size_t start_allreduce_sum(float* d, std::size_t n) override {
    ++starts;
    allreduce_sum(d, n);
    return starts;
  }
};

}  // namespace

TEST_CASE("the gradient reducer sums the workers in worker order, as a plain loop does") {
  constexpr std::size_t P = 1000;  // not a whole number of cache lines
  for (const std::size_t threads : {1u, 2u, 3u}) {
    ThreadPool pool(threads);
    std::vector<std::vector<float>> w;
    std::vector<const float*> ptrs;
    for (std::size_t t = 0; t < threads; ++t) w.push_back(noise(P, 10 + t));
    for (const auto& g : w) ptrs.push_back(g.data());
    detail::GradientReducer r(pool, P);
    r.set_workers(ptrs);
    r.begin();
    r.finish_buckets();
    CHECK(r.reduce() == P);
    for (std::size_t i = 0; i < P; ++i) {
      float sum = w[0][i];
      for (std::size_t t = 1; t < threads; ++t) sum += w[t][i];
      REQUIRE(r.gradient()[i] == sum);
    }
    CHECK(r.wait_seconds() == 0.0);
  }
}

TEST_CASE("the gradient reducer reports the first parameter whose sum is not finite") {
  constexpr std::size_t P = 300;
  ThreadPool pool(3);
  auto a = noise(P, 1), b = noise(P, 2);
  b[211] = std::numeric_limits<float>::infinity();
  a[97] = std::numeric_limits<float>::quiet_NaN();
  detail::GradientReducer r(pool, P);
  r.set_workers({a.data(), b.data(), a.data()});
  r.begin();
  CHECK(r.reduce() == 97);
  a[97] = 0.5f;
  CHECK(r.reduce() == 211);
}

TEST_CASE("the gradient reducer's buckets start during backward and sum across processes") {
  constexpr std::size_t P = 1000;
  ThreadPool pool(3);
  std::vector<std::vector<float>> w{noise(P, 4), noise(P, 5), noise(P, 6)};
  detail::GradientReducer plain(pool, P), bucketed(pool, P);
  TwoProcesses c1, c2;
  c1.other = c2.other = noise(P, 7);
  c1.base = plain.gradient().data();
  c2.base = bucketed.gradient().data();
  for (auto* r : {&plain, &bucketed}) r->set_workers({w[0].data(), w[1].data(), w[2].data()});
  const std::size_t layers[] = {0, 100, 400, 900};
  plain.distribute(c1, layers, 0);       // one sum after backward
  bucketed.distribute(c2, layers, 250);  // [400, 1000), [100, 400), [0, 100)
  CHECK_FALSE(plain.overlapping());
  REQUIRE(bucketed.overlapping());
  bucketed.begin();
  bucketed.completed(1, 400);
  bucketed.completed(2, 400);
  CHECK(c2.starts == 0);
  bucketed.completed(0, 400);  // every worker has completed [400, 1000): its sum starts
  CHECK(c2.starts == 1);
  for (const std::size_t t : {1u, 2u, 0u}) bucketed.completed(t, 0);
  bucketed.finish_buckets();
  CHECK(c2.starts == 3);
  CHECK(bucketed.reduce() == P);
  plain.begin();
  plain.finish_buckets();
  CHECK(plain.reduce() == P);
  for (std::size_t i = 0; i < P; ++i) {
    const float sum = ((w[0][i] + w[1][i]) + w[2][i]) + c1.other[i];
    REQUIRE(plain.gradient()[i] == sum);
    REQUIRE(bucketed.gradient()[i] == sum);
  }
}

TEST_CASE("the gradient reducer clips to the global norm as clip_grad_norm_") {
  constexpr std::size_t P = 77;
  ThreadPool pool(2);
  const auto g = noise(P, 9);
  detail::GradientReducer r(pool, P);
  r.set_workers({g.data(), g.data()});
  r.begin();
  REQUIRE(r.reduce() == P);
  double sq = 0;
  for (const float x : g) sq += double(2 * x) * double(2 * x);
  const double norm = std::sqrt(sq);
  CHECK(r.clip(float(norm * 2)) == doctest::Approx(norm).epsilon(1e-12));
  CHECK(r.gradient()[5] == 2 * g[5]);  // below the limit: unchanged
  CHECK(r.clip(1.0f) == doctest::Approx(norm).epsilon(1e-12));
  const auto scale = static_cast<float>(1.0 / (norm + 1e-6));
  for (std::size_t i = 0; i < P; ++i) REQUIRE(r.gradient()[i] == 2 * g[i] * scale);
}

TEST_CASE("ProgressLine writes the epoch's line on the first, every 20th and the last batch") {
  std::ostringstream out;
  const ProgressLine line(out);
  BatchReport r;
  r.epoch = 2;
  r.epochs = 3;
  r.batches = 45;
  r.epoch_loss = 0.25;
  r.seconds = 0.5;
  TrainingControl control;
  std::string seen;
  for (r.batch = 1; r.batch <= r.batches; ++r.batch) {
    r.epoch_samples = 32 * r.batch;
    out.str("");
    line(r, control);
    if (!out.str().empty()) seen += std::to_string(r.batch) + ":" + out.str() + "|";
  }
  const std::string erase = "\r" + std::string(70, ' ') + "\r";
  CHECK(seen ==
        "1:\repoch 2/3  batch 1/45  loss 0.2500  64 images/s   |"
        "21:\repoch 2/3  batch 21/45  loss 0.2500  1344 images/s   |"
        "41:\repoch 2/3  batch 41/45  loss 0.2500  2624 images/s   |"
        "45:\repoch 2/3  batch 45/45  loss 0.2500  2880 images/s   " +
            erase + "|");
  out.str("");
  r.batch = 7;
  control.stop = true;  // a callback before it stops training: the line ends here
  line(r, control);
  CHECK(out.str().ends_with(erase));
  out.str("");
  line.interrupted();
  CHECK(out.str() == "\n");
}

TEST_CASE("EpochLog writes one line per epoch, with the test and waiting figures when there") {
  std::ostringstream out;
  EpochReport r;
  r.epoch = 4;
  r.epochs = 10;
  r.loss = 0.123456;
  r.train_accuracy = 0.9;
  r.images_per_second = 1234.4;
  r.seconds = 2.34;
  r.communication_seconds = 0.126;
  TrainingControl control;
  EpochLog{out}(r, control);
  CHECK(out.str() == "epoch 4/10  loss 0.1235  train accuracy 0.9000  1234 images/s  2.3 s\n");
  out.str("");
  r.test_loss = 0.5;
  r.test_accuracy = 0.75;
  EpochLog{out, true}(r, control);
  CHECK(out.str() ==
        "epoch 4/10  loss 0.1235  train accuracy 0.9000  test loss 0.5000  test accuracy 0.7500  "
        "1234 images/s  2.3 s (0.13 s waiting for the other processes)\n");
  CHECK_FALSE(control.stop);
}

namespace {

using SmallNet = Sequential<Input<4, 4, 1>, Dense<8>, ReLU, Dense<3>>;

data::Dataset stripes(std::size_t n, std::uint64_t seed) {
  data::Dataset d;
  d.sample_size = 16;
  d.classes = 3;
  d.inputs = noise(n * 16, seed);
  Rng rng(seed + 1);
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::int32_t>(rng.below(3));
    d.labels.push_back(k);
    for (std::size_t c = 0; c < 4; ++c) d.inputs[i * 16 + 4 * std::size_t(k) + c] += 2.0f;
  }
  return d;
}

// Everything written to the file descriptors 1 and 2 while f() runs.
template <class F>
std::string written_by(F f) {
  std::fflush(nullptr);
  std::FILE* capture = std::tmpfile();
  REQUIRE(capture != nullptr);
  const int out = ::dup(1), err = ::dup(2);
  ::dup2(::fileno(capture), 1);
  ::dup2(::fileno(capture), 2);
  f();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::dup2(out, 1);
  ::dup2(err, 2);
  ::close(out);
  ::close(err);
  std::string text;
  std::rewind(capture);
  for (int ch; (ch = std::fgetc(capture)) != EOF;) text += static_cast<char>(ch);
  std::fclose(capture);
  return text;
}

}  // namespace

TEST_CASE("fit writes nothing when no progress line and no log are asked for") {
  const auto train = stripes(96, 3), test = stripes(32, 4);
  SmallNet net(1);
  SGD sgd(0.05f);
  FitOptions o;
  o.epochs = 2;
  o.batch_size = 16;
  o.threads = 2;
  o.test = &test;
  o.progress = false;
  std::vector<EpochReport> reports;
  CHECK(written_by([&] { reports = fit(net, sgd, train, o); }).empty());
  CHECK(reports.size() == 2);
}

TEST_CASE("fit's log is the EpochLog of its reports, and a test batch size changes no count") {
  const auto train = stripes(96, 3), test = stripes(40, 4);
  std::vector<EpochReport> reports[2];
  std::string logs[2];
  for (const std::size_t k : {0u, 1u}) {
    SmallNet net(1);
    SGD sgd(0.05f);
    FitOptions o;
    o.epochs = 3;
    o.batch_size = 16;
    o.threads = 2;
    o.test = &test;
    o.test_batch_size = k == 0 ? 16 : 3;
    o.progress = false;
    std::ostringstream log;
    o.log = &log;
    reports[k] = fit(net, sgd, train, o);
    logs[k] = log.str();
  }
  std::ostringstream again;
  TrainingControl control;
  for (const EpochReport& r : reports[0]) {
    CHECK(r.epochs == 3);
    EpochLog{again}(r, control);
  }
  CHECK(logs[0] == again.str());
  for (std::size_t e = 0; e < 3; ++e) {
    CHECK(reports[0][e].loss == reports[1][e].loss);  // training does not see it
    CHECK(reports[0][e].test_accuracy == reports[1][e].test_accuracy);
    CHECK(reports[0][e].test_loss == doctest::Approx(reports[1][e].test_loss).epsilon(1e-6));
  }
  FitOptions bad;
  bad.test_batch_size = 0;
  SmallNet net(1);
  SGD sgd(0.05f);
  CHECK_THROWS_AS(fit(net, sgd, train, bad), InvalidArgument);
}
