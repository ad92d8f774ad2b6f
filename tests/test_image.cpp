// Tests for ctnn/data/image.hpp and ctnn/data/image_folder.hpp: decoding PNG, BMP, TGA and JPEG
// files written here with stb_image_write, channel conversion, resizing, value options, broken
// files, and the image-folder reader's classes, split and error handling.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#if defined(__unix__)
#include <sys/resource.h>
#endif

#include "ctnn/data/image.hpp"
#include "ctnn/data/image_folder.hpp"
#include "files.hpp"
#include "fixtures.hpp"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using ctnn::Image;
using ctnn::data::ImageOptions;
using ctnn::data::load_image;
using ctnn_test::TempDir;

enum class Format { png, bmp, tga, jpg };

// Writes w x h pixels of `comp` interleaved bytes each, rows from the top.
void write_image(const std::string& path, Format f, int w, int h, int comp, const Bytes& px) {
  REQUIRE(px.size() == std::size_t(w) * std::size_t(h) * std::size_t(comp));
  int ok = 0;
  switch (f) {
    case Format::png:
      ok = stbi_write_png(path.c_str(), w, h, comp, px.data(), w * comp);
      break;
    case Format::bmp:
      ok = stbi_write_bmp(path.c_str(), w, h, comp, px.data());
      break;
    case Format::tga:
      ok = stbi_write_tga(path.c_str(), w, h, comp, px.data());
      break;
    case Format::jpg:
      ok = stbi_write_jpg(path.c_str(), w, h, comp, px.data(), 100);
      break;
  }
  REQUIRE(ok != 0);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A 4 x 3 grey image with distinct values 0, 21, ..., 231 and then 255.
Bytes grey_4x3() {
  Bytes p;
  for (int i = 0; i < 12; ++i) p.push_back(static_cast<std::uint8_t>(i == 11 ? 255 : 21 * i));
  return p;
}

// A 4 x 3 RGB image with distinct, unequal channel values.
Bytes rgb_4x3() {
  Bytes p;
  for (int i = 0; i < 12; ++i) {
    p.push_back(static_cast<std::uint8_t>(20 * i + 5));
    p.push_back(static_cast<std::uint8_t>(255 - 20 * i));
    p.push_back(static_cast<std::uint8_t>((97 * i) % 256));
  }
  return p;
}

// A byte as load_image returns it with the default options.
float px(int byte) {
  return float(byte) * (1.0f / 255.0f);
}

float luma(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  return px(1) * (0.299f * float(r) + 0.587f * float(g) + 0.114f * float(b));
}

// The FileError that `f` throws, checked to name `path`.
template <class F>
std::string file_error(F f, const std::string& path) {
  try {
    f();
  } catch (const ctnn::FileError& e) {
    CHECK(e.path() == path);
    CHECK(std::string(e.what()).find(path) == 0);
    return e.what();
  }
  FAIL("no FileError thrown for " << path);
  return {};
}

}  // namespace

TEST_CASE("Image: grey PNG, BMP and TGA load exactly, as grey and as RGB") {
  TempDir dir;
  const Bytes g = grey_4x3();
  for (Format f : {Format::png, Format::bmp, Format::tga}) {
    const std::string path = dir.file("grey" + std::to_string(int(f)));
    write_image(path, f, 4, 3, 1, g);
    CAPTURE(path);
    const std::vector<float> x = load_image<Image<3, 4, 1>>(path);
    REQUIRE(x.size() == 12);
    for (std::size_t i = 0; i < 12; ++i) CHECK(x[i] == doctest::Approx(px(g[i])).epsilon(1e-6));
    const std::vector<float> rgb = load_image<Image<3, 4, 3>>(path);
    REQUIRE(rgb.size() == 36);
    for (std::size_t i = 0; i < 12; ++i)
      for (std::size_t c = 0; c < 3; ++c) CHECK(rgb[3 * i + c] == px(g[i]));
  }
}

TEST_CASE("Image: RGB PNG, BMP and TGA load exactly, and as grey give the BT.601 luma") {
  TempDir dir;
  const Bytes p = rgb_4x3();
  for (Format f : {Format::png, Format::bmp, Format::tga}) {
    const std::string path = dir.file("rgb" + std::to_string(int(f)));
    write_image(path, f, 4, 3, 3, p);
    CAPTURE(path);
    const std::vector<float> x = load_image<Image<3, 4, 3>>(path);
    REQUIRE(x.size() == 36);
    for (std::size_t i = 0; i < 36; ++i) CHECK(x[i] == px(p[i]));
    const std::vector<float> y = load_image<Image<3, 4, 1>>(path);
    REQUIRE(y.size() == 12);
    for (std::size_t i = 0; i < 12; ++i)
      CHECK(y[i] == doctest::Approx(luma(p[3 * i], p[3 * i + 1], p[3 * i + 2])).epsilon(1e-6));
  }
}

