// Metadata in model files (format 4) and safetensors files: round trips, files written before it
// existed, and metadata a reader must refuse.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ctnn/ctnn.hpp>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "files.hpp"

using namespace ctnn;

namespace {

using ctnn_test::read_all;
using ctnn_test::TempDir;
using ctnn_test::write_all;

using Net = Sequential<Input<6, 6, 3>, Conv2D<2, 3>, ReLU, Dense<3>>;
using Bytes = std::vector<unsigned char>;

Metadata sample_metadata() {
  Metadata m;
  m.class_names = {"cat", "dog", "caf\xc3\xa9 au lait"};
  Preprocessing p;
  p.channels = 3;
  p.height = 6;
  p.width = 6;
  p.scale = 1.0f / 255.0f;
  p.mean = {0.485f, 0.456f, 0.406f};
  p.std = {0.229f, 0.224f, 0.225f};
  p.invert = true;
  m.preprocessing = p;
  m.values = {{"source", "a unit test"}, {"licence", "MIT"}, {"empty", ""}};
  return m;
}

template <class T>
T get_at(const Bytes& b, std::size_t at) {
  return io::detail::get<T>(b.data() + at);
}
template <class T>
void put_at(Bytes& b, std::size_t at, T v) {
  Bytes tmp;
  io::detail::put<T>(tmp, v);
  std::copy(tmp.begin(), tmp.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
}

// The offset of the metadata length in a format-4 file of Net (after the table and values).
std::size_t metadata_offset(const Bytes& b) {
  const std::size_t L = get_at<std::uint32_t>(b, 12);
  std::size_t at = 44 + L;
  for (std::uint32_t k = 0, n = get_at<std::uint32_t>(b, 40 + L); k < n; ++k) {
    const std::size_t len = get_at<std::uint32_t>(b, at);
    at += 12 + len + 8 * get_at<std::uint32_t>(b, at + 8 + len);
  }
  return at + 4 * (Net::parameter_count + Net::state_count);
}

// `file` (format 4) with its metadata section replaced by `section`, the CRC-32 recomputed.
Bytes with_section(const Bytes& file, const std::string& section) {
  const std::size_t at = metadata_offset(file);
  Bytes b(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(at));
  io::detail::put<std::uint32_t>(b, static_cast<std::uint32_t>(section.size()));
  io::detail::append(b, section.data(), section.size());
  io::detail::put<std::uint32_t>(b, io::detail::crc32_of(b.data(), b.size()));
  return b;
}

// A safetensors file with its header's JSON text passed through `edit`.
Bytes edit_header(const Bytes& file, const std::function<std::string(std::string)>& edit) {
  const auto n = get_at<std::uint64_t>(file, 0);
  std::string text = edit(std::string(file.begin() + 8, file.begin() + 8 + n));
  text.append((8 - text.size() % 8) % 8, ' ');
  Bytes b;
  io::detail::put<std::uint64_t>(b, text.size());
  io::detail::append(b, text.data(), text.size());
  b.insert(b.end(), file.begin() + 8 + static_cast<std::ptrdiff_t>(n), file.end());
  return b;
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const std::size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

void check_refused(const std::string& path, const std::string& needle) {
  INFO("expecting '", needle, "' for ", path);
  try {
    read_metadata(path);
    FAIL("read_metadata accepted the file");
  } catch (const FileError& e) {
    CHECK(e.path() == path);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
    CHECK(std::string(e.what()).starts_with(path + ": "));
  }
}

}  // namespace

TEST_CASE("metadata: model files and safetensors files give back what was saved") {
  TempDir dir;
  Net net(5);
  const Metadata m = sample_metadata();
  save(net, dir.file("m.ctnn"), m);
  save_safetensors(net, dir.file("m.safetensors"), m);
  CHECK(read_metadata(dir.file("m.ctnn")) == m);
  CHECK(read_metadata(dir.file("m.safetensors")) == m);
  const Bytes b = read_all<unsigned char>(dir.file("m.ctnn"));
  CHECK(get_at<std::uint32_t>(b, 8) == 4);
  Net a(uninitialized), s(uninitialized);
  load(a, dir.file("m.ctnn"));
  load_safetensors(s, dir.file("m.safetensors"));
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), net.parameters().begin()));
  CHECK(std::equal(s.parameters().begin(), s.parameters().end(), net.parameters().begin()));

  // One channel: only mean[0] and std[0] are stored.
  using Grey = Sequential<Input<4, 5, 1>, Dense<2>>;
  Metadata g;
  g.preprocessing = Preprocessing{1, 4, 5, 2.0f, {-0.5f, 0.0f, 0.0f}, {3.0f, 1.0f, 1.0f}, false};
  save(Grey(1), dir.file("g.ctnn"), g);
  CHECK(read_metadata(dir.file("g.ctnn")) == g);

  // Without metadata: format 4 with an empty section, read back empty.
  save(net, dir.file("plain.ctnn"));
  const Bytes plain = read_all<unsigned char>(dir.file("plain.ctnn"));
  CHECK(get_at<std::uint32_t>(plain, 8) == 4);
  CHECK(get_at<std::uint32_t>(plain, metadata_offset(plain)) == 0);
  CHECK(read_metadata(dir.file("plain.ctnn")).empty());
  save_safetensors(net, dir.file("plain.safetensors"));
  CHECK(read_metadata(dir.file("plain.safetensors")).empty());
}

