#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctnn/ctnn.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "files.hpp"
#include "fixtures.hpp"
#include "networks.hpp"

using namespace ctnn;
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// The small networks of tools/make_safetensors_fixtures.py: BatchNorm on an image and on a
// flattened image, an explicit Flatten before Dense; a bidirectional GRU, a SimpleRNN.
using BnFlatten =
    Sequential<Input<8, 8, 2>, Conv2D<3, 3>, BatchNorm, ReLU, Flatten, BatchNorm, Dense<5>>;
using BiRnn = Sequential<Input<6, 4>, Bidirectional<GRU<5, true>>, SimpleRNN<4>, Dense<3>>;
// Composites: a small ResNet with an identity and a projection shortcut (PyTorch: a Residual
// module with `main` and `shortcut`), and Inception-style branches joined along channels
// (a Concat module with a ModuleList `branches`) read flat by a Dense.
using ResSmall = Sequential<
    Input<8, 8, 2>, Conv2D<4, 3, 1, Same>, BatchNorm, ReLU,
    Residual<Chain<Conv2D<4, 3, 1, Same>, BatchNorm, ReLU, Conv2D<4, 3, 1, Same>, BatchNorm>>, ReLU,
    Residual<Chain<Conv2D<6, 3, 2, Same>, BatchNorm, ReLU, Conv2D<6, 3, 1, Same>, BatchNorm>,
             Chain<Conv2D<6, 1, 2>, BatchNorm>>,
    ReLU, GlobalAvgPool2D, Dense<3>>;
using ConcatSmall =
    Sequential<Input<6, 6, 2>,
               Concat<Conv2D<3, 1>, Chain<Conv2D<2, 1>, ReLU, Conv2D<4, 3, 1, Same>>, Identity>,
               ReLU, Flatten, Dense<4>>;

// Flatten as the last part of a composite, then Dense, or BatchNorm and Dense: both read the
// flattened images in PyTorch's (c, h, w) order. Concat's branches: a flattened image, a
// channel mean (no image order) and the flattened input.
using ChainFlatten = Sequential<Input<4, 3, 2>, Conv2D<3, 2>, Chain<ReLU, Flatten>, Dense<5>>;
using ChainFlattenBn =
    Sequential<Input<4, 3, 2>, Conv2D<3, 2>, Chain<ReLU, Flatten>, BatchNorm, Dense<5>>;
using ResidualFlatten =
    Sequential<Input<4, 3, 2>, Conv2D<3, 1>,
               Residual<Chain<Conv2D<3, 3, 1, Same>, Flatten>, Flatten>, Dense<5>>;
using ResidualFlattenBn =
    Sequential<Input<4, 3, 2>, Conv2D<3, 1>,
               Residual<Chain<Conv2D<3, 3, 1, Same>, Flatten>, Flatten>, BatchNorm, Dense<5>>;
using ConcatFlatten =
    Sequential<Input<4, 3, 2>, Concat<Chain<Conv2D<3, 2>, Flatten>, GlobalAvgPool2D, Flatten>,
               Dense<5>>;
using ConcatFlattenBn =
    Sequential<Input<4, 3, 2>, Concat<Chain<Conv2D<3, 2>, Flatten>, GlobalAvgPool2D, Flatten>,
               BatchNorm, Dense<5>>;
using NestedFlatten =
    Sequential<Input<4, 3, 2>, Chain<Conv2D<3, 2>, Chain<ReLU, Chain<Flatten>>, BatchNorm>,
               Dense<5>>;

namespace {

using ctnn_test::read_all;
using ctnn_test::TempDir;
using ctnn_test::write_all;

std::string fixture_path(const std::string& name) {
  return std::string(CTNN_TEST_DATA_DIR) + "/safetensors/" + name;
}

std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}
void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i) & 0xff);
}

// A safetensors file split into its header and its data buffer.
struct Parsed {
  json header;
  std::vector<char> buffer;
  std::size_t header_bytes = 0;
};
Parsed parse(const std::vector<char>& b) {
  Parsed f;
  f.header_bytes = get_u64(b.data());
  f.header = json::parse(b.begin() + 8, b.begin() + 8 + f.header_bytes);
  f.buffer.assign(b.begin() + 8 + f.header_bytes, b.end());
  return f;
}
// A file of the header's text (padded to 8 bytes if `pad`) and the buffer.
std::vector<char> serialise(std::string text, const std::vector<char>& buffer, bool pad = false) {
  if (pad) text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<char> b(8 + text.size() + buffer.size());
  put_u64(b.data(), text.size());
  std::copy(text.begin(), text.end(), b.begin() + 8);
  std::copy(buffer.begin(), buffer.end(), b.begin() + 8 + text.size());
  return b;
}
std::vector<char> serialise(const json& header, const std::vector<char>& buffer) {
  return serialise(header.dump(), buffer);
}
// The bytes of one tensor of a parsed file.
std::vector<char> tensor_bytes(const Parsed& f, const std::string& name) {
  const auto& o = f.header.at(name).at("data_offsets");
  return {f.buffer.begin() + o[0].get<std::size_t>(), f.buffer.begin() + o[1].get<std::size_t>()};
}