TEST_CASE("Image: the alpha channel is dropped") {
  TempDir dir;
  Bytes ga, rgba;
  for (int i = 0; i < 12; ++i) {
    ga.insert(ga.end(), {std::uint8_t(10 * i), std::uint8_t(255 - i)});
    rgba.insert(rgba.end(), {std::uint8_t(10 * i), std::uint8_t(3 * i), std::uint8_t(200 - i),
                             std::uint8_t(i)});
  }
  write_image(dir.file("ga.png"), Format::png, 4, 3, 2, ga);
  write_image(dir.file("rgba.png"), Format::png, 4, 3, 4, rgba);
  write_image(dir.file("rgba.tga"), Format::tga, 4, 3, 4, rgba);
  const std::vector<float> g = load_image<Image<3, 4, 1>>(dir.file("ga.png"));
  for (std::size_t i = 0; i < 12; ++i) CHECK(g[i] == px(ga[2 * i]));
  for (const char* name : {"rgba.png", "rgba.tga"}) {
    const std::vector<float> x = load_image<Image<3, 4, 3>>(dir.file(name));
    for (std::size_t i = 0; i < 12; ++i)
      for (std::size_t c = 0; c < 3; ++c) CHECK(x[3 * i + c] == px(rgba[4 * i + c]));
  }
}

TEST_CASE("Image: scale, invert, mean and std are applied in that order, per channel") {
  TempDir dir;
  const Bytes p = rgb_4x3();
  write_image(dir.file("rgb.png"), Format::png, 4, 3, 3, p);
  ImageOptions o;
  o.scale = 2.0f;
  o.mean = {10.0f, 20.0f, 30.0f};
  o.std = {2.0f, 4.0f, 8.0f};
  std::vector<float> x = load_image<Image<3, 4, 3>>(dir.file("rgb.png"), o);
  for (std::size_t i = 0; i < 12; ++i)
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(x[3 * i + c] == doctest::Approx((2.0f * p[3 * i + c] - o.mean[c]) / o.std[c]));
  o.invert = true;
  x = load_image<Image<3, 4, 3>>(dir.file("rgb.png"), o);
  for (std::size_t i = 0; i < 12; ++i)
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(x[3 * i + c] == doctest::Approx((2.0f * (255 - p[3 * i + c]) - o.mean[c]) / o.std[c]));

  // The defaults with invert: 1 - byte / 255; one channel uses mean[0] and std[0].
  const Bytes g = grey_4x3();
  write_image(dir.file("grey.png"), Format::png, 4, 3, 1, g);
  ImageOptions inv;
  inv.invert = true;
  x = load_image<Image<3, 4, 1>>(dir.file("grey.png"), inv);
  for (std::size_t i = 0; i < 12; ++i) CHECK(x[i] == doctest::Approx(1.0f - px(g[i])));
  inv.mean = {0.5f, 99.0f, 99.0f};
  inv.std = {0.25f, 0.0f, -1.0f};
  x = load_image<Image<3, 4, 1>>(dir.file("grey.png"), inv);
  for (std::size_t i = 0; i < 12; ++i)
    CHECK(x[i] == doctest::Approx((1.0f - px(g[i]) - 0.5f) / 0.25f));
}

TEST_CASE("Image: invalid ImageOptions throw InvalidArgument before the file is read") {
  using Grey = Image<2, 2, 1>;
  using Rgb = Image<2, 2, 3>;
  ImageOptions o;
  o.std = {1.0f, 0.0f, 1.0f};
  CHECK_NOTHROW((void)ctnn::data::detail::check_image_options(o, 1));
  CHECK_THROWS_AS(load_image<Rgb>("/nonexistent.png", o), ctnn::InvalidArgument);
  o = {};
  o.mean[0] = std::nanf("");
  CHECK_THROWS_AS(load_image<Grey>("/nonexistent.png", o), ctnn::InvalidArgument);
  o = {};
  o.scale = INFINITY;
  CHECK_THROWS_AS(load_image<Grey>("/nonexistent.png", o), ctnn::InvalidArgument);
}

TEST_CASE("Image: JPEG decodes to within a small tolerance, grey and RGB") {
  TempDir dir;
  // Smooth gradients, which JPEG keeps well.
  constexpr int W = 16, H = 16;
  Bytes g, rgb;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      g.push_back(std::uint8_t(40 + 8 * x + 2 * y));
      rgb.insert(rgb.end(), {std::uint8_t(30 + 10 * x), std::uint8_t(200 - 6 * y),
                             std::uint8_t(100 + 3 * (x + y))});
    }
  write_image(dir.file("g.jpg"), Format::jpg, W, H, 1, g);
  write_image(dir.file("rgb.jpg"), Format::jpg, W, H, 3, rgb);
  const std::vector<float> a = load_image<Image<H, W, 1>>(dir.file("g.jpg"));
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - px(g[i])) < 0.03f);
  const std::vector<float> b = load_image<Image<H, W, 3>>(dir.file("rgb.jpg"));
  for (std::size_t i = 0; i < b.size(); ++i) CHECK(std::abs(b[i] - px(rgb[i])) < 0.05f);
  const std::vector<float> c = load_image<Image<H, W, 1>>(dir.file("rgb.jpg"));
  for (std::size_t i = 0; i < c.size(); ++i)
    CHECK(std::abs(c[i] - luma(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2])) < 0.05f);
}

TEST_CASE("Image: resizing keeps a constant image constant, up and down") {
  TempDir dir;
  write_image(dir.file("c.png"), Format::png, 10, 7, 3, Bytes(10 * 7 * 3, 77));
  for (float v : load_image<Image<3, 4, 3>>(dir.file("c.png")))
    CHECK(v == doctest::Approx(77 / 255.0f));
  for (float v : load_image<Image<28, 28, 1>>(dir.file("c.png")))
    CHECK(v == doctest::Approx(77 / 255.0f));
  for (float v : load_image<Image<5, 40, 3>>(dir.file("c.png")))
    CHECK(v == doctest::Approx(77 / 255.0f));
}

