// Tests for ctnn/data/idx.hpp: valid raw and gzipped IDX files, and every kind of malformed file.
#include <doctest/doctest.h>
#include <zlib.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ctnn/data/idx.hpp"
#include "files.hpp"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using ctnn_test::read_all;
using ctnn_test::TempDir;
using ctnn_test::write_all;

void write_gzip(const std::string& path, const Bytes& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(gz) == Z_OK);
}

// An IDX header of type 0x08 with the given dimensions.
Bytes idx_header(const std::vector<std::uint32_t>& dims) {
  Bytes b = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    b.push_back(static_cast<std::uint8_t>(d >> 24));
    b.push_back(static_cast<std::uint8_t>(d >> 16));
    b.push_back(static_cast<std::uint8_t>(d >> 8));
    b.push_back(static_cast<std::uint8_t>(d));
  }
  return b;
}

Bytes idx_file(const std::vector<std::uint32_t>& dims, const Bytes& data) {
  Bytes b = idx_header(dims);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// 3 images of 2 x 4 pixels, pixel value = 10 * image + position (image 2 ends in 255).
Bytes sample_pixels() {
  Bytes p;
  for (int img = 0; img < 3; ++img) {
    for (int i = 0; i < 8; ++i) p.push_back(static_cast<std::uint8_t>(10 * img + i));
  }
  p.back() = 255;
  return p;
}

const Bytes kLabels = {7, 0, 9};

// Runs f, requires it to throw ctnn::FileError, and returns the message.
std::string file_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ctnn::FileError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("threw something other than ctnn::FileError: " << std::string(e.what()));
  }
  FAIL("did not throw");
  return {};
}

void check_sample_dataset(const ctnn::data::Dataset& ds) {
  const Bytes pixels = sample_pixels();
  REQUIRE(ds.size() == 3);
  CHECK(ds.sample_size == 8);
  CHECK(ds.classes == 10);
  REQUIRE(ds.inputs.size() == 24);
  CHECK(ds.labels == std::vector<std::int32_t>{7, 0, 9});
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    CHECK(ds.inputs[i] == doctest::Approx(pixels[i] / 255.0f));
  }
  CHECK(ds.sample(1)[3] == doctest::Approx(13 / 255.0f));
  CHECK(ds.inputs.back() == 1.0f);
  CHECK(ds.inputs.front() == 0.0f);
}

}  // namespace

TEST_CASE("IDX: raw image and label files load with their shape and values") {
  TempDir dir;
  write_all(dir.file("img"), idx_file({3, 2, 4}, sample_pixels()));
  write_all(dir.file("lbl"), idx_file({3}, kLabels));

  const ctnn::data::IdxArray arr = ctnn::data::read_idx(dir.file("img"));
  CHECK(arr.dims == std::vector<std::size_t>{3, 2, 4});
  CHECK(arr.data == sample_pixels());

  check_sample_dataset(ctnn::data::load_idx_dataset(dir.file("img"), dir.file("lbl")));
}

TEST_CASE("IDX: 4-D images are channels-last with sample_size rows*cols*channels") {
  TempDir dir;
  write_all(dir.file("img"), idx_file({3, 2, 2, 2}, sample_pixels()));
  write_all(dir.file("lbl"), idx_file({3}, kLabels));
  const auto ds = ctnn::data::load_idx_dataset(dir.file("img"), dir.file("lbl"));
  CHECK(ds.sample_size == 8);
  CHECK(ds.size() == 3);
}

TEST_CASE("IDX: gzipped files load identically to raw ones") {
  TempDir dir;
  write_gzip(dir.file("img.gz"), idx_file({3, 2, 4}, sample_pixels()));
  write_gzip(dir.file("lbl.gz"), idx_file({3}, kLabels));
  write_all(dir.file("img"), idx_file({3, 2, 4}, sample_pixels()));

  const auto gz = ctnn::data::read_idx(dir.file("img.gz"));
  const auto raw = ctnn::data::read_idx(dir.file("img"));
  CHECK(gz.dims == raw.dims);
  CHECK(gz.data == raw.data);
  check_sample_dataset(ctnn::data::load_idx_dataset(dir.file("img.gz"), dir.file("lbl.gz")));
}

TEST_CASE("IDX: a gzip file larger than one decompression chunk loads") {
  TempDir dir;
  Bytes pixels(300 * 28 * 28);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 7919);
  write_gzip(dir.file("big.gz"), idx_file({300, 28, 28}, pixels));
  const auto arr = ctnn::data::read_idx(dir.file("big.gz"));
  CHECK(arr.dims == std::vector<std::size_t>{300, 28, 28});
  CHECK(arr.data == pixels);
}