// Loads the fixture's weights into a network whose parameters and state are all NaN (so that an
// element the mapping missed shows), runs the fixture's inputs and returns the largest absolute
// difference from PyTorch's logits.
template <class Net>
double max_logit_difference(const std::string& name) {
  const auto fx = ctnn_test::read_fixture("safetensors/" + name + "_logits.txt");
  std::vector<float> x;
  if (fx.count("pixels")) {
    for (float p : fx.at("pixels").values) x.push_back(p / 255.0f);
  } else {
    x = fx.at("x").values;
  }
  const auto& want = fx.at("logits");
  const std::size_t n = want.dims.at(0);
  REQUIRE(x.size() == n * Net::input_shape::size);
  REQUIRE(want.dims.at(1) == Net::output_shape::size);

  Net net(uninitialized);
  std::fill(net.parameters().begin(), net.parameters().end(), std::nanf(""));
  std::fill(net.state().begin(), net.state().end(), std::nanf(""));
  load_safetensors(net, fixture_path(name + ".safetensors"));
  CHECK(std::all_of(net.parameters().begin(), net.parameters().end(),
                    [](float v) { return std::isfinite(v); }));
  CHECK(std::all_of(net.state().begin(), net.state().end(),
                    [](float v) { return std::isfinite(v); }));

  Workspace<Net> ws(n);
  std::vector<float> got(n * Net::output_shape::size);
  net.predict(x.data(), got.data(), n, ws);
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(got[i]) - want.values[i]));
  return worst;
}

// Loads the fixture, saves it with save_safetensors and checks that every F32 tensor holds the
// same bytes under the same name and shape as in PyTorch's file.
template <class Net>
void check_resave_matches(const std::string& name) {
  TempDir dir;
  Net net(uninitialized);
  load_safetensors(net, fixture_path(name + ".safetensors"));
  save_safetensors(net, dir.file("resaved.safetensors"));
  const Parsed torch = parse(read_all(fixture_path(name + ".safetensors")));
  const Parsed ours = parse(read_all(dir.file("resaved.safetensors")));
  std::size_t compared = 0;
  for (const auto& [key, entry] : torch.header.items()) {
    if (key == "__metadata__") continue;
    INFO(name, ": tensor ", key);
    REQUIRE(ours.header.contains(key));
    CHECK(ours.header[key]["shape"] == entry["shape"]);
    CHECK(ours.header[key]["dtype"] == entry["dtype"]);
    if (entry["dtype"] != "F32") continue;
    CHECK(tensor_bytes(ours, key) == tensor_bytes(torch, key));
    ++compared;
  }
  CHECK(compared > 0);
}

template <class Net>
void check_round_trip(Net& a) {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  save_safetensors(a, path);
  Net b;
  load_safetensors(b, path);
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
  CHECK(std::equal(a.state().begin(), a.state().end(), b.state().begin()));
  // No temporary file is left behind; the file is as the format describes it.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
  const auto bytes = read_all(path);
  const Parsed f = parse(bytes);
  CHECK((8 + f.header_bytes) % 8 == 0);
  CHECK(f.header["__metadata__"]["format"] == "pt");
  CHECK(f.header["__metadata__"]["ctnn_signature"] == Net::signature());
  CHECK(f.header["__metadata__"]["ctnn_tensor_order"] == "2");
  std::size_t floats = 0, end = 0;
  for (const auto& [key, entry] : f.header.items()) {
    if (key == "__metadata__") continue;
    const json& e = entry;
    const std::size_t begin = e["data_offsets"][0], stop = e["data_offsets"][1];
    end = std::max(end, stop);
    if (e["dtype"] == "F32") floats += (stop - begin) / 4;
  }
  CHECK(floats == Net::parameter_count + Net::state_count);
  CHECK(end == f.buffer.size());
}

}  // namespace

TEST_CASE("safetensors: PyTorch's weights reproduce PyTorch's logits") {
  const double cnn = max_logit_difference<examples::FashionCnn>("cnn");
  const double lstm = max_logit_difference<examples::FashionLstm>("lstm");
  const double crnn = max_logit_difference<examples::FashionCrnn>("crnn");
  const double bn = max_logit_difference<BnFlatten>("bn_flatten");
  const double birnn = max_logit_difference<BiRnn>("birnn");
  const double res = max_logit_difference<ResSmall>("res_small");
  const double concat = max_logit_difference<ConcatSmall>("concat_small");
  MESSAGE("largest |ctnn - PyTorch| logit difference: FashionCnn ", cnn, ", FashionLstm ", lstm,
          ", FashionCrnn ", crnn, ", BnFlatten ", bn, ", BiRnn ", birnn, ", ResSmall ", res,
          ", ConcatSmall ", concat);
  CHECK(res < 1e-4);
  CHECK(concat < 1e-4);
  CHECK(max_logit_difference<ChainFlatten>("chain_flatten") < 1e-4);
  CHECK(max_logit_difference<ChainFlattenBn>("chain_flatten_bn") < 1e-4);
  CHECK(max_logit_difference<ResidualFlatten>("residual_flatten") < 1e-4);
  CHECK(max_logit_difference<ResidualFlattenBn>("residual_flatten_bn") < 1e-4);
  CHECK(max_logit_difference<ConcatFlatten>("concat_flatten") < 1e-4);
  CHECK(max_logit_difference<ConcatFlattenBn>("concat_flatten_bn") < 1e-4);
  CHECK(max_logit_difference<NestedFlatten>("nested_flatten") < 1e-4);
  CHECK(cnn < 1e-4);
  CHECK(lstm < 1e-4);
  CHECK(crnn < 1e-4);
  CHECK(bn < 1e-4);
  CHECK(birnn < 1e-4);
}