TEST_CASE("Image: a 2x downscale averages 2x2 blocks; an upscale interpolates linearly") {
  TempDir dir;
  // An 8 x 8 checkerboard of 0 and 255 becomes 4 x 4 pixels of 127.5.
  Bytes board;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) board.push_back((x + y) % 2 ? 255 : 0);
  write_image(dir.file("board.png"), Format::png, 8, 8, 1, board);
  const std::vector<float> b = load_image<Image<4, 4, 1>>(dir.file("board.png"));
  REQUIRE(b.size() == 16);
  for (float v : b) CHECK(v == doctest::Approx(0.5f).epsilon(1e-5));

  // Each output pixel of a 2x downscale is the mean of its 2 x 2 block.
  Bytes ramp;
  for (int i = 0; i < 16; ++i) ramp.push_back(std::uint8_t(16 * i + (i % 3) * 5));
  write_image(dir.file("ramp.png"), Format::png, 4, 4, 1, ramp);
  const std::vector<float> r = load_image<Image<2, 2, 1>>(dir.file("ramp.png"));
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) {
      const int i = 2 * y * 4 + 2 * x;
      const float mean = (ramp[i] + ramp[i + 1] + ramp[i + 4] + ramp[i + 5]) / 4.0f / 255.0f;
      CHECK(r[2 * y + x] == doctest::Approx(mean).epsilon(1e-5));
    }

  // 2 pixels (0, 255) to 4: pixel centres at -0.25, 0.25, 0.75, 1.25 input pixels, the edges
  // repeated.
  write_image(dir.file("pair.png"), Format::png, 2, 1, 1, Bytes{0, 255});
  const std::vector<float> u = load_image<Image<1, 4, 1>>(dir.file("pair.png"));
  const float expect[4] = {0.0f, 0.25f, 0.75f, 1.0f};
  for (int i = 0; i < 4; ++i) CHECK(u[i] == doctest::Approx(expect[i]).epsilon(1e-5));
}

TEST_CASE("Image: missing, empty, truncated and non-image files throw FileError naming them") {
  TempDir dir;
  const std::string missing = dir.file("missing.png");
  CHECK(file_error([&] { load_image<Image<4, 4, 1>>(missing); }, missing).find("cannot open") !=
        std::string::npos);

  const std::string empty = dir.file("empty.png");
  write_bytes(empty, "");
  file_error([&] { load_image<Image<4, 4, 1>>(empty); }, empty);

  const std::string text = dir.file("notes.png");
  write_bytes(text, "these are not the pixels you are looking for\n");
  file_error([&] { load_image<Image<4, 4, 1>>(text); }, text);

  // A noisy PNG (so the compressed data is long) cut in half.
  Bytes noise(64 * 64);
  std::mt19937 gen(7);
  for (auto& v : noise) v = std::uint8_t(gen());
  const std::string whole = dir.file("whole.png");
  write_image(whole, Format::png, 64, 64, 1, noise);
  const std::string bytes = read_bytes(whole);
  for (std::size_t keep : {bytes.size() / 2, std::size_t{8}, std::size_t{30}, bytes.size() - 12}) {
    const std::string cut = dir.file("cut" + std::to_string(keep) + ".png");
    write_bytes(cut, bytes.substr(0, keep));
    CAPTURE(keep);
    file_error([&] { load_image<Image<64, 64, 1>>(cut); }, cut);
  }

  const std::string sub = dir.file("dir.png");
  fs::create_directory(sub);
  file_error([&] { load_image<Image<4, 4, 1>>(sub); }, sub);
}

TEST_CASE("Image: a header claiming more than 2^28 pixels is refused before decoding") {
  TempDir dir;
  // A 24-bit BMP header of 20000 x 20000 pixels (4e8) and no pixel data.
  Bytes h(54, 0);
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) h[at + i] = std::uint8_t(v >> (8 * i));
  };
  h[0] = 'B', h[1] = 'M';
  put32(2, 54);
  put32(10, 54);
  put32(14, 40);
  put32(18, 20000);
  put32(22, 20000);
  h[26] = 1, h[28] = 24;
  const std::string path = dir.file("huge.bmp");
  write_bytes(path, std::string(h.begin(), h.end()));
  CHECK(file_error([&] { load_image<Image<4, 4, 1>>(path); }, path).find("20000 x 20000") !=
        std::string::npos);
}

