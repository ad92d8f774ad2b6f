// Explicit zero padding (ctnn::Pad<...>) in Conv2D, MaxPool2D and AvgPool2D: the spellings and
// shapes, outputs and gradients against PyTorch's (tests/data/padding, written by
// tools/make_padding_fixtures.py) and against finite differences, the inference plan against
// the unfused layers, and a torchvision-style ResNet stem and BasicBlock trained one SGD step.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <ctnn/ctnn.hpp>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "files.hpp"
#include "fixtures.hpp"
#include "gradcheck.hpp"
#include "reference.hpp"

using namespace ctnn;

namespace {

// The spellings: Valid and Same as before, Pad<P>, Pad<PH, PW>, Pad<T, B, L, R>; all-zero pads
// are Valid, so Conv2D<F, K, S, Pad<0>> is Conv2D<F, K, S>.
static_assert(Padding::valid == Valid && Padding::same == Same && Valid != Same);
static_assert(Pad<0> == Valid && Pad<0, 0> == Valid && Pad<0, 0, 0, 0> == Valid);
static_assert(Pad<1> == Padding{Padding::Kind::pads, 1, 1, 1, 1});
static_assert(Pad<1, 2> == Padding{Padding::Kind::pads, 1, 1, 2, 2});
static_assert(Pad<0, 1, 1, 0> == Padding{Padding::Kind::pads, 0, 1, 1, 0});
static_assert(Pad<1> != Same && Pad<1, 2> != Pad<2, 1>);
static_assert(std::is_same_v<Conv2D<4, 1, 2, Pad<0>>, Conv2D<4, 1, 2>>);
static_assert(std::is_same_v<Pool<3, 2, Pad<1>>, MaxPool2D<3, 2, Pad<1>>>);

// Output sizes: floor((N + before + after - K) / S) + 1 (PyTorch's nn.Conv2d, nn.MaxPool2d).
template <class Spec, class In>
using out_of = typename Spec::template bind<In>::output_shape;
static_assert(std::is_same_v<out_of<Conv2D<5, 3, 2, Pad<1>>, Image<8, 8, 3>>, Image<4, 4, 5>>);
static_assert(std::is_same_v<out_of<Conv2D<5, 3, 2, Pad<1>>, Image<7, 7, 3>>, Image<4, 4, 5>>);
static_assert(std::is_same_v<out_of<Conv2D<4, 3, 1, Pad<1, 2>>, Image<6, 5, 3>>, Image<6, 7, 4>>);
static_assert(
    std::is_same_v<out_of<Conv2D<4, 3, 2, Pad<0, 1, 1, 0>>, Image<6, 7, 3>>, Image<3, 3, 4>>);
static_assert(std::is_same_v<out_of<Conv2D<8, 7, 2, Pad<3>>, Image<12, 11, 3>>, Image<6, 6, 8>>);
static_assert(std::is_same_v<out_of<MaxPool2D<3, 2, Pad<1>>, Image<8, 7, 11>>, Image<4, 4, 11>>);
static_assert(std::is_same_v<out_of<AvgPool2D<3, 1, Pad<1>>, Image<6, 5, 11>>, Image<6, 5, 11>>);
// A kernel larger than the image but not than the padded image binds.
static_assert(std::is_same_v<out_of<Conv2D<2, 5, 1, Pad<2>>, Image<3, 3, 1>>, Image<3, 3, 2>>);

void check_close(const std::vector<float>& got, const std::vector<float>& want, float tol,
                 const char* what) {
  REQUIRE(got.size() == want.size());
  INFO(std::string(what), ": largest difference ", ctnn_test::max_abs_diff(got, want));
  CHECK(ctnn_test::max_abs_diff(got, want) < tol);
}

/// Bound layer L on a fixture: output, input and parameter gradients of (output * r).sum()
/// against PyTorch's. The parameters go in through L's PyTorch tensors (the safetensors map).
template <class L>
void check_against_pytorch(const char* file) {
  INFO(file, ": ", L::name());
  const auto fx = ctnn_test::read_fixture(std::string("padding/") + file + ".txt");
  std::vector<float> params(L::parameter_count), want_grads(L::parameter_count);
  if constexpr (L::parameter_count > 0) {
    for (const TensorDesc& t : L::tensors(TensorContext{})) {
      const auto& v = fx.at(t.name).values;
      const auto& g = fx.at("grad." + t.name).values;
      for (std::size_t e = 0; e < v.size(); ++e) {
        params[t.index(e)] = v[e];
        want_grads[t.index(e)] = g[e];
      }
    }
  }
  const auto& x = fx.at("x").values;
  const std::size_t B = fx.at("x").dims[0];
  REQUIRE(x.size() == B * L::input_shape::size);
  std::vector<float> out(B * L::output_shape::size), grads(L::parameter_count, 0.0f),
      din(x.size(), -1.0f), scratch(B * L::scratch_per_sample + L::scratch_fixed);
  Pass p;
  p.params = params.data();
  p.grads = grads.data();
  p.scratch = scratch.data();
  p.in = x.data();
  p.out = out.data();
  p.dout = fx.at("r").values.data();
  p.din = din.data();
  p.batch = B;
  p.training = true;
  L::forward(p);
  check_close(out, fx.at("output").values, 1e-5f, "output");
  L::backward(p);
  check_close(din, fx.at("grad.x").values, 1e-5f, "input gradient");
  if constexpr (L::parameter_count > 0) check_close(grads, want_grads, 1e-4f, "parameter gradient");
}

// The torchvision stem and a BasicBlock with stride 2 (tools/make_padding_fixtures.py).
using ResNetStep = Sequential<
    Input<20, 20, 3>, Conv2D<8, 7, 2, Pad<3>>, BatchNorm, ReLU, MaxPool2D<3, 2, Pad<1>>,
    Residual<Chain<Conv2D<12, 3, 2, Pad<1>>, BatchNorm, ReLU, Conv2D<12, 3, 1, Pad<1>>, BatchNorm>,
             Chain<Conv2D<12, 1, 2>, BatchNorm>>,
    ReLU>;

// Padded layers in every fused step of the inference plan: Conv2D + BatchNorm + ReLU, Conv2D +
// ReLU + a padded MaxPool2D with stride = window (not pooled by the convolution), a padded
// AvgPool2D, a residual block whose Main ends in Conv2D + BatchNorm (adds the shortcut and applies
// the ReLU). Unfused: the same layers with an Identity after every Conv2D, which the plan cannot
// fold or fuse into it; the parameters and state are the same.
using Folded =
    Sequential<Input<9, 8, 3>, Conv2D<6, 3, 2, Pad<1>>, BatchNorm, ReLU, Conv2D<6, 3, 1, Pad<1, 2>>,
               ReLU, MaxPool2D<2, 2, Pad<1>>, AvgPool2D<3, 1, Pad<1>>,
               Residual<Chain<Conv2D<6, 2, 1, Pad<0, 1, 1, 0>>, BatchNorm, ReLU,
                              Conv2D<6, 3, 1, Pad<1>>, BatchNorm>>,
               ReLU, GlobalAvgPool2D, Dense<3>>;
using Unfolded = Sequential<Input<9, 8, 3>, Conv2D<6, 3, 2, Pad<1>>, Identity, BatchNorm, ReLU,
                            Conv2D<6, 3, 1, Pad<1, 2>>, Identity, ReLU, MaxPool2D<2, 2, Pad<1>>,
                            AvgPool2D<3, 1, Pad<1>>,
                            Residual<Chain<Conv2D<6, 2, 1, Pad<0, 1, 1, 0>>, Identity, BatchNorm,
                                           ReLU, Conv2D<6, 3, 1, Pad<1>>, Identity, BatchNorm>>,
                            ReLU, GlobalAvgPool2D, Dense<3>>;

}  // namespace

