// Files saved by ctnn 0.2.0 (tests/data/files/, written by tools/make_file_fixtures.cpp): a model
// file of format 2, a safetensors file and a checkpoint for each of three networks that hold
// every kind of layer. Each must load into today's network of the same type, set every value
// the file holds, and give the outputs 0.2.0 gave.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ctnn/ctnn.hpp>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "../tools/fixture_files.hpp"
#include "files.hpp"
#include "fixtures.hpp"

using namespace ctnn;

namespace {

using ctnn_fixtures::FileCnn;
using ctnn_fixtures::FileResNet;
using ctnn_fixtures::FileRnn;

std::string data_path(const std::string& name) {
  return std::string(CTNN_TEST_DATA_DIR) + "/files/" + name;
}

template <class Net>
void set_nan(Net& net) {
  std::fill(net.parameters().begin(), net.parameters().end(),
            std::numeric_limits<float>::quiet_NaN());
  std::fill(net.state().begin(), net.state().end(), std::numeric_limits<float>::quiet_NaN());
}

template <class Net>
std::vector<float> outputs(const Net& net, const std::vector<float>& x) {
  const std::size_t batch = x.size() / Net::input_shape::size;
  std::vector<float> y(batch * Net::output_shape::size);
  Workspace<Net> ws(batch);
  net.predict(x.data(), y.data(), batch, ws);
  return y;
}

std::vector<std::uint32_t> bits(const std::vector<float>& v) {
  std::vector<std::uint32_t> b(v.size());
  std::transform(v.begin(), v.end(), b.begin(),
                 [](float f) { return std::bit_cast<std::uint32_t>(f); });
  return b;
}

template <class Span>
std::vector<std::uint32_t> bits(const Span& s) {
  return bits(std::vector<float>(s.begin(), s.end()));
}

// Loads the file `name` with `load_file` into a network whose values are all NaN (so that a
// value the file does not set shows) and checks: every parameter and state value is the one the
// tool set, bit for bit; the outputs are those of the same values set directly, bit for bit; and
// they are 0.2.0's outputs, within 1e-5 of the largest (builds for other instruction sets sum in
// another order).
template <class Net, class Load>
void check_file(const std::string& net_name, const std::string& file, Load load_file) {
  CAPTURE(file);
  const auto fx = ctnn_test::read_fixture("files/" + net_name + "_outputs.txt");
  const std::vector<float>& x = fx.at("x").values;
  const std::vector<float>& expected = fx.at("y").values;

  Net loaded(uninitialized), direct(uninitialized);
  set_nan(loaded);
  load_file(loaded, data_path(file));
  ctnn_fixtures::set_file_values(direct);
  CHECK(bits(loaded.parameters()) == bits(direct.parameters()));
  CHECK(bits(loaded.state()) == bits(direct.state()));

  const std::vector<float> y = outputs(loaded, x);
  CHECK(bits(y) == bits(outputs(direct, x)));
  REQUIRE(y.size() == expected.size());
  float largest = 0.0f, difference = 0.0f;
  for (std::size_t i = 0; i < y.size(); ++i) {
    largest = std::max(largest, std::abs(expected[i]));
    difference = std::max(difference, std::abs(y[i] - expected[i]));
  }
  CHECK(largest > 0.0f);
  CHECK(difference <= 1e-5f * largest);
}

template <class Net>
void check_all(const std::string& name) {
  check_file<Net>(name, name + ".ctnn", [](Net& n, const std::string& p) { load(n, p); });
  check_file<Net>(name, name + ".safetensors",
                  [](Net& n, const std::string& p) { load_safetensors(n, p); });
  check_file<Net>(name, name + ".ckpt", [](Net& n, const std::string& p) {
    SGD sgd(0.5f);
    const TrainingState t = load_checkpoint(p, n, sgd);
    CHECK(t.seed == 7);
    CHECK(t.batch_size == 4);
    CHECK(t.threads == 1);
  });
}

}  // namespace

TEST_CASE("files of ctnn 0.2.0: a CNN's model file, safetensors file and checkpoint load") {
  check_all<FileCnn>("cnn");
}

TEST_CASE(
    "files of ctnn 0.2.0: a recurrent net's model file, safetensors file and checkpoint "
    "load") {
  check_all<FileRnn>("rnn");
}

