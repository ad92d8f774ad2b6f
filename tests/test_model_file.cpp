#include <doctest/doctest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctnn/ctnn.hpp>
#include <filesystem>
#include <fstream>
#include <limits>

#include "../examples/channel_scale.hpp"
#include "files.hpp"
#include "reference.hpp"

using namespace ctnn;
namespace fs = std::filesystem;

namespace {

using ctnn_test::read_all;
using ctnn_test::TempDir;
using ctnn_test::write_all;

using Net = Sequential<Input<8, 8, 1>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Dense<16>, BatchNorm, ReLU,
                       Dense<3>>;
using Other = Sequential<Input<8, 8, 1>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Dense<17>, BatchNorm,
                         ReLU, Dense<3>>;

std::vector<float> predictions(const Net& net, const std::vector<float>& x, std::size_t n) {
  Workspace<Net> ws(n);
  std::vector<float> y(n * 3);
  net.predict(x.data(), y.data(), n, ws);
  return y;
}

// A model file of format 1 or 2, as 0.2.0 wrote them (docs/model-format.md, "Files of earlier
// versions"): no tensor table, parameters() and state() as they are in memory.
template <class N>
std::vector<unsigned char> flat_image(const N& net, std::uint32_t version) {
  using namespace ctnn::io::detail;
  const std::string sig = N::signature();
  std::vector<unsigned char> b;
  append(b, magic, 8);
  put<std::uint32_t>(b, version);
  put<std::uint32_t>(b, static_cast<std::uint32_t>(sig.size()));
  append(b, sig.data(), sig.size());
  put<std::uint64_t>(b, fnv1a64(sig));
  put<std::uint64_t>(b, N::parameter_count);
  put<std::uint64_t>(b, N::state_count);
  for (float v : net.parameters()) put<float>(b, v);
  for (float v : net.state()) put<float>(b, v);
  put<std::uint32_t>(b, crc32_of(b.data(), b.size()));
  return b;
}

}  // namespace

TEST_CASE("save then load reproduces parameters, state and predictions exactly") {
  TempDir dir;
  Net a(11);
  for (std::size_t i = 0; i < Net::state_count; ++i) a.state()[i] = 0.5f + 0.01f * i;
  save(a, dir.file("m.ctnn"));
  Net b;
  load(b, dir.file("m.ctnn"));
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
  CHECK(std::equal(a.state().begin(), a.state().end(), b.state().begin()));
  auto x = ctnn_test::random_vector(4 * 64, 2, 0.0f, 1.0f);
  CHECK(predictions(a, x, 4) == predictions(b, x, 4));
  // No temporary file is left behind.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
  // The size is the documented one: 52 bytes of header, metadata length (0: none) and CRC +
  // signature + tensor table + floats.
  // The table has a record of 12 bytes + name + 8 per dimension for each of Net's tensors:
  // 0.weight [4, 1, 3, 3], 0.bias [4], 3.weight [16, 36], 3.bias [16], 4.weight [16],
  // 4.bias [16], 4.running_mean [16], 4.running_var [16], 6.weight [3, 16], 6.bias [3].
  const std::size_t table = (12 + 8 + 32) + (12 + 6 + 8) + (12 + 8 + 16) + (12 + 6 + 8) +
                            (12 + 8 + 8) + (12 + 6 + 8) + (12 + 14 + 8) + (12 + 13 + 8) +
                            (12 + 8 + 16) + (12 + 6 + 8);
  CHECK(fs::file_size(dir.file("m.ctnn")) ==
        52 + Net::signature().size() + table + 4 * (Net::parameter_count + Net::state_count));
}

TEST_CASE("loading a model of another network type throws, naming the differing layer") {
  TempDir dir;
  Other o(1);
  save(o, dir.file("other.ctnn"));
  Net n(2);
  const auto before = std::vector<float>(n.parameters().begin(), n.parameters().end());
  try {
    load(n, dir.file("other.ctnn"));
    FAIL("load accepted a model of another network");
  } catch (const SignatureMismatch& e) {
    const std::string m = e.what();
    CHECK(m.find("other.ctnn") != std::string::npos);
    CHECK(m.find("layer 4 differs") != std::string::npos);
    CHECK(m.find("Dense<17>") != std::string::npos);
    CHECK(m.find("Dense<16>") != std::string::npos);
  }
  CHECK(std::equal(before.begin(), before.end(), n.parameters().begin()));
}

