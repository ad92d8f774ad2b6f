// The training recipe: schedules against their formulas, AdamW against PyTorch, label smoothing
// and class weights against finite differences, gradient clipping, augmentation against a
// scalar reference, the stratified split, callbacks and the CSV files.
#include <doctest/doctest.h>

#include <cmath>
#include <ctnn/callbacks.hpp>
#include <ctnn/ctnn.hpp>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "datasets.hpp"
#include "files.hpp"
#include "fixtures.hpp"
#include "reference.hpp"

using namespace ctnn;

namespace {

constexpr double pi = std::numbers::pi;

TrainingProgress at(std::size_t step, std::size_t epochs, std::size_t per_epoch) {
  return {step, step / per_epoch, epochs, per_epoch};
}

using ctnn_test::bands;
using BandNet = Sequential<Input<6, 6, 1>, Conv2D<4, 3>, ReLU, Dense<3>>;

}  // namespace

TEST_CASE("StepLR, CosineLR and OneCycleLR follow their formulas") {
  const StepLR step(0.1f, 3, 0.5f);
  for (std::size_t e = 0; e < 10; ++e)
    CHECK(step(at(e * 7, 10, 7)) == doctest::Approx(0.1 * std::pow(0.5, double(e / 3))));

  // 4 epochs of 10 steps, 1 epoch of warm-up: steps 0-9 rise linearly to the base rate, then a
  // half cosine from 0.2 to 0.02 over the 30 steps left.
  const CosineLR cosine(0.2f, 1.0, 0.02f);
  for (std::size_t s = 0; s < 40; ++s) {
    const double want = s < 10 ? 0.2 * double(s + 1) / 10
                               : 0.02 + 0.18 * 0.5 * (1 + std::cos(pi * double(s - 10) / 30));
    CHECK(cosine(at(s, 4, 10)) == doctest::Approx(want).epsilon(1e-6));
  }
  const CosineLR plain(1.0f);
  CHECK(plain(at(0, 2, 5)) == doctest::Approx(1.0));
  CHECK(plain(at(5, 2, 5)) == doctest::Approx(0.5));

  // One-cycle over 100 steps: up from max/25 during the first 30 steps (29 intervals), then down
  // to max/25/1e4 at step 99.
  const OneCycleLR one(0.4f);
  const double lo = 0.4 / 25, last = lo / 1e4, up = 0.3 * 100 - 1;
  for (std::size_t s = 0; s < 100; ++s) {
    const double want =
        double(s) <= up
            ? 0.4 + (lo - 0.4) / 2 * (1 + std::cos(pi * double(s) / up))
            : last + (0.4 - last) / 2 * (1 + std::cos(pi * (double(s) - up) / (99 - up)));
    CHECK(one(at(s, 10, 10)) == doctest::Approx(want).epsilon(1e-5));
  }
  CHECK(one(at(0, 10, 10)) == doctest::Approx(lo));
  CHECK(one(at(99, 10, 10)) == doctest::Approx(last).epsilon(1e-4));

  CHECK_THROWS_AS(StepLR(0.1f, 0), InvalidArgument);
  CHECK_THROWS_AS(CosineLR(std::nanf("")), InvalidArgument);
  CHECK_THROWS_AS(OneCycleLR(0.1f, 1.0), InvalidArgument);
}

TEST_CASE("ReduceLROnPlateau lowers the rate after `patience` epochs without improvement") {
  ReduceLROnPlateau p(1.0f, 0.5f, 2, 0.0);
  const TrainingProgress any;
  CHECK_FALSE(p.observe(1.0));  // best 1.0
  CHECK_FALSE(p.observe(0.9));  // best 0.9
  CHECK_FALSE(p.observe(0.95));
  CHECK_FALSE(p.observe(0.9));  // two epochs without improvement: still patient
  CHECK(p.observe(0.91));       // the third: halved
  CHECK(p(any) == 0.5f);
  CHECK_FALSE(p.observe(0.8));
  CHECK_FALSE(p.observe(std::nan("")));
  CHECK_FALSE(p.observe(0.8));
  CHECK(p.observe(0.85));
  CHECK(p.rate() == 0.25f);
}