namespace {

// root/<class>/<file>: every image is a constant grey 6 x 5 PNG whose value identifies it.
struct Folder {
  TempDir dir;
  std::vector<std::pair<std::string, int>> classes;  // name, image count
  explicit Folder(std::vector<std::pair<std::string, int>> c) : classes(std::move(c)) {
    int value = 1;
    for (const auto& [name, n] : classes) {
      fs::create_directories(dir.path / name);
      for (int i = 0; i < n; ++i) {
        const std::string file = (dir.path / name / ("img" + std::to_string(i) + ".png")).string();
        write_image(file, Format::png, 6, 5, 1, Bytes(30, std::uint8_t(value++)));
      }
    }
  }
  std::string root() const { return dir.path.string(); }
};

using Shape = Image<5, 6, 1>;

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("ImageFolder: classes sorted, stratified split sizes, samples match their files") {
  Folder f({{"shirt", 10}, {"bag", 7}, {"Zebra", 5}});
  // Ignored: a file in the root, a non-image file in a class; read: an upper-case extension.
  write_bytes((f.dir.path / "README.txt").string(), "hello");
  write_bytes((f.dir.path / "bag" / "notes.txt").string(), "hello");
  write_image((f.dir.path / "bag" / "extra.PNG").string(), Format::png, 6, 5, 1, Bytes(30, 200));
  fs::create_directories(f.dir.path / "bag" / "nested.png");

  const auto d = ctnn::data::load_image_folder<Shape>(f.root());
  CHECK(d.classes == std::vector<std::string>{"Zebra", "bag", "shirt"});
  CHECK(d.train.sample_size == Shape::size);
  CHECK(d.test.sample_size == Shape::size);
  CHECK(d.train.classes == 3);
  CHECK(d.test.classes == 3);
  // round(0.2 * n): Zebra 5 -> 1, bag 8 -> 2 (1.6), shirt 10 -> 2.
  std::array<int, 3> test_count{}, train_count{};
  for (auto l : d.test.labels) ++test_count[std::size_t(l)];
  for (auto l : d.train.labels) ++train_count[std::size_t(l)];
  CHECK(test_count == std::array<int, 3>{1, 2, 2});
  CHECK(train_count == std::array<int, 3>{4, 6, 8});
  REQUIRE(d.train_files.size() == d.train.size());
  REQUIRE(d.test_files.size() == d.test.size());
  CHECK(d.train.inputs.size() == d.train.size() * Shape::size);

  // Every file is in exactly one set, under its class, with its own pixels.
  std::set<std::string> all(d.train_files.begin(), d.train_files.end());
  all.insert(d.test_files.begin(), d.test_files.end());
  CHECK(all.size() == 23);
  CHECK(all.count((f.dir.path / "bag" / "extra.PNG").string()) == 1);
  auto check_set = [&](const ctnn::data::Dataset& s, const std::vector<std::string>& files) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      CAPTURE(files[i]);
      const fs::path p(files[i]);
      CHECK(p.parent_path().filename().string() == d.classes[std::size_t(s.labels[i])]);
      const std::vector<float> x = load_image<Shape>(files[i]);
      CHECK(std::equal(x.begin(), x.end(), s.sample(i)));
      if (i > 0) CHECK(s.labels[i - 1] <= s.labels[i]);  // class order
    }
  };
  check_set(d.train, d.train_files);
  check_set(d.test, d.test_files);
}

TEST_CASE("ImageFolder: the split is reproducible for a seed and differs for another") {
  Folder f({{"a", 12}, {"b", 9}});
  ctnn::data::ImageFolderOptions o;
  o.test_fraction = 0.25;
  const auto d1 = ctnn::data::load_image_folder<Shape>(f.root(), o);
  const auto d2 = ctnn::data::load_image_folder<Shape>(f.root(), o);
  CHECK(d1.test_files == d2.test_files);
  CHECK(d1.train_files == d2.train_files);
  CHECK(d1.train.inputs == d2.train.inputs);
  CHECK(d1.test.size() == 3 + 2);  // round(3), round(2.25)
  o.seed = 2;
  const auto d3 = ctnn::data::load_image_folder<Shape>(f.root(), o);
  CHECK(d3.test.size() == d1.test.size());
  CHECK(sorted(d3.test_files) != sorted(d1.test_files));

  o.test_fraction = 0.0;
  CHECK(ctnn::data::load_image_folder<Shape>(f.root(), o).test.size() == 0);
  o.test_fraction = 1.0;
  const auto all_test = ctnn::data::load_image_folder<Shape>(f.root(), o);
  CHECK(all_test.test.size() == 21);
  CHECK(all_test.train.size() == 0);
  o.test_fraction = 1.5;
  CHECK_THROWS_AS(ctnn::data::load_image_folder<Shape>(f.root(), o), ctnn::InvalidArgument);
}

TEST_CASE("ImageFolder: an undecodable file throws, or is skipped with a warning naming it") {
  Folder f({{"a", 5}, {"b", 5}});
  const std::string bad = (f.dir.path / "b" / "broken.png").string();
  write_bytes(bad, "not a png");
  file_error([&] { ctnn::data::load_image_folder<Shape>(f.root()); }, bad);

  std::ostringstream warnings;
  ctnn::data::ImageFolderOptions o;
  o.skip_unreadable = true;
  o.warnings = &warnings;
  const auto d = ctnn::data::load_image_folder<Shape>(f.root(), o);
  CHECK(d.train.size() + d.test.size() == 10);
  const std::string w = warnings.str();
  CHECK(w.find(bad) != std::string::npos);
  CHECK(std::count(w.begin(), w.end(), '\n') == 1);

  // A class whose only files are unreadable is an error even when skipping.
  fs::create_directories(f.dir.path / "c");
  write_bytes((f.dir.path / "c" / "x.jpg").string(), "");
  CHECK_THROWS_AS(ctnn::data::load_image_folder<Shape>(f.root(), o), ctnn::FileError);
}

TEST_CASE("ImageFolder: progress is reported to a callback, chunk by chunk, and as a line") {
  Folder f({{"a", 300}, {"b", 7}});  // more files than one decoding chunk (256)
  std::vector<ctnn::data::LoadProgress> seen;
  ctnn::data::ImageFolderOptions o;
  o.on_progress = [&](const ctnn::data::LoadProgress& p) { seen.push_back(p); };
  ctnn::data::load_image_folder<Shape>(f.root(), o);
  REQUIRE(seen.size() == 3);  // 256 + 44 files of "a", 7 of "b"
  CHECK(seen[0].done == 256);
  CHECK(seen[1].done == 300);
  CHECK(seen[2].done == 307);
  for (const auto& p : seen) CHECK(p.total == 307);

  std::ostringstream out;
  const ctnn::data::LoadingLine line(out);
  line({5, 9});
  CHECK(out.str() == "\rloading images: 5/9");
  out.str("");
  line({9, 9});
  CHECK(out.str() == "\rloading images: 9/9\r" + std::string(40, ' ') + "\r");
}