TEST_CASE("damaged model files throw FileError and leave the network unchanged") {
  TempDir dir;
  Net a(3);
  const std::string good = dir.file("good.ctnn"), bad = dir.file("bad.ctnn");
  save(a, good);
  const auto bytes = read_all(good);
  Net n(4);
  const auto before = std::vector<float>(n.parameters().begin(), n.parameters().end());
  auto expect_error = [&](const std::vector<char>& b, const char* needle) {
    write_all(bad, b);
    INFO("expecting '", needle, "'");
    try {
      load(n, bad);
      FAIL("load accepted a damaged file");
    } catch (const FileError& e) {
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
      CHECK(e.path() == bad);
    }
    CHECK(std::equal(before.begin(), before.end(), n.parameters().begin()));
  };
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{14}, std::size_t{100},
                          bytes.size() / 2, bytes.size() - 1})
    expect_error(std::vector<char>(bytes.begin(), bytes.begin() + cut), "truncated");
  auto b = bytes;
  b[0] = 'X';
  expect_error(b, "bad magic");
  b = bytes;
  b[8] = 9;
  expect_error(b, "version 9");
  b = bytes;
  b[bytes.size() / 2] ^= 0x40;
  expect_error(b, "CRC-32");
  b = bytes;
  b[20] ^= 0x01;  // inside the signature text
  expect_error(b, "signature hash");
  b = bytes;
  b.push_back(0);
  expect_error(b, "unexpected bytes");
  b = bytes;
  b[12] = '\xff';  // signature length far beyond the file
  b[13] = '\xff';
  expect_error(b, "truncated");
  CHECK_THROWS_AS(load(n, dir.file("missing.ctnn")), FileError);
}

TEST_CASE("a failed save leaves the previous model in place") {
  TempDir dir;
  Net a(5);
  save(a, dir.file("m.ctnn"));
  const auto before = read_all(dir.file("m.ctnn"));
  CHECK_THROWS_AS(save(a, dir.file("no-such-dir/m.ctnn")), FileError);
  CHECK(read_all(dir.file("m.ctnn")) == before);
}

TEST_CASE("version-1 files load only into networks without recurrent layers") {
  // Version 1 differs from version 2 only in the layout of recurrent layers' W_h.
  const auto as_version_1 = [](const auto& net) { return flat_image(net, 1); };
  TempDir dir;
  Net a(6);
  save(a, dir.file("cnn.ctnn"));
  write_all(dir.file("cnn1.ctnn"), as_version_1(a));
  Net b;
  load(b, dir.file("cnn1.ctnn"));
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));

  using Rnn = Sequential<Input<4, 3>, GRU<5>, Dense<2>>;
  Rnn r(7);
  save(r, dir.file("rnn.ctnn"));
  write_all(dir.file("rnn1.ctnn"), as_version_1(r));
  Rnn s(8);
  const auto before = std::vector<float>(s.parameters().begin(), s.parameters().end());
  try {
    load(s, dir.file("rnn1.ctnn"));
    FAIL("a version-1 file was loaded into a recurrent network");
  } catch (const FileError& e) {
    CHECK(std::string(e.what()).find("format version 1") != std::string::npos);
    CHECK(std::string(e.what()).find("recurrent") != std::string::npos);
  }
  CHECK(std::equal(before.begin(), before.end(), s.parameters().begin()));
}

TEST_CASE("a directory given as the model path throws FileError naming it") {
  TempDir dir;
  Net n(9);
  const auto before = std::vector<float>(n.parameters().begin(), n.parameters().end());
  const std::string path = dir.file("a-directory.ctnn");
  fs::create_directory(path);
  try {
    load(n, path);
    FAIL("load accepted a directory");
  } catch (const FileError& e) {
    CHECK(e.path() == path);
    CHECK(std::string(e.what()) == path + ": cannot open: " + std::strerror(EISDIR));
  } catch (const std::exception& e) {
    FAIL("threw something other than FileError: " << std::string(e.what()));
  }
  CHECK(std::equal(before.begin(), before.end(), n.parameters().begin()));
}

TEST_CASE("saving onto a directory gives the reason of the failing call") {
  TempDir dir;
  const Net a(10);
  ctnn_test::check_save_onto_directory(dir, "a-directory.ctnn",
                                       [&](const std::string& path) { save(a, path); });
}

