// ctnn::Model, load_any() and the prediction helpers of predict.hpp.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <ctnn/ctnn.hpp>
#include <ctnn/zoo/fashion.hpp>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "../examples/networks.hpp"
#include "files.hpp"
#include "fixtures.hpp"

using namespace ctnn;

namespace {

using ctnn_test::read_all;
using ctnn_test::TempDir;
using ctnn_test::write_all;

using Cnn = Sequential<Input<6, 6, 1>, Conv2D<3, 3>, ReLU, MaxPool2D<2>, Dense<4>>;
using Rnn = Sequential<Input<5, 3>, LSTM<4>, Dense<4>>;
using Mlp = Sequential<Input<36>, Dense<8>, BatchNorm, ReLU, Dense<4>>;
// Cnn with one layer wider: the same input and output, a different signature.
using Wider = Sequential<Input<6, 6, 1>, Conv2D<5, 3>, ReLU, MaxPool2D<2>, Dense<4>>;

std::vector<float> inputs(std::size_t n) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::sin(0.37 * double(i) + 0.2));
  return x;
}

template <class Net>
std::vector<float> own_predict(const Net& net, const std::vector<float>& x, std::size_t batch) {
  Workspace<Net> ws(batch, inference_only);
  std::vector<float> y(batch * Net::output_shape::size);
  net.predict(x.data(), y.data(), batch, ws);
  return y;
}

std::vector<std::uint32_t> bits(const std::vector<float>& v) {
  std::vector<std::uint32_t> b;
  for (float f : v) b.push_back(std::bit_cast<std::uint32_t>(f));
  return b;
}

Metadata cnn_metadata() {
  Metadata m;
  m.class_names = {"a", "b", "c", "d"};
  m.preprocessing = Preprocessing{1, 6, 6, 1.0f / 255.0f, {0.5f, 0, 0}, {0.25f, 1, 1}, false};
  m.values = {{"k", "v"}};
  return m;
}

std::string load_any_error(const std::string& path) {
  try {
    load_any<Mlp, Rnn, Wider>(path);
  } catch (const FileError& e) {
    CHECK(e.path() == path);
    return e.what();
  }
  FAIL("load_any accepted ", path);
  return "";
}

}  // namespace

static_assert(std::is_same_v<examples::FashionCnn, zoo::FashionCnn>);
static_assert(std::is_same_v<examples::FashionResNet, zoo::FashionResNet>);

TEST_CASE("Model: predict equals the network's own predict bit for bit, across chunks") {
  Cnn net(3);
  const std::size_t batch = 150;  // more than one chunk of 64
  const std::vector<float> x = inputs(batch * Cnn::input_shape::size);
  const std::vector<float> want = own_predict(net, x, batch);
  Model m = make_model(net, cnn_metadata());
  CHECK(bits(m.predict(x, batch)) == bits(want));
  // Again with the workspace kept, and with a smaller batch.
  CHECK(bits(m.predict(x, batch)) == bits(want));
  const std::vector<float> one(x.begin(), x.begin() + Cnn::input_shape::size);
  CHECK(bits(m.predict(one, 1)) == bits(own_predict(net, one, 1)));
  std::vector<float> out(4 * 2);
  m.predict(std::span<const float>(x).first(2 * 36), out, 2);
  CHECK(bits(out) == bits(std::vector<float>(want.begin(), want.begin() + 8)));

  CHECK(m.signature() == Cnn::signature());
  CHECK(m.input_shape() == ShapeInfo{ShapeInfo::Kind::image, {6, 6, 1}});
  CHECK(m.input_shape().name() == "Image<6,6,1>");
  CHECK(m.output_shape() == ShapeInfo{ShapeInfo::Kind::vector, {4}});
  CHECK(make_model(Rnn(1)).input_shape() == ShapeInfo{ShapeInfo::Kind::sequence, {5, 3}});
  CHECK(m.parameter_count() == Cnn::parameter_count);
  std::ostringstream os;
  summary<Cnn>(os);
  CHECK(m.summary() == os.str());
  CHECK(m.metadata() == cnn_metadata());
  REQUIRE(m.network<Cnn>() != nullptr);
  CHECK(m.network<Wider>() == nullptr);

  CHECK_THROWS_AS(m.predict(x, 0), InvalidArgument);
  CHECK_THROWS_WITH_AS(m.predict(std::span<const float>(x).first(35), 1),
                       doctest::Contains("35 input floats for 1 samples of Image<6,6,1>"),
                       InvalidArgument);
  CHECK_THROWS_AS(m.predict(std::span<const float>(x).first(72), std::span<float>(out).first(7), 2),
                  InvalidArgument);
}

