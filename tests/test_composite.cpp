// Composite layers: Chain, Residual, Concat, Identity and GlobalAvgPool2D. Gradients against
// finite differences, outputs against the parts run one by one, and networks that contain them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <ctnn/ctnn.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "files.hpp"
#include "gradcheck.hpp"
#include "reference.hpp"

using namespace ctnn;

namespace {

using Img = Image<6, 6, 3>;
using ConvSame = Conv2D<3, 3, 1, Same>;
using MainPath = Chain<ConvSame, BatchNorm, ReLU, ConvSame, BatchNorm>;
using Projection = Chain<Conv2D<5, 1, 2>, BatchNorm>;
// Central differences across ReLU's kink are wrong by design (a step of 1e-2 in a weight moves
// many pre-activations, more so through BatchNorm's batch statistics): the gradient checks use
// Tanh, which is smooth; ReLU is checked where the outputs are compared part by part.
using SmoothPath = Chain<ConvSame, BatchNorm, Tanh, ConvSame, BatchNorm>;
using SmoothDown = Chain<Conv2D<5, 3, 2, Same>, BatchNorm, Tanh, Conv2D<5, 3, 1, Same>>;

// Bound layer L's forward in inference mode.
template <class L>
std::vector<float> run(const std::vector<float>& params, std::vector<float>& state,
                       const std::vector<float>& in, std::size_t batch) {
  return ctnn::testing::run_forward<L>(params, state, in, batch, false);
}

template <class L>
std::vector<float> initial_params(std::vector<float>& state) {
  std::vector<float> params(L::parameter_count);
  state.assign(L::state_count, 0.0f);
  Rng rng(3);
  L::init(params.data(), state.data(), rng);
  auto noise = ctnn_test::random_vector(params.size(), 4, -0.2f, 0.2f);
  for (std::size_t i = 0; i < params.size(); ++i) params[i] += noise[i];
  auto s = ctnn_test::random_vector(state.size(), 5, 0.5f, 1.5f);
  state = s;
  return params;
}

}  // namespace

TEST_CASE("Chain, Residual, Concat and GlobalAvgPool2D: gradients match finite differences") {
  SUBCASE("GlobalAvgPool2D") {
    ctnn_test::check_layer_gradients<GlobalAvgPool2D::bind<Img>>(3, true);
  }
  SUBCASE("Chain") {
    ctnn_test::check_layer_gradients<SmoothPath::bind<Img>>(2, false);
  }
  SUBCASE("Chain, training (batch statistics)") {
    ctnn_test::check_layer_gradients<SmoothPath::bind<Img>>(3, true);
  }
  SUBCASE("Residual, identity shortcut") {
    ctnn_test::check_layer_gradients<Residual<SmoothPath>::bind<Img>>(2, false);
    ctnn_test::check_layer_gradients<Residual<SmoothPath>::bind<Img>>(2, true);
  }
  SUBCASE("Residual, projection shortcut") {
    ctnn_test::check_layer_gradients<Residual<SmoothDown, Projection>::bind<Img>>(2, false);
    ctnn_test::check_layer_gradients<Residual<SmoothDown, Projection>::bind<Img>>(2, true);
  }
  SUBCASE("Concat of images, along channels") {
    ctnn_test::check_layer_gradients<
        Concat<ConvSame, Chain<Conv2D<2, 1>, Tanh>, Identity>::bind<Img>>(2, false);
  }
  SUBCASE("Concat of vectors, along features") {
    ctnn_test::check_layer_gradients<Concat<Dense<4>, Chain<Dense<3>, Tanh>>::bind<Vector<5>>>(
        3, false);
  }
  SUBCASE("nested: a Residual inside a Chain inside a Residual") {
    using Inner = Residual<Chain<ConvSame, Tanh, ConvSame>>;
    ctnn_test::check_layer_gradients<Residual<Chain<Inner, Tanh, Inner>>::bind<Img>>(2, true);
  }
}