TEST_CASE("save gives a new file the mode open(2) would; a replaced file keeps its mode") {
  TempDir dir;
  const Net a(12);
  ctnn_test::check_save_modes(dir, "m.ctnn", "other.ctnn",
                              [&](const std::string& path) { save(a, path); });
}

TEST_CASE("load judges a large file by its first bytes and its size, without reading it whole") {
  TempDir dir;
  Net n(13);
  const auto before = std::vector<float>(n.parameters().begin(), n.parameters().end());
  constexpr std::uint64_t big = std::uint64_t{2} << 30;  // 2 GiB, a hole on disk
  const auto refused = [&](const std::string& path, const char* needle) {
    INFO("expecting '", needle, "'");
    const auto read_before = ctnn_test::bytes_read_so_far();
    try {
      load(n, path);
      FAIL("load accepted " << path);
    } catch (const FileError& e) {
      CHECK(e.path() == path);
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
    const auto read_after = ctnn_test::bytes_read_so_far();
    if (read_before && read_after)
      CHECK(*read_after - *read_before < (std::uint64_t{1} << 20));
    else
      MESSAGE("this kernel does not report the bytes read: not checked");
    CHECK(std::equal(before.begin(), before.end(), n.parameters().begin()));
  };
  // Not a model file: refused at the magic.
  ctnn_test::write_sparse(dir.file("video.mkv"), std::string("\x1a\x45\xdf\xa3 matroska"), big);
  refused(dir.file("video.mkv"), "bad magic");
  // A model with 2 GiB after it: refused by the size its header implies, before the parameters
  // are read.
  Net a(14);
  save(a, dir.file("m.ctnn"));
  auto bytes = read_all(dir.file("m.ctnn"));
  ctnn_test::write_sparse(dir.file("padded.ctnn"), bytes, big);
  refused(dir.file("padded.ctnn"), "unexpected bytes after the checksum");
  // A header declaring a 4 GiB signature in a 2 GiB file: truncated, nothing allocated for it.
  for (int i = 12; i < 16; ++i) bytes[i] = '\xff';
  ctnn_test::write_sparse(dir.file("long-signature.ctnn"), bytes, big);
  refused(dir.file("long-signature.ctnn"), "truncated");
}

TEST_CASE("a signature mismatch quotes at most 200 characters of the file's line") {
  using namespace ctnn::io::detail;
  // Net's own signature with layer 4's line replaced by 100,000 characters, in an intact file.
  std::string sig = Net::signature();
  std::size_t at = 0;
  for (int line = 0; line < 4; ++line) at = sig.find('\n', at) + 1;
  sig.replace(at, sig.find('\n', at) - at, std::string(100'000, 'x'));
  std::vector<unsigned char> b;
  append(b, magic, 8);
  put<std::uint32_t>(b, version);
  put<std::uint32_t>(b, static_cast<std::uint32_t>(sig.size()));
  append(b, sig.data(), sig.size());
  put<std::uint64_t>(b, fnv1a64(sig));
  put<std::uint64_t>(b, Net::parameter_count);
  put<std::uint64_t>(b, Net::state_count);
  b.resize(b.size() + 4 * (Net::parameter_count + Net::state_count));
  put<std::uint32_t>(b, crc32_of(b.data(), b.size()));
  TempDir dir;
  const std::string path = dir.file("long-line.ctnn");
  write_all(path, b);
  Net n;
  try {
    load(n, path);
    FAIL("load accepted a file of another network");
  } catch (const SignatureMismatch& e) {
    const std::string m = e.what();
    INFO("message: ", m.substr(0, 400));
    CHECK(m.find("layer 4 differs") != std::string::npos);
    CHECK(m.find("'" + std::string(200, 'x') + "...'") != std::string::npos);
    CHECK(m.find(std::string(201, 'x')) == std::string::npos);
    CHECK(m.size() < path.size() + 500);
  }
}

TEST_CASE("a model holding a value that is not finite, or a negative variance, is refused") {
  // Net: 1 Conv2D<4,3> (40 parameters), 2 ReLU, 3 MaxPool2D, 4 Dense<16> (592), 5 BatchNorm
  // (32 parameters, 32 state: running_mean [16], running_var [16]), 6 ReLU, 7 Dense<3> (51).
  TempDir dir;
  const std::string path = dir.file("m.ctnn");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  Net n(4);
  const std::vector<float> params(n.parameters().begin(), n.parameters().end());
  const std::vector<float> state(n.state().begin(), n.state().end());
  auto expect_refused = [&](auto&& edit, const std::vector<std::string>& needles) {
    Net a(3);
    edit(a);
    save(a, path);
    try {
      load(n, path);
      FAIL("load accepted a model with a bad value; expected '", needles[0], "'");
    } catch (const FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m);
      CHECK(e.path() == path);
      for (const auto& needle : needles) CHECK(m.find(needle) != std::string::npos);
    }
    CHECK(std::equal(params.begin(), params.end(), n.parameters().begin()));
    CHECK(std::equal(state.begin(), state.end(), n.state().begin()));
  };
  expect_refused([&](Net& a) { a.parameters()[Net::parameter_offset<3> + 17] = nan; },
                 {"layer 4 (Dense<16>): parameter 17 (of 592) is nan", "must be finite"});
  expect_refused([&](Net& a) { a.parameters()[Net::parameter_count - 1] = -inf; },
                 {"layer 7 (Dense<3>): parameter 50 (of 51) is -inf"});
  expect_refused([&](Net& a) { a.state()[3] = inf; },
                 {"layer 5 (BatchNorm<", "state value 3 (of 32) is inf", "must be finite"});
  expect_refused([&](Net& a) { a.state()[16 + 2] = -0.5f; },
                 {"layer 5 (BatchNorm<", "running variance of channel 2 (of 16) is -0.5",
                  "a variance must be >= 0"});

  // A BatchNorm inside a composite is named by its part.
  using Res =
      Sequential<Input<6, 6, 2>, Residual<Chain<Conv2D<2, 3, 1, Same>, BatchNorm>>, Dense<3>>;
  Res r(1);
  r.state()[3] = -1.0f;  // running_var of channel 1
  save(r, path);
  Res into(2);
  try {
    load(into, path);
    FAIL("load accepted a negative running variance inside a Residual");
  } catch (const FileError& e) {
    const std::string m = e.what();
    INFO("message: ", m);
    CHECK(m.find("layer 1, part main.1 (BatchNorm<") != std::string::npos);
    CHECK(m.find("running variance of channel 1 (of 2) is -1") != std::string::npos);
  }

  // A checkpoint's model is checked the same way.
  Net c(5);
  c.parameters()[0] = nan;
  Adam opt(0.01f);
  save_checkpoint(dir.file("c.ckpt"), c, opt, TrainingState{});
  try {
    load_checkpoint(dir.file("c.ckpt"), n, opt);
    FAIL("load_checkpoint accepted a model with a NaN");
  } catch (const FileError& e) {
    const std::string m = e.what();
    INFO("message: ", m);
    CHECK(m.find("the model in the checkpoint: layer 1 (Conv2D<") != std::string::npos);
    CHECK(m.find("parameter 0 (of 40) is nan") != std::string::npos);
  }

  // Extreme finite values and a zero variance load.
  Net ok(6);
  ok.parameters()[0] = std::numeric_limits<float>::max();
  ok.parameters()[1] = -std::numeric_limits<float>::denorm_min();
  ok.state()[16] = 0.0f;
  save(ok, path);
  load(n, path);
  CHECK(std::equal(ok.parameters().begin(), ok.parameters().end(), n.parameters().begin()));
  CHECK(std::equal(ok.state().begin(), ok.state().end(), n.state().begin()));
}

TEST_CASE("load refuses a FIFO, a device or a directory at once, without blocking or reading") {
  ctnn_test::check_refuses_special_files([](const std::string& path) {
    Net n(1);
    load(n, path);
  });
}

namespace {

// A tensor of a format-4 (or 3) file, read as docs/model-format.md describes the table.
struct FileTensor {
  std::string name;
  std::uint32_t kind = 0;
  std::vector<std::uint64_t> shape;
  std::size_t record = 0;  // offset of its record in the file
  std::size_t data = 0;    // offset of its first value
  std::size_t elements = 1;
};

template <class T>
T get_at(const std::vector<char>& b, std::size_t at) {
  return ctnn::io::detail::get<T>(reinterpret_cast<const unsigned char*>(b.data()) + at);
}

std::vector<FileTensor> file_tensors(const std::vector<char>& b) {
  const auto version = get_at<std::uint32_t>(b, 8);
  REQUIRE((version == 3 || version == 4));
  const std::size_t L = get_at<std::uint32_t>(b, 12);
  const std::size_t count = get_at<std::uint32_t>(b, 40 + L);
  std::vector<FileTensor> out(count);
  std::size_t at = 44 + L;
  for (FileTensor& t : out) {
    t.record = at;
    const std::size_t n = get_at<std::uint32_t>(b, at);
    t.name.assign(b.data() + at + 4, n);
    at += 4 + n;
    t.kind = get_at<std::uint32_t>(b, at);
    const std::size_t rank = get_at<std::uint32_t>(b, at + 4);
    at += 8;
    for (std::size_t d = 0; d < rank; ++d, at += 8) t.shape.push_back(get_at<std::uint64_t>(b, at));
    for (auto d : t.shape) t.elements *= d;
  }
  for (FileTensor& t : out) {
    t.data = at;
    at += 4 * t.elements;
  }
  if (version == 4) at += 4 + get_at<std::uint32_t>(b, at);  // the metadata section
  CHECK(at + 4 == b.size());
  return out;
}

float value_at(const std::vector<char>& b, const FileTensor& t, std::size_t e) {
  return get_at<float>(b, t.data + 4 * e);
}

// ChannelScale without its tensors(): a layer a file can store only as it is in memory.
struct ScaleWithoutTensors {
  template <class In>
  struct bind {
    using Scale = examples::ChannelScale::bind<In>;
    using input_shape = typename Scale::input_shape;
    using output_shape = typename Scale::output_shape;
    static constexpr std::size_t parameter_count = Scale::parameter_count;
    static constexpr std::size_t state_count = Scale::state_count;
    static constexpr std::size_t scratch_per_sample = Scale::scratch_per_sample;
    static constexpr std::size_t scratch_fixed = Scale::scratch_fixed;
    static constexpr std::size_t flops = Scale::flops;
    static std::string name() { return "ScaleWithoutTensors"; }
    static void init(float* params, float* state, Rng& rng) { Scale::init(params, state, rng); }
    static void forward(const Pass& p) { Scale::forward(p); }
    static void backward(const Pass& p) { Scale::backward(p); }
  };
};

}  // namespace

TEST_CASE("model files store each tensor in PyTorch's layout, under its PyTorch name") {
  // Net: 0 Conv2D<4,3> on Image<8,8,1>, 1 ReLU, 2 MaxPool2D, 3 Dense<16> on Image<3,3,4>,
  // 4 BatchNorm on Vector<16>, 5 ReLU, 6 Dense<3>.
  TempDir dir;
  Net a(21);
  for (std::size_t i = 0; i < Net::state_count; ++i) a.state()[i] = 0.25f + 0.01f * i;
  save(a, dir.file("m.ctnn"));
  const auto b = read_all(dir.file("m.ctnn"));
  const auto tensors = file_tensors(b);
  std::vector<std::string> names;
  for (const auto& t : tensors) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias", "4.weight",
                                          "4.bias", "4.running_mean", "4.running_var", "6.weight",
                                          "6.bias"});
  CHECK(tensors[0].shape == std::vector<std::uint64_t>{4, 1, 3, 3});
  CHECK(tensors[2].shape == std::vector<std::uint64_t>{16, 36});
  CHECK(tensors[8].shape == std::vector<std::uint64_t>{3, 16});
  CHECK(tensors[6].kind == 1);  // state
  CHECK(tensors[0].kind == 0);  // parameters

  // Conv2D: weight[f][c][kh][kw] (OIHW) is ctnn's w[kh][kw][c][f].
  const auto p = a.parameters();
  bool same = true;
  for (std::size_t f = 0; f < 4; ++f)
    for (std::size_t kh = 0; kh < 3; ++kh)
      for (std::size_t kw = 0; kw < 3; ++kw)
        same &= value_at(b, tensors[0], (f * 3 + kh) * 3 + kw) == p[(kh * 3 + kw) * 4 + f];
  // Dense on Image<3,3,4>: weight[n][k], k in PyTorch's (c, h, w) order.
  const std::size_t d3 = Net::parameter_offset<3>;
  for (std::size_t n = 0; n < 16; ++n)
    for (std::size_t c = 0; c < 4; ++c)
      for (std::size_t h = 0; h < 3; ++h)
        for (std::size_t w = 0; w < 3; ++w)
          same &= value_at(b, tensors[2], n * 36 + (c * 3 + h) * 3 + w) ==
                  p[d3 + ((h * 3 + w) * 4 + c) * 16 + n];
  // Dense on a Vector: weight[n][k] is ctnn's w[k][n].
  const std::size_t d6 = Net::parameter_offset<6>;
  for (std::size_t n = 0; n < 3; ++n)
    for (std::size_t k = 0; k < 16; ++k)
      same &= value_at(b, tensors[8], n * 16 + k) == p[d6 + k * 3 + n];
  // BatchNorm: running_var is the second half of its state.
  for (std::size_t c = 0; c < 16; ++c) same &= value_at(b, tensors[7], c) == a.state()[16 + c];
  CHECK(same);

  Net back(uninitialized);
  load(back, dir.file("m.ctnn"));
  CHECK(std::equal(p.begin(), p.end(), back.parameters().begin()));
  CHECK(std::equal(a.state().begin(), a.state().end(), back.state().begin()));
}

