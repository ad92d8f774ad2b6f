// NumPy .npy and .npz files (ctnn/data/npy.hpp): every dtype in C and Fortran order as numpy
// writes them (tests/data/tables, tools/make_table_fixtures.py), format versions 1 to 3, zip
// archives stored and deflated, sample shapes against a network's input, and hostile files.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctnn/data/npy.hpp>
#include <string>
#include <vector>

#include "files.hpp"

using ctnn_test::file_error;

using namespace ctnn;
using data::Task;

namespace {

const std::string kDir = CTNN_TEST_DATA_DIR "/tables/";

// The value tools/make_table_fixtures.py stores at C-order index k for a dtype.
float expected(const std::string& dtype, std::size_t k) {
  const char kind = dtype[1];
  if (kind == 'b') return k % 3 == 0 ? 1.0f : 0.0f;
  if (kind == 'f') return 0.5f * float(k) - 2.5f;
  if (kind == 'i') return float(k) - 5.0f;
  return float(k);
}

// A version-1.0 .npy file with the given header dict and `data_bytes` bytes of zeros.
std::vector<unsigned char> npy_bytes(const std::string& dict, std::size_t data_bytes) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::vector<unsigned char> b = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  b.push_back(static_cast<unsigned char>(header.size() & 0xff));
  b.push_back(static_cast<unsigned char>(header.size() >> 8));
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + data_bytes, 0);
  return b;
}

}  // namespace

TEST_CASE("read_npy: every dtype in C and Fortran order, as numpy.save writes it") {
  for (const char* dt : {"f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"}) {
    for (const char* order : {"c", "f"}) {
      CAPTURE(dt);
      CAPTURE(order);
      const auto a = data::read_npy(kDir + dt + "_" + order + ".npy");
      CHECK(a.shape == std::vector<std::size_t>{3, 4});
      CHECK(a.fortran_order == (order[0] == 'f'));
      CHECK(a.dtype.substr(1) == dt);
      REQUIRE(a.values.size() == 12);
      for (std::size_t k = 0; k < 12; ++k) CHECK(a.values[k] == expected(a.dtype, k));
    }
  }
  const auto f3 = data::read_npy(kDir + "f4_3d_f.npy");
  CHECK(f3.shape == std::vector<std::size_t>{2, 3, 2});
  for (std::size_t k = 0; k < 12; ++k) CHECK(f3.values[k] == expected("<f4", k));
  for (const char* v : {"v2.npy", "v3.npy"}) {
    const auto a = data::read_npy(kDir + v);
    CHECK(a.shape == std::vector<std::size_t>{3, 4});
    for (std::size_t k = 0; k < 12; ++k) CHECK(a.values[k] == expected("<f8", k));
  }
}

TEST_CASE("load_npz: x and y of archives stored and deflated; shapes against the network") {
  for (const char* f : {"xy.npz", "xy_deflated.npz"}) {
    CAPTURE(f);
    const std::string path = kDir + f;
    auto names = data::npz_names(path);
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"x", "y"});
    using Grey = Image<2, 2, 1>;
    using Tall = Image<4, 1, 1>;
    using Steps = Sequence<2, 2>;
    const data::Dataset d = data::load_npz<Grey>(path);
    CHECK(d.size() == 6);
    CHECK(d.sample_size == 4);
    CHECK(d.classes == 3);
    CHECK(d.labels == std::vector<std::int32_t>{0, 1, 2, 0, 1, 2});
    for (std::size_t k = 0; k < 24; ++k) CHECK(d.inputs[k] == 0.25f * float(k));
    CHECK_NOTHROW(data::load_npz<Vector<4>>(path));
    CHECK_NOTHROW(data::load_npz<Steps>(path));
    CHECK_THROWS_WITH_AS(data::load_npz<Tall>(path),
                         doctest::Contains("the samples are 2 x 2 (4 floats), the network's input "
                                           "Image<4,1,1> needs 4 x 1 x 1 (4 floats)"),
                         InvalidArgument);
    CHECK_THROWS_AS(data::load_npz<Vector<5>>(path), InvalidArgument);
    const data::Dataset r = data::load_npz(path, Task::regression);
    CHECK(r.target_size == 1);
    CHECK(r.targets == std::vector<float>{0, 1, 2, 0, 1, 2});
    CHECK(file_error([&] { data::read_npz(path, "z"); }).find("no entry z.npy in the archive") !=
          std::string::npos);
  }
  // a channels-first image array given to a channels-last network
  ctnn_test::TempDir dir;
  const auto p = dir.file("chw.npy");
  ctnn_test::write_all(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                                    "'shape': (2, 3, 4, 4), }",
                                    2 * 48 * 4));
  data::Table t = data::to_table(data::read_npy(p));
  CHECK(t.rows == 2);
  CHECK(t.columns == 48);
  using Colour = Image<4, 4, 3>;
  CHECK_THROWS_WITH_AS(data::check_sample_shape<Colour>(t),
                       doctest::Contains("the samples are 3 x 4 x 4 (48 floats), the network's "
                                         "input Image<4,4,3> needs 4 x 4 x 3"),
                       InvalidArgument);
  const auto y = dir.file("y.npy");
  ctnn_test::write_all(y,
                       npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", 24));
  CHECK_THROWS_WITH_AS(data::load_npy(p, y), doctest::Contains("has 2 rows but"), InvalidArgument);
}