TEST_CASE("ImageFolder: the result, the warnings and the error do not depend on the threads") {
  // More files than one decoding chunk (256), and unreadable ones in two places.
  Folder f({{"a", 300}, {"b", 7}});
  const std::string bad1 = (f.dir.path / "a" / "0000-broken.png").string();
  const std::string bad2 = (f.dir.path / "a" / "zzzz-broken.png").string();
  write_bytes(bad1, "not a png");
  write_bytes(bad2, "not a png either");
  ctnn::data::ImageFolderOptions o;
  o.skip_unreadable = true;
  std::ostringstream w1, w3;
  o.threads = 1;
  o.warnings = &w1;
  const auto d1 = ctnn::data::load_image_folder<Shape>(f.root(), o);
  o.threads = 3;
  o.warnings = &w3;
  const auto d3 = ctnn::data::load_image_folder<Shape>(f.root(), o);
  CHECK(d1.train.inputs == d3.train.inputs);
  CHECK(d1.test.inputs == d3.test.inputs);
  CHECK(d1.train.labels == d3.train.labels);
  CHECK(d1.train_files == d3.train_files);
  CHECK(d1.test_files == d3.test_files);
  CHECK(d1.train.size() + d1.test.size() == 307);
  CHECK(w1.str() == w3.str());
  CHECK(w1.str().find(bad1) < w1.str().find(bad2));  // in file order
  // Without skipping, the first unreadable file in order is the one named, on any thread count.
  o.skip_unreadable = false;
  for (std::size_t t : {1u, 2u, 4u}) {
    o.threads = t;
    file_error([&] { ctnn::data::load_image_folder<Shape>(f.root(), o); }, bad1);
  }
}

TEST_CASE("ImageFolder: an empty class, an empty root and a missing root throw FileError") {
  Folder f({{"a", 3}});
  fs::create_directories(f.dir.path / "empty");
  write_bytes((f.dir.path / "empty" / "notes.txt").string(), "no images here");
  const std::string empty = (f.dir.path / "empty").string();
  const std::string msg =
      file_error([&] { ctnn::data::load_image_folder<Shape>(f.root()); }, empty);
  CHECK(msg.find("no image files") != std::string::npos);

  TempDir none;
  write_bytes(none.file("loose.png"), "");
  const std::string root_msg = file_error(
      [&] { ctnn::data::load_image_folder<Shape>(none.path.string()); }, none.path.string());
  CHECK(root_msg.find("no class sub-directories") != std::string::npos);

  const std::string missing = none.file("nowhere");
  file_error([&] { ctnn::data::load_image_folder<Shape>(missing); }, missing);
}

TEST_CASE("Image: progressive and restart-interval JPEGs load") {
  // tests/data/images/*.jpg: written by libjpeg-turbo's cjpeg (-progressive; -restart 1) from a
  // 12 x 10 RGB image with pixel (x, y) = (20x, 25y, 7xy) mod 256 and a 9 x 7 grey image with
  // (28x + 9y) mod 256, at quality 95.
  // The colour images are chroma-subsampled and their blue channel wraps around sharply, so
  // they differ from the source by about 11 grey levels on average; the two decodings of the
  // same coefficients, progressive and sequential, agree much more closely.
  const std::string dir = std::string(CTNN_TEST_DATA_DIR) + "/images/";
  const auto progressive = load_image<Image<10, 12, 3>>(dir + "rgb_12x10_progressive.jpg");
  const auto restart = load_image<Image<10, 12, 3>>(dir + "rgb_12x10_restart.jpg");
  double err = 0, between = 0;
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 12; ++x) {
      const int want[3] = {20 * x % 256, 25 * y % 256, 7 * x * y % 256};
      for (int c = 0; c < 3; ++c) {
        const std::size_t i = std::size_t((y * 12 + x) * 3 + c);
        err += std::abs(progressive[i] - px(want[c]));
        between += std::abs(progressive[i] - restart[i]);
      }
    }
  CHECK(err / 360 < 0.06);
  CHECK(between / 360 < 0.01);
  const auto g = load_image<Image<7, 9, 1>>(dir + "grey_9x7_progressive.jpg");
  err = 0;
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 9; ++x) err += std::abs(g[y * 9 + x] - px((28 * x + 9 * y) % 256));
  CHECK(err / 63 < 0.03);
}