TEST_CASE("recurrent layers' tensors in a model file are those of their safetensors file") {
  // The kernels keep W_h in column panels; the file holds PyTorch's weight_hh_l0 [G*H, H].
  using Rnn = Sequential<Input<4, 3>, LSTM<5, true>, Bidirectional<GRU<3>>, Dense<2>>;
  TempDir dir;
  Rnn r(9);
  save(r, dir.file("r.ctnn"));
  const auto b = read_all(dir.file("r.ctnn"));
  const auto tensors = file_tensors(b);
  const auto maps = io::safetensors_detail::tensor_maps<Rnn>();
  REQUIRE(tensors.size() == maps.size());
  for (std::size_t i = 0; i < maps.size(); ++i) {
    CAPTURE(maps[i].name);
    CHECK(tensors[i].name == maps[i].name);
    CHECK(tensors[i].shape == maps[i].shape);
    bool same = true;
    for (std::size_t e = 0; e < maps[i].elements(); ++e)
      same &= value_at(b, tensors[i], e) == r.parameters()[maps[i].offset + maps[i].index(e)];
    CHECK(same);
  }
  Rnn back(uninitialized);
  load(back, dir.file("r.ctnn"));
  CHECK(std::equal(r.parameters().begin(), r.parameters().end(), back.parameters().begin()));
}

