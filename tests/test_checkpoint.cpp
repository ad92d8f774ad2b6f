// Checkpoints: resuming gives the same bits as never stopping, and a bad checkpoint changes
// nothing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <ctnn/callbacks.hpp>
#include <ctnn/ctnn.hpp>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "datasets.hpp"
#include "files.hpp"
#include "reference.hpp"

using namespace ctnn;

namespace {

using ctnn_test::bands;

// Dropout, BatchNorm (state) and augmentation: every random stream and every kind of value.
using CkptNet = Sequential<Input<6, 6, 1>, Conv2D<4, 3>, BatchNorm, ReLU, Dropout<0.3f>, Dense<3>>;

template <class Optimizer>
void check_resume_is_exact(const Optimizer& fresh, const char* name) {
  INFO("optimizer: ", name);
  const auto train = bands(60, 3), test = bands(30, 4);
  ctnn_test::TempDir dir;
  FitOptions o;
  o.epochs = 4;
  o.batch_size = 8;
  o.threads = 2;
  o.seed = 11;
  o.test = &test;
  o.augmentation.shift = 1;
  o.augmentation.hflip = true;
  o.augmentation.erase = true;
  o.schedule = CosineLR(0.01f, 1.0);

  // 4 epochs straight.
  CkptNet straight(7);
  Optimizer a = fresh;
  const auto all = fit(straight, a, train, o);
  save(straight, dir.file("straight.ctnn"));

  // The same run, stopped after epoch 2 with a checkpoint written after every epoch.
  CkptNet first(7);
  Optimizer b = fresh;
  FitOptions stop = o;
  stop.on_epoch_end.push_back(
      SaveCheckpoint(first, b, dir.file("run.ckpt"), TrainingState{o.seed, o.batch_size, 2, {}, {}},
                     [](TrainingState& s) { s.values["custom.value"] = 42.5; }));
  stop.on_epoch_end.push_back(
      [](const EpochReport& r, TrainingControl& c) { c.stop = r.epoch == 2; });
  REQUIRE(fit(first, b, train, stop).size() == 2);

  // A new process: nothing but the checkpoint and the same options.
  CkptNet resumed(uninitialized);
  Optimizer c = fresh;
  c.learning_rate = 123.0f;  // restored from the checkpoint
  const TrainingState ts = load_checkpoint(dir.file("run.ckpt"), resumed, c);
  CHECK(ts.seed == 11);
  CHECK(ts.batch_size == 8);
  CHECK(ts.threads == 2);
  CHECK(ts.values.at("custom.value") == 42.5);
  REQUIRE(ts.history.size() == 2);
  CHECK(ts.history[1].epoch == 2);
  CHECK(ts.history[1].loss == all[1].loss);
  CHECK(ts.history[1].test_accuracy == all[1].test_accuracy);
  CHECK(c.epochs_done == 2);
  CHECK(c.learning_rate == b.learning_rate);
  FitOptions rest = o;
  rest.epochs = o.epochs - c.epochs_done;
  const auto last = fit(resumed, c, train, rest);
  REQUIRE(last.size() == 2);
  CHECK(last[1].epoch == 4);
  CHECK(last[1].loss == all[3].loss);
  save(resumed, dir.file("resumed.ctnn"));

  const auto x = ctnn_test::read_all(dir.file("straight.ctnn"));
  const auto y = ctnn_test::read_all(dir.file("resumed.ctnn"));
  REQUIRE(!x.empty());
  CHECK(x == y);  // byte-identical model files
  CHECK(a.state().buffers == c.state().buffers);
  CHECK(a.state().steps == c.state().steps);
}

}  // namespace

TEST_CASE("a checkpoint resumes training with the same bits as never stopping") {
  check_resume_is_exact(AdamW(0.01f, 0.05f), "AdamW");
  check_resume_is_exact(Adam(0.01f), "Adam");
  check_resume_is_exact(SGD(0.05f, 0.9f, true, 1e-4f), "SGD");
}

