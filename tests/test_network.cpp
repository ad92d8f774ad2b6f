#include <doctest/doctest.h>

#include <ctnn/ctnn.hpp>
#include <sstream>

#include "gradcheck.hpp"
#include "reference.hpp"

using namespace ctnn;

using FashionCnn =
    Sequential<Input<28, 28, 1>, Conv2D<32, 3>, ReLU, Conv2D<64, 3>, ReLU, MaxPool2D<2>,
               Conv2D<64, 3>, ReLU, MaxPool2D<2>, Dense<128>, ReLU, Dense<10>>;

// Shape inference, checked by the compiler.
static_assert(std::is_same_v<FashionCnn::input_shape, Image<28, 28, 1>>);
static_assert(std::is_same_v<FashionCnn::layer<0>::output_shape, Image<26, 26, 32>>);
static_assert(std::is_same_v<FashionCnn::layer<2>::output_shape, Image<24, 24, 64>>);
static_assert(std::is_same_v<FashionCnn::layer<4>::output_shape, Image<12, 12, 64>>);
static_assert(std::is_same_v<FashionCnn::layer<7>::output_shape, Image<5, 5, 64>>);
static_assert(std::is_same_v<FashionCnn::output_shape, Vector<10>>);
static_assert(FashionCnn::parameter_count == 261962);
static_assert(FashionCnn::parameter_offset<2> == 320);
// Forward FLOPs: 2 * (26*26*32*9 + 24*24*64*288 + 10*10*64*576 + 1600*128 + 128*10) multiply-adds,
// plus one op per ReLU output and per pooling-window element.
static_assert(FashionCnn::flops == 2 * (26 * 26 * 32 * 9 + 24 * 24 * 64 * 288 + 10 * 10 * 64 * 576 +
                                        1600 * 128 + 128 * 10) +
                                       (26 * 26 * 32 + 24 * 24 * 64 + 10 * 10 * 64 + 128) +
                                       (12 * 12 * 64 * 4 + 5 * 5 * 64 * 4));
static_assert(FashionCnn::workspace_bytes == FashionCnn::workspace_size * sizeof(float));

// Padding, stride and the short spellings.
using Strided = Sequential<Input<9, 8, 3>, Conv<4, 3, 2>, Conv2D<5, 3, 2, Same>, Pool<2, 1>,
                           AvgPool2D<1>, Flatten, Dense<3>, Softmax>;
static_assert(std::is_same_v<Strided::layer<0>::output_shape, Image<4, 3, 4>>);
static_assert(std::is_same_v<Strided::layer<1>::output_shape, Image<2, 2, 5>>);
static_assert(std::is_same_v<Strided::layer<2>::output_shape, Image<1, 1, 5>>);
static_assert(std::is_same_v<Strided::layer<4>::output_shape, Vector<5>>);
static_assert(std::is_same_v<Conv<8, 3>, Conv2D<8, 3>>);
static_assert(std::is_same_v<Pool<2>, MaxPool2D<2>>);
static_assert(Sequential<Input<5>, Dense<3>, BatchNorm>::state_count == 6);
static_assert(Sequential<Input<4, 6>, Flatten, Dense<2>>::parameter_count == 24 * 2 + 2);

TEST_CASE("summary lists every layer with its output shape and the parameter total") {
  std::ostringstream os;
  summary<FashionCnn>(os);
  const std::string s = os.str();
  CHECK(s.find("Conv2D<32,3,1,valid>") != std::string::npos);
  CHECK(s.find("Image<26,26,32>") != std::string::npos);
  CHECK(s.find("Dense<128>") != std::string::npos);
  CHECK(s.find("204928") != std::string::npos);
  CHECK(s.find("Total params: 261962") != std::string::npos);
}

