// Data-parallel training over MPI: run under mpirun with 2 or more processes (tests/CMakeLists.txt
// registers `mpirun -np 2`). R processes of T threads must compute what one process of R * T
// threads computes (up to the order of the gradient sums), and every process must end with the
// same parameters, bit for bit.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctnn/callbacks.hpp>
#include <ctnn/ctnn.hpp>
#include <ctnn/distributed/mpi.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "../datasets.hpp"

using namespace ctnn;

namespace {

mpi::Communicator* world = nullptr;

// Dropout (a random stream per worker), BatchNorm (state averaged over the workers) and a
// convolution: every part of a step that depends on how the batch is split.
using Net = Sequential<Input<6, 6, 1>, Conv2D<4, 3>, BatchNorm, ReLU, Dropout<0.3f>, Dense<3>>;

// FNV-1a over the bytes of `v`.
std::uint64_t checksum(std::span<const float> v) {
  std::uint64_t h = 1469598103934665603ull;
  for (float x : v) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, 4);
    for (int i = 0; i < 4; ++i) h = (h ^ ((bits >> (8 * i)) & 0xff)) * 1099511628211ull;
  }
  return h;
}

// Whether every process holds the same `value`.
bool same_on_all(std::uint64_t value) {
  // Two halves as exact doubles: their sums equal size * value on every process iff all agree
  // (checked against process 0's value, broadcast as floats would lose bits).
  std::vector<double> parts = {double(value >> 32), double(value & 0xffffffffu)};
  std::vector<double> sums = parts;
  world->allreduce_sum(sums.data(), sums.size());
  std::vector<double> mine = parts, first(2, 0.0);
  if (world->rank() == 0) first = parts;
  world->allreduce_sum(first.data(), first.size());
  double disagree = (mine != first) ? 1.0 : 0.0;
  world->allreduce_sum(&disagree, 1);
  return disagree == 0.0;
}

double max_relative_difference(std::span<const float> a, std::span<const float> b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - b[i]) / std::max(1e-3, std::abs(double(b[i]))));
  return worst;
}

}  // namespace

TEST_CASE("distributed steps equal the same steps on as many threads in one process") {
  const std::size_t R = world->size();
  const auto data = ctnn_test::bands(96, 5);
  std::vector<std::size_t> order(data.size());
  std::iota(order.begin(), order.end(), std::size_t{0});

  // Buckets: one sum after backward (0), one per layer (1), all layers in one.
  for (const std::size_t bucket : {std::size_t{0}, std::size_t{1}, std::size_t{1} << 18}) {
    INFO("bucket size: ", bucket);
    // One process, R threads.
    Net local(3);
    Adam local_opt(0.01f);
    Trainer<Net, Adam> single(local, local_opt, 16, R, 9);
    single.augment(data::parse_augmentation("shift,hflip"));

    // R processes of one thread; process r > 0 starts from other parameters, which the
    // broadcast replaces with process 0's.
    Net net(world->rank() == 0 ? 3 : 100 + world->rank());
    Adam opt(0.01f);
    Trainer<Net, Adam> spread(net, opt, 16, 1, 9);
    spread.augment(data::parse_augmentation("shift,hflip"));
    spread.distribute(*world, bucket);

    for (std::size_t s = 0; s < 6; ++s) {
      const auto a = single.step(data, order.data() + 16 * s, 16, s);
      const auto b = spread.step(data, order.data() + 16 * s, 16, s);
      CHECK(b.correct == a.correct);
      CHECK(b.loss == doctest::Approx(a.loss).epsilon(1e-5));
    }
    CHECK(max_relative_difference(net.parameters(), local.parameters()) < 1e-5);
    CHECK(max_relative_difference(net.state(), local.state()) < 1e-5);
    CHECK(same_on_all(checksum(net.parameters())));
    CHECK(same_on_all(checksum(net.state())));
  }
}