TEST_CASE("padding: names in signatures and summaries") {
  using Net = Sequential<Input<8, 8, 3>, Conv2D<4, 3, 2, Pad<1>>, Conv2D<4, 3, 1, Pad<0, 1, 1, 0>>,
                         MaxPool2D<3, 2, Pad<1>>, AvgPool2D<2, 1, Pad<1>>, Conv2D<4, 3, 1, Same>,
                         Conv2D<4, 1, 1, Pad<0>>, MaxPool2D<2>>;
  const std::string s = Net::signature();
  CHECK(s.find("1 Conv2D<4,3,2,pad(1,1,1,1)> Image<8,8,3> -> Image<4,4,4> 112\n") !=
        std::string::npos);
  CHECK(s.find("2 Conv2D<4,3,1,pad(0,1,1,0)> Image<4,4,4> -> Image<3,3,4> ") != std::string::npos);
  CHECK(s.find("3 MaxPool2D<3,2,pad(1,1,1,1)> Image<3,3,4> -> Image<2,2,4> 0\n") !=
        std::string::npos);
  CHECK(s.find("4 AvgPool2D<2,1,pad(1,1,1,1)> Image<2,2,4> -> Image<3,3,4> 0\n") !=
        std::string::npos);
  // Valid and Same keep their names; a pool without padding keeps its two numbers.
  CHECK(s.find("5 Conv2D<4,3,1,same> ") != std::string::npos);
  CHECK(s.find("6 Conv2D<4,1,1,valid> ") != std::string::npos);
  CHECK(s.find("7 MaxPool2D<2,2> Image<3,3,4> -> Image<1,1,4> 0\n") != std::string::npos);
  CHECK(padding_name(Pad<2, 3>) == "pad(2,2,3,3)");
  // The summary's name column grows to the longest (nested) name.
  std::ostringstream os;
  summary<ResNetStep>(os);
  CHECK(os.str().find("\n    Conv2D<12,3,2,pad(1,1,1,1)> Image<3,3,12> ") != std::string::npos);
  CHECK(os.str().find("\nMaxPool2D<3,2,pad(1,1,1,1)>     Image<5,5,8> ") != std::string::npos);
}