TEST_CASE("Image: JPEGs whose Huffman tables would derail stb_image are refused undecoded") {
  TempDir dir;
  Bytes rgb;
  for (int i = 0; i < 8 * 8; ++i) rgb.insert(rgb.end(), {std::uint8_t(3 * i), 90, 200});
  write_image(dir.file("ok.jpg"), Format::jpg, 8, 8, 3, rgb);
  const Bytes good = ctnn_test::read_all<std::uint8_t>(dir.file("ok.jpg"));
  CHECK(ctnn::data::detail::jpeg_problem(good.data(), good.size()).empty());
  const auto find = [&](std::uint8_t marker) {
    for (std::size_t i = 0; i + 1 < good.size(); ++i)
      if (good[i] == 0xFF && good[i + 1] == marker) return i;
    FAIL("marker not found");
    return std::size_t{0};
  };
  // A DHT table whose 16 code counts add up to 16 x 255 = 4,080 (stb_image 2.27 would write
  // them into a 257-entry array).
  Bytes many = good;
  for (std::size_t i = 0; i < 16; ++i) many[find(0xC4) + 5 + i] = 0xFF;
  ctnn_test::write_all(dir.file("many.jpg"), many);
  std::string m =
      file_error([&] { load_image<Image<8, 8, 3>>(dir.file("many.jpg")); }, dir.file("many.jpg"));
  CHECK(m.find("corrupt JPEG") != std::string::npos);
  CHECK(m.find("4080 codes; at most 256") != std::string::npos);
  // A scan using tables 3, which no DHT segment defines (stb would decode with whatever its
  // uncleared memory holds).
  Bytes undefined = good;
  const std::size_t sos = find(0xDA);
  for (std::size_t c = 0; c < good[sos + 4]; ++c) undefined[sos + 6 + 2 * c] = 0x33;
  ctnn_test::write_all(dir.file("undefined.jpg"), undefined);
  m = file_error([&] { load_image<Image<8, 8, 3>>(dir.file("undefined.jpg")); },
                 dir.file("undefined.jpg"));
  CHECK(m.find("uses Huffman table DC 3, which no DHT segment defines") != std::string::npos);
  // Other formats and plain damage are left to stb_image.
  const Bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  CHECK(ctnn::data::detail::jpeg_problem(png.data(), png.size()).empty());
  CHECK(ctnn::data::detail::jpeg_problem(good.data(), good.size() / 2).empty());
}

TEST_CASE("Image: a PNG chunk longer than the rest of the file is refused undecoded") {
  // stb_image would first grow its buffer to the declared length: 2 GiB for this 100-byte file.
  TempDir dir;
  write_image(dir.file("ok.png"), Format::png, 4, 3, 1, grey_4x3());
  const Bytes good = ctnn_test::read_all<std::uint8_t>(dir.file("ok.png"));
  CHECK(ctnn::data::detail::png_problem(good.data(), good.size()).empty());
  std::size_t idat = 0;
  while (idat + 4 < good.size() &&
         std::string(good.begin() + idat, good.begin() + idat + 4) != "IDAT")
    ++idat;
  REQUIRE(idat + 4 < good.size());
  Bytes huge = good;
  huge[idat - 4] = 0x45;  // length 0x45000000 plus what it was
  ctnn_test::write_all(dir.file("huge.png"), huge);
  const std::string m =
      file_error([&] { load_image<Image<3, 4, 1>>(dir.file("huge.png")); }, dir.file("huge.png"));
  CHECK(m.find("corrupt PNG, not decoded: chunk 'IDAT'") != std::string::npos);
  CHECK(m.find("(truncated or corrupt)") != std::string::npos);
}

namespace {

using ctnn_test::finishes_within;
using ctnn_test::Outcome;

// A Radiance HDR file of 49 bytes: a header for one 8-pixel scanline, then the start of an RLE
// scanline and the end of the file. stb_image 2.27 (CVE-2021-42715) reads count bytes of 0 past
// the end, and a count of 0 never advances: it loops forever.
std::string hanging_hdr() {
  std::string b = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 8\n";
  b += std::string("\x02\x02\x00\x08", 4);
  return b;
}

}  // namespace

TEST_CASE("Image: Radiance HDR, PSD and PIC files are refused undecoded, whatever their name") {
  TempDir dir;
  const std::string hdr = hanging_hdr();
  REQUIRE(hdr.size() == 49);
  using std::chrono::seconds;
  for (const char* name : {"sky.hdr", "sky.png", "sky.jpg"}) {
    const std::string path = dir.file(name);
    write_bytes(path, hdr);
    CAPTURE(path);
    const Outcome o = finishes_within(seconds(20), [path] { load_image<Image<4, 4, 1>>(path); });
    REQUIRE_MESSAGE(o.finished, "load_image did not return within 20 s");
    CHECK(o.file_error);
    CHECK(o.path == path);
    CHECK(o.message.find("Radiance HDR") != std::string::npos);
    CHECK(o.message.find("not decoded") != std::string::npos);
  }
  // The other signature stb_image takes for HDR, and the formats load_image does not read.
  const std::string rgbe = dir.file("rgbe.png");
  write_bytes(rgbe, "#?RGBE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 8\n" + hdr.substr(45));
  CHECK(file_error([&] { load_image<Image<4, 4, 1>>(rgbe); }, rgbe).find("Radiance HDR") !=
        std::string::npos);
  const std::string psd = dir.file("layers.png");
  write_bytes(psd, std::string("8BPS\0\1", 6) + std::string(20, '\0'));
  CHECK(file_error([&] { load_image<Image<4, 4, 1>>(psd); }, psd).find("Photoshop PSD") !=
        std::string::npos);
  const std::string pic = dir.file("soft.png");
  write_bytes(pic, std::string("\x53\x80\xF6\x34", 4) + std::string(84, ' ') + "PICT" +
                       std::string(16, '\0'));
  CHECK(file_error([&] { load_image<Image<4, 4, 1>>(pic); }, pic).find("Softimage PIC") !=
        std::string::npos);

  // In a folder: an error naming the file, or, with skip_unreadable, a warning naming it.
  Folder f({{"a", 2}, {"b", 2}});
  const std::string sky = (f.dir.path / "b" / "sky.png").string();
  write_bytes(sky, hdr);
  const std::string root = f.root();
  Outcome o = finishes_within(seconds(20), [root] { ctnn::data::load_image_folder<Shape>(root); });
  REQUIRE_MESSAGE(o.finished, "load_image_folder did not return within 20 s");
  CHECK(o.file_error);
  CHECK(o.path == sky);
  CHECK(o.message.find("Radiance HDR") != std::string::npos);

  auto warnings = std::make_shared<std::ostringstream>();
  auto loaded = std::make_shared<std::size_t>(0);
  o = finishes_within(seconds(20), [root, warnings, loaded] {
    ctnn::data::ImageFolderOptions opt;
    opt.skip_unreadable = true;
    opt.warnings = warnings.get();
    const auto d = ctnn::data::load_image_folder<Shape>(root, opt);
    *loaded = d.train.size() + d.test.size();
  });
  REQUIRE_MESSAGE(o.finished, "load_image_folder (skip_unreadable) did not return within 20 s");
  CHECK_MESSAGE(o.message.empty(), o.message);
  CHECK(*loaded == 4);
  CHECK(warnings->str().find(sky) != std::string::npos);
  CHECK(warnings->str().find("Radiance HDR") != std::string::npos);
}