TEST_CASE("two threads per process: buckets are started once every thread has passed them") {
  // Four workers' gradients summed as (0 + 1) + (2 + 3) rather than ((0 + 1) + 2) + 3 differ in
  // their last bits. SGD keeps such differences as small as they are; Adam, whose first steps
  // are the gradient's sign, would turn them into whole steps for the convolution's bias, whose
  // gradient before BatchNorm is zero up to rounding.
  const std::size_t R = world->size();
  const auto data = ctnn_test::bands(96, 8);
  std::vector<std::size_t> order(data.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  for (const std::size_t bucket : {std::size_t{0}, std::size_t{1}}) {
    INFO("bucket size: ", bucket);
    Net local(5), net(5);
    SGD local_opt(0.05f, 0.9f), opt(0.05f, 0.9f);
    Trainer<Net, SGD> single(local, local_opt, 24, 2 * R, 2);
    Trainer<Net, SGD> spread(net, opt, 24, 2, 2);
    spread.distribute(*world, bucket);
    for (std::size_t s = 0; s < 4; ++s) {
      const auto a = single.step(data, order.data() + 24 * s, 24, s);
      const auto b = spread.step(data, order.data() + 24 * s, 24, s);
      CHECK(b.correct == a.correct);
    }
    CHECK(max_relative_difference(net.parameters(), local.parameters()) < 1e-5);
    CHECK(same_on_all(checksum(net.parameters())));
  }
}

TEST_CASE("distributed fit and evaluate equal one process with as many threads") {
  const std::size_t R = world->size();
  const auto train = ctnn_test::bands(120, 6), test = ctnn_test::bands(50, 7);
  FitOptions o;
  o.epochs = 2;
  o.batch_size = 10;
  o.seed = 4;
  o.test = &test;
  o.progress = false;

  Net local(8);
  Adam local_opt(0.01f);
  o.threads = R;
  const auto expected = fit(local, local_opt, train, o);

  Net net(8);
  Adam opt(0.01f);
  o.threads = 1;
  o.collective = world;
  const auto got = fit(net, opt, train, o);

  REQUIRE(got.size() == expected.size());
  for (std::size_t e = 0; e < got.size(); ++e) {
    CHECK(got[e].loss == doctest::Approx(expected[e].loss).epsilon(1e-5));
    CHECK(got[e].train_accuracy == expected[e].train_accuracy);
    CHECK(got[e].test_accuracy == expected[e].test_accuracy);
    CHECK(got[e].test_loss == doctest::Approx(expected[e].test_loss).epsilon(1e-5));
  }
  CHECK(max_relative_difference(net.parameters(), local.parameters()) < 1e-5);
  CHECK(same_on_all(checksum(net.parameters())));

  // evaluate() shards the data over the processes and sums the counts.
  const Evaluation whole = evaluate(local, test, 1);
  const Evaluation spread = evaluate(local, test, 1, 16, SoftmaxCrossEntropy{}, world);
  CHECK(spread.accuracy == whole.accuracy);
  CHECK(spread.loss == doctest::Approx(whole.loss).epsilon(1e-12));
  CHECK(spread.confusion == whole.confusion);
}

TEST_CASE("distributed fit on a stream: each process reads only its share, same training") {
  const std::size_t R = world->size();
  const auto train = ctnn_test::bands(70, 11), test = ctnn_test::bands(30, 12);
  FitOptions o;
  o.epochs = 2;
  o.batch_size = 12;
  o.seed = 6;
  o.threads = 1;
  o.progress = false;
  o.collective = world;
  o.test = &test;
  Net a(3), b(3);
  Adam oa(0.01f), ob(0.01f);
  const auto expected = fit(a, oa, train, o);
  ctnn_test::MemoryStream stream(train), test_stream(test);
  o.test = nullptr;
  o.test_stream = &test_stream;
  const auto got = fit(b, ob, stream, o);
  REQUIRE(got.size() == expected.size());
  for (std::size_t e = 0; e < got.size(); ++e) {
    CHECK(got[e].loss == expected[e].loss);
    CHECK(got[e].test_accuracy == expected[e].test_accuracy);
  }
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
  CHECK(same_on_all(checksum(b.parameters())));
  // Between them the processes read every sample once per epoch; each read only its share.
  CHECK(stream.read_indices.size() <= (o.epochs * train.size() + R - 1) / R + o.epochs * 6);
  std::vector<double> reads(train.size(), 0.0);
  for (std::size_t i : stream.read_indices) reads[i] += 1;
  world->allreduce_sum(reads.data(), reads.size());
  CHECK(std::all_of(reads.begin(), reads.end(), [&](double r) { return r == double(o.epochs); }));
}

TEST_CASE("a distributed run resumed from process 0's checkpoint goes on as if never stopped") {
  const auto train = ctnn_test::bands(80, 9), test = ctnn_test::bands(30, 10);
  FitOptions o;
  o.epochs = 3;
  o.batch_size = 8;
  o.seed = 6;
  o.threads = 1;
  o.test = &test;
  o.progress = false;
  o.collective = world;
  o.augmentation.shift = 1;

  Net straight(2);
  Adam a(0.01f);
  fit(straight, a, train, o);

  // Process 0 names the file (its process id, exact in a float) and alone writes it.
  float id = world->rank() == 0 ? static_cast<float>(::getpid()) : 0.0f;
  world->broadcast(&id, 1);
  const std::string path = "/tmp/ctnn-mpi-test-" + std::to_string(static_cast<long>(id)) + ".ckpt";
  Net first(2);
  Adam b(0.01f);
  FitOptions two = o;
  two.epochs = 2;
  if (world->rank() == 0)
    two.on_epoch_end.push_back(
        SaveCheckpoint(first, b, path, TrainingState{o.seed, o.batch_size, 1, {}, {}}));
  fit(first, b, train, two);
  double written = 0;  // every process past fit(): the file is complete
  world->allreduce_sum(&written, 1);

  Net resumed(99);  // replaced by the checkpoint's parameters
  Adam c(0.01f);
  load_checkpoint(path, resumed, c);
  FitOptions rest = o;
  rest.epochs = 1;
  fit(resumed, c, train, rest);
  world->allreduce_sum(&written, 1);  // everyone has read it
  if (world->rank() == 0) std::remove(path.c_str());

  CHECK(std::equal(resumed.parameters().begin(), resumed.parameters().end(),
                   straight.parameters().begin()));
  CHECK(same_on_all(checksum(resumed.parameters())));
}

namespace {

// Runs f(), which every process calls with settings of its own; f must throw SettingMismatch on
// every process, naming `setting` with process 0's value `first` and process 1's `other`.
template <class F>
void expect_mismatch(const std::string& setting, const std::string& first, const std::string& other,
                     F f) {
  INFO("setting: ", setting);
  bool thrown = false;
  try {
    f();
  } catch (const SettingMismatch& e) {
    thrown = true;
    const std::string what = e.what();
    INFO(what);
    CHECK(e.setting() == setting);
    CHECK(e.rank() == 1);
    CHECK(e.first_value() == first);
    CHECK(e.other_value() == other);
    CHECK(what.find(setting + ": " + first + " on process 0, " + other + " on process 1") !=
          std::string::npos);
  }
  CHECK(thrown);
}

using WideNet = Sequential<Input<6, 6, 1>, Conv2D<4, 3>, BatchNorm, ReLU, Dropout<0.3f>, Dense<4>>;

}  // namespace

TEST_CASE("processes with different data or settings all throw SettingMismatch naming it") {
  const bool first = world->rank() == 0;
  const auto train = ctnn_test::bands(60, 6), test = ctnn_test::bands(20, 7);
  FitOptions o;
  o.epochs = 1;
  o.batch_size = 10;
  o.seed = 4;
  o.threads = 1;
  o.progress = false;
  o.collective = world;
  // fit() with process 0's options and data, process r > 0's changed by `change`.
  auto fit_with = [&](auto change) {
    FitOptions mine = o;
    data::Dataset data = train;
    Net net(first ? 8 : 9);
    Adam adam(0.01f);
    if (!first) change(mine, data, adam);
    fit(net, adam, data, mine);
  };
  using O = FitOptions&;
  using D = data::Dataset&;
  using A = Adam&;

  expect_mismatch("training samples", "60", "61",
                  [&] { fit_with([&](O, D d, A) { d = ctnn_test::bands(61, 6); }); });
  expect_mismatch("training classes", "3", "4",
                  [&] { fit_with([](O, D d, A) { d.classes = 4; }); });
  expect_mismatch("batch_size", "10", "12",
                  [&] { fit_with([](O m, D, A) { m.batch_size = 12; }); });
  expect_mismatch("epochs", "1", "2", [&] { fit_with([](O m, D, A) { m.epochs = 2; }); });
  expect_mismatch("allreduce_bucket", "262144", "0",
                  [&] { fit_with([](O m, D, A) { m.allreduce_bucket = 0; }); });
  expect_mismatch("seed", "4", "5", [&] { fit_with([](O m, D, A) { m.seed = 5; }); });
  expect_mismatch("learning_rate", "0.01", "0.02",
                  [&] { fit_with([](O, D, A a) { a.learning_rate = 0.02f; }); });
  expect_mismatch("learning_rate", "0.01", "0.03",
                  [&] { fit_with([](O m, D, A) { m.learning_rate = 0.03f; }); });
  expect_mismatch("beta2", "0.999", "0.99", [&] { fit_with([](O, D, A a) { a.beta2 = 0.99f; }); });
  expect_mismatch("threads", "1", "2", [&] { fit_with([](O m, D, A) { m.threads = 2; }); });
  expect_mismatch("shuffle", "yes", "no", [&] { fit_with([](O m, D, A) { m.shuffle = false; }); });
  expect_mismatch("clip_norm", "0", "1", [&] { fit_with([](O m, D, A) { m.clip_norm = 1.0f; }); });
  expect_mismatch("augmentation", "none", "shift 2, hflip no, erase 0 (value 0)", [&] {
    fit_with([](O m, D, A) { m.augmentation = data::parse_augmentation("shift"); });
  });
  expect_mismatch("test set", "none", "in memory",
                  [&] { fit_with([&](O m, D, A) { m.test = &test; }); });
  expect_mismatch("epochs_done", "0", "3", [&] { fit_with([](O, D, A a) { a.epochs_done = 3; }); });
  expect_mismatch("schedule", "none", "rates 0.01, 0.01, 0.01",
                  [&] { fit_with([](O m, D, A) { m.schedule = ConstantLR(0.01f); }); });
  {  // Same size, other samples: the data's hash differs.
    bool thrown = false;
    try {
      fit_with([](O, D d, A) { d.inputs[5] += 1.0f; });
    } catch (const SettingMismatch& e) {
      thrown = true;
      CHECK(e.setting() == "training data");
      CHECK(e.first_value() != e.other_value());
    }
    CHECK(thrown);
  }
  {  // The rates of the schedule at the first, middle and last of the 6 steps: base * (1 +
     // cos(pi * step / 6)) / 2 at steps 0, 3 and 5.
    bool thrown = false;
    try {
      FitOptions mine = o;
      mine.schedule = CosineLR(first ? 0.01f : 0.02f);
      Net net(8);
      Adam adam(0.01f);
      fit(net, adam, train, mine);
    } catch (const SettingMismatch& e) {
      thrown = true;
      CHECK(e.setting() == "schedule");
      CHECK(e.first_value().starts_with("rates 0.01, 0.005, 0.00066987"));
      CHECK(e.other_value().starts_with("rates 0.02, 0.01, 0.0013397"));
    }
    CHECK(thrown);
  }
  expect_mismatch("optimizer", "Adam", "SGD", [&] {
    Net net(8);
    if (first) {
      Adam adam(0.01f);
      fit(net, adam, train, o);
    } else {
      SGD sgd(0.01f);
      fit(net, sgd, train, o);
    }
  });
  expect_mismatch("optimizer", "Adam", "AdamW", [&] {
    Net net(8);
    if (first) {
      Adam adam(0.01f);
      fit(net, adam, train, o);
    } else {
      AdamW adamw(0.01f, 0.0f);
      fit(net, adamw, train, o);
    }
  });
  {  // Another network: another class count (3 outputs on process 0, 4 on the others).
    bool thrown = false;
    try {
      if (first) {
        Net net(8);
        Adam adam(0.01f);
        fit(net, adam, train, o);
      } else {
        WideNet net(8);
        Adam adam(0.01f);
        fit(net, adam, train, o);
      }
    } catch (const SettingMismatch& e) {
      thrown = true;
      CHECK(e.setting() == "network");
      CHECK(e.first_value().starts_with(std::to_string(Net::layer_count) + " layers, " +
                                        std::to_string(Net::parameter_count) +
                                        " parameters, signature "));
      CHECK(e.other_value().starts_with(std::to_string(Net::layer_count) + " layers, " +
                                        std::to_string(WideNet::parameter_count) +
                                        " parameters, signature "));
    }
    CHECK(thrown);
  }

  // Trainer::distribute on its own: nothing is broadcast before the check.
  expect_mismatch("max_batch", "16", "17", [&] {
    Net net(first ? 3 : 4);
    Adam adam(0.01f);
    Trainer<Net, Adam> trainer(net, adam, first ? 16 : 17, 1, 9);
    const std::vector<float> before(net.parameters().begin(), net.parameters().end());
    try {
      trainer.distribute(*world);
    } catch (const SettingMismatch&) {
      CHECK(std::equal(before.begin(), before.end(), net.parameters().begin()));
      throw;
    }
  });

  // evaluate(): data, network, and the sizes of the final sum.
  Net net(8);
  expect_mismatch("samples", "20", "21", [&] {
    const auto mine = first ? test : ctnn_test::bands(21, 7);
    evaluate(net, mine, 1, 16, SoftmaxCrossEntropy{}, world);
  });
  expect_mismatch("label_smoothing", "0", "0.1", [&] {
    SoftmaxCrossEntropy loss;
    loss.label_smoothing = first ? 0.0f : 0.1f;
    evaluate(net, test, 1, 16, loss, world);
  });
  {
    bool thrown = false;
    try {
      if (first)
        evaluate(net, test, 1, 16, SoftmaxCrossEntropy{}, world);
      else
        evaluate(WideNet(8), test, 1, 16, SoftmaxCrossEntropy{}, world);
    } catch (const SettingMismatch& e) {
      thrown = true;
      CHECK(e.setting() == "network");
    }
    CHECK(thrown);
  }
  expect_mismatch("classes", "3", "4", [&] {
    const std::size_t N = first ? 3 : 4;
    std::vector<double> loss(1, 0.5);
    std::vector<std::vector<std::size_t>> confusion(N, std::vector<std::size_t>(N, 1));
    detail::combine_evaluation(loss, confusion, N, world, 20);
  });

  // The check itself: settings lists of different lengths.
  {
    std::vector<Setting> settings = {Setting::integer("a", 1)};
    if (!first) settings.push_back(Setting::flag("b", true));
    bool thrown = false;
    try {
      check_agreement(*world, settings, "test");
    } catch (const SettingMismatch& e) {
      thrown = true;
      CHECK(std::string(e.what()).find("the processes check different settings: setting 2 is "
                                       "(no setting) = (none) on process 0, b = yes on process "
                                       "1") != std::string::npos);
    }
    CHECK(thrown);
  }

  // Too many settings: refused before any communication, alike on every process.
  CHECK_THROWS_AS(check_agreement(*world, std::vector<Setting>(max_agreed_settings + 1), "test"),
                  InvalidArgument);

  // After all this the processes still make their collective calls in step.
  Net a(8);
  Adam adam(0.01f);
  o.test = &test;
  const auto reports = fit(a, adam, train, o);
  CHECK(reports.size() == 1);
  CHECK(same_on_all(checksum(a.parameters())));
}

int main(int argc, char** argv) {
  mpi::Environment env(argc, argv);
  int failed = 0;
  {
    mpi::Communicator comm;
    world = &comm;
    doctest::Context context(argc, argv);
    // Only process 0 reports; every process runs every test (they make collective calls).
    if (comm.rank() != 0) context.setOption("out", "/dev/null");
    failed = context.run();
    // A failure on any process fails the run.
    double any = failed ? 1.0 : 0.0;
    comm.allreduce_sum(&any, 1);
    failed = any > 0 ? 1 : 0;
    world = nullptr;
  }
  return failed;
}