TEST_CASE("Sequential forward equals the layers applied one by one, for any batch split") {
  using Net = Sequential<Input<8, 7, 2>, Conv2D<6, 3>, ReLU, MaxPool2D<2>, Dense<5>, Tanh>;
  Net net(42);
  constexpr std::size_t B = 5;
  auto x = ctnn_test::random_vector(B * 8 * 7 * 2, 3);
  // By hand, with the layer kernels on the network's parameter slices.
  auto p = net.parameters();
  std::vector<float> a1(B * 6 * 5 * 6), a3(B * 3 * 2 * 6), a4(B * 5);
  std::vector<float> scratch(1 << 16);
  Pass pass;
  pass.batch = B;
  pass.scratch = scratch.data();
  pass.params = p.data();
  pass.in = x.data();
  pass.out = a1.data();
  Net::layer<0>::forward(pass);
  for (auto& v : a1) v = std::max(v, 0.0f);
  pass.params = nullptr;
  pass.in = a1.data();
  pass.out = a3.data();
  Net::layer<2>::forward(pass);
  pass.params = p.data() + Net::parameter_offset<3>;
  pass.in = a3.data();
  pass.out = a4.data();
  Net::layer<3>::forward(pass);
  for (auto& v : a4) v = std::tanh(v);

  Workspace<Net> ws(B);
  std::vector<float> y(B * 5);
  net.predict(x.data(), y.data(), B, ws);
  CHECK(ctnn_test::max_abs_diff(y, a4) < 1e-5f);
  // One sample at a time gives the same outputs.
  for (std::size_t b = 0; b < B; ++b) {
    const auto one = net.predict(x.data() + b * 8 * 7 * 2);
    for (std::size_t j = 0; j < 5; ++j)
      CHECK(one[j] == doctest::Approx(y[b * 5 + j]).epsilon(1e-5));
  }
  // A batch larger than the workspace is refused.
  std::vector<float> big((B + 1) * 8 * 7 * 2), out((B + 1) * 5);
  CHECK_THROWS_AS(net.predict(big.data(), out.data(), B + 1, ws), InvalidArgument);
}

TEST_CASE("Sequential backward matches finite differences of the whole network") {
  using Net =
      Sequential<Input<6, 5, 2>, Conv2D<3, 3>, Tanh, AvgPool2D<2>, Dense<4>, Sigmoid, Dense<3>>;
  Net net(7);
  ctnn_test::check_network_gradients(net, 3, 9, false, 3);
}

TEST_CASE("init is reproducible from the seed and follows the initialiser's bounds") {
  FashionCnn a(5), b(5), c(6);
  CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
  CHECK(!std::equal(a.parameters().begin(), a.parameters().end(), c.parameters().begin()));
  // Conv2D<64, 3> on 32 channels: Glorot uniform, limit sqrt(6 / (288 + 576)); biases zero.
  const float limit = std::sqrt(6.0f / (288.0f + 576.0f));
  auto p = a.parameters().subspan(FashionCnn::parameter_offset<2>, 18496);
  float lo = 0, hi = 0;
  for (std::size_t i = 0; i < 18432; ++i) lo = std::min(lo, p[i]), hi = std::max(hi, p[i]);
  CHECK(lo >= -limit);
  CHECK(hi <= limit);
  CHECK(hi > 0.95f * limit);
  CHECK(std::all_of(p.begin() + 18432, p.end(), [](float v) { return v == 0.0f; }));
}

static_assert(FashionCnn::layer<0>::kind == LayerKind::conv2d);
static_assert(FashionCnn::layer<1>::kind == LayerKind::activation);
static_assert(FashionCnn::layer<4>::kind == LayerKind::maxpool2d);
static_assert(FashionCnn::layer<8>::kind == LayerKind::dense);

TEST_CASE("inference fuses Conv2D, ReLU and MaxPool2D and matches the layer-by-layer pass") {
  // Pools 2 and 5 follow a convolution and a ReLU with stride = window (5 after "same"
  // padding; 2 drops the convolution's last row and column): in inference the convolution
  // computes them. Pool 8 has stride 1 and runs on its own. Training runs every layer.
  using Net =
      Sequential<Input<13, 11, 3>, Conv2D<20, 3>, ReLU, MaxPool2D<2>, Conv2D<17, 3, 1, Same>, ReLU,
                 MaxPool2D<2>, Conv2D<9, 1>, ReLU, MaxPool2D<2, 1>, Dense<4>>;
  static_assert(std::is_same_v<Net::layer<2>::output_shape, Image<5, 4, 20>>);
  static_assert(std::is_same_v<Net::layer<5>::output_shape, Image<2, 2, 17>>);
  static_assert(Net::pooled_by_conv<2> && Net::pooled_by_conv<5> && !Net::pooled_by_conv<9>);
  static_assert(FashionCnn::pooled_by_conv<4> && FashionCnn::pooled_by_conv<7>);
  Net net(21);
  constexpr std::size_t B = 5;
  const auto x = ctnn_test::random_vector(B * Net::input_shape::size, 22);
  Workspace<Net> ws(B);
  std::vector<float> fused(B * 4);
  net.predict(x.data(), fused.data(), B, ws);
  const float* y = net.forward(x.data(), B, ws, Mode::training);
  CHECK(std::vector<float>(y, y + B * 4) == fused);
  // And the fused inference for the Fashion-MNIST CNN.
  FashionCnn cnn(23);
  const auto images = ctnn_test::random_vector(B * 784, 24, 0.0f, 1.0f);
  Workspace<FashionCnn> cws(B);
  std::vector<float> logits(B * 10);
  cnn.predict(images.data(), logits.data(), B, cws);
  const float* z = cnn.forward(images.data(), B, cws, Mode::training);
  CHECK(std::vector<float>(z, z + B * 10) == logits);
}
