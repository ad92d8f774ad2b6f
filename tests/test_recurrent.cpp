#include <doctest/doctest.h>

#include <cmath>
#include <ctnn/ctnn.hpp>

#include "fixtures.hpp"
#include "gradcheck.hpp"
#include "reference.hpp"

using namespace ctnn;
using ctnn_test::check_layer_gradients;
using ctnn_test::Tensor;

// Shapes: images are read row by row; ReturnSequences selects Vector or Sequence.
static_assert(std::is_same_v<LSTM<128>::bind<Image<28, 28, 1>>::output_shape, Vector<128>>);
static_assert(
    std::is_same_v<LSTM<64, true>::bind<Image<13, 13, 32>>::output_shape, Sequence<13, 64>>);
static_assert(LSTM<256>::bind<Image<13, 13, 32>>::parameter_count == 4 * 256 * (416 + 256 + 2));
static_assert(GRU<7>::bind<Sequence<4, 5>>::parameter_count == 3 * 7 * (5 + 7 + 2));
static_assert(SimpleRNN<7>::bind<Sequence<4, 5>>::parameter_count == 7 * (5 + 7 + 2));
using Stacked = Sequential<Input<28, 28, 1>, LSTM<128, true>, LSTM<64>, Dense<10>>;
static_assert(std::is_same_v<Stacked::layer<0>::output_shape, Sequence<28, 128>>);
static_assert(std::is_same_v<Stacked::layer<1>::output_shape, Vector<64>>);
static_assert(std::is_same_v<Bidirectional<GRU<6, true>>::bind<Sequence<4, 3>>::output_shape,
                             Sequence<4, 12>>);
static_assert(
    std::is_same_v<Bidirectional<LSTM<6>>::bind<Sequence<4, 3>>::output_shape, Vector<12>>);
using Crnn = Sequential<Input<28, 28, 1>, Conv<32, 3>, ReLU, Pool<2>, LSTM<256>, Dense<10>>;
static_assert(std::is_same_v<Crnn::output_shape, Vector<10>>);