TEST_CASE("padded Conv2D matches PyTorch: outputs and gradients") {
  check_against_pytorch<Conv2D<5, 3, 2, Pad<1>>::bind<Image<8, 8, 3>>>("conv_k3_s2_p1_even");
  check_against_pytorch<Conv2D<5, 3, 2, Pad<1>>::bind<Image<7, 7, 3>>>("conv_k3_s2_p1_odd");
  check_against_pytorch<Conv2D<4, 3, 1, Pad<1, 2>>::bind<Image<6, 5, 3>>>("conv_k3_p1x2");
  check_against_pytorch<Conv2D<4, 3, 2, Pad<0, 1, 1, 0>>::bind<Image<6, 7, 3>>>("conv_k3_s2_asym");
  check_against_pytorch<Conv2D<6, 1, 2, Pad<0>>::bind<Image<7, 7, 3>>>("conv_k1_s2_p0");
  check_against_pytorch<Conv2D<8, 7, 2, Pad<3>>::bind<Image<12, 11, 3>>>("conv_k7_s2_p3");
}

TEST_CASE("padded MaxPool2D and AvgPool2D match PyTorch: outputs and gradients") {
  // Pads are -infinity for the maximum and zeros counted in the mean (count_include_pad=True).
  check_against_pytorch<MaxPool2D<3, 2, Pad<1>>::bind<Image<8, 7, 11>>>("maxpool_k3_s2_p1");
  check_against_pytorch<AvgPool2D<3, 1, Pad<1>>::bind<Image<6, 5, 11>>>("avgpool_k3_s1_p1");
}

TEST_CASE("a padded max pooling of negative values never returns a pad") {
  using L = MaxPool2D<3, 2, Pad<1>>::bind<Image<4, 4, 9>>;
  std::vector<float> x(L::input_shape::size), out(L::output_shape::size),
      scratch(L::scratch_per_sample + L::scratch_fixed);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = -1.0f - float(i);
  Pass p;
  p.scratch = scratch.data();
  p.in = x.data();
  p.out = out.data();
  p.batch = 1;
  L::forward(p);
  // Window (0, 0) covers rows and columns -1..1: its maximum is pixel (0, 0).
  for (std::size_t c = 0; c < 9; ++c) CHECK(out[c] == x[c]);
  CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v < 0.0f && v > -1e9f; }));
}

TEST_CASE("padded layers' gradients match finite differences") {
  ctnn_test::check_layer_gradients<Conv2D<3, 3, 2, Pad<1>>::bind<Image<6, 6, 2>>>(2, true);
  ctnn_test::check_layer_gradients<Conv2D<3, 3, 1, Pad<0, 2, 1, 0>>::bind<Image<4, 5, 2>>>(2, true);
  ctnn_test::check_layer_gradients<MaxPool2D<3, 2, Pad<1>>::bind<Image<5, 6, 3>>>(2, true);
  ctnn_test::check_layer_gradients<AvgPool2D<2, 2, Pad<1>>::bind<Image<5, 4, 3>>>(2, true);
  // A network of padded layers with smooth activations (no ties or kinks for the differences
  // to straddle); the ResNet below is checked against PyTorch's gradients instead.
  using Net = Sequential<Input<7, 6, 2>, Conv2D<3, 3, 2, Pad<1>>, Tanh, AvgPool2D<3, 1, Pad<1>>,
                         Conv2D<4, 2, 1, Pad<0, 1, 1, 0>>, Sigmoid, Dense<3>>;
  Net net(7);
  ctnn_test::check_network_gradients(net, 3, 11, false, 2);
}