TEST_CASE("composites compute what their parts compute one by one") {
  const std::size_t batch = 2;
  const auto x = ctnn_test::random_vector(batch * Img::size, 9);

  // Residual<MainPath>: y = main(x) + x, main run part by part.
  using R = Residual<MainPath>::bind<Img>;
  std::vector<float> state;
  const auto params = initial_params<R>(state);
  auto st = state;
  const auto y = run<R>(params, st, x, batch);
  using C1 = ConvSame::bind<Img>;
  using B = BatchNorm::bind<Img>;
  using A = ReLU::bind<Img>;
  std::vector<float> s0, s1(state.begin(), state.begin() + B::state_count),
      s2(state.begin() + B::state_count, state.end());
  std::size_t at = 0;
  auto slice = [&](std::size_t n) {
    std::vector<float> v(params.begin() + at, params.begin() + at + n);
    at += n;
    return v;
  };
  const auto p1 = slice(C1::parameter_count), p2 = slice(B::parameter_count),
             p3 = slice(C1::parameter_count), p4 = slice(B::parameter_count);
  auto h = run<C1>(p1, s0, x, batch);
  h = run<B>(p2, s1, h, batch);
  h = run<A>({}, s0, h, batch);
  h = run<C1>(p3, s0, h, batch);
  h = run<B>(p4, s2, h, batch);
  REQUIRE(y.size() == h.size());
  for (std::size_t i = 0; i < y.size(); ++i)
    CHECK(y[i] == doctest::Approx(h[i] + x[i]).epsilon(1e-6));

  // Concat<ConvSame, Identity> on images: channels [conv(x), x] at every pixel.
  using K = Concat<ConvSame, Identity>::bind<Img>;
  static_assert(std::is_same_v<K::output_shape, Image<6, 6, 6>>);
  std::vector<float> ks;
  const auto kp = initial_params<K>(ks);
  const auto ky = run<K>(kp, ks, x, batch);
  const auto conv = run<C1>(kp, s0, x, batch);
  for (std::size_t r = 0; r < batch * 36; ++r)
    for (std::size_t c = 0; c < 3; ++c) {
      CHECK(ky[r * 6 + c] == conv[r * 3 + c]);
      CHECK(ky[r * 6 + 3 + c] == x[r * 3 + c]);
    }

  // GlobalAvgPool2D: the mean of each channel.
  const auto g = run<GlobalAvgPool2D::bind<Img>>({}, s0, x, batch);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t c = 0; c < 3; ++c) {
      double sum = 0;
      for (std::size_t i = 0; i < 36; ++i) sum += x[(b * 36 + i) * 3 + c];
      CHECK(g[b * 3 + c] == doctest::Approx(sum / 36).epsilon(1e-5));
    }
}

namespace {
// 8x8 images of 3 classes: a bright band at the top, middle or bottom rows.
data::Dataset bands(std::size_t n, std::uint32_t seed) {
  data::Dataset d;
  d.sample_size = 64;
  d.classes = 3;
  d.inputs = ctnn_test::random_vector(n * 64, seed, 0.0f, 0.3f);
  Rng rng(seed);
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::int32_t>(rng.below(3));
    d.labels.push_back(k);
    for (std::size_t r = 0; r < 2; ++r)
      for (std::size_t c = 0; c < 8; ++c) d.inputs[i * 64 + (3 * k + r) * 8 + c] += 0.7f;
  }
  return d;
}
using TinyResNet = Sequential<
    Input<8, 8, 1>, Conv2D<4, 3, 1, Same>, BatchNorm, ReLU,
    Residual<Chain<Conv2D<4, 3, 1, Same>, BatchNorm, ReLU, Conv2D<4, 3, 1, Same>, BatchNorm>>, ReLU,
    Residual<Chain<Conv2D<8, 3, 2, Same>, BatchNorm, ReLU, Conv2D<8, 3, 1, Same>, BatchNorm>,
             Chain<Conv2D<8, 1, 2>, BatchNorm>>,
    ReLU, GlobalAvgPool2D, Dense<3>>;
}  // namespace

TEST_CASE("a small ResNet trains, saves and loads, and names its nesting") {
  static_assert(std::is_same_v<TinyResNet::output_shape, Vector<3>>);
  const auto train = bands(240, 1), test = bands(90, 2);
  TinyResNet net(1);
  Adam adam(0.01f);
  FitOptions o;
  o.epochs = 8;
  o.batch_size = 16;
  o.threads = 2;
  fit(net, adam, train, o);
  const double accuracy = evaluate(net, test, 1).accuracy;
  CHECK(accuracy > 0.9);

  ctnn_test::TempDir dir;
  save(net, dir.file("r.ctnn"));
  TinyResNet back(uninitialized);
  load(back, dir.file("r.ctnn"));
  CHECK(evaluate(back, test, 1).accuracy == accuracy);

  const std::string sig = TinyResNet::signature();
  CHECK(sig.find("Residual<Chain<Conv2D<8,3,2,same>,BatchNorm<0.1,1e-05>,ReLU,Conv2D<8,3,1,same>,"
                 "BatchNorm<0.1,1e-05>>,Chain<Conv2D<8,1,2,valid>,BatchNorm<0.1,1e-05>>> "
                 "Image<8,8,4> -> Image<4,4,8>") != std::string::npos);
}