TEST_CASE("ReduceLROnPlateau's state() restores into a new one, which goes on the same") {
  ReduceLROnPlateau p(1.0f, 0.5f, 2, 0.0);
  for (double metric : {1.0, 0.9, 0.95, 0.9, 0.91, 0.95}) p.observe(metric);
  const CallbackState s = p.state();
  CHECK(s.name == "plateau");
  CHECK(s.values.at("best") == 0.9);
  CHECK(s.values.at("bad_epochs") == 1);
  CHECK(s.values.at("scale") == 0.5);
  ReduceLROnPlateau q(1.0f, 0.5f, 2, 0.0);
  q.restore(s);
  CHECK(q.state().values == s.values);
  CHECK(q.rate() == 0.5f);
  for (double metric : {0.95, 0.97, 0.85, 0.9}) CHECK(q.observe(metric) == p.observe(metric));
  CHECK(q.rate() == p.rate());
  CHECK(q.rate() == 0.25f);  // lowered at 0.97: the restored count went on

  // Refused, naming the value as a checkpoint does, and changing nothing.
  const CallbackState before = q.state();
  auto refused = [&](CallbackState bad, const char* expect) {
    CHECK_THROWS_WITH_AS(q.restore(bad), doctest::Contains(expect), InvalidArgument);
    CHECK(q.state().values == before.values);
  };
  CallbackState bad = s;
  bad.values["bad_epochs"] = 1.5;
  refused(bad, "values.plateau.bad_epochs is 1.5, expected a whole number from 0 to 100000");
  bad = s;
  bad.values["best"] = std::nan("");
  refused(bad, "values.plateau.best is nan");
  bad = s;
  bad.values["scale"] = 2;
  refused(bad, "values.plateau.scale is 2");
  bad = s;
  bad.values.erase("scale");
  refused(bad, "the state lacks values.plateau.scale");
  bad = s;
  bad.name = "early_stopping";
  refused(bad, "the state is early_stopping's, expected plateau's");
}

TEST_CASE("AdamW takes the same steps as torch.optim.AdamW") {
  const auto fx = ctnn_test::read_fixture("optim/adamw.txt");
  std::vector<float> p = fx.at("params").values;
  AdamW opt(0.05f, 0.1f, 0.9f, 0.99f, 1e-7f);
  for (int k = 0; k < 6; ++k) {
    const auto& g = fx.at("grad" + std::to_string(k)).values;
    opt.step(p, g);
    const auto& want = fx.at("after" + std::to_string(k)).values;
    CHECK(ctnn_test::max_abs_diff(p, want) < 2e-6f);
  }
  // Adam with the same weight decay is a different algorithm (L2 in the moments).
  std::vector<float> q = fx.at("params").values;
  Adam l2(0.05f, 0.9f, 0.99f, 1e-7f, 0.1f);
  for (int k = 0; k < 6; ++k) l2.step(q, fx.at("grad" + std::to_string(k)).values);
  CHECK(ctnn_test::max_abs_diff(q, fx.at("after5").values) > 1e-3f);
}

TEST_CASE("label smoothing and class weights: loss formula and gradient by finite differences") {
  constexpr std::size_t N = 5;
  SoftmaxCrossEntropy loss;
  loss.label_smoothing = 0.2f;
  loss.class_weights = {1.0f, 2.0f, 0.5f, 1.0f, 3.0f};
  std::vector<double> z = {0.3, -1.2, 2.0, 0.1, -0.4};
  const int label = 4;
  auto value = [&](const std::vector<double>& x) {  // independent, in double
    double m = x[0], s = 0;
    for (double v : x) m = std::max(m, v);
    for (double v : x) s += std::exp(v - m);
    const double lse = m + std::log(s);
    double l = 0;
    for (std::size_t j = 0; j < N; ++j) {
      const double q = 0.2 / N + (int(j) == label ? 0.8 : 0.0);
      l += -q * (x[j] - lse);
    }
    return 3.0 * l;  // class 4's weight
  };
  float zf[N], dz[N];
  for (std::size_t j = 0; j < N; ++j) zf[j] = float(z[j]);
  const float l = loss.compute<N>(zf, label, nullptr, dz, 0.5f);
  CHECK(l == doctest::Approx(value(z)).epsilon(1e-5));
  for (std::size_t j = 0; j < N; ++j) {
    auto hi = z, lo = z;
    hi[j] += 1e-4;
    lo[j] -= 1e-4;
    CHECK(dz[j] == doctest::Approx(0.5 * (value(hi) - value(lo)) / 2e-4).epsilon(1e-4));
  }
  loss.class_weights = {1.0f, 2.0f};
  CHECK_THROWS_AS(loss.check(N), InvalidArgument);
  loss.class_weights.clear();
  loss.label_smoothing = 1.0f;
  CHECK_THROWS_AS(loss.check(N), InvalidArgument);
}

