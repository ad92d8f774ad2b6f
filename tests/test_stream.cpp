// Tests for data::SampleStream in fit() and evaluate() and for data::ImageFileStream: training on
// a stream equals training on a Dataset of the same samples, bit for bit; the image stream reads
// its planned files in order whatever its threads and read-ahead; bad input is a clear error.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctnn/ctnn.hpp>
#include <ctnn/data/image_folder.hpp>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "datasets.hpp"
#include "files.hpp"

using namespace ctnn;

namespace {

namespace fs = std::filesystem;

using Net = Sequential<Input<6, 6, 1>, Conv2D<4, 3>, ReLU, Dropout<0.2f>, Dense<3>>;

// The checks a caller of fit() sees: every report's figures and the parameters.
void check_same_training(const std::vector<EpochReport>& a, const std::vector<EpochReport>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t e = 0; e < a.size(); ++e) {
    CHECK(a[e].loss == b[e].loss);
    CHECK(a[e].train_accuracy == b[e].train_accuracy);
    CHECK(a[e].test_accuracy == b[e].test_accuracy);
    CHECK(a[e].test_loss == doctest::Approx(b[e].test_loss).epsilon(1e-12));
  }
}

// root/<class>/<nnn>.png: 6 x 6 grey images drawn from ctnn_test::bands, one class directory
// per label.
struct BandsFolder {
  ctnn_test::TempDir dir{"ctnn-stream"};
  explicit BandsFolder(std::size_t n, std::uint32_t seed) {
    const data::Dataset d = ctnn_test::bands(n, seed);
    for (const char* c : {"bottom", "middle", "top"}) fs::create_directories(dir.path / c);
    const char* names[] = {"top", "middle", "bottom"};  // label order differs from name order
    for (std::size_t i = 0; i < d.size(); ++i) {
      std::vector<std::uint8_t> px(36);
      for (std::size_t j = 0; j < 36; ++j)
        px[j] = static_cast<std::uint8_t>(std::lround(std::min(1.0f, d.sample(i)[j]) * 255.0f));
      char file[32];
      std::snprintf(file, sizeof file, "%03zu.png", i);
      const fs::path path = dir.path / names[d.labels[i]] / file;
      REQUIRE(stbi_write_png(path.string().c_str(), 6, 6, 1, px.data(), 6) != 0);
    }
  }
  std::string root() const { return dir.path.string(); }
};

using Img = Net::input_shape;

// fit()'s log without the images/s and seconds of each line.
std::string without_speed(const std::string& log) {
  std::istringstream in(log);
  std::string out, line;
  while (std::getline(in, line))
    out += line.substr(0, line.rfind("  ", line.find(" images/s"))) + "\n";
  return out;
}

std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> p(n);
  std::iota(p.begin(), p.end(), std::size_t{0});
  Rng rng(seed);
  for (std::size_t i = n - 1; i > 0; --i) std::swap(p[i], p[rng.below(i + 1)]);
  return p;
}

}  // namespace

TEST_CASE("fit and evaluate on a stream equal fit and evaluate on a Dataset of the same samples") {
  const auto train = ctnn_test::bands(90, 3), test = ctnn_test::bands(40, 4);
  for (std::size_t threads : {1, 3}) {
    CAPTURE(threads);
    FitOptions o;
    o.epochs = 3;
    o.batch_size = 16;  // the last batch of an epoch is short
    o.threads = threads;
    o.progress = false;
    o.augmentation.hflip = true;
    o.augmentation.shift = 1;
    o.test = &test;
    Net a(5), b(5);
    Adam oa(0.01f), ob(0.01f);
    std::ostringstream log_a, log_b;
    o.log = &log_a;
    const auto expected = fit(a, oa, train, o);
    ctnn_test::MemoryStream stream(train), test_stream(test);
    o.test = nullptr;
    o.test_stream = &test_stream;
    o.log = &log_b;
    const auto got = fit(b, ob, stream, o);
    check_same_training(got, expected);
    CHECK(without_speed(log_b.str()) == without_speed(log_a.str()));
    CHECK(log_b.str().find("test accuracy") != std::string::npos);
    CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
    // Every epoch reads every sample once, in the epoch's shuffled order.
    CHECK(stream.starts == 3);
    REQUIRE(stream.read_indices.size() == 3 * train.size());
    for (std::size_t e = 0; e < 3; ++e) {
      std::vector<std::size_t> epoch(stream.read_indices.begin() + std::ptrdiff_t(e * 90),
                                     stream.read_indices.begin() + std::ptrdiff_t(e * 90 + 90));
      std::vector<std::size_t> all(90);
      std::iota(all.begin(), all.end(), std::size_t{0});
      CHECK(epoch != all);  // shuffled
      std::sort(epoch.begin(), epoch.end());
      CHECK(epoch == all);
    }
    // evaluate(): the same counts; the loss summed in another order.
    const Evaluation whole = evaluate(a, test, threads, 7);
    const Evaluation streamed = evaluate(a, test_stream, threads, 7);
    CHECK(streamed.confusion == whole.confusion);
    CHECK(streamed.accuracy == whole.accuracy);
    CHECK(streamed.loss == doctest::Approx(whole.loss).epsilon(1e-12));
  }
}