TEST_CASE("format-2 files, as 0.2.0 wrote them, load and predict as format 3 does") {
  using Rnn = Sequential<Input<4, 3>, GRU<5, true>, SimpleRNN<3>, Dense<2>>;
  TempDir dir;
  Rnn r(10);
  write_all(dir.file("r2.ctnn"), flat_image(r, 2));
  save(r, dir.file("r3.ctnn"));
  Rnn from2(uninitialized), from3(uninitialized);
  load(from2, dir.file("r2.ctnn"));
  load(from3, dir.file("r3.ctnn"));
  CHECK(std::equal(r.parameters().begin(), r.parameters().end(), from2.parameters().begin()));
  CHECK(std::equal(r.parameters().begin(), r.parameters().end(), from3.parameters().begin()));
}

TEST_CASE("a layer without tensors() is stored as its slices in memory, and loads") {
  using Custom =
      Sequential<Input<5, 5, 1>, Conv2D<3, 3>, ScaleWithoutTensors, BatchNorm, Flatten, Dense<2>>;
  TempDir dir;
  Custom c(12);
  for (std::size_t i = 0; i < 3; ++i) c.parameters()[Custom::parameter_offset<1> + i] = 1.5f + i;
  save(c, dir.file("c.ctnn"));
  const auto b = read_all(dir.file("c.ctnn"));
  const auto tensors = file_tensors(b);
  REQUIRE(tensors.size() == 9);  // 0.weight, 0.bias, 1.parameters, 2.weight, ..., 4.bias
  CHECK(tensors[2].name == "1.parameters");
  CHECK(tensors[2].kind == 2);  // raw parameters
  CHECK(tensors[2].shape == std::vector<std::uint64_t>{6});
  for (std::size_t i = 0; i < 6; ++i)
    CHECK(value_at(b, tensors[2], i) == c.parameters()[Custom::parameter_offset<1> + i]);
  CHECK(tensors[3].name == "2.weight");
  Custom back(uninitialized);
  load(back, dir.file("c.ctnn"));
  CHECK(std::equal(c.parameters().begin(), c.parameters().end(), back.parameters().begin()));
  CHECK(std::equal(c.state().begin(), c.state().end(), back.state().begin()));
}