TEST_CASE("summary shows the parts of composites, indented") {
  std::ostringstream os;
  summary<TinyResNet>(os);
  const std::string s = os.str();
  INFO(s);
  CHECK(s.find("\nResidual ") != std::string::npos);
  CHECK(s.find("\n  main: Chain ") != std::string::npos);
  CHECK(s.find("\n    Conv2D<4,3,1,same> ") != std::string::npos);
  CHECK(s.find("\n  shortcut: Identity ") != std::string::npos);
  CHECK(s.find("\n  shortcut: Chain ") != std::string::npos);
  CHECK(s.find("\n    Conv2D<8,1,2,valid> ") != std::string::npos);
  CHECK(s.find("\nGlobalAvgPool2D ") != std::string::npos);
  CHECK(s.find("Total params: " + std::to_string(TinyResNet::parameter_count)) !=
        std::string::npos);
}

TEST_CASE("safetensors names of composites follow the PyTorch modules") {
  using Net = Sequential<
      Input<8, 8, 1>, Conv2D<4, 3, 1, Same>, Residual<Chain<Conv2D<4, 3, 1, Same>, BatchNorm>>,
      Residual<Chain<Conv2D<6, 3, 2, Same>, BatchNorm>, Chain<Conv2D<6, 1, 2>, BatchNorm>>,
      Concat<Conv2D<2, 1>, Chain<Conv2D<3, 1>, ReLU, Conv2D<3, 1>>>, Flatten, Dense<3>>;
  std::vector<std::string> names;
  for (const auto& m : io::safetensors_detail::tensor_maps<Net>()) names.push_back(m.name);
  const std::vector<std::string> expected = {"0.weight",
                                             "0.bias",
                                             "1.main.0.weight",
                                             "1.main.0.bias",
                                             "1.main.1.weight",
                                             "1.main.1.bias",
                                             "1.main.1.running_mean",
                                             "1.main.1.running_var",
                                             "1.main.1.num_batches_tracked",
                                             "2.main.0.weight",
                                             "2.main.0.bias",
                                             "2.main.1.weight",
                                             "2.main.1.bias",
                                             "2.main.1.running_mean",
                                             "2.main.1.running_var",
                                             "2.main.1.num_batches_tracked",
                                             "2.shortcut.0.weight",
                                             "2.shortcut.0.bias",
                                             "2.shortcut.1.weight",
                                             "2.shortcut.1.bias",
                                             "2.shortcut.1.running_mean",
                                             "2.shortcut.1.running_var",
                                             "2.shortcut.1.num_batches_tracked",
                                             "3.branches.0.weight",
                                             "3.branches.0.bias",
                                             "3.branches.1.0.weight",
                                             "3.branches.1.0.bias",
                                             "3.branches.1.2.weight",
                                             "3.branches.1.2.bias",
                                             "5.weight",
                                             "5.bias"};
  CHECK(names == expected);

  // Every parameter and state value is in exactly one tensor, and the file round-trips.
  Net net(2);
  ctnn_test::TempDir dir;
  save_safetensors(net, dir.file("n.safetensors"));
  Net back(uninitialized);
  load_safetensors(back, dir.file("n.safetensors"));
  CHECK(std::equal(net.parameters().begin(), net.parameters().end(), back.parameters().begin()));
  CHECK(std::equal(net.state().begin(), net.state().end(), back.state().begin()));
}

namespace {
// The same layers at top level and inside Chains: the same parameter layout, so the same
// initialisation from one seed.
using FlatNet = Sequential<Input<8, 8, 2>, Conv2D<4, 3, 1, Same>, ReLU, Conv2D<3, 3>, ReLU, Flatten,
                           Dense<5>, ReLU, Dense<3>>;
using ChainedNet =
    Sequential<Input<8, 8, 2>, Chain<Conv2D<4, 3, 1, Same>, ReLU, Conv2D<3, 3>, ReLU>, Flatten,
               Chain<Dense<5>, ReLU>, Dense<3>>;
}  // namespace