TEST_CASE("metadata: files written before it existed load, with empty metadata") {
  const std::string files = std::string(CTNN_TEST_DATA_DIR) + "/files/";
  for (const char* name : {"cnn.ctnn", "rnn.ctnn", "resnet.ctnn", "cnn.safetensors"})
    CHECK(read_metadata(files + name).empty());

  // Format 3, as 0.3.0 wrote it: format 4 without the metadata length.
  TempDir dir;
  Net net(7);
  save(net, dir.file("v4.ctnn"));
  Bytes b = read_all<unsigned char>(dir.file("v4.ctnn"));
  const std::size_t at = metadata_offset(b);
  b.resize(at);
  put_at<std::uint32_t>(b, 8, 3);
  io::detail::put<std::uint32_t>(b, io::detail::crc32_of(b.data(), b.size()));
  write_all(dir.file("v3.ctnn"), b);
  CHECK(read_metadata(dir.file("v3.ctnn")).empty());
  Net a(uninitialized);
  load(a, dir.file("v3.ctnn"));
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), net.parameters().begin()));

  // A safetensors file as PyTorch writes it: no ctnn keys, other keys kept as free-form values.
  save_safetensors(net, dir.file("s.safetensors"));
  const Bytes st = read_all<unsigned char>(dir.file("s.safetensors"));
  write_all(dir.file("torch.safetensors"), edit_header(st, [](std::string h) {
              const std::size_t from = h.find("\"__metadata__\"");
              const std::size_t to = h.find('}', from);
              return h.replace(from, to - from + 1,
                               "\"__metadata__\":{\"format\":\"pt\",\"origin\":\"torch\"}");
            }));
  Net t(uninitialized);
  load_safetensors(t, dir.file("torch.safetensors"));
  CHECK(std::equal(t.parameters().begin(), t.parameters().end(), net.parameters().begin()));
  const Metadata tm = read_metadata(dir.file("torch.safetensors"));
  CHECK(tm.class_names.empty());
  CHECK(!tm.preprocessing);
  CHECK(tm.values == std::map<std::string, std::string>{{"origin", "torch"}});
}