TEST_CASE("fit on a stream refuses what it refuses on a Dataset, and non-finite samples") {
  auto train = ctnn_test::bands(20, 3);
  Net net(1);
  Adam adam(0.01f);
  FitOptions o;
  o.progress = false;
  o.epochs = 1;
  o.batch_size = 8;
  {  // a sample size that is not the network's input
    data::Dataset wrong = train;
    wrong.sample_size = 35;
    ctnn_test::MemoryStream s(wrong);
    CHECK_THROWS_WITH_AS(fit(net, adam, s, o), doctest::Contains("samples have 35 floats"),
                         InvalidArgument);
  }
  {  // a label outside the outputs
    data::Dataset wrong = train;
    wrong.labels[4] = 3;
    ctnn_test::MemoryStream s(wrong);
    CHECK_THROWS_WITH_AS(fit(net, adam, s, o), doctest::Contains("label 3 of sample 4"),
                         InvalidArgument);
  }
  {  // test and test_stream both given
    ctnn_test::MemoryStream s(train), t(train);
    o.test = &train;
    o.test_stream = &t;
    CHECK_THROWS_AS(fit(net, adam, s, o), InvalidArgument);
    o.test = nullptr;
    o.test_stream = nullptr;
  }
  {  // a NaN arriving with a batch
    data::Dataset nan = train;
    nan.inputs[5 * 36 + 7] = std::numeric_limits<float>::quiet_NaN();
    ctnn_test::MemoryStream s(nan);
    CHECK_THROWS_WITH_AS(fit(net, adam, s, o), doctest::Contains("holds NaN at element 7"),
                         InvalidArgument);
  }
}

TEST_CASE("index_image_folder lists load_image_folder's files, labels and split") {
  BandsFolder f(40, 11);
  data::ImageFolderOptions fo;
  fo.test_fraction = 0.3;
  fo.seed = 5;
  const auto d = data::load_image_folder<Img>(f.root(), fo);
  const auto x = data::index_image_folder(f.root(), fo);
  CHECK(x.classes == d.classes);
  CHECK(x.train_files == d.train_files);
  CHECK(x.test_files == d.test_files);
  CHECK(x.train_labels == d.train.labels);
  CHECK(x.test_labels == d.test.labels);
  fo.skip_unreadable = true;
  CHECK_THROWS_AS(data::index_image_folder(f.root(), fo), InvalidArgument);
  fo.skip_unreadable = false;
  CHECK_THROWS_AS(data::index_image_folder(f.dir.file("none"), fo), FileError);
}

