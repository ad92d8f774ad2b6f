#include <doctest/doctest.h>

#include <ctnn/kernels/conv2d.hpp>
#include <ctnn/kernels/pool2d.hpp>

#include "reference.hpp"

using namespace ctnn::kernels;
using ctnn_test::max_abs_diff;
using ctnn_test::random_vector;

namespace {

template <std::size_t H, std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S>
void check_conv(std::size_t batch) {
  constexpr std::size_t OH = (H - K) / S + 1, OW = (W - K) / S + 1;
  INFO("H=", H, " W=", W, " C=", C, " F=", F, " K=", K, " S=", S, " batch=", batch);
  auto in = random_vector(batch * H * W * C, 1), w = random_vector(K * K * C * F, 2);
  auto bias = random_vector(F, 3), g = random_vector(batch * OH * OW * F, 4);

  std::vector<float> out(batch * OH * OW * F);
  conv2d_forward<H, W, C, F, K, S>(in.data(), w.data(), bias.data(), out.data(), batch);
  CHECK(max_abs_diff(out, ctnn_test::conv2d_valid(in, w, bias, batch, H, W, C, F, K, S)) < 1e-4f);

  // Scalar references of both gradients, straight from the definition of the forward sum.
  std::vector<double> dw_ref(w.size(), 0.0), db_ref(F, 0.0), dx_ref(in.size(), 0.0);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t oh = 0; oh < OH; ++oh)
      for (std::size_t ow = 0; ow < OW; ++ow)
        for (std::size_t f = 0; f < F; ++f) {
          const double go = g[((b * OH + oh) * OW + ow) * F + f];
          db_ref[f] += go;
          for (std::size_t kh = 0; kh < K; ++kh)
            for (std::size_t kw = 0; kw < K; ++kw)
              for (std::size_t c = 0; c < C; ++c) {
                const std::size_t xi = ((b * H + oh * S + kh) * W + ow * S + kw) * C + c;
                const std::size_t wi = ((kh * K + kw) * C + c) * F + f;
                dw_ref[wi] += go * in[xi];
                dx_ref[xi] += go * w[wi];
              }
        }
  std::vector<float> dw(w.size(), 0.5f), db(F, 0.25f), dx(in.size(), 99.0f);
  conv2d_backward_weights<H, W, C, F, K, S>(in.data(), g.data(), dw.data(), db.data(), batch);
  std::vector<float> scratch(conv2d_backward_input_scratch<H, W, C, F, K, S>);
  conv2d_backward_input<H, W, C, F, K, S>(g.data(), w.data(), dx.data(), scratch.data(), batch);
  for (std::size_t i = 0; i < dw.size(); ++i) dw_ref[i] += 0.5;  // accumulates
  for (std::size_t i = 0; i < F; ++i) db_ref[i] += 0.25;
  CHECK(max_abs_diff(dw, std::vector<float>(dw_ref.begin(), dw_ref.end())) < 1e-3f);
  CHECK(max_abs_diff(db, std::vector<float>(db_ref.begin(), db_ref.end())) < 1e-4f);
  CHECK(max_abs_diff(dx, std::vector<float>(dx_ref.begin(), dx_ref.end())) < 1e-4f);
}

template <std::size_t H, std::size_t W, std::size_t C, std::size_t P, std::size_t S>
void check_pool(std::size_t batch) {
  constexpr std::size_t OH = (H - P) / S + 1, OW = (W - P) / S + 1;
  INFO("H=", H, " W=", W, " C=", C, " P=", P, " S=", S);
  auto in = random_vector(batch * H * W * C, 11), g = random_vector(batch * OH * OW * C, 12);
  std::vector<float> mx(batch * OH * OW * C), av(mx.size()), dmx(in.size()), dav(in.size());
  std::vector<float> mx_ref(mx.size()), av_ref(mx.size()), dmx_ref(in.size(), 0.0f),
      dav_ref(in.size(), 0.0f);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t oh = 0; oh < OH; ++oh)
      for (std::size_t ow = 0; ow < OW; ++ow)
        for (std::size_t c = 0; c < C; ++c) {
          const std::size_t o = ((b * OH + oh) * OW + ow) * C + c;
          float m = -1e30f, s = 0;
          std::size_t arg = 0;
          for (std::size_t i = 0; i < P; ++i)
            for (std::size_t j = 0; j < P; ++j) {
              const std::size_t x = ((b * H + oh * S + i) * W + ow * S + j) * C + c;
              if (in[x] > m) m = in[x], arg = x;
              s += in[x];
            }
          mx_ref[o] = m;
          av_ref[o] = s / (P * P);
          dmx_ref[arg] += g[o];
          for (std::size_t i = 0; i < P; ++i)
            for (std::size_t j = 0; j < P; ++j)
              dav_ref[((b * H + oh * S + i) * W + ow * S + j) * C + c] += g[o] / (P * P);
        }
  maxpool2d_forward<H, W, C, P, S>(in.data(), mx.data(), batch);
  avgpool2d_forward<H, W, C, P, S>(in.data(), av.data(), batch);
  maxpool2d_backward<H, W, C, P, S>(in.data(), mx.data(), g.data(), dmx.data(), batch);
  avgpool2d_backward<H, W, C, P, S>(g.data(), dav.data(), batch);
  CHECK(max_abs_diff(mx, mx_ref) == 0.0f);
  CHECK(max_abs_diff(av, av_ref) < 1e-6f);
  CHECK(max_abs_diff(dmx, dmx_ref) < 1e-6f);
  CHECK(max_abs_diff(dav, dav_ref) < 1e-6f);
}

}  // namespace

TEST_CASE("conv2d kernels match scalar references on odd sizes") {
  check_conv<7, 9, 3, 5, 3, 1>(2);
  check_conv<8, 7, 1, 32, 3, 1>(1);
  check_conv<9, 11, 5, 19, 3, 2>(3);
  check_conv<6, 6, 17, 33, 2, 1>(1);
  check_conv<5, 5, 2, 3, 5, 1>(2);
  check_conv<12, 12, 32, 64, 3, 1>(2);
  check_conv<10, 9, 4, 6, 1, 3>(2);
}

TEST_CASE("pooling kernels match scalar references") {
  check_pool<6, 6, 3, 2, 2>(2);
  check_pool<7, 9, 21, 2, 2>(2);
  check_pool<7, 7, 16, 3, 2>(1);
  check_pool<5, 6, 35, 3, 1>(2);
  check_pool<24, 24, 64, 2, 2>(1);
}