TEST_CASE("IDX: truncated data throws FileError saying truncated") {
  TempDir dir;
  Bytes pixels = sample_pixels();
  pixels.resize(20);
  write_all(dir.file("img"), idx_file({3, 2, 4}, pixels));
  const std::string msg = file_error_of([&] { ctnn::data::read_idx(dir.file("img")); });
  CHECK(msg.find("truncated") != std::string::npos);
  CHECK(msg.find("24") != std::string::npos);
  CHECK(msg.find("20") != std::string::npos);

  write_all(dir.file("short_header"), Bytes{0, 0, 0x08, 3, 0, 0});
  CHECK(file_error_of([&] { ctnn::data::read_idx(dir.file("short_header")); }).find("truncated") !=
        std::string::npos);
  write_all(dir.file("empty"), Bytes{});
  CHECK(file_error_of([&] { ctnn::data::read_idx(dir.file("empty")); }).find("truncated") !=
        std::string::npos);
}

TEST_CASE("IDX: wrong magic or unsupported type throws") {
  TempDir dir;
  Bytes bad = idx_file({3}, kLabels);
  bad[1] = 0x01;
  write_all(dir.file("magic"), bad);
  CHECK(file_error_of([&] { ctnn::data::read_idx(dir.file("magic")); }).find("magic") !=
        std::string::npos);

  Bytes floats = idx_file({3}, kLabels);
  floats[2] = 0x0D;
  write_all(dir.file("float"), floats);
  const std::string msg = file_error_of([&] { ctnn::data::read_idx(dir.file("float")); });
  CHECK(msg.find("0x0d") != std::string::npos);
  CHECK(msg.find("0x08") != std::string::npos);
}

TEST_CASE("IDX: dimension count 0 or 9 throws") {
  TempDir dir;
  for (std::uint8_t n : {std::uint8_t{0}, std::uint8_t{9}}) {
    Bytes b = {0, 0, 0x08, n};
    b.resize(4 + 4 * 9 + 16, 1);
    write_all(dir.file("dims"), b);
    const std::string msg = file_error_of([&] { ctnn::data::read_idx(dir.file("dims")); });
    CHECK(msg.find("dimension count") != std::string::npos);
    CHECK(msg.find(std::to_string(n)) != std::string::npos);
  }
}

TEST_CASE("IDX: a zero dimension throws") {
  TempDir dir;
  write_all(dir.file("zero"), idx_header({3, 0, 4}));
  CHECK(file_error_of([&] { ctnn::data::read_idx(dir.file("zero")); }).find("dimension 1") !=
        std::string::npos);
}