TEST_CASE("ImageFileStream reads its plan in order whatever its threads and read-ahead") {
  BandsFolder f(50, 12);
  const auto d = data::load_image_folder<Img>(f.root());
  const auto x = data::index_image_folder(f.root());
  struct Setting {
    std::size_t threads, prefetch;
  };
  for (const Setting s : {Setting{1, 1}, Setting{3, 2}, Setting{4, 200}}) {
    CAPTURE(s.threads);
    CAPTURE(s.prefetch);
    data::ImageFileStream<Img> stream(x.train_files, x.train_labels, x.classes.size(), {},
                                      {s.threads, s.prefetch});
    REQUIRE(stream.size() == d.train.size());
    // A plan with repeats, read in pieces of 1 to 7 samples.
    std::vector<std::size_t> plan = permutation(d.train.size(), s.threads);
    plan.insert(plan.end(), plan.begin(), plan.begin() + 9);
    stream.start(plan);
    Rng rng(s.prefetch);
    std::vector<float> in(7 * Img::size);
    std::vector<std::int32_t> labels(7);
    for (std::size_t p = 0; p < plan.size();) {
      const std::size_t n = std::min<std::size_t>(1 + rng.below(7), plan.size() - p);
      stream.read(n, in.data(), labels.data());
      for (std::size_t i = 0; i < n; ++i) {
        CAPTURE(p + i);
        CHECK(labels[i] == d.train.labels[plan[p + i]]);
        CHECK(std::equal(in.begin() + std::ptrdiff_t(i * Img::size),
                         in.begin() + std::ptrdiff_t((i + 1) * Img::size),
                         d.train.sample(plan[p + i])));
      }
      p += n;
    }
    CHECK_THROWS_AS(stream.read(1, in.data(), labels.data()), InvalidArgument);
    // A new plan in the middle of the old one: the rest of the old one is dropped.
    stream.start({3, 1, 4, 1, 5});
    stream.read(2, in.data(), labels.data());
    stream.start({9, 2, 6});
    stream.read(3, in.data(), labels.data());
    for (std::size_t i = 0; i < 3; ++i)
      CHECK(std::equal(in.begin() + std::ptrdiff_t(i * Img::size),
                       in.begin() + std::ptrdiff_t((i + 1) * Img::size),
                       d.train.sample(std::vector<std::size_t>{9, 2, 6}[i])));
    // Destroyed while its threads decode a long plan: it stops without reading it.
    stream.start(std::vector<std::size_t>(1000, 0));
  }
}

TEST_CASE("fit on an ImageFileStream trains bit for bit as on the folder loaded in memory") {
  BandsFolder f(60, 13);
  const auto d = data::load_image_folder<Img>(f.root());
  const auto x = data::index_image_folder(f.root());
  FitOptions o;
  o.epochs = 2;
  o.batch_size = 8;
  o.threads = 2;
  o.progress = false;
  o.test = &d.test;
  Net a(2), b(2);
  Adam oa(0.01f), ob(0.01f);
  const auto expected = fit(a, oa, d.train, o);
  data::ImageFileStream<Img> train(x.train_files, x.train_labels, x.classes.size(), {}, {2, 5});
  data::ImageFileStream<Img> test(x.test_files, x.test_labels, x.classes.size());
  o.test = nullptr;
  o.test_stream = &test;
  const auto got = fit(b, ob, train, o);
  check_same_training(got, expected);
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
}

TEST_CASE("ImageFileStream: an undecodable file is a FileError naming it when it is read") {
  BandsFolder f(30, 14);
  const std::string bad = (f.dir.path / "middle" / "broken.png").string();
  {
    std::ofstream out(bad, std::ios::binary);
    out << "not a png";
  }
  const auto x = data::index_image_folder(f.root(), [] {
    data::ImageFolderOptions o;
    o.test_fraction = 0;
    return o;
  }());
  const auto at = std::find(x.train_files.begin(), x.train_files.end(), bad);
  REQUIRE(at != x.train_files.end());
  const std::size_t k = static_cast<std::size_t>(at - x.train_files.begin());
  data::ImageFileStream<Img> stream(x.train_files, x.train_labels, x.classes.size());
  std::vector<float> in(3 * Img::size);
  std::vector<std::int32_t> labels(3);
  stream.start({0, k, 1});
  CHECK_THROWS_WITH_AS(stream.read(3, in.data(), labels.data()), doctest::Contains(bad.c_str()),
                       FileError);
  // Sample 0 was read; the stream stays at the file.
  CHECK_THROWS_WITH_AS(stream.read(2, in.data(), labels.data()), doctest::Contains(bad.c_str()),
                       FileError);

  Net net(1);
  Adam adam(0.01f);
  FitOptions o;
  o.epochs = 1;
  o.progress = false;
  CHECK_THROWS_WITH_AS(fit(net, adam, stream, o), doctest::Contains(bad.c_str()), FileError);

  // Lists that do not fit together.
  using S = data::ImageFileStream<Img>;
  CHECK_THROWS_AS(S(x.train_files, {0, 1}, 3), InvalidArgument);
  std::vector<std::int32_t> out_of_range = x.train_labels;
  out_of_range[2] = 3;
  CHECK_THROWS_AS(S(x.train_files, out_of_range, 3), InvalidArgument);
  CHECK_THROWS_AS(S(x.train_files, x.train_labels, 3, {}, {1, 0}), InvalidArgument);
  CHECK_THROWS_AS(stream.start({x.train_files.size()}), InvalidArgument);
}

