// Writes safetensors files as ctnn 0.1.0 saved them, with that version's outputs, for
// tests/test_safetensors.cpp: files of ctnn_tensor_order 1 (docs/safetensors.md, "Files of
// earlier versions"), where a Dense or BatchNorm after a composite ending in Flatten holds its
// tensors in ctnn's own (h, w, c) order.
//
// It must be built against the headers of ctnn 0.1.0 (commit c016cd0), not against today's:
// from the repository root,
//
//   mkdir -p /tmp/ctnn-0.1.0 && git archive c016cd0 include | tar -x -C /tmp/ctnn-0.1.0
//   g++ -std=c++20 -O1 -I/tmp/ctnn-0.1.0/include -o /tmp/make_order1_fixtures
//       tools/make_order1_safetensors_fixtures.cpp   (one command)
//   /tmp/make_order1_fixtures tests/data/safetensors
//
// For each network below (the types of the same names in tests/test_safetensors.cpp) it sets
// parameter j to +-0.01 * (j + 1) (odd j positive) and state j to 0.5 + 0.01 * j, saves them as
// <out>/order1_<net>.safetensors and writes <out>/order1_<net>_logits.txt: the input `x`
// [3, 4, 3, 2] (x[i] = sin(0.7 i + 0.3), channels-last) and the network's output `logits`
// [3, 5], one tensor per line, "name dim0 dim1 ... : v0 v1 ..." ('%.9g'), as tests/fixtures.hpp
// reads them. The output is the same on every run.
#include <cmath>
#include <cstdio>
#include <ctnn/ctnn.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixture_files.hpp"

using namespace ctnn;

using ChainFlatten = Sequential<Input<4, 3, 2>, Conv2D<3, 2>, Chain<ReLU, Flatten>, Dense<5>>;
using ResidualFlatten =
    Sequential<Input<4, 3, 2>, Conv2D<3, 1>,
               Residual<Chain<Conv2D<3, 3, 1, Same>, Flatten>, Flatten>, Dense<5>>;
using ConcatFlattenBn =
    Sequential<Input<4, 3, 2>, Concat<Chain<Conv2D<3, 2>, Flatten>, GlobalAvgPool2D, Flatten>,
               BatchNorm, Dense<5>>;
using NestedFlatten =
    Sequential<Input<4, 3, 2>, Chain<Conv2D<3, 2>, Chain<ReLU, Chain<Flatten>>, BatchNorm>,
               Dense<5>>;

namespace {

template <class Net>
void write(const std::string& out, const std::string& name, const char* type) {
  Net net(uninitialized);
  for (std::size_t j = 0; j < Net::parameter_count; ++j)
    net.parameters()[j] = 0.01f * static_cast<float>(j + 1) * (j % 2 ? 1.0f : -1.0f);
  for (std::size_t j = 0; j < Net::state_count; ++j)
    net.state()[j] = 0.5f + 0.01f * static_cast<float>(j);
  const std::string base = out + "/order1_" + name;
  save_safetensors(net, base + ".safetensors");

  constexpr std::size_t batch = 3;
  const std::vector<float> x = ctnn_fixtures::inputs(batch * Net::input_shape::size);
  std::vector<float> y(batch * Net::output_shape::size);
  Workspace<Net> ws(batch);
  net.predict(x.data(), y.data(), batch, ws);

  std::FILE* f = std::fopen((base + "_logits.txt").c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + base + "_logits.txt");
  std::fprintf(f,
               "# ctnn 0.1.0 (c016cd0); %s in tests/test_safetensors.cpp; parameter j = "
               "+-0.01 (j + 1), state j = 0.5 + 0.01 j; x[i] = sin(0.7 i + 0.3)\n",
               type);
  using In = typename Net::input_shape;
  ctnn_fixtures::write_tensor(f, "x", {batch, In::height, In::width, In::channels}, x);
  ctnn_fixtures::write_tensor(f, "logits", {batch, Net::output_shape::size}, y);
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + base + "_logits.txt");
  std::printf("%s.safetensors, %s_logits.txt\n", base.c_str(), base.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  write<ChainFlatten>(out, "chain_flatten", "ChainFlatten");
  write<ResidualFlatten>(out, "residual_flatten", "ResidualFlatten");
  write<ConcatFlattenBn>(out, "concat_flatten_bn", "ConcatFlattenBn");
  write<NestedFlatten>(out, "nested_flatten", "NestedFlatten");
  return 0;
}