TEST_CASE("safetensors: saving loaded PyTorch weights writes PyTorch's tensors") {
  check_resave_matches<examples::FashionCnn>("cnn");
  check_resave_matches<examples::FashionLstm>("lstm");
  check_resave_matches<examples::FashionCrnn>("crnn");
  check_resave_matches<BnFlatten>("bn_flatten");
  check_resave_matches<BiRnn>("birnn");
  check_resave_matches<ResSmall>("res_small");
  check_resave_matches<ConcatSmall>("concat_small");
  check_resave_matches<ChainFlatten>("chain_flatten");
  check_resave_matches<ChainFlattenBn>("chain_flatten_bn");
  check_resave_matches<ResidualFlatten>("residual_flatten");
  check_resave_matches<ResidualFlattenBn>("residual_flatten_bn");
  check_resave_matches<ConcatFlatten>("concat_flatten");
  check_resave_matches<ConcatFlattenBn>("concat_flatten_bn");
  check_resave_matches<NestedFlatten>("nested_flatten");
}

TEST_CASE("safetensors: save then load gives identical parameters and state") {
  examples::FashionCnn cnn(1);
  check_round_trip(cnn);
  examples::FashionCrnn crnn(2);
  check_round_trip(crnn);
  BnFlatten bn(3);
  for (std::size_t i = 0; i < BnFlatten::state_count; ++i) bn.state()[i] = 0.25f + 0.01f * i;
  check_round_trip(bn);
  BiRnn rnn(4);
  check_round_trip(rnn);
  // Dense and BatchNorm after composites that end in Flatten.
  ChainFlatten chain(5);
  check_round_trip(chain);
  ResidualFlattenBn residual(6);
  for (std::size_t i = 0; i < ResidualFlattenBn::state_count; ++i)
    residual.state()[i] = 0.5f + 0.01f * i;
  check_round_trip(residual);
  ConcatFlattenBn concat(7);
  check_round_trip(concat);
  NestedFlatten nested(8);
  check_round_trip(nested);
}

TEST_CASE("safetensors: Dense after an image uses PyTorch's (c, h, w) column order") {
  // ctnn row k = (h*W + w)*C + c of the weights is PyTorch's column (c*H + h)*W + w.
  constexpr std::size_t H = 2, W = 3, C = 2, N = 2;
  auto check = [&](auto net) {
    using Net = decltype(net);
    constexpr std::size_t i = Net::layer_count - 1;  // the Dense
    for (std::size_t j = 0; j < Net::parameter_count; ++j)
      net.parameters()[j] = static_cast<float>(j);
    TempDir dir;
    save_safetensors(net, dir.file("d.safetensors"));
    const Parsed f = parse(read_all(dir.file("d.safetensors")));
    const std::string name = std::to_string(i) + ".weight";
    CHECK(f.header[name]["shape"] == json::array({N, H * W * C}));
    const auto b = tensor_bytes(f, name);
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t h = 0; h < H; ++h)
        for (std::size_t w = 0; w < W; ++w)
          for (std::size_t c = 0; c < C; ++c) {
            float v;
            std::memcpy(&v, b.data() + 4 * (n * H * W * C + (c * H + h) * W + w), 4);
            CHECK(v == static_cast<float>(((h * W + w) * C + c) * N + n));
          }
  };
  check(Sequential<Input<H, W, C>, Dense<N>>{});
  check(Sequential<Input<H, W, C>, Flatten, ReLU, Dense<N>>{});
  // A Sequence flattens in the same order in both libraries: no permutation.
  Sequential<Input<H * W, C>, Flatten, Dense<N>> seq;
  for (std::size_t j = 0; j < decltype(seq)::parameter_count; ++j)
    seq.parameters()[j] = static_cast<float>(j);
  TempDir dir;
  save_safetensors(seq, dir.file("s.safetensors"));
  const auto b = tensor_bytes(parse(read_all(dir.file("s.safetensors"))), "1.weight");
  float v;
  std::memcpy(&v, b.data() + 4 * 1, 4);  // PyTorch [0][1] = ctnn w[1][0]
  CHECK(v == static_cast<float>(N));
}

namespace {
// Saves `a` (every parameter and state value distinct), loads the file into a network of type B,
// which must read the same state_dict, and checks that B predicts what `a` predicts and saves the
// same tensors.
template <class B, class A>
void check_same_state_dict(A& a) {
  for (std::size_t j = 0; j < A::parameter_count; ++j)
    a.parameters()[j] = 0.5f + static_cast<float>(j) * (j % 2 ? 1.0f : -0.25f);
  for (std::size_t j = 0; j < A::state_count; ++j)
    a.state()[j] = j < A::state_count / 2 ? 0.1f * j : 1.0f + 0.5f * j;
  TempDir dir;
  save_safetensors(a, dir.file("a.safetensors"));
  B b(uninitialized);
  load_safetensors(b, dir.file("a.safetensors"));
  save_safetensors(b, dir.file("b.safetensors"));
  const Parsed fa = parse(read_all(dir.file("a.safetensors")));
  const Parsed fb = parse(read_all(dir.file("b.safetensors")));
  for (const auto& item : fa.header.items()) {
    const std::string key = item.key();
    if (key == "__metadata__") continue;
    INFO("tensor ", key);
    REQUIRE(fb.header.contains(key));
    CHECK(tensor_bytes(fb, key) == tensor_bytes(fa, key));
  }
  std::vector<float> x(3 * A::input_shape::size);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7) % 11) - 4.0f;
  std::vector<float> ya(3 * A::output_shape::size), yb(ya.size());
  Workspace<A> wa(3);
  Workspace<B> wb(3);
  a.predict(x.data(), ya.data(), 3, wa);
  b.predict(x.data(), yb.data(), 3, wb);
  CHECK(ya == yb);
}
}  // namespace