TEST_CASE("clipping by global norm scales the step to the given norm") {
  const auto d = bands(24, 3);
  std::vector<std::size_t> idx(24);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  BandNet a(7), b(7);
  const std::vector<float> start(a.parameters().begin(), a.parameters().end());
  SGD sa(1.0f), sb(1.0f);
  Trainer<BandNet, SGD> ta(a, sa, 24, 2), tb(b, sb, 24, 2);
  ta.step(d, idx.data(), 24, 0);  // no clipping: a = start - g
  tb.clip_gradient_norm(0.01f);
  tb.step(d, idx.data(), 24, 0);
  double norm = 0;
  for (std::size_t i = 0; i < start.size(); ++i)
    norm += double(start[i] - a.parameters()[i]) * (start[i] - a.parameters()[i]);
  norm = std::sqrt(norm);
  REQUIRE(norm > 0.01);
  CHECK(tb.gradient_norm() == doctest::Approx(norm).epsilon(1e-4));
  for (std::size_t i = 0; i < start.size(); ++i) {
    const double g = start[i] - a.parameters()[i];
    CHECK(start[i] - b.parameters()[i] == doctest::Approx(g * 0.01 / (norm + 1e-6)).epsilon(1e-3));
  }
}

namespace {
// Scalar reference of data::augment, pixel by pixel, drawing the same numbers in the same order.
std::vector<float> augment_reference(const std::vector<float>& in, std::size_t H, std::size_t W,
                                     std::size_t C, const data::Augmentation& a, Rng& rng) {
  long dy = 0, dx = 0;
  if (a.shift > 0) {
    dy = long(rng.below(2 * a.shift + 1)) - long(a.shift);
    dx = long(rng.below(2 * a.shift + 1)) - long(a.shift);
  }
  const bool flip = a.hflip && rng.below(2) == 1;
  bool erase = false;
  std::size_t top = 0, left = 0, h = 0, w = 0;
  if (a.erase > 0 && rng.uniform() < a.erase) {
    erase = true;
    const double area = double(H * W) * rng.uniform(0.02f, 0.4f);
    const double aspect = std::exp(rng.uniform(std::log(0.3f), std::log(1.0f / 0.3f)));
    h = std::min<std::size_t>(H, std::max<long>(1, std::lround(std::sqrt(area * aspect))));
    w = std::min<std::size_t>(W, std::max<long>(1, std::lround(std::sqrt(area / aspect))));
    top = rng.below(H - h + 1);
    left = rng.below(W - w + 1);
  }
  std::vector<float> out(in.size());
  for (std::size_t y = 0; y < H; ++y)
    for (std::size_t x = 0; x < W; ++x)
      for (std::size_t c = 0; c < C; ++c) {
        const long xs = flip ? long(W - 1 - x) : long(x);  // the flip acts on the shifted image
        const long sy = long(y) - dy, sx = xs - dx;
        float v =
            sy >= 0 && sy < long(H) && sx >= 0 && sx < long(W) ? in[(sy * W + sx) * C + c] : 0.0f;
        if (erase && y >= top && y < top + h && x >= left && x < left + w) v = a.erase_value;
        out[(y * W + x) * C + c] = v;
      }
  return out;
}
}  // namespace

TEST_CASE("augmentation matches its scalar reference") {
  constexpr std::size_t H = 7, W = 9, C = 2;
  const auto image = ctnn_test::random_vector(H * W * C, 11, 0.5f, 1.0f);
  std::vector<float> scratch(H * W * C);
  int flipped = 0, erased = 0, shifted = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    data::Augmentation a;
    a.shift = 3;
    a.hflip = true;
    a.erase = 0.5f;
    a.erase_value = -1.0f;
    Rng r1(seed), r2(seed);
    auto got = image;
    data::augment(got.data(), H, W, C, a, r1, scratch.data());
    const auto want = augment_reference(image, H, W, C, a, r2);
    REQUIRE(got == want);
    flipped += got != image;
    erased += std::count(got.begin(), got.end(), -1.0f) > 0;
    shifted += std::count(got.begin(), got.end(), 0.0f) > 0;
  }
  CHECK(erased > 60);  // each transform really happens
  CHECK(shifted > 100);
  CHECK(flipped > 150);
  CHECK(data::parse_augmentation("shift,hflip").hflip);
  CHECK(data::parse_augmentation("shift,hflip").shift == 2);
  CHECK(data::parse_augmentation("erase").erase == 0.5f);
  CHECK_THROWS_WITH_AS(data::parse_augmentation("shift,rotate"),
                       doctest::Contains("unknown augmentation 'rotate'"), InvalidArgument);
}