namespace {

void put_le(Bytes& b, std::size_t at, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b[at + std::size_t(i)] = std::uint8_t(v >> (8 * i));
}

// The largest value ru_maxrss has reached for this process, in MiB (0 where unknown).
double peak_rss_mib() {
#if defined(__unix__)
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) == 0) return double(u.ru_maxrss) / 1024.0;
#endif
  return 0.0;
}

}  // namespace

TEST_CASE("Image: a file too small for the pixels its header declares is refused undecoded") {
  // Each file declares 16384 x 16384 pixels, 2^28, as many as load_image accepts (for an input
  // of 512 x 512 pixels or more). stb_image
  // 2.27 would allocate the whole image (up to 2.4 GB for a GIF) and read zeros past the end of
  // the file for seconds, then fail or return a black image.
  TempDir dir;
  const std::uint32_t n = 16384;
  struct Case {
    std::string name;
    Bytes bytes;
    std::string reason;
  };
  std::vector<Case> cases;

  Bytes bmp(54, 0);  // 24 bits per pixel, uncompressed
  bmp[0] = 'B', bmp[1] = 'M';
  put_le(bmp, 2, 54, 4);
  put_le(bmp, 10, 54, 4);
  put_le(bmp, 14, 40, 4);
  put_le(bmp, 18, n, 4);
  put_le(bmp, 22, n, 4);
  bmp[26] = 1, bmp[28] = 24;
  cases.push_back({"huge.bmp", bmp, "needs at least 805306422 bytes"});

  Bytes tga(18, 0);  // 24-bit true colour
  tga[2] = 2;
  put_le(tga, 12, n, 2);
  put_le(tga, 14, n, 2);
  tga[16] = 24;
  cases.push_back({"huge.tga", tga, "needs at least 805306386 bytes"});
  Bytes tga_rle = tga;  // run-length encoded: at least a header byte and a pixel per 128 pixels
  tga_rle[2] = 10;
  cases.push_back({"huge_rle.tga", tga_rle, "needs at least 8388626 bytes"});

  const std::string pgm = "P5\n16384 16384\n255\n";
  cases.push_back({"huge.pgm", Bytes(pgm.begin(), pgm.end()), "needs at least 268435475 bytes"});

  // An 8 x 8 JPEG (stb_image_write codes grey as three components too) whose frame header is
  // changed to 16384 x 16384: one bit per 8 x 8 block is 3 x 2048 x 2048 / 8 bytes.
  write_image(dir.file("small.jpg"), Format::jpg, 8, 8, 1, Bytes(64, 77));
  Bytes jpg = ctnn_test::read_all<std::uint8_t>(dir.file("small.jpg"));
  std::size_t sof = 0;
  while (sof + 1 < jpg.size() && !(jpg[sof] == 0xFF && jpg[sof + 1] == 0xC0)) ++sof;
  REQUIRE(sof + 9 < jpg.size());
  jpg[sof + 5] = jpg[sof + 7] = 0x40, jpg[sof + 6] = jpg[sof + 8] = 0;
  cases.push_back({"huge.jpg", jpg, "needs at least 1572864 bytes"});

  // A GIF of one 16384 x 16384 frame whose data is two codes; and a GIF header with no frame.
  Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0, 0x80, 0, 0, 0,    0,    0, 255, 255,
               255, ',', 0,   0,   0,   0,   0, 0, 0, 0, 0,    2, 2, 0x44, 0x01, 0, ';'};
  put_le(gif, 6, n, 2);
  put_le(gif, 8, n, 2);
  put_le(gif, 24, n, 2);
  put_le(gif, 26, n, 2);
  cases.push_back({"huge.gif", gif, "needs at least 8222 bytes"});
  cases.push_back({"no_frame.gif", Bytes(gif.begin(), gif.begin() + 19), "no image"});

  for (const Case& c : cases) {
    const std::string path = dir.file(c.name);
    ctnn_test::write_all(path, c.bytes);
    CAPTURE(path);
    const double rss = peak_rss_mib();
    const auto start = std::chrono::steady_clock::now();
    const std::string m = file_error([&] { load_image<Image<512, 512, 1>>(path); }, path);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CAPTURE(m);
    CHECK(m.find("16384 x 16384") != std::string::npos);
    CHECK(m.find(c.reason) != std::string::npos);
    CHECK(m.find("not decoded") != std::string::npos);
    CHECK(seconds < 1.0);
    CHECK(peak_rss_mib() - rss < 64.0);  // stb_image would have allocated 256 MB or more
  }

  // Files of exactly the size their pixels need load; one byte less is refused.
  const std::string ok = dir.file("ok.pgm");
  write_bytes(ok, "P5\n3 2\n255\n" + std::string("\x10\x20\x30\x40\x50\x60", 6));
  const auto x = load_image<Image<2, 3, 1>>(ok);
  CHECK(x[5] == doctest::Approx(px(0x60)));
  const std::string cut = dir.file("cut.pgm");
  write_bytes(cut, "P5\n3 2\n255\n" + std::string("\x10\x20\x30\x40\x50", 5));
  CHECK(file_error([&] { load_image<Image<2, 3, 1>>(cut); }, cut).find("needs at least 17 bytes") !=
        std::string::npos);
  const std::string one = dir.file("white.gif");  // one pixel of colour 0, white
  ctnn_test::write_all(
      one, Bytes{'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 255,  255,  255, 0,  0,
                 0,   ',', 0,   0,   0,   0,   1, 0, 1, 0, 0,    2, 2, 0x44, 0x01, 0,   ';'});
  CHECK(load_image<Image<1, 1, 1>>(one)[0] == doctest::Approx(1.0f));
}