TEST_CASE("safetensors: a Flatten at the end of a composite keeps PyTorch's (c, h, w) order") {
  // Same keys ("1.weight", "1.bias"): the Chain's Flatten must give the order of a top-level
  // Flatten. With the weights 1000, 100, 10, 1 over ctnn's (h, w, c) inputs 4, 3, 2, 6 the
  // top-level network predicts 4326.
  using Top = Sequential<Input<2, 1, 2>, Flatten, Dense<1>>;
  using InChain = Sequential<Input<2, 1, 2>, Chain<Flatten>, Dense<1>>;
  Top top(uninitialized);
  const float w[] = {1000, 100, 10, 1, 0};
  std::copy(std::begin(w), std::end(w), top.parameters().begin());
  TempDir dir;
  save_safetensors(top, dir.file("top.safetensors"));
  InChain nested(uninitialized);
  load_safetensors(nested, dir.file("top.safetensors"));
  const float x[] = {4, 3, 2, 6};
  CHECK(top.predict(x)[0] == 4326.0f);
  CHECK(nested.predict(x)[0] == 4326.0f);

  Top a;
  check_same_state_dict<InChain>(a);
  Sequential<Input<3, 2, 2>, Flatten, BatchNorm, Dense<3>> bn;
  check_same_state_dict<Sequential<Input<3, 2, 2>, Chain<Flatten>, BatchNorm, Dense<3>>>(bn);
  check_same_state_dict<Sequential<Input<3, 2, 2>, Chain<Chain<Flatten>>, BatchNorm, Dense<3>>>(bn);
}

TEST_CASE("safetensors: files saved by ctnn 0.1.0 give the outputs they gave then") {
  // Saved by 0.1.0 (tools/make_order1_safetensors_fixtures.cpp): the Dense or BatchNorm after a
  // composite ending in Flatten holds its tensors in ctnn's own (h, w, c) order, and the metadata
  // has ctnn_signature but no ctnn_tensor_order.
  for (const char* name : {"order1_chain_flatten", "order1_residual_flatten",
                           "order1_concat_flatten_bn", "order1_nested_flatten"}) {
    const Parsed f = parse(read_all(fixture_path(std::string(name) + ".safetensors")));
    CHECK(f.header["__metadata__"].contains("ctnn_signature"));
    CHECK(!f.header["__metadata__"].contains("ctnn_tensor_order"));
  }
  // Within 1e-5 of the largest logit (up to 65 here): builds of other SIMD widths sum in
  // another order; a permuted weight moves the logits by 0.07-5.6.
  const auto tolerance = [](const std::string& name) {
    double largest = 1.0;
    const auto logits = ctnn_test::read_fixture("safetensors/" + name + "_logits.txt");
    for (float v : logits.at("logits").values) largest = std::max(largest, double(std::fabs(v)));
    return 1e-5 * largest;
  };
  CHECK(max_logit_difference<ChainFlatten>("order1_chain_flatten") <
        tolerance("order1_chain_flatten"));
  CHECK(max_logit_difference<ResidualFlatten>("order1_residual_flatten") <
        tolerance("order1_residual_flatten"));
  CHECK(max_logit_difference<ConcatFlattenBn>("order1_concat_flatten_bn") <
        tolerance("order1_concat_flatten_bn"));
  CHECK(max_logit_difference<NestedFlatten>("order1_nested_flatten") <
        tolerance("order1_nested_flatten"));

  // Saved again by this version, the file holds PyTorch's order (other bytes for the Dense after
  // the Chain) and loads into the same parameters.
  TempDir dir;
  ChainFlatten a(uninitialized), b(uninitialized);
  load_safetensors(a, fixture_path("order1_chain_flatten.safetensors"));
  save_safetensors(a, dir.file("resaved.safetensors"));
  const Parsed old_file = parse(read_all(fixture_path("order1_chain_flatten.safetensors")));
  const Parsed resaved = parse(read_all(dir.file("resaved.safetensors")));
  CHECK(resaved.header["__metadata__"]["ctnn_tensor_order"] == "2");
  CHECK(tensor_bytes(resaved, "2.weight") != tensor_bytes(old_file, "2.weight"));
  CHECK(tensor_bytes(resaved, "2.bias") == tensor_bytes(old_file, "2.bias"));
  load_safetensors(b, dir.file("resaved.safetensors"));
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
}