TEST_CASE("IDX: dimensions whose product overflows throw without allocating") {
  TempDir dir;
  write_all(dir.file("huge"), idx_file({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {1, 2}));
  CHECK(file_error_of([&] { ctnn::data::read_idx(dir.file("huge")); }).find("4294967295") !=
        std::string::npos);

  // Within the limit but far more than the file holds: reported as truncated, not allocated.
  write_all(dir.file("claims"), idx_file({0xFFFF, 0xFFFF, 4}, {1, 2, 3}));
  CHECK(file_error_of([&] { ctnn::data::read_idx(dir.file("claims")); }).find("truncated") !=
        std::string::npos);
}

TEST_CASE("IDX: trailing bytes after the data throw") {
  TempDir dir;
  Bytes b = idx_file({3}, kLabels);
  b.push_back(0);
  b.push_back(0);
  write_all(dir.file("raw"), b);
  write_gzip(dir.file("gz"), b);
  for (const char* name : {"raw", "gz"}) {
    const std::string msg = file_error_of([&] { ctnn::data::read_idx(dir.file(name)); });
    CHECK(msg.find("2 trailing bytes") != std::string::npos);
  }
}

TEST_CASE("IDX: a label >= classes throws naming index and value") {
  TempDir dir;
  write_all(dir.file("img"), idx_file({3, 2, 4}, sample_pixels()));
  write_all(dir.file("lbl"), idx_file({3}, kLabels));
  const std::string msg =
      file_error_of([&] { ctnn::data::load_idx_dataset(dir.file("img"), dir.file("lbl"), 8); });
  CHECK(msg.find("label 2") != std::string::npos);
  CHECK(msg.find("is 9") != std::string::npos);
  CHECK_THROWS_AS(ctnn::data::load_idx_dataset(dir.file("img"), dir.file("lbl"), 0),
                  ctnn::InvalidArgument);
}

TEST_CASE("IDX: wrong dimensionality or a count mismatch between images and labels throws") {
  TempDir dir;
  write_all(dir.file("img"), idx_file({3, 2, 4}, sample_pixels()));
  write_all(dir.file("lbl2"), idx_file({2}, {1, 2}));
  const std::string msg =
      file_error_of([&] { ctnn::data::load_idx_dataset(dir.file("img"), dir.file("lbl2")); });
  CHECK(msg.find("2 labels") != std::string::npos);
  CHECK(msg.find("3 images") != std::string::npos);

  write_all(dir.file("img2d"), idx_file({3, 8}, sample_pixels()));
  write_all(dir.file("lbl"), idx_file({3}, kLabels));
  CHECK_THROWS_AS(ctnn::data::load_idx_dataset(dir.file("img2d"), dir.file("lbl")),
                  ctnn::FileError);
  CHECK_THROWS_AS(ctnn::data::load_idx_dataset(dir.file("img"), dir.file("img")), ctnn::FileError);
}

TEST_CASE("IDX: a missing file throws FileError naming the path") {
  TempDir dir;
  const std::string missing = dir.file("no-such-file.gz");
  try {
    ctnn::data::read_idx(missing);
    FAIL("did not throw");
  } catch (const ctnn::FileError& e) {
    CHECK(e.path() == missing);
    CHECK(std::string(e.what()).find(missing) != std::string::npos);
  }
  CHECK_THROWS_AS(ctnn::data::load_fashion_mnist(dir.path.string(), ctnn::data::Split::test),
                  ctnn::FileError);
}

TEST_CASE("IDX: a directory given as a path throws FileError naming it") {
  TempDir dir;
  const std::string path = dir.file("train-images-idx3-ubyte.gz");
  fs::create_directory(path);
  write_all(dir.file("lbl"), idx_file({3}, kLabels));
  for (const auto& load : std::vector<std::function<void()>>{
           [&] { ctnn::data::read_idx(path); },
           [&] { ctnn::data::load_idx_dataset(path, dir.file("lbl")); },
           [&] { ctnn::data::load_fashion_mnist(dir.path.string(), ctnn::data::Split::train); }}) {
    try {
      load();
      FAIL("a directory was read as an IDX file");
    } catch (const ctnn::FileError& e) {
      CHECK(e.path() == path);
      CHECK(std::string(e.what()).find(std::strerror(EISDIR)) != std::string::npos);
    } catch (const std::exception& e) {
      FAIL("threw something other than ctnn::FileError: " << std::string(e.what()));
    }
  }
}

TEST_CASE("IDX: load_fashion_mnist refuses images that are not 28 x 28 with one channel") {
  TempDir dir;
  write_all(dir.file("t10k-labels-idx1-ubyte"), idx_file({3}, kLabels));
  const auto images_with = [&](const std::vector<std::uint32_t>& dims) {
    std::size_t total = 1;
    for (auto d : dims) total *= d;
    write_all(dir.file("t10k-images-idx3-ubyte"), idx_file(dims, Bytes(total, 9)));
    return dir.file("t10k-images-idx3-ubyte");
  };
  for (const auto& dims : std::vector<std::vector<std::uint32_t>>{
           {3, 14, 56}, {3, 784, 1}, {3, 1, 784}, {3, 28, 28, 3}, {3, 4, 7, 28}}) {
    const std::string path = images_with(dims);
    INFO("dimensions ", ctnn::data::detail::idx_dims_text({dims.begin(), dims.end()}));
    try {
      ctnn::data::load_fashion_mnist(dir.path.string(), ctnn::data::Split::test);
      FAIL("loaded as Fashion-MNIST");
    } catch (const ctnn::FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m);
      CHECK(e.path() == path);
      CHECK(m.find("28 x 28") != std::string::npos);
    }
  }
  for (const auto& dims : std::vector<std::vector<std::uint32_t>>{{3, 28, 28}, {3, 28, 28, 1}}) {
    images_with(dims);
    const auto ds = ctnn::data::load_fashion_mnist(dir.path.string(), ctnn::data::Split::test);
    CHECK(ds.size() == 3);
    CHECK(ds.sample_size == 784);
  }
}

namespace {

// Writes Fashion-MNIST's training files for `count` images of 28 x 28 zeros into `dir`: the
// images as a gzip file of 1 KB per MiB (the header's member, then members of 1 MiB of zeros and
// one of the rest), the labels raw. Returns the image file's path.
std::string write_zero_images(const TempDir& dir, std::size_t count) {
  constexpr std::size_t mib = std::size_t{1} << 20;
  const std::size_t pixels = count * 28 * 28;
  write_gzip(dir.file("zeros.gz"), Bytes(mib, 0));
  write_gzip(dir.file("rest.gz"), Bytes(pixels % mib, 0));
  const Bytes member = read_all<std::uint8_t>(dir.file("zeros.gz"));
  const Bytes rest = read_all<std::uint8_t>(dir.file("rest.gz"));
  const std::string path = dir.file("train-images-idx3-ubyte.gz");
  write_gzip(path, idx_header({static_cast<std::uint32_t>(count), 28, 28}));
  std::ofstream f(path, std::ios::binary | std::ios::app);
  for (std::size_t i = 0; i < pixels / mib; ++i)
    f.write(reinterpret_cast<const char*>(member.data()),
            static_cast<std::streamsize>(member.size()));
  f.write(reinterpret_cast<const char*>(rest.data()), static_cast<std::streamsize>(rest.size()));
  REQUIRE(f.good());
  Bytes labels = idx_header({static_cast<std::uint32_t>(count)});
  labels.resize(labels.size() + count, 1);
  write_all(dir.file("train-labels-idx1-ubyte"), labels);
  return path;
}

}  // namespace