TEST_CASE("checkpoints keep NaN, infinities, large seeds and the optimizer's settings") {
  ctnn_test::TempDir dir;
  CkptNet net(3);
  Adam adam(0.002f, 0.8f, 0.99f, 1e-7f, 0.25f);
  TrainingState t;
  t.seed = 18446744073709551615ULL;
  t.batch_size = 64;
  t.threads = 3;
  t.values["plateau.best"] = std::numeric_limits<double>::infinity();
  t.values["x.minus"] = -std::numeric_limits<double>::infinity();
  t.values["x.nan"] = std::numeric_limits<double>::quiet_NaN();
  t.values["x.third"] = 1.0 / 3.0;
  EpochReport r;
  r.epoch = 1;
  r.loss = 0.1 + 0.2;
  t.history.push_back(r);  // test_loss and test_accuracy are NaN
  save_checkpoint(dir.file("a.ckpt"), net, adam, t);

  CkptNet back(uninitialized);
  Adam other;
  const TrainingState u = load_checkpoint(dir.file("a.ckpt"), back, other);
  CHECK(u.seed == t.seed);
  CHECK(u.batch_size == 64);
  CHECK(u.threads == 3);
  CHECK(u.values.at("plateau.best") == std::numeric_limits<double>::infinity());
  CHECK(u.values.at("x.minus") == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(u.values.at("x.nan")));
  CHECK(u.values.at("x.third") == 1.0 / 3.0);
  REQUIRE(u.history.size() == 1);
  CHECK(u.history[0].loss == 0.1 + 0.2);
  CHECK(std::isnan(u.history[0].test_loss));
  CHECK(other.beta1 == 0.8f);
  CHECK(other.beta2 == 0.99f);
  CHECK(other.epsilon == 1e-7f);
  CHECK(other.weight_decay == 0.25f);
  CHECK(std::equal(net.parameters().begin(), net.parameters().end(), back.parameters().begin()));
  CHECK(std::equal(net.state().begin(), net.state().end(), back.state().begin()));
}

TEST_CASE("a bad checkpoint throws and changes neither the network nor the optimizer") {
  const auto train = bands(40, 5);
  ctnn_test::TempDir dir;
  CkptNet net(2);
  Adam adam(0.01f);
  FitOptions o;
  o.epochs = 1;
  o.threads = 1;
  fit(net, adam, train, o);
  TrainingState t;
  t.history.push_back(EpochReport{});
  const std::string path = dir.file("good.ckpt");
  save_checkpoint(path, net, adam, t);
  const auto good = ctnn_test::read_all(path);

  // The target: a trained network and optimizer that must come out untouched.
  CkptNet target(9);
  Adam target_opt(0.5f);
  fit(target, target_opt, train, o);
  const std::vector<float> params(target.parameters().begin(), target.parameters().end());
  const std::vector<float> state(target.state().begin(), target.state().end());
  const OptimizerState opt_state = target_opt.state();
  auto unchanged = [&] {
    CHECK(std::equal(params.begin(), params.end(), target.parameters().begin()));
    CHECK(std::equal(state.begin(), state.end(), target.state().begin()));
    const OptimizerState now = target_opt.state();
    CHECK(now.buffers == opt_state.buffers);
    CHECK(now.steps == opt_state.steps);
    CHECK(now.settings == opt_state.settings);
    CHECK(now.epochs_done == opt_state.epochs_done);
  };
  auto refused = [&](const std::vector<char>& bytes, const std::string& expect) {
    const std::string p = dir.file("bad.ckpt");
    ctnn_test::write_all(p, bytes);
    try {
      load_checkpoint(p, target, target_opt);
      FAIL("loaded a bad checkpoint: ", expect);
    } catch (const FileError& e) {
      INFO("message: ", e.what());
      CHECK(std::string(e.what()).find(expect) != std::string::npos);
      CHECK(e.path() == p);
    }
    unchanged();
  };

  // Every truncation.
  for (std::size_t n = 0; n < good.size(); n += std::max<std::size_t>(1, n / 7))
    refused(std::vector<char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)),
            "truncated");
  // A byte more.
  auto longer = good;
  longer.push_back(0);
  refused(longer, "unexpected bytes after the checksum");
  // One flipped bit anywhere after the header: the model's CRC, the JSON or the outer CRC.
  for (std::size_t at = 20; at < good.size(); at += 97) {
    auto bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    const std::string p = dir.file("flip.ckpt");
    ctnn_test::write_all(p, bad);
    INFO("flipped byte ", at);
    CHECK_THROWS_AS(load_checkpoint(p, target, target_opt), FileError);
    unchanged();
  }
  // Not a checkpoint, another version.
  refused(std::vector<char>(100, 'x'), "not a ctnn checkpoint");
  auto v2 = good;
  v2[8] = 2;
  refused(v2, "checkpoint version 2");
  // A model file given as a checkpoint.
  save(net, dir.file("model.ctnn"));
  refused(ctnn_test::read_all(dir.file("model.ctnn")), "a model file, not a checkpoint");
  // A missing file, a directory.
  CHECK_THROWS_AS(load_checkpoint(dir.file("missing"), target, target_opt), FileError);
  CHECK_THROWS_AS(load_checkpoint(dir.path.string(), target, target_opt), FileError);
  unchanged();

  // Another network type, another optimizer type.
  Sequential<Input<6, 6, 1>, Conv2D<5, 3>, ReLU, Dense<3>> other_net(1);
  CHECK_THROWS_AS(load_checkpoint(path, other_net, target_opt), SignatureMismatch);
  AdamW adamw;
  CHECK_THROWS_WITH_AS(load_checkpoint(path, target, adamw),
                       doctest::Contains("the state is Adam's, this optimizer is AdamW"),
                       InvalidArgument);
  SGD sgd;
  CHECK_THROWS_AS(load_checkpoint(path, target, sgd), InvalidArgument);
  unchanged();

  // The good file still loads.
  load_checkpoint(path, target, target_opt);
  CHECK(std::equal(net.parameters().begin(), net.parameters().end(), target.parameters().begin()));
  CHECK(target_opt.state().buffers == adam.state().buffers);
}