TEST_CASE("metadata: hostile sections are refused, naming the file; the network is unchanged") {
  TempDir dir;
  Net net(3);
  save(net, dir.file("good.ctnn"));
  const Bytes good = read_all<unsigned char>(dir.file("good.ctnn"));
  const std::string bad = dir.file("bad.ctnn");
  Net n(9);
  const std::vector<float> before(n.parameters().begin(), n.parameters().end());
  const auto refused = [&](const std::string& section, const std::string& needle) {
    write_all(bad, with_section(good, section));
    check_refused(bad, needle);
    INFO("load of section ", section.substr(0, 80));
    CHECK_THROWS_AS(load(n, bad), FileError);
    CHECK(std::equal(before.begin(), before.end(), n.parameters().begin()));
  };
  const std::string pre = R"("preprocessing": {"channels": 3, "height": 6, "width": 6, )";
  refused("{\"class_names\": [\"a\", ", "not valid JSON");
  refused("[1, 2]", "not a JSON object");
  refused(R"({"class_names": "abc"})", "not a JSON array");
  refused(R"({"class_names": ["a", 2, "c"]})", "class name 1 is not a string");
  refused(R"({"class_names": ["a", "", "c"]})", "class name 1 is empty");
  refused("{\"class_names\": [\"a\", \"b\\nc\", \"d\"]}", "control character");
  refused("{\"class_names\": [\"a\xff\", \"b\", \"c\"]}", "not valid JSON");
  // Well-formed metadata that does not fit the network: read_metadata gives it, load refuses it.
  const auto misfit = [&](const std::string& section, const std::string& needle) {
    write_all(bad, with_section(good, section));
    CHECK_NOTHROW(read_metadata(bad));
    try {
      load(n, bad);
      FAIL("load accepted metadata that does not fit");
    } catch (const FileError& e) {
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
    CHECK(std::equal(before.begin(), before.end(), n.parameters().begin()));
  };
  misfit(R"({"class_names": ["a", "b", "c", "d"]})", "4 class names for a network of 3 classes");
  misfit(R"({"preprocessing": {"channels": 1, "height": 6, "width": 6}})",
         "the network's input is Image<6,6,3>");
  refused(R"({"class_names": ["a"], "class_names": ["b"]})", "appears twice");
  refused(R"({"classes": []})", "unknown member 'classes'");
  refused(R"({"values": {"k": 1}})", "value 'k' is not a string");
  refused(R"({"values": {"ctnn_signature": "x"}})", "reserved");
  refused(R"({"values": {"a": [[[[1]]]]}})", "nested deeper");
  refused("{" + pre + R"("scale": NaN}})", "not valid JSON");
  refused("{" + pre + R"("scale": 1e39}})", "scale inf");
  refused("{" + pre + R"("scale": "x"}})", "scale is not a number");
  refused("{" + pre + R"("std": [1, 0, 1]}})", "std[1] is 0");
  refused("{" + pre + R"("std": [1, 1]}})", "not an array of 3 numbers");
  refused("{" + pre + R"("invert": 1}})", "invert is not true or false");
  refused("{" + pre + R"("gamma": 2.2}})", "unknown member 'gamma'");
  refused(R"({"preprocessing": {"channels": 2, "height": 6, "width": 6}})", "channels 2");
  refused(R"({"preprocessing": {"channels": 3, "height": 6}})", "has no width");
  refused(R"({"preprocessing": {"channels": 3, "height": 99999999999, "width": 6}})",
          "not a whole number");
  // A huge class list: more names than a file holds, within the section's size.
  std::string many = "{\"class_names\": [";
  for (std::size_t i = 0; i <= io::detail::max_class_names; ++i) many += i ? ",\"x\"" : "\"x\"";
  refused(many + "]}", "class names");
  // A section larger than the limit, and a length beyond the file.
  refused("{\"values\": {\"big\": \"" + std::string(io::detail::max_metadata_bytes, 'x') + "\"}}",
          "more than the 1048576 accepted");
  Bytes b = with_section(good, "{}");
  put_at<std::uint32_t>(b, metadata_offset(good), 1000);
  write_all(bad, b);
  check_refused(bad, "truncated");
}

TEST_CASE("metadata: hostile safetensors metadata is refused by read_metadata, not by loading") {
  TempDir dir;
  Net net(2);
  save_safetensors(net, dir.file("m.safetensors"), sample_metadata());
  const Bytes file = read_all<unsigned char>(dir.file("m.safetensors"));
  const std::string bad = dir.file("bad.safetensors");
  const auto refused = [&](const std::string& from, const std::string& to,
                           const std::string& needle) {
    write_all(bad, edit_header(file, [&](std::string h) { return replaced(h, from, to); }));
    check_refused(bad, needle);
    Net n(uninitialized);
    load_safetensors(n, bad);  // the weights are fine
    CHECK(std::equal(n.parameters().begin(), n.parameters().end(), net.parameters().begin()));
  };
  refused(R"([\"cat\")", R"([1)", "ctnn_class_names: class name 0 is not a string");
  refused(R"([\"cat\")", R"({\"cat\")", "ctnn_class_names: not valid JSON");
  refused(R"(\"channels\":3)", R"(\"channels\":2)",
          "ctnn_preprocessing: preprocessing: channels 2");
  refused(R"(\"std\":[)", R"(\"std\":[0,)", "not an array of 3 numbers");
  // A ctnn_ key this version does not know is the library's own: not a free-form value.
  write_all(bad, edit_header(file, [](std::string h) {
              return replaced(h, R"("source")", R"("ctnn_source")");
            }));
  CHECK(read_metadata(bad).values.count("source") == 0);
  CHECK(read_metadata(bad).values.count("ctnn_source") == 0);
}

TEST_CASE("metadata: save refuses what a reader would refuse, and writes nothing") {
  TempDir dir;
  Net net(1);
  const auto refused = [&](const Metadata& m, const std::string& needle) {
    INFO("expecting '", needle, "'");
    for (const std::string& path : {dir.file("x.ctnn"), dir.file("x.safetensors")}) {
      try {
        if (path.ends_with(".ctnn"))
          save(net, path, m);
        else
          save_safetensors(net, path, m);
        FAIL("saved");
      } catch (const InvalidArgument& e) {
        CHECK(std::string(e.what()).find(needle) != std::string::npos);
      }
      struct ::stat st {};
      CHECK(::stat(path.c_str(), &st) != 0);
    }
  };
  Metadata m = sample_metadata();
  m.class_names[1] = "two\nlines";
  refused(m, "class name 1 holds the control character 10");
  m = sample_metadata();
  m.class_names[2] = "bad \xff byte";
  refused(m, "not valid UTF-8");
  m = sample_metadata();
  m.class_names.push_back("four");
  refused(m, "4 class names for a network of 3 classes");
  m = sample_metadata();
  m.preprocessing->std[2] = 0.0f;
  refused(m, "std[2] is 0");
  m = sample_metadata();
  m.preprocessing->scale = std::numeric_limits<float>::quiet_NaN();
  refused(m, "scale");
  m = sample_metadata();
  m.preprocessing->channels = 2;  // and the network's input has 3
  refused(m, "the preprocessing makes Image<6,6,2> samples");
  m = sample_metadata();
  m.preprocessing->width = 7;
  refused(m, "the network's input is Image<6,6,3>");
  m = sample_metadata();
  m.values["ctnn_signature"] = "x";
  refused(m, "reserved");
  m = sample_metadata();
  m.values["format"] = "x";
  refused(m, "reserved");
  m = sample_metadata();
  m.values["v"] = "\xc3";
  refused(m, "not valid UTF-8");
}

TEST_CASE("metadata: read_metadata refuses what is not a model or safetensors file, at once") {
  TempDir dir;
  check_refused(dir.path.string(), "cannot open");
  const std::string fifo = dir.file("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  check_refused(fifo, "FIFO");
  write_all(dir.file("text"), std::string("hello, world: this is not a model"));
  check_refused(dir.file("text"), "neither a ctnn model file");
  write_all(dir.file("short"), std::string("CTNN"));
  check_refused(dir.file("short"), "neither a ctnn model file");
  Net net(1);
  save(net, dir.file("m.ctnn"), sample_metadata());
  Bytes b = read_all<unsigned char>(dir.file("m.ctnn"));
  write_all(dir.file("cut.ctnn"), Bytes(b.begin(), b.end() - 9));
  check_refused(dir.file("cut.ctnn"), "truncated");
  b[b.size() - 10] ^= 1;
  write_all(dir.file("crc.ctnn"), b);
  check_refused(dir.file("crc.ctnn"), "CRC-32");
  save_checkpoint(dir.file("c.ckpt"), net, SGD(0.1f), TrainingState{});
  check_refused(dir.file("c.ckpt"), "a checkpoint, not a model file");
}