TEST_CASE("Model: evaluate as ctnn::evaluate; copies are independent; a moved-from Model throws") {
  Cnn net(4);
  data::Dataset d;
  d.sample_size = 36;
  d.classes = 4;
  d.inputs = inputs(40 * 36);
  for (int i = 0; i < 40; ++i) d.labels.push_back(i % 4);
  Model m = make_model(net);
  const Evaluation a = m.evaluate(d, 1), b = evaluate(net, d, 1);
  CHECK(a.loss == b.loss);
  CHECK(a.accuracy == b.accuracy);
  CHECK(a.confusion == b.confusion);

  Model copy = m;
  copy.set_metadata(cnn_metadata());
  CHECK(m.metadata().empty());
  const std::vector<float> x = inputs(36);
  CHECK(bits(copy.predict(x, 1)) == bits(m.predict(x, 1)));
  CHECK(copy.network<Cnn>() != m.network<Cnn>());

  Model moved = std::move(copy);
  CHECK(moved.metadata() == cnn_metadata());
  CHECK_THROWS_AS(copy.predict(x, 1), InvalidArgument);  // NOLINT(bugprone-use-after-move)
  copy = moved;
  CHECK(bits(copy.predict(x, 1)) == bits(m.predict(x, 1)));
}

TEST_CASE("Model: metadata that does not fit the network is refused") {
  Model m = make_model(Cnn(1));
  Metadata wrong = cnn_metadata();
  wrong.class_names.push_back("e");
  CHECK_THROWS_WITH_AS(m.set_metadata(wrong), doctest::Contains("5 class names"), InvalidArgument);
  wrong = cnn_metadata();
  wrong.preprocessing->channels = 3;
  wrong.preprocessing->mean = {0, 0, 0};
  wrong.preprocessing->std = {1, 1, 1};
  CHECK_THROWS_WITH_AS(make_model(Cnn(1), wrong), doctest::Contains("Image<6,6,3> samples"),
                       InvalidArgument);
  CHECK(m.metadata().empty());
  Metadata only_values;
  only_values.values["note"] = "fine";
  CHECK_NOTHROW(make_model(Mlp(1), only_values));
}

TEST_CASE("load_any: picks the network a model file or a safetensors file was written for") {
  TempDir dir;
  const Wider wider(5);
  const Rnn rnn(6);
  Metadata m = cnn_metadata();
  save(wider, dir.file("wider.ctnn"), m);
  save_safetensors(rnn, dir.file("rnn.safetensors"));
  m.preprocessing.reset();
  save(Mlp(7), dir.file("mlp.ctnn"), m);

  Model a = load_any<Mlp, Rnn, Wider>(dir.file("wider.ctnn"));
  CHECK(a.signature() == Wider::signature());
  CHECK(a.metadata() == cnn_metadata());
  const std::vector<float> x = inputs(3 * 36);
  CHECK(bits(a.predict(x, 3)) == bits(own_predict(wider, x, 3)));

  Model b = load_any<Mlp, Rnn, Wider>(dir.file("rnn.safetensors"));
  CHECK(b.signature() == Rnn::signature());
  CHECK(b.metadata().empty());
  const std::vector<float> s = inputs(2 * 15);
  CHECK(bits(b.predict(s, 2)) == bits(own_predict(rnn, s, 2)));

  Model c = load_any<Mlp, Rnn, Wider>(dir.file("mlp.ctnn"));
  CHECK(c.input_shape().name() == "Vector<36>");
  CHECK(c.metadata().class_names == m.class_names);

  // The same file through a list where it comes last, and with a duplicate first.
  CHECK(load_any<Rnn, Wider, Wider>(dir.file("wider.ctnn")).signature() == Wider::signature());
  // A saved Model is the same model file again.
  a.save(dir.file("again.ctnn"));
  CHECK(read_all(dir.file("again.ctnn")) == read_all(dir.file("wider.ctnn")));
}

TEST_CASE("load_any: refuses a file of another network, naming both architectures") {
  TempDir dir;
  save(Cnn(2), dir.file("cnn.ctnn"));
  const std::string e = load_any_error(dir.file("cnn.ctnn"));
  CHECK(e.find("none of the 3 this program can load") != std::string::npos);
  // The file's architecture, line by line.
  std::istringstream lines(Cnn::signature());
  for (std::string line; std::getline(lines, line);)
    CHECK(e.find("    " + line) != std::string::npos);
  // Each compiled-in network, with where it differs.
  CHECK(e.find("1. Vector<36> -> Vector<4>, 4 layers: the input differs") != std::string::npos);
  CHECK(e.find("2. Sequence<5,3> -> Vector<4>, 2 layers: the input differs") != std::string::npos);
  CHECK(e.find("3. Image<6,6,1> -> Vector<4>, 4 layers: layer 1 differs: the file has '1 "
               "Conv2D<3,3") != std::string::npos);

  save_safetensors(Cnn(2), dir.file("cnn.safetensors"));
  CHECK(load_any_error(dir.file("cnn.safetensors")).find("layer 1 differs") != std::string::npos);

  // A safetensors file without ctnn_signature, as PyTorch writes them.
  save_safetensors(Wider(2), dir.file("w.safetensors"));
  std::vector<char> b = read_all(dir.file("w.safetensors"));
  const std::string key = "\"ctnn_signature\"";
  auto at = std::search(b.begin(), b.end(), key.begin(), key.end());
  REQUIRE(at != b.end());
  std::copy_n("\"other_signature", key.size() - 1, at);  // same length: the header still fits
  write_all(dir.file("torch.safetensors"), b);
  CHECK(load_any_error(dir.file("torch.safetensors")).find("without ctnn_signature") !=
        std::string::npos);

  // Not a model at all, a directory, a FIFO, a truncated file, a hostile signature.
  write_all(dir.file("text.txt"), std::string("just some text, long enough to be read"));
  CHECK(load_any_error(dir.file("text.txt")).find("neither a ctnn model file") !=
        std::string::npos);
  CHECK(load_any_error(dir.path.string()).find("cannot open") != std::string::npos);
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
  CHECK(load_any_error(dir.file("fifo")).find("FIFO") != std::string::npos);
  b = read_all(dir.file("cnn.ctnn"));
  write_all(dir.file("cut.ctnn"), std::vector<char>(b.begin(), b.begin() + 60));
  CHECK(load_any_error(dir.file("cut.ctnn")).find("truncated") != std::string::npos);
}