TEST_CASE("save_checkpoint onto a directory keeps the directory and gives the reason") {
  ctnn_test::TempDir dir;
  CkptNet net(1);
  Adam adam;
  ctnn_test::check_save_onto_directory(
      dir, "ck", [&](const std::string& p) { save_checkpoint(p, net, adam, TrainingState{}); });
  ctnn_test::check_save_modes(dir, "a.ckpt", "b.ckpt", [&](const std::string& p) {
    save_checkpoint(p, net, adam, TrainingState{});
  });
}

TEST_CASE("EarlyStopping, SaveBest and HistoryCsv go on from restored state") {
  const auto train = bands(40, 6), test = bands(20, 7);
  EarlyStopping stopping(2);
  TrainingControl c;
  EpochReport r;
  r.test_loss = 1.0;
  stopping(r, c);
  CHECK(stopping.best() == 1.0);
  EarlyStopping copy = stopping;  // copies share the state, as fit() keeps a copy
  r.test_loss = 2.0;
  copy(r, c);
  CHECK(stopping.waited() == 1);
  EarlyStopping restored(2);
  restored.restore(stopping.best(), stopping.waited());
  restored(r, c);
  CHECK(c.stop);  // the second epoch without improvement

  ctnn_test::TempDir dir;
  EpochReport earlier;
  earlier.epoch = 1;
  earlier.loss = 0.5;
  HistoryCsv history(dir.file("h.csv"), {earlier});
  r.epoch = 2;
  TrainingControl ignore;
  history(r, ignore);
  const auto text = ctnn_test::read_all(dir.file("h.csv"));
  const std::string s(text.begin(), text.end());
  CHECK(s.find("\n1,") != std::string::npos);
  CHECK(s.find("\n2,") != std::string::npos);
}

TEST_CASE("load_checkpoint refuses a FIFO, a device or a directory at once, without blocking") {
  ctnn_test::check_refuses_special_files([](const std::string& path) {
    CkptNet n(1);
    Adam adam;
    load_checkpoint(path, n, adam);
  });
}
