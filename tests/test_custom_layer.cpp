// A layer defined outside the library (examples/channel_scale.hpp) meets the same contract as
// the library's own: gradients against finite differences, a network that trains with it, and
// both file formats under its own tensor names.
#include <doctest/doctest.h>

#include <algorithm>
#include <ctnn/ctnn.hpp>
#include <string>
#include <vector>

#include "../examples/channel_scale.hpp"
#include "files.hpp"
#include "gradcheck.hpp"

using namespace ctnn;

static_assert(BoundLayer<examples::ChannelScale::bind<Image<4, 5, 3>>>);
static_assert(kind_of<examples::ChannelScale::bind<Image<4, 5, 3>>>() == LayerKind::custom);

TEST_CASE("a layer defined outside the library: gradients match finite differences") {
  ctnn_test::check_layer_gradients<examples::ChannelScale::bind<Image<4, 5, 3>>>(3, true);
}

TEST_CASE("a layer defined outside the library trains, saves and loads in both formats") {
  using Net =
      Sequential<Input<6, 6, 1>, Conv2D<3, 3>, examples::ChannelScale, ReLU, Flatten, Dense<2>>;
  // Two classes: bright left half or bright right half.
  data::Dataset d;
  d.sample_size = 36;
  d.classes = 2;
  Rng rng(4);
  for (std::size_t i = 0; i < 200; ++i) {
    const auto k = static_cast<std::int32_t>(i % 2);
    d.labels.push_back(k);
    for (std::size_t r = 0; r < 6; ++r)
      for (std::size_t c = 0; c < 6; ++c)
        d.inputs.push_back(0.2f * rng.uniform() + ((c < 3) == (k == 0) ? 0.8f : 0.0f));
  }
  Net net(3);
  Adam adam(0.01f);
  FitOptions o;
  o.epochs = 5;
  o.threads = 1;
  fit(net, adam, d, o);
  CHECK(evaluate(net, d, 1).accuracy > 0.95);
  // The scale moved away from its initial 1: the layer learned.
  const float gamma0 = net.parameters()[Net::parameter_offset<1>];
  CHECK(gamma0 != 1.0f);

  std::vector<std::string> names;
  for (const auto& m : io::safetensors_detail::tensor_maps<Net>()) names.push_back(m.name);
  CHECK(names ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"});
  ctnn_test::TempDir dir;
  save(net, dir.file("n.ctnn"));
  save_safetensors(net, dir.file("n.safetensors"));
  Net a(uninitialized), b(uninitialized);
  load(a, dir.file("n.ctnn"));
  load_safetensors(b, dir.file("n.safetensors"));
  CHECK(std::equal(net.parameters().begin(), net.parameters().end(), a.parameters().begin()));
  CHECK(std::equal(net.parameters().begin(), net.parameters().end(), b.parameters().begin()));
  CHECK(Net::signature().find("2 ChannelScale Image<4,4,3> -> Image<4,4,3> 6") !=
        std::string::npos);
}