TEST_CASE("load_any: a file whose signature matches but whose contents are bad is refused") {
  TempDir dir;
  save(Wider(3), dir.file("w.ctnn"));
  std::vector<char> b = read_all(dir.file("w.ctnn"));
  b[b.size() / 2] ^= 0x10;
  write_all(dir.file("bad.ctnn"), b);
  CHECK(load_any_error(dir.file("bad.ctnn")).find("CRC-32") != std::string::npos);
}

TEST_CASE("predict.hpp: softmax, top_k and class_name against direct computations") {
  const std::vector<float> logits = {1.5f, -2.0f, 0.25f, 3.0f, 0.25f};
  const std::vector<float> p = softmax(logits);
  double sum = 0;
  for (float v : logits) sum += std::exp(double(v));
  REQUIRE(p.size() == logits.size());
  double total = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    CHECK(double(p[i]) == doctest::Approx(std::exp(double(logits[i])) / sum).epsilon(1e-6));
    total += p[i];
  }
  CHECK(total == doctest::Approx(1.0).epsilon(1e-6));
  // Large logits do not overflow: shifted by the largest.
  const std::vector<float> big = softmax(std::vector<float>{1000.0f, 999.0f});
  CHECK(double(big[0]) == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))).epsilon(1e-6));
  CHECK_THROWS_WITH_AS(softmax(std::vector<float>{1.0f, std::nanf("")}),
                       doctest::Contains("logit 1 is"), InvalidArgument);
  CHECK_THROWS_AS(softmax(std::vector<float>{}), InvalidArgument);

  // top_k against a full stable sort of the indices, for every k.
  const std::vector<float> scores = {0.1f, 0.7f, 0.1f, -3.0f, 0.7f, 0.05f};
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  for (std::size_t k = 0; k <= scores.size() + 2; ++k) {
    const std::vector<Scored> top = top_k(scores, k);
    REQUIRE(top.size() == std::min(k, scores.size()));
    for (std::size_t r = 0; r < top.size(); ++r)
      CHECK(top[r] == Scored{order[r], scores[order[r]]});
  }
  CHECK_THROWS_WITH_AS(top_k(std::vector<float>{1.0f, std::nanf("")}, 1),
                       doctest::Contains("score 1 is NaN"), InvalidArgument);

  Metadata m;
  m.class_names = {"zero", "one"};
  CHECK(class_name(m, 1) == "one");
  CHECK(class_name(m, 2) == "2");
  CHECK(class_name(Metadata{}, 0) == "0");
}

TEST_CASE("load_image with a Preprocessing reads as load_image<Image<...>> with its options") {
  const std::string path = std::string(CTNN_TEST_DATA_DIR) + "/images/rgb_12x10_progressive.jpg";
  Preprocessing p{3, 7, 5, 1.0f / 255.0f, {0.4f, 0.5f, 0.6f}, {0.2f, 0.3f, 0.25f}, true};
  data::ImageOptions o;
  o.mean = p.mean;
  o.std = p.std;
  o.invert = true;
  CHECK(bits(data::load_image(path, p)) == bits(data::load_image<Image<7, 5, 3>>(path, o)));
  p = Preprocessing{1, 20, 24, 2.0f, {1.0f, 0, 0}, {3.0f, 1, 1}, false};
  o = data::ImageOptions{};
  o.scale = 2.0f;
  o.mean[0] = 1.0f;
  o.std[0] = 3.0f;
  CHECK(bits(data::load_image(path, p)) == bits(data::load_image<Image<20, 24, 1>>(path, o)));
  p.channels = 2;
  CHECK_THROWS_AS(data::load_image(path, p), InvalidArgument);
  p.channels = 1;
  p.height = 0;
  CHECK_THROWS_AS(data::load_image(path, p), InvalidArgument);
}