TEST_CASE("safetensors: ctnn_tensor_order in the metadata chooses the element order") {
  TempDir dir;
  const std::string path = dir.file("edited.safetensors");
  const Parsed f = parse(read_all(fixture_path("order1_chain_flatten.safetensors")));
  ChainFlatten old_order(uninitialized);
  load_safetensors(old_order, fixture_path("order1_chain_flatten.safetensors"));
  const auto loaded = [&](auto&& edit) {
    json h = f.header;
    edit(h["__metadata__"]);
    write_all(path, serialise(h, f.buffer));
    ChainFlatten net(uninitialized);
    load_safetensors(net, path);
    return std::vector<float>(net.parameters().begin(), net.parameters().end());
  };
  const std::vector<float> old_params(old_order.parameters().begin(), old_order.parameters().end());
  // "1" says what the absence of the key says in a file of ctnn's.
  CHECK(loaded([](json& m) { m["ctnn_tensor_order"] = "1"; }) == old_params);
  // "2", or no ctnn_signature (a file of PyTorch's): PyTorch's order, other parameters.
  const auto pytorch = loaded([](json& m) { m["ctnn_tensor_order"] = "2"; });
  CHECK(pytorch != old_params);
  CHECK(loaded([](json& m) { m.erase("ctnn_signature"); }) == pytorch);
  // The Dense's columns are permuted, its bias and the convolution are not.
  CHECK(std::is_permutation(pytorch.begin(), pytorch.end(), old_params.begin()));
  CHECK(std::equal(old_params.begin(), old_params.begin() + ChainFlatten::parameter_offset<2>,
                   pytorch.begin()));

  // Any other value is refused, naming it; the network is unchanged.
  ChainFlatten net(1);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  for (const char* value : {"3", "", "02"}) {
    json h = f.header;
    h["__metadata__"]["ctnn_tensor_order"] = value;
    write_all(path, serialise(h, f.buffer));
    try {
      load_safetensors(net, path);
      FAIL("load_safetensors accepted ctnn_tensor_order '" << std::string(value) << "'");
    } catch (const FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m);
      CHECK(e.path() == path);
      CHECK(m.find("ctnn_tensor_order '" + std::string(value) + "'") != std::string::npos);
      CHECK(m.find("expected \"1\" or \"2\"") != std::string::npos);
    }
    CHECK(std::equal(before.begin(), before.end(), net.parameters().begin()));
  }
}

TEST_CASE("safetensors: damaged files throw FileError naming the file; the network is unchanged") {
  TempDir dir;
  BnFlatten a(5);
  const std::string good = dir.file("good.safetensors"), bad = dir.file("bad.safetensors");
  save_safetensors(a, good);
  const auto bytes = read_all(good);
  const Parsed f = parse(bytes);

  BnFlatten net(6);
  for (std::size_t i = 0; i < BnFlatten::state_count; ++i) net.state()[i] = 2.0f + i;
  const std::vector<float> params(net.parameters().begin(), net.parameters().end());
  const std::vector<float> state(net.state().begin(), net.state().end());
  auto expect_error = [&](const std::vector<char>& b, const std::vector<std::string>& needles) {
    write_all(bad, b);
    try {
      load_safetensors(net, bad);
      FAIL("load_safetensors accepted a damaged file; expected '", needles[0], "'");
    } catch (const FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m);
      CHECK(e.path() == bad);
      CHECK(m.rfind(bad + ": ", 0) == 0);
      for (const auto& needle : needles) CHECK(m.find(needle) != std::string::npos);
    }
    CHECK(std::equal(params.begin(), params.end(), net.parameters().begin()));
    CHECK(std::equal(state.begin(), state.end(), net.state().begin()));
  };
  auto edited = [&](auto&& edit) {
    json h = f.header;
    auto buffer = f.buffer;
    edit(h, buffer);
    return serialise(h, buffer);
  };
  auto cut = [&](std::size_t n) { return std::vector<char>(bytes.begin(), bytes.begin() + n); };

  // Size and header length.
  expect_error(cut(0), {"truncated", "8-byte header length"});
  expect_error(cut(7), {"truncated"});
  expect_error(cut(8 + f.header_bytes / 2), {"truncated", "header length"});
  expect_error(cut(bytes.size() - 1), {"beyond the data buffer"});
  auto b = bytes;
  put_u64(b.data(), 200'000'000);
  expect_error(b, {"header length 200000000", "limit"});
  put_u64(b.data(), bytes.size());
  expect_error(b, {"truncated", "runs past the end"});
  // The JSON.
  b = bytes;
  b[8] = 'x';
  expect_error(b, {"not valid JSON"});
  expect_error(edited([](json& h, auto&) { h = json::array({1, 2}); }), {"not a JSON object"});
  expect_error(edited([](json& h, auto&) { h["0.bias"].erase("dtype"); }),
               {"malformed", "'0.bias'", "dtype"});
  expect_error(edited([](json& h, auto&) { h["0.bias"]["shape"] = json::array({-3}); }),
               {"malformed", "'0.bias'"});
  expect_error(edited([](json& h, auto&) { h["__metadata__"]["format"] = 1; }), {"__metadata__"});
  // Names.
  expect_error(edited([](json& h, auto&) { h.erase("1.running_var"); }),
               {"missing tensor", "1.running_var"});
  expect_error(edited([](json& h, auto&) {
                 h.erase("0.weight");
                 h.erase("5.bias");
               }),
               {"missing tensors", "0.weight", "5.bias"});
  expect_error(edited([](json& h, auto&) {
                 h["6.weight"] = {{"dtype", "F32"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
               }),
               {"unexpected tensor", "6.weight"});
  // Dtypes and shapes.
  expect_error(edited([](json& h, auto&) { h["0.weight"]["dtype"] = "F16"; }),
               {"'0.weight'", "dtype F16", "F32"});
  expect_error(edited([](json& h, auto&) { h["1.num_batches_tracked"]["dtype"] = "F32"; }),
               {"'1.num_batches_tracked'", "dtype F32", "expected I64"});
  expect_error(edited([](json& h, auto&) {
                 h["0.weight"]["shape"] = json::array({3, 3, 2, 3});
               }),
               {"'0.weight'", "shape [3, 3, 2, 3]", "expected [3, 2, 3, 3]"});
  expect_error(edited([](json& h, auto&) {
                 h["5.weight"]["shape"] = json::array({5, 108, 1});
               }),
               {"'5.weight'", "shape [5, 108, 1]", "expected [5, 108]"});
  // Offsets.
  expect_error(edited([](json& h, auto& buf) {
                 h["0.bias"]["data_offsets"] = {buf.size(), buf.size() + 12};
               }),
               {"'0.bias'", "beyond the data buffer"});
  expect_error(edited([](json& h, auto&) {
                 auto& o = h["0.bias"]["data_offsets"];
                 o = {o[1], o[0]};
               }),
               {"'0.bias'", "begin after their end"});
  expect_error(edited([](json& h, auto&) {
                 auto& o = h["0.bias"]["data_offsets"];
                 o[1] = o[1].get<std::size_t>() - 4;
               }),
               {"'0.bias'", "hold 8 bytes", "need 12"});
  expect_error(
      edited([](json& h, auto&) { h["1.weight"]["data_offsets"] = h["0.bias"]["data_offsets"]; }),
      {"overlap", "'0.bias'", "'1.weight'"});

  CHECK_THROWS_AS(load_safetensors(net, dir.file("missing.safetensors")), FileError);
  CHECK_THROWS_AS(load_safetensors(net, fixture_path("lstm.safetensors")), FileError);
  CHECK(std::equal(params.begin(), params.end(), net.parameters().begin()));

  // num_batches_tracked is optional, and the metadata is not required.
  write_all(bad, edited([](json& h, auto&) {
              h.erase("1.num_batches_tracked");
              h.erase("4.num_batches_tracked");
              h.erase("__metadata__");
            }));
  load_safetensors(net, bad);
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), net.parameters().begin()));
  CHECK(std::equal(a.state().begin(), a.state().end(), net.state().begin()));
}