TEST_CASE("read_npy: hostile files are refused with a FileError") {
  ctnn_test::TempDir dir;
  const auto p = dir.file("h.npy");
  struct Case {
    std::vector<unsigned char> bytes;
    const char* message;
  };
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  auto truncated = npy_bytes(ok, 24);
  truncated.resize(truncated.size() - 1);
  auto lying_len = npy_bytes(ok, 24);
  lying_len[8] = 0xff;
  lying_len[9] = 0x7f;
  auto bad_version = npy_bytes(ok, 24);
  bad_version[6] = 4;
  std::vector<unsigned char> not_npy(64, 'x');
  const Case cases[] = {
      {truncated, "make 24 bytes of data, the file holds 23"},
      {npy_bytes(ok, 28), "make 24 bytes of data, the file holds 28"},
      {lying_len, "the .npy header claims 32767 bytes"},
      {bad_version, "unsupported .npy format version 4.0"},
      {not_npy, "not a .npy file"},
      {std::vector<unsigned char>(truncated.begin(), truncated.begin() + 9), "not a .npy file"},
      {npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24),
       "dtype '>f4' is not read"},
      {npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16),
       "dtype '|O' is not read"},
      {npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 4),
       "dtype '<f2' is not read"},
      {npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8),
       "structured dtypes"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (4294967296, 4294967296, 4294967296), }",
                 0),
       "element count overflows"},
      {npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", 0),
       "byte size overflows"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
                 0),
       "too large"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False}", 0), "lacks one of"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8),
       "neither True nor False"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 8),
       "not a number >= 0"},
      {npy_bytes("{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", 8), "malformed"},
      {npy_bytes("not a dict", 0), "expected '{'"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    ctnn_test::write_all(p, c.bytes);
    const std::string m = file_error([&] { data::read_npy(p); });
    CHECK(m.rfind(p + ": ", 0) == 0);
    CHECK(m.find(c.message) != std::string::npos);
  }
  // non-finite values
  auto nan_file = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
  const float nan = std::nanf("");
  std::memcpy(nan_file.data() + nan_file.size() - 4, &nan, 4);
  ctnn_test::write_all(p, nan_file);
  CHECK(file_error([&] { data::read_npy(p); }).find("element 1 (in C order) is NaN") !=
        std::string::npos);
  auto big_file = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", 8);
  const double big = 1e300;
  std::memcpy(big_file.data() + big_file.size() - 8, &big, 8);
  ctnn_test::write_all(p, big_file);
  CHECK(file_error([&] { data::read_npy(p); }).find("beyond float's range") != std::string::npos);
  // a FIFO, a missing file, a file over the size limit
  const auto fifo = dir.file("fifo.npy");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(file_error([&] { data::read_npy(fifo); }).find("FIFO") != std::string::npos);
  CHECK(file_error([&] { data::read_npz(fifo, "x"); }).find("FIFO") != std::string::npos);
  CHECK(file_error([&] { data::read_npy(dir.file("none.npy")); }).find("cannot open") !=
        std::string::npos);
  CHECK(file_error([&] { data::read_npy(kDir + "f8_c.npy", 100); }).find("more than the limit") !=
        std::string::npos);
  // a scalar is not a table of samples
  ctnn_test::write_all(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4));
  CHECK_THROWS_AS(data::to_table(data::read_npy(p)), InvalidArgument);
}

TEST_CASE("read_npz: hostile archives are refused with a FileError") {
  ctnn_test::TempDir dir;
  const auto good = ctnn_test::read_all<unsigned char>(kDir + "xy_deflated.npz");
  const auto p = dir.file("h.npz");
  // not a zip archive
  ctnn_test::write_all(p, std::string("PK not really a zip file"));
  CHECK(file_error([&] { data::read_npz(p, "x"); }).find("not a readable .npz") !=
        std::string::npos);
  // truncated: the central directory is gone
  ctnn_test::write_all(p, std::vector<unsigned char>(good.begin(), good.begin() + good.size() / 2));
  CHECK(file_error([&] { data::read_npz(p, "x"); }).find("not a readable .npz") !=
        std::string::npos);
  // a flipped byte in the deflated data of the first entry: CRC or inflate error
  auto flipped = good;
  flipped[60] ^= 0x55;
  ctnn_test::write_all(p, flipped);
  const std::string m = file_error([&] {
    data::read_npz(p, "x");
    data::read_npz(p, "y");
  });
  CHECK(m.rfind(p, 0) == 0);
  CHECK(!m.empty());
  // an entry over the size limit
  CHECK(file_error([&] {
          data::read_npz(kDir + "xy.npz", "x", 400);
        }).find("more than the limit") != std::string::npos);
}