TEST_CASE("IDX: running out of memory while loading is a FileError naming the file") {
  // 2,000,000 images (1.57 GB of pixels, 6.3 GB as floats) in a 1.5 MB file, and 100,000 (78 MB
  // of pixels, 314 MB as floats) in 80 KB.
  TempDir big_dir, small_dir;
  const std::string big = write_zero_images(big_dir, 2'000'000);
  const std::string small = write_zero_images(small_dir, 100'000);

  // Allocations beyond 256 MiB more than the process has now fail.
  ctnn_test::AddressSpaceLimit limit(std::uint64_t{256} << 20);
  if (!limit.active()) {
    MESSAGE("the address-space limit cannot be lowered here (AddressSanitizer?): not checked");
    return;
  }
  const auto out_of_memory = [](const std::string& path, const std::function<void()>& load) {
    try {
      load();
      FAIL("loaded within the limit: " << path);
    } catch (const ctnn::FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m);
      CHECK(e.path() == path);
      CHECK(m.find("out of memory") != std::string::npos);
    } catch (const std::exception& e) {
      FAIL("threw something other than ctnn::FileError: " << std::string(e.what()));
    }
  };
  // The pixels do not fit.
  out_of_memory(big, [&] { ctnn::data::read_idx(big); });
  out_of_memory(
      big, [&] { ctnn::data::load_idx_dataset(big, big_dir.file("train-labels-idx1-ubyte")); });
  out_of_memory(big, [&] {
    ctnn::data::load_fashion_mnist(big_dir.path.string(), ctnn::data::Split::train);
  });
  // The pixels fit, their floats do not.
  CHECK(ctnn::data::read_idx(small).data.size() == 100'000u * 28 * 28);
  out_of_memory(small, [&] {
    ctnn::data::load_fashion_mnist(small_dir.path.string(), ctnn::data::Split::train);
  });
}

TEST_CASE("IDX: a cut-off or corrupt gzip stream throws") {
  TempDir dir;
  Bytes pixels(4000);
  for (std::size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<std::uint8_t>(i * 31 % 251);
  write_gzip(dir.file("full.gz"), idx_file({10, 20, 20}, pixels));
  const Bytes gz = read_all<std::uint8_t>(dir.file("full.gz"));
  REQUIRE(gz.size() > 40);

  write_all(dir.file("half.gz"), Bytes(gz.begin(), gz.begin() + gz.size() / 2));
  CHECK(file_error_of([&] { ctnn::data::read_idx(dir.file("half.gz")); }).find("gzip") !=
        std::string::npos);

  // Cut inside the 8-byte trailer: all data decompresses, but the stream is incomplete.
  write_all(dir.file("trailer.gz"), Bytes(gz.begin(), gz.end() - 3));
  CHECK(file_error_of([&] { ctnn::data::read_idx(dir.file("trailer.gz")); }).find("gzip") !=
        std::string::npos);

  // A flipped CRC byte.
  Bytes crc = gz;
  crc[crc.size() - 6] ^= 0xFF;
  write_all(dir.file("crc.gz"), crc);
  CHECK(file_error_of([&] { ctnn::data::read_idx(dir.file("crc.gz")); }).find("corrupt gzip") !=
        std::string::npos);
}

TEST_CASE("IDX: Fashion-MNIST test split loads (if installed)") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::is_directory(dir)) return;
  const auto ds = ctnn::data::load_fashion_mnist(dir, ctnn::data::Split::test);
  REQUIRE(ds.size() == 10000);
  CHECK(ds.sample_size == 784);
  CHECK(ds.classes == 10);
  CHECK(ds.inputs.size() == 10000u * 784u);
  std::array<int, 10> counts{};
  bool labels_in_range = true;
  for (std::int32_t l : ds.labels) {
    if (l < 0 || l > 9) {
      labels_in_range = false;
      continue;
    }
    ++counts[static_cast<std::size_t>(l)];
  }
  CHECK(labels_in_range);
  for (int c : counts) CHECK(c == 1000);
  float lo = 1.0f, hi = 0.0f;
  for (float v : ds.inputs) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
}

TEST_CASE("IDX: a FIFO, a device or a directory is refused at once, without blocking or reading") {
  ctnn_test::check_refuses_special_files(
      [](const std::string& path) { ctnn::data::read_idx(path); });
}