TEST_CASE("ImageFileStream: a file replaced by a FIFO during an epoch is a FileError, not a hang") {
  // Opening a FIFO that has no writer for reading blocks until a writer comes: a decoding thread
  // that did so would stop the epoch for good.
  auto f = std::make_shared<BandsFolder>(30, 15);
  const auto x = data::index_image_folder(f->root(), [] {
    data::ImageFolderOptions o;
    o.test_fraction = 0;
    return o;
  }());
  const std::string last = x.train_files.back();
  const auto start = std::chrono::steady_clock::now();
  const ctnn_test::Outcome o = ctnn_test::finishes_within(std::chrono::seconds(5), [f, x, last] {
    // One thread, one image ahead: the last file is opened long after the first batch.
    data::ImageFileStream<Img> stream(x.train_files, x.train_labels, x.classes.size(), {}, {1, 1});
    Net net(1);
    Adam adam(0.01f);
    FitOptions fo;
    fo.epochs = 1;
    fo.batch_size = 4;
    fo.threads = 1;
    fo.shuffle = false;
    fo.progress = false;
    fo.on_batch_end.push_back([&](const BatchReport& r, TrainingControl&) {
      if (r.batch != 1) return;
      fs::remove(last);
      if (::mkfifo(last.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
    });
    fit(net, adam, stream, fo);
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE_MESSAGE(o.finished, "fit was still waiting for the FIFO after 5 s");
  CAPTURE(o.message);
  CHECK(o.file_error);
  CHECK(o.path == last);
  CHECK(o.message.find("FIFO") != std::string::npos);
  CHECK(seconds < 2.0);
}

TEST_CASE("ImageFileStream: threads and read-ahead are bounded by the files and the plan") {
  BandsFolder f(12, 16);
  const auto d = data::load_image_folder<Img>(f.root(), [] {
    data::ImageFolderOptions o;
    o.test_fraction = 0;
    return o;
  }());
  const auto x = data::index_image_folder(f.root(), [] {
    data::ImageFolderOptions o;
    o.test_fraction = 0;
    return o;
  }());
  const std::size_t n = x.train_files.size();
  REQUIRE(n == 12);
  // A read-ahead of 2^40 images would be 2^40 slots before any image is decoded.
  data::ImageFileStream<Img> stream(x.train_files, x.train_labels, x.classes.size(), {},
                                    {64, std::size_t{1} << 40});
  CHECK(stream.threads() == n);
  data::ImageFileStream<Img> few(x.train_files, x.train_labels, x.classes.size(), {}, {64, 3});
  CHECK(few.threads() == 3);
  // They read what they are asked for, as the folder loaded in memory holds it.
  for (data::ImageFileStream<Img>* s : {&stream, &few}) {
    const std::vector<std::size_t> plan = permutation(n, 3);
    s->start(plan);
    std::vector<float> in(n * Img::size);
    std::vector<std::int32_t> labels(n);
    s->read(n, in.data(), labels.data());
    for (std::size_t i = 0; i < n; ++i) {
      CAPTURE(i);
      CHECK(labels[i] == d.train.labels[plan[i]]);
      CHECK(std::equal(in.begin() + std::ptrdiff_t(i * Img::size),
                       in.begin() + std::ptrdiff_t((i + 1) * Img::size), d.train.sample(plan[i])));
    }
  }
}