TEST_CASE("the inference plan of padded networks equals the unfused layers") {
  using Plan = detail::InferencePlan<Folded::layers>;
  CHECK(Plan::step<0>.ops == (fused::affine | fused::relu));
  CHECK(Plan::step<1>.ops == fused::relu);
  CHECK_FALSE(Plan::step<1>.pool);  // a padded pooling is not computed by the convolution
  static_assert(Folded::parameter_count == Unfolded::parameter_count &&
                Folded::state_count == Unfolded::state_count);
  const auto folded = std::make_unique<Folded>(uninitialized);
  const auto unfolded = std::make_unique<Unfolded>(uninitialized);
  const auto w = ctnn_test::random_vector(Folded::parameter_count, 21, -0.4f, 0.4f);
  const auto s = ctnn_test::random_vector(Folded::state_count, 22, 0.5f, 1.5f);
  std::copy(w.begin(), w.end(), folded->parameters().begin());
  std::copy(w.begin(), w.end(), unfolded->parameters().begin());
  std::copy(s.begin(), s.end(), folded->state().begin());
  std::copy(s.begin(), s.end(), unfolded->state().begin());
  constexpr std::size_t B = 3;
  const auto x = ctnn_test::random_vector(B * Folded::input_shape::size, 23);
  std::vector<float> a(B * 3), b(B * 3), c(B * 3);
  Workspace<Folded> wa(B), wc(B, inference_only);
  Workspace<Unfolded> wb(B);
  folded->predict(x.data(), a.data(), B, wa);
  folded->predict(x.data(), c.data(), B, wc);
  unfolded->predict(x.data(), b.data(), B, wb);
  CHECK(a == c);
  float m = 0;
  for (float v : b) m = std::max(m, std::abs(v));
  INFO("largest |output| ", m, ", difference ", ctnn_test::max_abs_diff(a, b));
  CHECK(m > 1e-3f);
  CHECK(ctnn_test::max_abs_diff(a, b) <= 1e-5f * m);
}

TEST_CASE("a ResNet stem and stride-2 BasicBlock take PyTorch's SGD step") {
  const auto fx = ctnn_test::read_fixture("padding/resnet_step.txt");
  const std::string dir = std::string(CTNN_TEST_DATA_DIR) + "/padding/";
  const auto net = std::make_unique<ResNetStep>(uninitialized);
  const auto after = std::make_unique<ResNetStep>(uninitialized);
  load_safetensors(*net, dir + "resnet_step_before.safetensors");
  load_safetensors(*after, dir + "resnet_step_after.safetensors");
  const auto& x = fx.at("x").values;
  const std::size_t B = fx.at("x").dims[0];
  Workspace<ResNetStep> ws(B);
  const float* y = net->forward(x.data(), B, ws, Mode::training, {.state = net->state().data()});
  check_close(std::vector<float>(y, y + B * ResNetStep::output_shape::size),
              fx.at("train_output").values, 1e-5f, "training output");
  std::vector<float> grads(ResNetStep::parameter_count, 0.0f);
  net->backward(x.data(), fx.at("r").values.data(), grads.data(), B, ws);
  SGD sgd(0.05f);
  sgd.step(net->parameters(), grads);
  const auto span_vec = [](auto s) { return std::vector<float>(s.begin(), s.end()); };
  check_close(span_vec(net->parameters()), span_vec(after->parameters()), 2e-5f,
              "parameters after the step");
  check_close(span_vec(net->state()), span_vec(after->state()), 1e-5f, "running statistics");
  std::vector<float> out(B * ResNetStep::output_shape::size);
  net->predict(x.data(), out.data(), B, ws);
  // One step with a summed loss moves the weights far from the running statistics: the outputs
  // reach a few hundred, so the float rounding of the folded BatchNorm is compared relatively.
  const auto& want = fx.at("eval_output").values;
  float m = 0;
  for (float v : want) m = std::max(m, std::abs(v));
  check_close(out, want, 1e-5f * m, "inference output after the step");
}

TEST_CASE("padded networks go through model files and safetensors unchanged") {
  ResNetStep a(3);
  const auto s = ctnn_test::random_vector(ResNetStep::state_count, 5, 0.5f, 1.5f);
  std::copy(s.begin(), s.end(), a.state().begin());
  const ctnn_test::TempDir dir("ctnn-padding");
  for (const bool safetensors : {false, true}) {
    const std::string path = dir.file(safetensors ? "net.safetensors" : "net.ctnn");
    ResNetStep b(uninitialized);
    if (safetensors) {
      save_safetensors(a, path);
      load_safetensors(b, path);
    } else {
      save(a, path);
      load(b, path);
    }
    CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
    CHECK(std::equal(a.state().begin(), a.state().end(), b.state().begin()));
  }
}