TEST_CASE("augmented training does not depend on the thread count beyond rounding") {
  const auto d = bands(60, 5);
  auto run = [&](std::size_t threads) {
    BandNet net(3);
    Adam adam(1e-2f);
    FitOptions o;
    o.epochs = 2;
    o.batch_size = 12;
    o.threads = threads;
    o.augmentation.shift = 1;
    o.augmentation.erase = 0.5f;
    fit(net, adam, d, o);
    return std::vector<float>(net.parameters().begin(), net.parameters().end());
  };
  const auto one = run(1), two = run(2), again = run(2);
  CHECK(two == again);
  CHECK(ctnn_test::max_abs_diff(one, two) < 1e-4f);
  BandNet plain(3);
  Adam adam;
  FitOptions o;
  o.augmentation.shift = 6;  // does not fit a 6x6 image
  CHECK_THROWS_AS(fit(plain, adam, d, o), InvalidArgument);
}

TEST_CASE("stratified_split keeps each class's share") {
  data::Dataset d;
  d.sample_size = 1;
  d.classes = 3;
  for (int i = 0; i < 100; ++i) {
    d.labels.push_back(i < 50 ? 0 : i < 80 ? 1 : 2);
    d.inputs.push_back(float(i));
  }
  const auto [train, val] = data::stratified_split(d, 0.2, 9);
  REQUIRE(train.size() + val.size() == 100);
  std::size_t per_class[3] = {};
  for (auto l : val.labels) ++per_class[l];
  CHECK(per_class[0] == 10);
  CHECK(per_class[1] == 6);
  CHECK(per_class[2] == 4);
  std::vector<float> all = train.inputs;  // every sample once, each part in the original order
  all.insert(all.end(), val.inputs.begin(), val.inputs.end());
  std::sort(all.begin(), all.end());
  for (int i = 0; i < 100; ++i) CHECK(all[i] == float(i));
  CHECK(std::is_sorted(val.inputs.begin(), val.inputs.end()));
  for (std::size_t i = 0; i < val.size(); ++i)
    CHECK(val.labels[i] == d.labels[std::size_t(val.inputs[i])]);
  CHECK_THROWS_AS(data::stratified_split(d, 1.0), InvalidArgument);
}

TEST_CASE("fit: schedule, early stopping, best model and history file") {
  const auto train = bands(90, 1), test = bands(45, 2);
  ctnn_test::TempDir dir;
  BandNet net(1);
  Adam adam;
  FitOptions o;
  o.epochs = 6;
  o.batch_size = 10;
  o.threads = 2;
  o.test = &test;
  o.schedule = CosineLR(0.02f, 1.0);
  o.on_epoch_end.push_back(HistoryCsv(dir.file("history.csv")));
  o.on_epoch_end.push_back(SaveBest(net, dir.file("best.ctnn")));
  const auto reports = fit(net, adam, train, o);
  REQUIRE(reports.size() == 6);
  for (const auto& r : reports)  // the rate of each epoch's last step (9 batches per epoch)
    CHECK(r.learning_rate ==
          doctest::Approx(CosineLR(0.02f, 1.0)(at(r.epoch * 9 - 1, 6, 9))).epsilon(1e-6));

  std::ifstream f(dir.file("history.csv"));
  std::string line;
  std::getline(f, line);
  CHECK(line == history_csv_header);
  std::size_t rows = 0, best_epoch = 0;
  double best = 1e9;
  while (std::getline(f, line)) {
    ++rows;
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    REQUIRE(cells.size() == 8);
    const auto& r = reports[rows - 1];
    CHECK(std::stoul(cells[0]) == r.epoch);
    CHECK(std::stod(cells[2]) == doctest::Approx(r.loss));
    CHECK(std::stod(cells[4]) == doctest::Approx(r.test_loss));
    CHECK(std::stod(cells[5]) == doctest::Approx(r.test_accuracy));
    if (r.test_loss < best) best = r.test_loss, best_epoch = r.epoch;
  }
  CHECK(rows == 6);
  // best.ctnn holds the network of the epoch with the lowest test loss.
  BandNet saved(uninitialized);
  load(saved, dir.file("best.ctnn"));
  CHECK(evaluate(saved, test, 1).loss == doctest::Approx(reports[best_epoch - 1].test_loss));

  // A learning rate of 0 changes nothing: early stopping with patience 2 ends after 3 epochs.
  BandNet still(1);
  Adam unused;
  FitOptions s;
  s.epochs = 10;
  s.threads = 1;
  s.test = &test;
  s.schedule = [](const TrainingProgress&) { return 0.0f; };
  s.on_epoch_end.push_back(EarlyStopping(2));
  CHECK(fit(still, unused, train, s).size() == 3);
}

