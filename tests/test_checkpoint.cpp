// Checkpoints: resuming gives the same bits as never stopping, and a bad checkpoint changes
// nothing.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctnn/callbacks.hpp>
#include <ctnn/ctnn.hpp>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "../examples/channel_scale.hpp"
#include "datasets.hpp"
#include "files.hpp"
#include "reference.hpp"

using namespace ctnn;

namespace {

using ctnn_test::bands;

std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}
void put_u64(std::vector<char>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i) & 0xff));
}

/// `file` with its last 4 bytes replaced by the CRC-32 of the bytes before them.
std::vector<char> with_crc(std::vector<char> file) {
  const auto crc =
      io::detail::crc32_of(reinterpret_cast<const unsigned char*>(file.data()), file.size() - 4);
  for (int i = 0; i < 4; ++i) file[file.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
  return file;
}

/// A checkpoint split at its training state (the JSON block): what comes before its length,
/// the JSON and the optimizer's buffers.
struct CheckpointParts {
  std::vector<char> head;
  std::string state;
  std::vector<char> buffers;

  explicit CheckpointParts(const std::vector<char>& file) {
    const std::uint64_t m = get_u64(file.data() + 12);
    const std::uint64_t j = get_u64(file.data() + 20 + m);
    const auto at = [&](std::uint64_t i) { return file.begin() + static_cast<std::ptrdiff_t>(i); };
    head.assign(file.begin(), at(20 + m));
    state.assign(at(28 + m), at(28 + m + j));
    buffers.assign(at(28 + m + j), file.end() - 4);
  }
  /// The file again, with a correct CRC-32.
  std::vector<char> file() const {
    std::vector<char> f = head;
    put_u64(f, state.size());
    f.insert(f.end(), state.begin(), state.end());
    f.insert(f.end(), buffers.begin(), buffers.end());
    f.insert(f.end(), 4, '\0');
    return with_crc(std::move(f));
  }
};

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
  adam.epochs_done = 1;  // the history's epoch
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
  // A byte more: the checksum, read from the last 4 bytes, fails; with it recomputed, the
  // lengths do.
  auto longer = good;
  longer.push_back(0);
  refused(longer, "CRC-32 mismatch");
  refused(with_crc(longer), "unexpected bytes after the checksum");
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
  restored.restore(stopping.state());
  CHECK(restored.state().values == stopping.state().values);
  restored(r, c);
  CHECK(c.stop);  // the second epoch without improvement
  // A state out of range is refused, naming the value, and changes nothing.
  CallbackState bad = stopping.state();
  bad.values["waited"] = -1;
  CHECK_THROWS_WITH_AS(restored.restore(bad),
                       doctest::Contains("values.early_stopping.waited is -1"), InvalidArgument);
  CHECK(restored.waited() == 2);
  CHECK_THROWS_WITH_AS(restored.restore(CallbackState{"plateau", {}}),
                       doctest::Contains("the state is plateau's, expected early_stopping's"),
                       InvalidArgument);

  // SaveBest: the best loss goes on, so a worse epoch after restoring saves nothing.
  {
    ctnn_test::TempDir best_dir;
    CkptNet net(4);
    SaveBest best(net, best_dir.file("best.ctnn"));
    EpochReport e;
    e.test_loss = 0.5;
    TrainingControl ignore;
    best(e, ignore);
    CHECK(best.state().name == "save_best");
    CHECK(best.state().values.at("best") == 0.5);
    SaveBest again(net, best_dir.file("again.ctnn"));
    again.restore(best.state());
    e.test_loss = 0.7;
    again(e, ignore);
    CHECK_FALSE(std::filesystem::exists(best_dir.file("again.ctnn")));
    e.test_loss = 0.25;
    again(e, ignore);
    CHECK(std::filesystem::exists(best_dir.file("again.ctnn")));
    CallbackState nan_best = best.state();
    nan_best.values["best"] = std::nan("");
    CHECK_THROWS_AS(again.restore(nan_best), InvalidArgument);
    CHECK(again.best() == 0.25);
  }

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

namespace {

/// A checkpoint of a network and an Adam trained for one epoch, with its history.
struct OneEpoch {
  ctnn_test::TempDir dir;
  std::vector<char> bytes;

  OneEpoch() {
    const auto train = bands(40, 5);
    CkptNet net(2);
    Adam adam(0.01f);
    FitOptions o;
    o.epochs = 1;
    o.threads = 1;
    TrainingState t;
    t.history = fit(net, adam, train, o);
    save_checkpoint(dir.file("good.ckpt"), net, adam, t);
    bytes = ctnn_test::read_all(dir.file("good.ckpt"));
  }
};

/// Loads `bytes` as a checkpoint into a trained network and optimizer; checks that it throws
/// E with `expect` in a message of reasonable length and that both are unchanged.
template <class E>
void check_refused(const OneEpoch& good, const std::vector<char>& bytes,
                   const std::string& expect) {
  static const auto train = bands(40, 5);
  CkptNet target(9);
  Adam target_opt(0.5f);
  FitOptions o;
  o.epochs = 1;
  o.threads = 1;
  fit(target, target_opt, train, o);
  const std::vector<float> params(target.parameters().begin(), target.parameters().end());
  const OptimizerState opt_state = target_opt.state();
  const std::string p = good.dir.file("bad.ckpt");
  ctnn_test::write_all(p, bytes);
  try {
    load_checkpoint(p, target, target_opt);
    FAIL("loaded a bad checkpoint: ", expect);
  } catch (const E& e) {
    const std::string m = e.what();
    INFO("message: ", m.substr(0, 600));
    CHECK(m.find(expect) != std::string::npos);
    CHECK(m.find(p) != std::string::npos);
    CHECK(m.size() < p.size() + 600);
  }
  CHECK(std::equal(params.begin(), params.end(), target.parameters().begin()));
  CHECK(target_opt.state().buffers == opt_state.buffers);
  CHECK(target_opt.state().settings == opt_state.settings);
  CHECK(target_opt.state().epochs_done == opt_state.epochs_done);
}

}  // namespace

TEST_CASE("a checkpoint's CRC-32 is checked before its JSON, which is read with limits") {
  const OneEpoch good;
  const CheckpointParts parts(good.bytes);
  const auto refused = [&](const std::vector<char>& bytes, const std::string& expect) {
    check_refused<FileError>(good, bytes, expect);
  };
  const auto with_state = [&](const std::string& state) {
    CheckpointParts edited = parts;
    edited.state = state;
    return edited.file();
  };
  // A damaged JSON block with the CRC-32 as written: the checksum fails, the JSON is not read.
  std::string broken = parts.state;
  broken[0] = 'x';
  std::vector<char> damaged = with_state(broken);
  std::copy(good.bytes.end() - 4, good.bytes.end(), damaged.end() - 4);
  refused(damaged, "CRC-32 mismatch");
  // With a matching CRC-32, what is wrong with the JSON is named.
  refused(with_state(broken), "is not valid JSON");
  const std::string rest = parts.state.substr(1);  // after the opening brace
  refused(with_state("{\"history\": [], " + rest), "the key 'history' appears twice");
  refused(with_state("{\"x\": " + std::string(32, '[') + std::string(32, ']') + ", " + rest),
          "nested deeper than 32 levels");
  std::string zeros = "[0";
  for (int i = 0; i < (1 << 20); ++i) zeros += ",0";
  refused(with_state("{\"x\": " + zeros + "], " + rest), "more than 1048576 JSON values");
  // Members it does not know are read and left alone, however many objects they hold.
  std::string objects = "[{}";
  for (int i = 0; i < 200'000; ++i) objects += ",{}";
  const std::string p = good.dir.file("objects.ckpt");
  ctnn_test::write_all(p, with_state("{\"x\": " + objects + "], " + rest));
  CkptNet net(uninitialized);
  Adam adam;
  CHECK(load_checkpoint(p, net, adam).history.size() == 1);
}

TEST_CASE("a checkpoint's fields are checked against their ranges, naming them") {
  const OneEpoch good;
  const CheckpointParts parts(good.bytes);
  const auto edited = [&](auto&& edit) {
    CheckpointParts c = parts;
    nlohmann::json j = nlohmann::json::parse(c.state);
    edit(j);
    c.state = j.dump(1);
    return c.file();
  };
  const auto corrupt = [&](auto&& edit, const std::string& expect) {
    check_refused<FileError>(good, edited(edit), expect);
  };
  const auto invalid = [&](auto&& edit, const std::string& expect) {
    check_refused<InvalidArgument>(good, edited(edit), expect);
  };
  constexpr std::uint64_t most = std::numeric_limits<std::uint64_t>::max();
  // Counts: an epoch count that would never end training, a step count that overflows.
  corrupt([&](auto& j) { j["optimizer"]["epochs_done"] = most; },
          "optimizer.epochs_done is 18446744073709551615, more than 100000");
  corrupt([&](auto& j) { j["optimizer"]["epochs_done"] = 100'001; },
          "optimizer.epochs_done is 100001");
  corrupt([&](auto& j) { j["optimizer"]["steps"] = most; },
          "optimizer.steps is 18446744073709551615");
  corrupt([&](auto& j) { j["optimizer"]["epochs_done"] = -5; },
          "optimizer.epochs_done is not a whole number >= 0");
  corrupt([&](auto& j) { j["optimizer"]["epochs_done"] = 1.5; },
          "optimizer.epochs_done is not a whole number >= 0");
  // The history: no more epochs than were trained, none past them.
  corrupt([&](auto& j) { j["history"].push_back(j["history"][0]); },
          "history holds 2 epochs, optimizer.epochs_done 1");
  corrupt([&](auto& j) { j["history"][0]["epoch"] = 7; }, "history[].epoch is 7, more than 1");
  // A type name of 5 MB is quoted as much as any other text of a file.
  corrupt([&](auto& j) { j["optimizer"]["type"] = std::string(5'000'000, 'x'); },
          "optimizer.type is 5000000 characters long");
  corrupt([&](auto& j) { j["optimizer"]["buffers"][0]["name"] = std::string(5'000'000, 'b'); },
          "optimizer.buffers[].name is 5000000 characters long");
  // Adam's settings in their ranges.
  invalid([&](auto& j) { j["optimizer"]["settings"]["beta1"] = 1; },
          "the setting beta1 is 1, expected a finite float in [0, 1)");
  invalid([&](auto& j) { j["optimizer"]["settings"]["beta2"] = 2; }, "the setting beta2 is 2");
  invalid([&](auto& j) { j["optimizer"]["settings"]["beta2"] = 0.99999999999; },
          "the setting beta2 is 0.99999999999");  // 1 as a float
  invalid([&](auto& j) { j["optimizer"]["settings"]["epsilon"] = -1e-8; },
          "the setting epsilon is -1e-08, expected a finite float > 0");
  invalid([&](auto& j) { j["optimizer"]["settings"]["epsilon"] = 0; }, "the setting epsilon is 0");
  invalid([&](auto& j) { j["optimizer"]["settings"]["weight_decay"] = "inf"; },
          "the setting weight_decay is inf");
  invalid([&](auto& j) { j["optimizer"]["settings"]["learning_rate"] = "nan"; },
          "the setting learning_rate is nan");
  invalid([&](auto& j) { j["optimizer"]["settings"]["learning_rate"] = 1e300; },
          "the setting learning_rate is 1e+300");
  // The moments: finite, the second >= 0.
  const auto with_float = [&](std::size_t index, float v) {
    CheckpointParts c = parts;
    std::memcpy(c.buffers.data() + 4 * index, &v, 4);
    return c.file();
  };
  check_refused<InvalidArgument>(good, with_float(3, std::numeric_limits<float>::quiet_NaN()),
                                 "the buffer exp_avg holds nan at index 3");
  check_refused<InvalidArgument>(good, with_float(CkptNet::parameter_count + 2, -1.0f),
                                 "the buffer exp_avg_sq holds -1 at index 2");
  check_refused<InvalidArgument>(good, with_float(1, std::numeric_limits<float>::infinity()),
                                 "the buffer exp_avg holds inf at index 1");
}

TEST_CASE("SGD::restore checks the settings of the state") {
  SGD sgd(0.1f, 0.9f);
  const OptimizerState good = sgd.state();
  const auto refused = [&](const char* name, double v, const std::string& expect) {
    OptimizerState s = good;
    s.settings[name] = v;
    SGD other(0.5f);
    CHECK_THROWS_WITH_AS(other.restore(s), doctest::Contains(expect.c_str()), InvalidArgument);
    CHECK(other.learning_rate == 0.5f);
  };
  refused("nesterov", 0.5, "the setting nesterov is 0.5, expected 0 or 1");
  refused("momentum", -1, "the setting momentum is -1");
  refused("weight_decay", std::numeric_limits<double>::quiet_NaN(), "weight_decay is nan");
  OptimizerState s = good;
  s.steps = std::numeric_limits<std::uint64_t>::max();
  SGD other;
  CHECK_THROWS_WITH_AS(other.restore(s), doctest::Contains("steps"), InvalidArgument);
  other.restore(good);
  CHECK(other.momentum == 0.9f);
}

TEST_CASE("a checkpoint keeps the state of schedules and callbacks, all or nothing") {
  ctnn_test::TempDir dir;
  CkptNet net(5);
  Adam adam(0.01f);
  adam.epochs_done = 3;
  ReduceLROnPlateau plateau(0.1f, 0.5f, 1);
  for (double metric : {1.0, 0.8, 0.9, 0.95}) plateau.observe(metric);  // lowered once
  EarlyStopping stopping(5);
  TrainingControl control;
  EpochReport r;
  for (double metric : {0.7, 0.75}) r.test_loss = metric, stopping(r, control);
  TrainingState t{3, 8, 1, {{"options.lr", 0.1}}, {}};
  const std::string path = dir.file("parts.ckpt");
  save_checkpoint(path, net, adam, t, plateau, stopping);

  // Read back as the values callers assembled before: "<name>.<key>".
  CkptNet back(uninitialized);
  Adam other;
  const TrainingState plain = load_checkpoint(path, back, other);
  CHECK(plain.values.at("plateau.best") == 0.8);
  CHECK(plain.values.at("plateau.scale") == 0.5);
  CHECK(plain.values.at("early_stopping.waited") == 1);
  CHECK(plain.values.at("options.lr") == 0.1);

  // Into new ones; a part the checkpoint holds nothing of keeps its state.
  ReduceLROnPlateau plateau2(0.1f, 0.5f, 1);
  EarlyStopping stopping2(5);
  SaveBest best(back, dir.file("best.ctnn"));
  r.test_loss = 0.6;
  best(r, control);
  load_checkpoint(path, back, other, stopping2, plateau2, best);
  CHECK(plateau2.state().values == plateau.state().values);
  CHECK(plateau2.rate() == 0.05f);
  CHECK(stopping2.state().values == stopping.state().values);
  CHECK(best.best() == 0.6);

  // SaveCheckpoint writes them after every epoch.
  const std::string every = dir.file("every.ckpt");
  SaveCheckpoint save_each(net, adam, every, t, plateau, stopping);
  r.epoch = 3;
  save_each(r, control);
  ReduceLROnPlateau plateau3(0.1f, 0.5f, 1);
  const TrainingState each = load_checkpoint(every, back, other, plateau3);
  CHECK(plateau3.state().values == plateau.state().values);
  CHECK(each.history.size() == 1);

  // Two parts of one name: refused, writing nothing.
  CHECK_THROWS_WITH_AS(save_checkpoint(dir.file("two.ckpt"), net, adam, t, plateau, plateau2),
                       doctest::Contains("under the name 'plateau'"), InvalidArgument);
  CHECK_FALSE(std::filesystem::exists(dir.file("two.ckpt")));

  // A value a part refuses: the parts restored before it get their state back, and neither
  // the network nor the optimizer changes.
  CheckpointParts parts(ctnn_test::read_all(path));
  const std::string key = "\"plateau.bad_epochs\":";
  const auto at = parts.state.find(key);
  REQUIRE(at != std::string::npos);
  parts.state.insert(at + key.size(), "0.5");
  parts.state.erase(at + key.size() + 3,
                    parts.state.find_first_of(",}", at + key.size() + 3) - (at + key.size() + 3));
  const std::string bad = dir.file("bad.ckpt");
  ctnn_test::write_all(bad, parts.file());
  EarlyStopping stopping4(5);
  ReduceLROnPlateau plateau4(0.1f, 0.5f, 1);
  Adam untouched(0.25f);
  CkptNet target(9);
  const std::vector<float> params(target.parameters().begin(), target.parameters().end());
  CHECK_THROWS_WITH_AS(
      load_checkpoint(bad, target, untouched, stopping4, plateau4),
      doctest::Contains("values.plateau.bad_epochs is 0.5, expected a whole number"),
      InvalidArgument);
  CHECK(stopping4.state().values == EarlyStopping(5).state().values);
  CHECK(plateau4.state().values == ReduceLROnPlateau(0.1f).state().values);
  CHECK(untouched.learning_rate == 0.25f);
  CHECK(untouched.epochs_done == 0);
  CHECK(std::equal(params.begin(), params.end(), target.parameters().begin()));
}

namespace {

// The fixtures in tests/data/checkpoints were written by ctnn 0.2.0 (the release before Adam and
// AdamW became two types and callbacks got state()): adam_0.2.0.ckpt and adamw_0.2.0.ckpt by
//   SmallNet net(3);   // Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.02f), or AdamW(0.01f, 0.05f)
//   for (int s = 0; s < 3; ++s) opt.step(net.parameters(), fixture_grad(net.parameter_count, s));
//   opt.epochs_done = 2;
//   save_checkpoint(path, net, opt, TrainingState{5, 8, 1, {}, {}});
// and custom_layer_0.2.0.ckpt by the custom_layer example, on the random data set of
// tests/cli/examples_cli.sh, with --batch-size 16 --threads 2 --augment shift,hflip,erase
// --weight-decay 0.01 --schedule plateau --early-stopping 8 --validation-split 0.25 --lr 0.01
// --epochs 8 --checkpoint custom_layer_0.2.0.ckpt.
using SmallNet = Sequential<Input<5>, Dense<4>, ReLU, Dense<3>>;
using CustomLayerNet =
    Sequential<Input<28, 28, 1>, Conv2D<16, 3>, examples::ChannelScale, ReLU, MaxPool2D<2>,
               Conv2D<32, 3>, examples::ChannelScale, ReLU, MaxPool2D<2>, Dense<10>>;

std::string old_checkpoint(const char* name) {
  return std::string(CTNN_TEST_DATA_DIR) + "/checkpoints/" + name;
}

// Gradients exact in float, the same on every machine.
std::vector<float> fixture_grad(std::size_t n, int step) {
  std::vector<float> g(n);
  for (std::size_t i = 0; i < n; ++i)
    g[i] = float(int((i * 7 + std::size_t(step) * 13) % 17) - 8) / 16.0f;
  return g;
}

// The two checkpoints hold the same training state (JSON) and optimizer buffers, byte for byte.
// (Not the model: its bytes are the model file's, which may change format while loading the old.)
void check_same_state(const std::string& a, const std::string& b) {
  const CheckpointParts x(ctnn_test::read_all(a)), y(ctnn_test::read_all(b));
  CHECK(x.state == y.state);
  CHECK(x.buffers == y.buffers);
}

template <class Optimizer>
void check_old_optimizer_checkpoint(const char* name, Optimizer original) {
  INFO("fixture: ", name);
  // Uninterrupted: the three steps the fixture's program took, then a fourth.
  SmallNet straight(3);
  for (int s = 0; s < 3; ++s)
    original.step(straight.parameters(), fixture_grad(SmallNet::parameter_count, s));

  SmallNet net(uninitialized);
  Optimizer resumed;  // other settings: restoring sets them
  resumed.learning_rate = 0.5f;
  const TrainingState t = load_checkpoint(old_checkpoint(name), net, resumed);
  CHECK(t.seed == 5);
  CHECK(t.batch_size == 8);
  CHECK(resumed.epochs_done == 2);
  CHECK(resumed.steps() == 3);
  CHECK(resumed.state().type == original.state().type);
  CHECK(resumed.state().settings == original.state().settings);
  const auto values = [](std::span<const float> s) {
    return std::vector<float>(s.begin(), s.end());
  };
  // Within rounding of the machine that wrote it (another SIMD level may contract differently).
  CHECK(ctnn_test::max_abs_diff(values(net.parameters()), values(straight.parameters())) < 1e-6f);
  for (std::size_t b = 0; b < 2; ++b)
    CHECK(ctnn_test::max_abs_diff(resumed.state().buffers[b].second,
                                  original.state().buffers[b].second) < 1e-6f);
  original.step(straight.parameters(), fixture_grad(SmallNet::parameter_count, 3));
  resumed.step(net.parameters(), fixture_grad(SmallNet::parameter_count, 3));
  CHECK(ctnn_test::max_abs_diff(values(net.parameters()), values(straight.parameters())) < 1e-6f);
  CHECK(values(net.parameters()) != values(SmallNet(3).parameters()));

  // Written again as it was read: the same training state and buffers, byte for byte.
  ctnn_test::TempDir dir;
  SmallNet again(uninitialized);
  Optimizer opt;
  load_checkpoint(old_checkpoint(name), again, opt);
  save_checkpoint(dir.file("again.ckpt"), again, opt, t);
  check_same_state(dir.file("again.ckpt"), old_checkpoint(name));
}

}  // namespace

TEST_CASE("checkpoints written by 0.2.0 with Adam and AdamW restore and take the same next step") {
  check_old_optimizer_checkpoint("adam_0.2.0.ckpt", Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.02f));
  check_old_optimizer_checkpoint("adamw_0.2.0.ckpt", AdamW(0.01f, 0.05f));
  // Each refuses the other type.
  SmallNet net(1);
  Adam adam;
  CHECK_THROWS_WITH_AS(load_checkpoint(old_checkpoint("adamw_0.2.0.ckpt"), net, adam),
                       doctest::Contains("the state is AdamW's, this optimizer is Adam"),
                       InvalidArgument);
}

TEST_CASE("the example's checkpoint of 0.2.0 restores AdamW, the plateau and the early stopping") {
  auto net = std::make_unique<CustomLayerNet>(uninitialized);
  AdamW adamw(0.01f, 0.01f);
  ReduceLROnPlateau plateau(0.01f, 0.5f, 2);
  EarlyStopping stopping(8);
  const std::string path = old_checkpoint("custom_layer_0.2.0.ckpt");
  const TrainingState t = load_checkpoint(path, *net, adamw, plateau, stopping);
  REQUIRE(t.history.size() == 8);
  CHECK(adamw.epochs_done == 8);
  CHECK(adamw.weight_decay == 0.01f);
  // The plateau: its rate is the one the last epoch trained with; its best the lowest test loss.
  std::size_t best = 0;
  for (std::size_t e = 0; e < 8; ++e)
    if (t.history[e].test_loss < t.history[best].test_loss) best = e;
  CHECK(plateau.rate() == float(t.history.back().learning_rate));
  CHECK(plateau.rate() < 0.01f);
  CHECK(plateau.best() == t.history[best].test_loss);
  // The stopping: the epochs since the best.
  CHECK(stopping.best() == t.history[best].test_loss);
  CHECK(stopping.waited() == 7 - best);
  CHECK(stopping.waited() > 0);

  // Written again from what was restored: the same training state and buffers.
  ctnn_test::TempDir dir;
  save_checkpoint(dir.file("again.ckpt"), *net, adamw, t, plateau, stopping);
  check_same_state(dir.file("again.ckpt"), path);
}

TEST_CASE("fit refuses an epoch count that overflows, and save_checkpoint what a load refuses") {
  const auto train = bands(20, 5);
  CkptNet net(4);
  Adam adam(0.01f);
  adam.epochs_done = std::numeric_limits<std::size_t>::max();
  FitOptions o;
  o.epochs = 1;
  o.threads = 1;
  CHECK_THROWS_WITH_AS(fit(net, adam, train, o), doctest::Contains("overflow the epoch count"),
                       InvalidArgument);
  o.epochs = 0;
  CHECK(fit(net, adam, train, o).empty());  // and returns

  ctnn_test::TempDir dir;
  Adam fresh;
  TrainingState t;
  t.history.resize(1);
  CHECK_THROWS_WITH_AS(save_checkpoint(dir.file("a.ckpt"), net, fresh, t),
                       doctest::Contains("the history holds 1 epochs"), InvalidArgument);
  CHECK_THROWS_AS(save_checkpoint(dir.file("a.ckpt"), net, adam, TrainingState{}), InvalidArgument);
  CHECK(!std::filesystem::exists(dir.file("a.ckpt")));
}

TEST_CASE("load_checkpoint refuses a FIFO, a device or a directory at once, without blocking") {
  ctnn_test::check_refuses_special_files([](const std::string& path) {
    CkptNet n(1);
    Adam adam;
    load_checkpoint(path, n, adam);
  });
}