TEST_CASE("safetensors: a value that is not finite, or a negative running variance, is refused") {
  // BnFlatten's tensors: 0.weight [3, 2, 3, 3] and 0.bias [3] (Conv2D), 1.* [3] (BatchNorm on
  // the image), 4.* [108] (BatchNorm on the flattened 6x6x3 image: PyTorch's (c, h, w) order),
  // 5.weight [5, 108] and 5.bias [5] (Dense).
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  BnFlatten net(6);
  const std::vector<float> params(net.parameters().begin(), net.parameters().end());
  const std::vector<float> state(net.state().begin(), net.state().end());
  auto expect_refused = [&](auto&& edit, const std::string& needle) {
    BnFlatten a(5);
    edit(a);
    save_safetensors(a, path);
    try {
      load_safetensors(net, path);
      FAIL("load_safetensors accepted a bad value; expected '", needle, "'");
    } catch (const FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m);
      CHECK(e.path() == path);
      CHECK(m.find(needle) != std::string::npos);
    }
    CHECK(std::equal(params.begin(), params.end(), net.parameters().begin()));
    CHECK(std::equal(state.begin(), state.end(), net.state().begin()));
  };
  // ctnn's w[kh][kw][c][f]: its second value is filter 1's, PyTorch's [1, 0, 0, 0].
  expect_refused([&](BnFlatten& a) { a.parameters()[1] = nan; },
                 "tensor '0.weight' [3, 2, 3, 3]: element [1, 0, 0, 0] is nan; the values must "
                 "be finite");
  expect_refused([&](BnFlatten& a) { a.parameters()[54 + 2] = -inf; },
                 "tensor '0.bias' [3]: element [2] is -inf");
  expect_refused([&](BnFlatten& a) { a.state()[0] = inf; },
                 "tensor '1.running_mean' [3]: element [0] is inf");
  expect_refused([&](BnFlatten& a) { a.state()[3 + 1] = -0.5f; },
                 "tensor '1.running_var' [3]: element [1] is -0.5; a variance must be >= 0");
  expect_refused([&](BnFlatten& a) { a.state()[3 + 1] = nan; },
                 "tensor '1.running_var' [3]: element [1] is nan; the values must be finite");
  // Channel (h 1, w 2, c 1) of the flattened image is ctnn's (1*6 + 2)*3 + 1 = 25 and PyTorch's
  // (1*6 + 1)*6 + 2 = 44.
  expect_refused([&](BnFlatten& a) { a.state()[6 + 108 + 25] = -2.0f; },
                 "tensor '4.running_var' [108]: element [44] is -2");

  // Extreme finite values and a zero variance load.
  BnFlatten ok(7);
  ok.parameters()[0] = -std::numeric_limits<float>::max();
  ok.parameters()[1] = std::numeric_limits<float>::denorm_min();
  ok.state()[3] = 0.0f;
  ok.state()[4] = -0.0f;
  save_safetensors(ok, path);
  load_safetensors(net, path);
  CHECK(std::equal(ok.parameters().begin(), ok.parameters().end(), net.parameters().begin()));
  CHECK(std::equal(ok.state().begin(), ok.state().end(), net.state().begin()));
}