TEST_CASE("Conv2D+ReLU inside a Chain is fused in training as at top level, bit for bit") {
  // One plan at every depth: the ReLU after Conv2D or Dense is computed by the layer before it.
  static_assert(FlatNet::fused_into_previous<1> && FlatNet::fused_into_previous<3> &&
                FlatNet::fused_into_previous<6>);
  using Convs = ChainedNet::layer<0>;
  static_assert(detail::Plan<Convs::parts>::absorbed_in_training<1> &&
                detail::Plan<Convs::parts>::absorbed_in_training<3>);
  static_assert(detail::Plan<ChainedNet::layer<2>::parts>::absorbed_in_training<1>);
  static_assert(FlatNet::parameter_count == ChainedNet::parameter_count);
  FlatNet flat(17);
  ChainedNet chained(17);
  REQUIRE(
      std::equal(flat.parameters().begin(), flat.parameters().end(), chained.parameters().begin()));
  constexpr std::size_t B = 4;
  const auto x = ctnn_test::random_vector(B * 128, 18);
  const auto r = ctnn_test::random_vector(B * 3, 19);
  Workspace<FlatNet> fws(B);
  Workspace<ChainedNet> cws(B);
  const float* fy = flat.forward(x.data(), B, fws, Mode::training);
  const float* cy = chained.forward(x.data(), B, cws, Mode::training);
  const std::vector<float> fout(fy, fy + B * 3), cout(cy, cy + B * 3);
  CHECK(fout == cout);
  CHECK(std::any_of(fout.begin(), fout.end(), [](float v) { return v != 0.0f; }));
  std::vector<float> fg(FlatNet::parameter_count, 0.0f), cg(fg.size(), 0.0f);
  flat.backward(x.data(), r.data(), fg.data(), B, fws);
  chained.backward(x.data(), r.data(), cg.data(), B, cws);
  CHECK(fg == cg);
  CHECK(std::any_of(fg.begin(), fg.end(), [](float v) { return v != 0.0f; }));
  // And inference: the same plan steps.
  std::vector<float> fp(B * 3), cp(B * 3);
  flat.predict(x.data(), fp.data(), B, fws);
  chained.predict(x.data(), cp.data(), B, cws);
  CHECK(fp == cp);
}

namespace {
// Capabilities declared wrongly: fused_ops without forward_fused, and an earlier version's name.
struct NoForwardFused : Tanh::bind<Vector<3>> {
  static constexpr unsigned fused_ops = fused::relu;
};
struct OldFusion : Tanh::bind<Vector<3>> {
  static constexpr bool fuses_relu = true;
};
}  // namespace

TEST_CASE("the capability concepts recognise the library's layers") {
  using Conv = Conv2D<4, 3>::bind<Image<6, 6, 2>>;
  static_assert(FusesOps<Conv> && FusesInTraining<Conv> && Labelled<Conv>);
  static_assert(DescribesTensors<Conv> && HasInferenceScratch<Conv> && !KeepsOrder<Conv>);
  using Fc = Dense<3>::bind<Vector<5>>;
  static_assert(FusesInTraining<Fc> && !ChannelAffine<Fc>);
  static_assert(ChannelAffine<BatchNorm::bind<Image<4, 4, 4>>>);
  static_assert(IsRelu<ReLU::bind<Vector<3>>> && !IsRelu<Tanh::bind<Vector<3>>>);
  static_assert(IsIdentity<Identity::bind<Vector<3>>> && KeepsOrder<Identity::bind<Vector<3>>>);
  static_assert(PoolsAfterConv<MaxPool2D<2>::bind<Image<4, 4, 1>>>);
  static_assert(!PoolsAfterConv<MaxPool2D<2, 1>::bind<Image<4, 4, 1>>>);
  static_assert(!PoolsAfterConv<AvgPool2D<2>::bind<Image<4, 4, 1>>>);
  using Block = Residual<MainPath>::bind<Img>;
  static_assert(Composite<Block> && Composite<MainPath::bind<Img>> && !Composite<Conv>);
  static_assert(FusesOps<Block> && !FusesInTraining<Block>);
  // Declared wrongly: the network refuses them with a message naming the capability (see
  // tests/compile_fail: fused_ops_without_forward_fused.cpp, tensors_signature.cpp).
  static_assert(detail::broken_capability<Conv>() == detail::BrokenCapability::none);
  static_assert(!FusesOps<NoForwardFused>);
  static_assert(detail::broken_capability<NoForwardFused>() == detail::BrokenCapability::fused_ops);
  static_assert(detail::broken_capability<OldFusion>() == detail::BrokenCapability::fuses_relu);
  CHECK(fused_ops_of<Conv>(true) == fused::relu);
  CHECK(fused_ops_of<Conv>(false) == (fused::affine | fused::add | fused::relu));
  CHECK(fused_ops_of<Tanh::bind<Vector<3>>>(false) == 0);
}