namespace {

double sig(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

enum class Kind { lstm, gru, rnn };

// Plain scalar forward from the equations of PyTorch's documentation, in double. Weights in
// PyTorch's layout: wih [G*H][F], whh [G*H][H]. Returns every step's h: [B][T][H].
std::vector<double> reference_rnn(Kind kind, const std::vector<float>& x, std::size_t B,
                                  std::size_t T, std::size_t F, std::size_t H,
                                  const std::vector<float>& wih, const std::vector<float>& whh,
                                  const std::vector<float>& bih, const std::vector<float>& bhh) {
  const std::size_t G = kind == Kind::lstm ? 4 : kind == Kind::gru ? 3 : 1;
  std::vector<double> out(B * T * H);
  for (std::size_t b = 0; b < B; ++b) {
    std::vector<double> h(H, 0.0), c(H, 0.0);
    for (std::size_t t = 0; t < T; ++t) {
      std::vector<double> xi(G * H), hh(G * H);  // W_ih x + b_ih and W_hh h + b_hh
      for (std::size_t r = 0; r < G * H; ++r) {
        xi[r] = bih[r];
        hh[r] = bhh[r];
        for (std::size_t k = 0; k < F; ++k)
          xi[r] += double(wih[r * F + k]) * x[(b * T + t) * F + k];
        for (std::size_t k = 0; k < H; ++k) hh[r] += double(whh[r * H + k]) * h[k];
      }
      std::vector<double> hn(H);
      for (std::size_t j = 0; j < H; ++j) {
        if (kind == Kind::lstm) {
          const double i = sig(xi[j] + hh[j]), f = sig(xi[H + j] + hh[H + j]);
          const double g = std::tanh(xi[2 * H + j] + hh[2 * H + j]);
          const double o = sig(xi[3 * H + j] + hh[3 * H + j]);
          c[j] = f * c[j] + i * g;
          hn[j] = o * std::tanh(c[j]);
        } else if (kind == Kind::gru) {
          const double r = sig(xi[j] + hh[j]), z = sig(xi[H + j] + hh[H + j]);
          const double n = std::tanh(xi[2 * H + j] + r * hh[2 * H + j]);
          hn[j] = (1 - z) * n + z * h[j];
        } else {
          hn[j] = std::tanh(xi[j] + hh[j]);
        }
      }
      h = hn;
      for (std::size_t j = 0; j < H; ++j) out[(b * T + t) * H + j] = h[j];
    }
  }
  return out;
}

/// PyTorch's four tensors of one direction -> ctnn's flat layout (W_x^T, W_h^T, b_x, b_h).
std::vector<float> to_ctnn(const Tensor& wih, const Tensor& whh, const Tensor& bih,
                           const Tensor& bhh) {
  const std::size_t GH = wih.dims[0], F = wih.dims[1], H = whh.dims[1];
  std::vector<float> p;
  for (std::size_t k = 0; k < F; ++k)
    for (std::size_t n = 0; n < GH; ++n) p.push_back(wih.values[n * F + k]);
  std::vector<float> w(H * GH);  // W_h in its column panels
  for (std::size_t k = 0; k < H; ++k)
    for (std::size_t n = 0; n < GH; ++n)
      w[ctnn::recurrent_panel_offset(k, n, H, GH)] = whh.values[n * H + k];
  p.insert(p.end(), w.begin(), w.end());
  p.insert(p.end(), bih.values.begin(), bih.values.end());
  p.insert(p.end(), bhh.values.begin(), bhh.values.end());
  return p;
}

std::vector<float> direction(const std::map<std::string, Tensor>& fx, const std::string& prefix,
                             const std::string& suffix) {
  return to_ctnn(fx.at(prefix + "weight_ih_l0" + suffix), fx.at(prefix + "weight_hh_l0" + suffix),
                 fx.at(prefix + "bias_ih_l0" + suffix), fx.at(prefix + "bias_hh_l0" + suffix));
}

void check_close(const std::vector<float>& got, const std::vector<float>& want, float tol,
                 const char* what) {
  REQUIRE(got.size() == want.size());
  INFO(what);
  CHECK(ctnn_test::max_abs_diff(got, want) < tol);
}

/// Runs bound layer L (ReturnSequences = true) on a fixture: forward output, parameter and input
/// gradients of (output * r).sum() against PyTorch's.
template <class L>
void check_against_pytorch(const char* file, bool bidirectional) {
  INFO(file);
  const auto fx = ctnn_test::read_fixture(std::string("rnn/") + file);
  std::vector<float> params = direction(fx, "", "");
  std::vector<float> grads_want = direction(fx, "grad.", "");
  if (bidirectional) {
    auto r = direction(fx, "", "_reverse"), gr = direction(fx, "grad.", "_reverse");
    params.insert(params.end(), r.begin(), r.end());
    grads_want.insert(grads_want.end(), gr.begin(), gr.end());
  }
  REQUIRE(params.size() == L::parameter_count);
  const auto& x = fx.at("x").values;
  const std::size_t B = fx.at("x").dims[0];
  std::vector<float> out(B * L::output_shape::size), grads(L::parameter_count, 0.0f), din(x.size());
  std::vector<float> scratch(B * L::scratch_per_sample + L::scratch_fixed);
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
  check_close(grads, grads_want, 1e-4f, "parameter gradients");
  check_close(din, fx.at("grad.x").values, 1e-5f, "input gradient");
}

}  // namespace

namespace {

/// Forward of bound layer L (ReturnSequences = true) on B sequences against reference_rnn.
template <class L>
void check_against_reference(Kind kind, std::size_t B) {
  constexpr std::size_t T = L::T, F = L::F, H = L::H;
  auto x = ctnn_test::random_vector(B * T * F, 1);
  {
    std::vector<float> params(L::parameter_count);
    Rng rng(2);
    L::init(params.data(), nullptr, rng);
    constexpr std::size_t GH = L::GH;
    // ctnn layout -> PyTorch layout for the reference.
    std::vector<float> wih(GH * F), whh(GH * H),
        bih(params.begin() + L::bx, params.begin() + L::bh),
        bhh(params.begin() + L::bh, params.end());
    for (std::size_t n = 0; n < GH; ++n) {
      for (std::size_t k = 0; k < F; ++k) wih[n * F + k] = params[L::wx + k * GH + n];
      for (std::size_t k = 0; k < H; ++k)
        whh[n * H + k] = params[L::wh + recurrent_panel_offset(k, n, H, GH)];
    }
    const auto ref = reference_rnn(kind, x, B, T, F, H, wih, whh, bih, bhh);
    std::vector<float> out(B * T * H), scratch(B * L::scratch_per_sample + L::scratch_fixed);
    Pass p;
    p.params = params.data();
    p.scratch = scratch.data();
    p.in = x.data();
    p.out = out.data();
    p.batch = B;
    L::forward(p);
    INFO(L::name(), " on ", F, " features");
    CHECK(ctnn_test::max_abs_diff(out, std::vector<float>(ref.begin(), ref.end())) < 1e-5f);
  }
}

}  // namespace

TEST_CASE("recurrent forward matches a scalar reference written from the equations") {
  check_against_reference<LSTM<19, true>::bind<Sequence<5, 7>>>(Kind::lstm, 3);
  check_against_reference<GRU<19, true>::bind<Sequence<5, 7>>>(Kind::gru, 3);
  check_against_reference<SimpleRNN<19, true>::bind<Sequence<5, 7>>>(Kind::rnn, 3);
  // Weights beyond half an L2 cache: W_x read in column blocks, W_h's panels visited in
  // alternating order.
  using Large = LSTM<192, true>::bind<Sequence<4, 200>>;
  static_assert(Large::wx_in_blocks && Large::alternate_panels);
  check_against_reference<Large>(Kind::lstm, 1);
  check_against_reference<Large>(Kind::lstm, 7);
}

TEST_CASE("recurrent layers match PyTorch: outputs and gradients") {
  check_against_pytorch<LSTM<7, true>::bind<Sequence<4, 5>>>("lstm.txt", false);
  check_against_pytorch<GRU<7, true>::bind<Sequence<4, 5>>>("gru.txt", false);
  check_against_pytorch<SimpleRNN<7, true>::bind<Sequence<4, 5>>>("rnn_tanh.txt", false);
  check_against_pytorch<LSTM<16, true>::bind<Sequence<28, 3>>>("lstm_long.txt", false);
  check_against_pytorch<Bidirectional<LSTM<6, true>>::bind<Sequence<3, 5>>>(
      "lstm_bidirectional.txt", true);
  check_against_pytorch<Bidirectional<GRU<5, true>>::bind<Sequence<3, 4>>>("gru_bidirectional.txt",
                                                                           true);
}

TEST_CASE("ReturnSequences = false gives PyTorch's last step") {
  const auto fx = ctnn_test::read_fixture("rnn/lstm.txt");
  using Net = Sequential<Input<4, 5>, LSTM<7>>;
  Net net(uninitialized);
  const auto params = direction(fx, "", "");
  std::copy(params.begin(), params.end(), net.parameters().begin());
  Workspace<Net> ws(3);
  std::vector<float> y(3 * 7);
  net.predict(fx.at("x").values.data(), y.data(), 3, ws);
  const auto& want = fx.at("output").values;
  for (std::size_t b = 0; b < 3; ++b)
    for (std::size_t j = 0; j < 7; ++j)
      CHECK(y[b * 7 + j] == doctest::Approx(want[(b * 4 + 3) * 7 + j]).epsilon(1e-5));
}

TEST_CASE("stacked LSTMs match PyTorch") {
  const auto fx = ctnn_test::read_fixture("rnn/lstm_stacked.txt");
  using Net = Sequential<Input<5, 5>, LSTM<8, true>, LSTM<6, true>>;
  Net net(uninitialized);
  auto params = direction(fx, "l1.", "");
  auto second = direction(fx, "l2.", "");
  params.insert(params.end(), second.begin(), second.end());
  REQUIRE(params.size() == Net::parameter_count);
  std::copy(params.begin(), params.end(), net.parameters().begin());
  Workspace<Net> ws(2);
  const float* y = net.forward(fx.at("x").values.data(), 2, ws, ctnn::Mode::training);
  check_close(std::vector<float>(y, y + 2 * 5 * 6), fx.at("output").values, 1e-5f, "output");
  std::vector<float> g(Net::parameter_count, 0.0f);
  net.backward(fx.at("x").values.data(), fx.at("r").values.data(), g.data(), 2, ws);
  auto want = direction(fx, "grad.l1.", "");
  auto want2 = direction(fx, "grad.l2.", "");
  want.insert(want.end(), want2.begin(), want2.end());
  check_close(g, want, 1e-4f, "parameter gradients");
}

TEST_CASE("an image fed to a recurrent layer is read as rows of W*C features") {
  using A = Sequential<Input<3, 2, 3>, GRU<5>>;
  using B = Sequential<Input<3, 6>, GRU<5>>;
  A a(4);
  B b;
  std::copy(a.parameters().begin(), a.parameters().end(), b.parameters().begin());
  const auto x = ctnn_test::random_vector(18, 5);
  CHECK(a.predict(x.data()) == b.predict(x.data()));
}

TEST_CASE("recurrent backward through time matches finite differences") {
  check_layer_gradients<LSTM<7>::bind<Sequence<4, 5>>>(3, true);
  check_layer_gradients<LSTM<19, true>::bind<Sequence<3, 6>>>(2, true);
  check_layer_gradients<LSTM<40, true>::bind<Sequence<3, 4>>>(2, true);  // W_h in 3 panels
  check_layer_gradients<GRU<7>::bind<Sequence<4, 5>>>(3, true);
  check_layer_gradients<GRU<17, true>::bind<Image<3, 2, 3>>>(2, true);
  check_layer_gradients<SimpleRNN<9>::bind<Sequence<5, 3>>>(2, true);
  check_layer_gradients<SimpleRNN<9, true>::bind<Sequence<1, 3>>>(2, true);
  check_layer_gradients<Bidirectional<LSTM<5>>::bind<Sequence<3, 4>>>(2, true);
  check_layer_gradients<Bidirectional<GRU<6, true>>::bind<Sequence<4, 3>>>(2, true);
}

TEST_CASE("stacked recurrent network backward matches finite differences") {
  using Net = Sequential<Input<4, 3>, LSTM<5, true>, GRU<4>, Dense<3>>;
  Net net(9);
  ctnn_test::check_network_gradients(net, 2, 10, true, 7);
}