TEST_CASE("fit called again goes on as one longer call, with dropout and augmentation") {
  using DropNet = Sequential<Input<6, 6, 1>, Conv2D<4, 3>, ReLU, Dropout<0.3f>, Dense<3>>;
  const auto train = bands(50, 8);
  FitOptions o;
  o.batch_size = 8;
  o.threads = 2;
  o.augmentation.shift = 1;
  o.augmentation.hflip = true;
  auto same = [](const DropNet& x, const DropNet& y) {
    return std::equal(x.parameters().begin(), x.parameters().end(), y.parameters().begin());
  };

  // Without a schedule: 4 epochs, or 2 and 2 more.
  DropNet straight(4), split(4);
  Adam a, b;
  o.epochs = 4;
  const auto all = fit(straight, a, train, o);
  o.epochs = 2;
  fit(split, b, train, o);
  const auto second = fit(split, b, train, o);
  CHECK(a.epochs_done == 4);
  CHECK(b.epochs_done == 4);
  REQUIRE(second.size() == 2);
  CHECK(second[0].epoch == 3);
  CHECK(second[1].loss == all[3].loss);
  CHECK(same(straight, split));

  // A schedule depends on the planned length: a 4-epoch cosine run stopped after epoch 2 and
  // continued for its last 2 epochs equals the run that never stopped.
  DropNet cos_straight(5), cos_split(5);
  Adam c, d;
  o.schedule = CosineLR(0.01f);
  o.epochs = 4;
  const auto cos_all = fit(cos_straight, c, train, o);
  FitOptions stop_early = o;
  stop_early.on_epoch_end.push_back(
      [](const EpochReport& r, TrainingControl& control) { control.stop = r.epoch == 2; });
  CHECK(fit(cos_split, d, train, stop_early).size() == 2);
  o.epochs = 2;
  const auto rest = fit(cos_split, d, train, o);
  CHECK(rest[1].learning_rate == cos_all[3].learning_rate);
  CHECK(same(cos_straight, cos_split));
  CHECK_FALSE(same(straight, cos_straight));
}

TEST_CASE("fit: batch callbacks see every step and can stop training mid-epoch") {
  const auto train = bands(50, 3);
  BandNet net(2);
  Adam adam(0.01f);
  FitOptions o;
  o.epochs = 3;
  o.batch_size = 8;  // 7 batches per epoch, the last of 2 samples
  o.threads = 2;
  o.schedule = CosineLR(0.01f);
  std::vector<BatchReport> seen;
  o.on_batch_end.push_back([&](const BatchReport& b, TrainingControl& c) {
    seen.push_back(b);
    c.stop = b.epoch == 2 && b.batch == 3;
  });
  std::size_t epoch_callbacks = 0;
  o.on_epoch_end.push_back([&](const EpochReport&, TrainingControl&) { ++epoch_callbacks; });
  const auto reports = fit(net, adam, train, o);
  REQUIRE(seen.size() == 7 + 3);
  CHECK(seen[6].samples == 2);
  CHECK(seen[6].batches == 7);
  CHECK(seen[9].epoch == 2);
  CHECK(seen[9].batch == 3);
  CHECK(seen[9].learning_rate == doctest::Approx(CosineLR(0.01f)(at(9, 3, 7))));
  REQUIRE(reports.size() == 2);
  CHECK(epoch_callbacks == 2);
  CHECK(adam.epochs_done == 2);
  // The cut epoch is reported over the 24 samples it trained on: the mean of its batch losses.
  CHECK(reports[1].loss == doctest::Approx((seen[7].loss + seen[8].loss + seen[9].loss) / 3));
}