TEST_CASE("Image: a PNG over the pixel limit is refused with the limit and its size") {
  // stb_image's own header check fails first for this size ("too large"), and its format
  // detection then reports "unknown image type".
  TempDir dir;
  Bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0,
               0,    0,   0,   0,   0,    0,    0,    8,    6, 0, 0, 0,  0,   0,   0,   0};
  for (int i = 0; i < 4; ++i)
    png[16 + 3 - std::size_t(i)] = png[20 + 3 - std::size_t(i)] = std::uint8_t(20000u >> (8 * i));
  const std::string path = dir.file("huge.png");
  ctnn_test::write_all(path, png);
  // 512 x 512 is an input size whose limit is 2^28, the largest.
  const std::string m = file_error([&] { load_image<Image<512, 512, 1>>(path); }, path);
  CHECK(m.find("unknown image type") == std::string::npos);
  CHECK(m.find("20000 x 20000") != std::string::npos);
  CHECK(m.find("268435456") != std::string::npos);
}

TEST_CASE("Image: the pixel limit follows the input size, and a header over it is not decoded") {
  using ctnn::data::detail::image_pixel_limit;
  CHECK(image_pixel_limit(28, 28) == std::uint64_t{1} << 26);  // at least 2^26
  CHECK(image_pixel_limit(300, 300) == 1024u * 300 * 300);
  CHECK(image_pixel_limit(512, 512) == std::uint64_t{1} << 28);  // at most 2^28
  CHECK(image_pixel_limit(4096, 4096) == std::uint64_t{1} << 28);

  // A 33-byte PNG header of 16384 x 8192 grey pixels (2^27): stb_image would allocate 128 MB for
  // its pixels and, had the file its data, the floats of 2^27 pixels, for a 28 x 28 input.
  TempDir dir;
  Bytes png = {0x89, 'P',  'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0,
               0,    0x40, 0,   0,   0,    0x20, 0,    8,    0, 0, 0, 0,  0,   0,   0,   0};
  const std::string path = dir.file("wide.png");
  ctnn_test::write_all(path, png);
  const auto start = std::chrono::steady_clock::now();
  const std::string m = file_error([&] { load_image<Image<28, 28, 1>>(path); }, path);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CAPTURE(m);
  CHECK(m.find("16384 x 8192") != std::string::npos);
  CHECK(m.find("more than the 67108864") != std::string::npos);
  CHECK(m.find("not decoded") != std::string::npos);
  CHECK(seconds < 1.0);
  // For a larger input the same size is within the limit (and this file then fails to decode,
  // having no pixel data).
  CHECK(file_error([&] { load_image<Image<512, 512, 1>>(path); }, path).find("more than the") ==
        std::string::npos);
}

TEST_CASE("Image: a FIFO, a device or a directory is refused at once, without blocking") {
  ctnn_test::check_refuses_special_files(
      [](const std::string& path) { load_image<Image<4, 4, 1>>(path); });
}

TEST_CASE("Image: the header is judged on the first bytes, before the rest is read") {
  // Files of 256 MiB (sparse: no disk blocks) whose first bytes are no image, or a PNG header
  // over the pixel limit: refused after 64 KiB, not read whole.
  TempDir dir;
  Bytes png = {0x89, 'P', 'N',  'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
               0,    0,   0x40, 0,   0,    0,    0x40, 0,    8, 0, 0, 0,  0,   0,   0,   0};
  const std::uint64_t size = std::uint64_t{256} << 20;
  struct Case {
    std::string name;
    Bytes head;
    std::string reason;
  };
  for (const Case& c : {Case{"zeros.png", Bytes(16, 0), "unknown image type"},
                        Case{"huge.png", png, "16384 x 16384"}}) {
    const std::string path = dir.file(c.name);
    ctnn_test::write_sparse(path, c.head, size);
    CAPTURE(path);
    const auto before = ctnn_test::bytes_read_so_far();
    const std::string m = file_error([&] { load_image<Image<28, 28, 1>>(path); }, path);
    const auto after = ctnn_test::bytes_read_so_far();
    CHECK(m.find(c.reason) != std::string::npos);
    // 64 KiB, and the counter's own file: not the 256 MiB.
    if (before && after) CHECK(*after - *before < (std::uint64_t{1} << 20));
  }
}