TEST_CASE("a tensor table that does not fit the network is refused, naming the tensor") {
  TempDir dir;
  Net a(3);
  save(a, dir.file("good.ctnn"));
  const auto bytes = read_all(dir.file("good.ctnn"));
  const auto tensors = file_tensors(bytes);
  const std::string bad = dir.file("bad.ctnn");
  Net n(4);
  const std::vector<float> before(n.parameters().begin(), n.parameters().end());
  auto expect_error = [&](const std::vector<char>& b, const std::vector<std::string>& needles) {
    write_all(bad, b);
    try {
      load(n, bad);
      FAIL("load accepted a file whose table does not fit; expected '", needles[0], "'");
    } catch (const FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m);
      CHECK(e.path() == bad);
      for (const auto& needle : needles) CHECK(m.find(needle) != std::string::npos);
    }
    CHECK(std::equal(before.begin(), before.end(), n.parameters().begin()));
  };
  const std::size_t count_at = tensors[0].record - 4;
  auto b = bytes;
  b[count_at] = 11;
  expect_error(
      b, {"the tensor table does not fit this network",
          "declares 11 tensors at offset " + std::to_string(count_at), "this network has 10"});
  b = bytes;
  b[tensors[2].record + 6] = 'W';  // "3.weight" -> "3.Weight"
  expect_error(b, {"tensor 3 of 10", "is '3.Weight' in the file, '3.weight' in this network"});
  b = bytes;
  b[tensors[2].record] = 100;  // the name's length
  expect_error(b, {"tensor 3 of 10", "in the file, '3.weight' in this network"});
  b = bytes;
  b[tensors[6].record + 4 + 14] = 0;  // 4.running_mean, kind state -> parameters
  expect_error(b, {"tensor '4.running_mean' (7 of 10",
                   "parameters (kind 0) in the file, state in this network"});
  b = bytes;
  b[tensors[2].record + 4 + 8 + 8 + 8] = 37;  // 3.weight [16, 36] -> [16, 37]
  expect_error(
      b, {"tensor '3.weight' (3 of 10", "shape [16, 37] in the file, [16, 36] in this network"});
  b = bytes;
  b[tensors[0].record + 4 + 8 + 4] = 3;  // 0.weight of rank 3
  expect_error(b, {"tensor '0.weight'", "a shape of rank 3 in the file, [4, 1, 3, 3]"});
  expect_error(std::vector<char>(bytes.begin(), bytes.begin() + tensors[5].record),
               {"truncated: the tensor table needs"});
  b = bytes;
  b[tensors[2].data + 8] ^= 0x10;  // a value: the table is intact, the CRC is not
  expect_error(b, {"CRC-32"});
}

TEST_CASE("the fuzzer's seed files load or are refused, leaving the network unchanged") {
  // tests/fuzz/corpus/fuzz_model_file, made by tests/fuzz/make_corpus.cpp for the network
  // ctnn_fuzz::ModelNet: the valid files (format 3 and format 2) load, every other is refused.
  using ModelNet = Sequential<Input<6, 6, 1>, Conv2D<2, 3>, ReLU, Dense<3>>;
  const fs::path corpus =
      fs::path(CTNN_TEST_DATA_DIR) / ".." / "fuzz" / "corpus" / "fuzz_model_file";
  std::size_t valid = 0, refused = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    const std::string name = entry.path().filename().string();
    CAPTURE(name);
    ModelNet n(1);
    const std::vector<float> before(n.parameters().begin(), n.parameters().end());
    if (name.starts_with("valid")) {
      load(n, entry.path().string());
      ++valid;
    } else {
      CHECK_THROWS_AS(load(n, entry.path().string()), FileError);
      CHECK(std::equal(before.begin(), before.end(), n.parameters().begin()));
      ++refused;
    }
  }
  CHECK(valid == 2);
  CHECK(refused >= 8);
}