TEST_CASE("safetensors: a directory given as the path throws FileError naming it") {
  TempDir dir;
  BiRnn net(8);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  const std::string path = dir.file("a-directory.safetensors");
  fs::create_directory(path);
  try {
    load_safetensors(net, path);
    FAIL("load_safetensors accepted a directory");
  } catch (const FileError& e) {
    CHECK(e.path() == path);
    CHECK(std::string(e.what()) == path + ": cannot open: " + std::strerror(EISDIR));
  } catch (const std::exception& e) {
    FAIL("threw something other than FileError: " << std::string(e.what()));
  }
  CHECK(std::equal(before.begin(), before.end(), net.parameters().begin()));
}

TEST_CASE("safetensors: a large file is judged by its header, without reading it whole") {
  TempDir dir;
  BiRnn net(11);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  constexpr std::uint64_t big = std::uint64_t{2} << 30;  // 2 GiB, a hole on disk
  const auto read_little = [](auto&& f) {
    const auto read_before = ctnn_test::bytes_read_so_far();
    f();
    const auto read_after = ctnn_test::bytes_read_so_far();
    if (read_before && read_after)
      CHECK(*read_after - *read_before < (std::uint64_t{1} << 20));
    else
      MESSAGE("this kernel does not report the bytes read: not checked");
  };
  const auto refused = [&](const std::string& path, const char* needle) {
    INFO("expecting '", needle, "'");
    read_little([&] {
      try {
        load_safetensors(net, path);
        FAIL("load_safetensors accepted " << path);
      } catch (const FileError& e) {
        CHECK(e.path() == path);
        CHECK(std::string(e.what()).find(needle) != std::string::npos);
      }
    });
    CHECK(std::equal(before.begin(), before.end(), net.parameters().begin()));
  };
  // Not a safetensors file: its first 8 bytes, read as the header length, exceed the limit.
  ctnn_test::write_sparse(dir.file("text.safetensors"), std::string("Lorem ipsum dolor"), big);
  refused(dir.file("text.safetensors"), "exceeds the limit");
  // A plausible header length, but no JSON after it.
  auto b = serialise(std::string("PK\x03\x04 an archive, not a header"), {});
  put_u64(b.data(), 64);
  ctnn_test::write_sparse(dir.file("archive.safetensors"), b, big);
  refused(dir.file("archive.safetensors"), "not valid JSON");
  // A valid file followed by 2 GiB: bytes after the last tensor are allowed; only the header and
  // the tensors are read.
  BiRnn a(12);
  save_safetensors(a, dir.file("m.safetensors"));
  ctnn_test::write_sparse(dir.file("padded.safetensors"), read_all(dir.file("m.safetensors")), big);
  read_little([&] { load_safetensors(net, dir.file("padded.safetensors")); });
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), net.parameters().begin()));
}

TEST_CASE("safetensors: a name or key that appears twice in the header is refused, naming it") {
  TempDir dir;
  BnFlatten a(13);
  const std::string good = dir.file("good.safetensors"), bad = dir.file("bad.safetensors");
  save_safetensors(a, good);
  const Parsed f = parse(read_all(good));
  BnFlatten net(14);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  // The header's text, edited below, padded and followed by the file's buffer.
  const std::string text = f.header.dump();
  const auto expect = [&](const std::string& header_text, const std::vector<std::string>& needles) {
    write_all(bad, serialise(header_text, f.buffer, true));
    try {
      load_safetensors(net, bad);
      FAIL("load_safetensors accepted a header with a repeated key");
    } catch (const FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m);
      for (const auto& needle : needles) CHECK(m.find(needle) != std::string::npos);
    }
    CHECK(std::equal(before.begin(), before.end(), net.parameters().begin()));
  };
  // "0.bias" twice, the second pointing at other bytes: the last one used to win.
  json other = f.header["0.bias"];
  other["data_offsets"] = f.header["1.weight"]["data_offsets"];
  expect("{\"0.bias\":" + other.dump() + "," + text.substr(1), {"'0.bias'", "twice"});
  // A field twice inside an entry, and a metadata key twice.
  const std::string entry = "\"0.bias\":{";
  const std::size_t e = text.find(entry) + entry.size();
  expect(text.substr(0, e) + "\"dtype\":\"F16\"," + text.substr(e),
         {"'dtype'", "'0.bias'", "twice"});
  const std::string meta = "\"__metadata__\":{";
  const std::size_t m = text.find(meta) + meta.size();
  expect(text.substr(0, m) + "\"format\":\"np\"," + text.substr(m),
         {"'format'", "'__metadata__'", "twice"});
}