TEST_CASE(
    "files of ctnn 0.2.0: a ResNet-like net's model file, safetensors file and checkpoint "
    "load") {
  check_all<FileResNet>("resnet");
}

TEST_CASE("files of ctnn 0.2.0 saved again are format 4 and load into the same values") {
  const auto version_at = [](const std::string& path, std::size_t offset) {
    const std::vector<char> b = ctnn_test::read_all(path);
    REQUIRE(b.size() >= offset + 4);
    return io::detail::get<std::uint32_t>(reinterpret_cast<const unsigned char*>(b.data()) +
                                          offset);
  };
  CHECK(version_at(data_path("resnet.ctnn"), 8) == 2);
  CHECK(version_at(data_path("resnet.ckpt"), 20 + 8) == 2);  // the model in the checkpoint
  FileResNet net(uninitialized);
  load(net, data_path("resnet.ctnn"));
  ctnn_test::TempDir dir;
  save(net, dir.file("again.ctnn"));
  SGD sgd(0.05f);
  save_checkpoint(dir.file("again.ckpt"), net, sgd, TrainingState{});
  CHECK(version_at(dir.file("again.ctnn"), 8) == 4);
  CHECK(version_at(dir.file("again.ckpt"), 20 + 8) == 4);
  FileResNet a(uninitialized), b(uninitialized);
  set_nan(a);
  set_nan(b);
  load(a, dir.file("again.ctnn"));
  load_checkpoint(dir.file("again.ckpt"), b, sgd);
  CHECK(bits(a.parameters()) == bits(net.parameters()));
  CHECK(bits(a.state()) == bits(net.state()));
  CHECK(bits(b.parameters()) == bits(net.parameters()));
  CHECK(bits(b.state()) == bits(net.state()));
}

TEST_CASE("every layer of the library is stored in PyTorch's layout, none as raw slices") {
  const auto kinds = [](const std::vector<io::detail::ModelTensor>& tensors) {
    std::size_t raw = 0, values = 0;
    for (const auto& t : tensors) {
      raw += t.kind == io::detail::TensorKind::raw_parameters ||
             t.kind == io::detail::TensorKind::raw_state;
      values += t.elements();
    }
    return std::pair{raw, values};
  };
  CHECK(kinds(io::detail::model_tensors<FileCnn>()) ==
        std::pair<std::size_t, std::size_t>{0, FileCnn::parameter_count + FileCnn::state_count});
  CHECK(kinds(io::detail::model_tensors<FileRnn>()) ==
        std::pair<std::size_t, std::size_t>{0, FileRnn::parameter_count + FileRnn::state_count});
  CHECK(kinds(io::detail::model_tensors<FileResNet>()) ==
        std::pair<std::size_t, std::size_t>{0,
                                            FileResNet::parameter_count + FileResNet::state_count});
}

// Format 4 (tools/make_file_fixtures.cpp built against today's headers): the same values, with
// metadata; the files load as those of 0.2.0 do and give back their metadata.
template <class Net>
void check_format_4(const std::string& name) {
  check_file<Net>(name, name + "_v4.ctnn", [](Net& n, const std::string& p) { load(n, p); });
  check_file<Net>(name, name + "_v4.safetensors",
                  [](Net& n, const std::string& p) { load_safetensors(n, p); });
  Metadata m;
  for (std::size_t i = 0; i < Net::output_shape::size; ++i)
    m.class_names.push_back("class " + std::to_string(i) + (i == 0 ? " \u00e9t\u00e9" : ""));
  m.values = {{"fixture", name}, {"written by", "tools/make_file_fixtures.cpp"}};
  CHECK(read_metadata(data_path(name + "_v4.ctnn")) == m);
  CHECK(read_metadata(data_path(name + "_v4.safetensors")) == m);
  CHECK(read_metadata(data_path(name + ".ctnn")).empty());
  CHECK(read_metadata(data_path(name + ".safetensors")).empty());
  const Model model = load_any<FileCnn, FileRnn, FileResNet>(data_path(name + "_v4.ctnn"));
  CHECK(model.signature() == Net::signature());
  CHECK(model.metadata() == m);
}

TEST_CASE("format-4 files with metadata load, give their metadata back and 0.2.0's outputs") {
  check_format_4<FileCnn>("cnn");
  check_format_4<FileRnn>("rnn");
  check_format_4<FileResNet>("resnet");
}