TEST_CASE("safetensors: the header is read in one pass, its nesting and size limited") {
  TempDir dir;
  BnFlatten net(17);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  const std::string bad = dir.file("bad.safetensors");
  const auto refused = [&](const std::string& header, const std::string& needle) {
    write_all(bad, serialise(header, {}));
    try {
      load_safetensors(net, bad);
      FAIL("load_safetensors accepted a header; expected '" << needle << "'");
    } catch (const FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m.substr(0, 600));
      CHECK(m.find(needle) != std::string::npos);
      CHECK(m.size() < bad.size() + 600);
    }
    CHECK(std::equal(before.begin(), before.end(), net.parameters().begin()));
  };
  // 500 KB of small objects, each with a key: parsed and refused for what it holds at once
  // (the parser took time quadratic in the number of objects: 20 s for such a header).
  std::string many = "{\"x\":[";
  for (int i = 0; i < 63'000; ++i) many += "{\"k\":0},";
  many += "{}]}";
  REQUIRE(many.size() > 500'000);
  const auto start = std::chrono::steady_clock::now();
  refused(many, "tensor 'x' is not an object");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  // Nesting: 32 levels are read (and the entry refused), 33 are not.
  const auto nested = [](int depth) {
    return "{\"x\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
  };
  refused(nested(32), "tensor 'x' is not an object");
  refused(nested(33), "nested deeper than 32 levels");
  refused(nested(100'000), "nested deeper than 32 levels");
  // Values: 2^20 in all are read, one more is not.
  const auto values = [](std::size_t n) {  // the header object, the array and n - 2 numbers
    std::string h = "{\"x\":[";
    for (std::size_t i = 0; i + 2 < n; ++i) h += i ? ",0" : "0";
    return h + "]}";
  };
  refused(values(std::size_t{1} << 20), "tensor 'x' is not an object");
  refused(values((std::size_t{1} << 20) + 1), "more than 1048576 JSON values");
}

TEST_CASE("safetensors: error messages quote at most 200 characters of the file") {
  TempDir dir;
  BnFlatten a(15);
  const std::string good = dir.file("good.safetensors"), bad = dir.file("bad.safetensors");
  save_safetensors(a, good);
  const Parsed f = parse(read_all(good));
  BnFlatten net(16);
  const std::string long_text(1'000'000, 'x');
  const auto expect = [&](const std::vector<char>& b, const std::string& needle) {
    write_all(bad, b);
    try {
      load_safetensors(net, bad);
      FAIL("load_safetensors accepted a damaged file; expected '" << needle << "'");
    } catch (const FileError& e) {
      const std::string m = e.what();
      INFO("message: ", m.substr(0, 600));
      CHECK(m.find(needle) != std::string::npos);
      CHECK(m.find("...") != std::string::npos);
      CHECK(m.find(std::string(201, 'x')) == std::string::npos);
      CHECK(m.size() < bad.size() + 600);
    }
  };
  const auto edited = [&](auto&& edit) {
    json h = f.header;
    edit(h);
    return serialise(h, f.buffer);
  };
  // The JSON parser's message quotes the token it stopped at: here a 1 MB unterminated string.
  expect(serialise("{\"" + long_text, {}), "not valid JSON");
  // Names, dtypes and lists of names from the file.
  expect(edited([&](json& h) { h[long_text] = 5; }), "is not an object");
  expect(edited([&](json& h) { h[long_text] = {{"dtype", "F32"}}; }), "has no shape array");
  expect(edited([&](json& h) { h["0.bias"]["dtype"] = long_text; }), "'0.bias': dtype x");
  expect(edited([&](json& h) {
           for (int i = 0; i < 20'000; ++i)
             h[std::string(40, 'x') + std::to_string(i)] = {
                 {"dtype", "F32"}, {"shape", json::array({0})}, {"data_offsets", {0, 0}}};
         }),
         "unexpected tensors");
}

TEST_CASE("safetensors: a failed save leaves the previous file in place") {
  TempDir dir;
  BiRnn a(7);
  save_safetensors(a, dir.file("m.safetensors"));
  const auto before = read_all(dir.file("m.safetensors"));
  CHECK_THROWS_AS(save_safetensors(a, dir.file("no-such-dir/m.safetensors")), FileError);
  CHECK(read_all(dir.file("m.safetensors")) == before);
}

TEST_CASE("safetensors: saving onto a directory gives the reason of the failing call") {
  TempDir dir;
  const BiRnn a(9);
  ctnn_test::check_save_onto_directory(dir, "a-directory.safetensors",
                                       [&](const std::string& path) { save_safetensors(a, path); });
}

TEST_CASE("safetensors: a new file gets the mode open(2) would; a replaced file keeps its mode") {
  TempDir dir;
  const BiRnn a(10);
  ctnn_test::check_save_modes(dir, "m.safetensors", "other.safetensors",
                              [&](const std::string& path) { save_safetensors(a, path); });
}

TEST_CASE("safetensors functions are reachable as ctnn::io::") {
  using Net = ctnn::Sequential<ctnn::Input<4>, ctnn::Dense<2>>;
  Net a(1), b;
  const auto path =
      (std::filesystem::temp_directory_path() / "ctnn-io-namespace.safetensors").string();
  ctnn::io::save_safetensors(a, path);
  ctnn::io::load_safetensors(b, path);
  std::filesystem::remove(path);
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
}

TEST_CASE("safetensors: a FIFO, a device or a directory is refused at once, without blocking") {
  ctnn_test::check_refuses_special_files([](const std::string& path) {
    BiRnn n(1);
    load_safetensors(n, path);
  });
}
