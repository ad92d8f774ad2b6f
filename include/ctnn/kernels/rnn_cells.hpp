// ctnn/kernels/rnn_cells.hpp — the element-wise part of one time step of LSTM, GRU and SimpleRNN,
// forward and backward, for one sample. Equations and gate order follow PyTorch's documentation
// (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN).
//
// The matrix products are done outside (kernels/gemm.hpp); a step receives
//   xp = W_x^T x_t + b_x      (G*H values, gate-major: gate g unit j at g*H + j)
//   hp = W_h^T h_{t-1} + b_h  (G*H values)
// and writes the gate activations `act` (G*H), an auxiliary vector `aux` (H: the LSTM cell state
// c_t; the GRU's recurrent candidate term hp_n) and h_t.
//
// Backward receives dh = dL/dh_t and produces the gradients with respect to xp (dxp) and hp
// (dhp), and the part of dL/dh_{t-1} that does not go through W_h (dh_direct). The LSTM's cell-
// state gradient is carried between steps in `carry` (H values, dL/dc_t in, dL/dc_{t-1} out).
#pragma once

#include <cstddef>

#include "activations.hpp"

namespace ctnn::kernels {

/// LSTM (Hochreiter & Schmidhuber 1997, with a forget gate; PyTorch's form):
///   i = s(xp_i + hp_i)  f = s(xp_f + hp_f)  g = tanh(xp_g + hp_g)  o = s(xp_o + hp_o)
///   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
struct LstmCell {
  static constexpr std::size_t gates = 4;
  static constexpr const char* name = "LSTM";

  template <std::size_t H>
  static void forward(const float* xp, const float* hp, const float* aux_prev, const float*,
                      float* act, float* aux, float* h) {
    lanes<H>([&]<class V>(std::size_t j) {
      const V i = sigmoid(load<V>(xp + j) + load<V>(hp + j));
      const V f = sigmoid(load<V>(xp + H + j) + load<V>(hp + H + j));
      const V g = tanh(load<V>(xp + 2 * H + j) + load<V>(hp + 2 * H + j));
      const V o = sigmoid(load<V>(xp + 3 * H + j) + load<V>(hp + 3 * H + j));
      const V c = f * load<V>(aux_prev + j) + i * g;
      store(i, act + j);
      store(f, act + H + j);
      store(g, act + 2 * H + j);
      store(o, act + 3 * H + j);
      store(c, aux + j);
      store(o * tanh(c), h + j);
    });
  }

  // dc = carry + dh * o * (1 - tanh(c)^2);  di = dc g, df = dc c_{t-1}, dg = dc i,
  // do = dh tanh(c); carry' = dc f; each times its nonlinearity's derivative.
  template <std::size_t H>
  static void backward(const float* act, const float* aux, const float* aux_prev, const float*,
                       const float* dh, float* carry, float* dxp, float* dhp, float* dh_direct) {
    lanes<H>([&]<class V>(std::size_t j) {
      const V one(1.0f);
      const V i = load<V>(act + j), f = load<V>(act + H + j), g = load<V>(act + 2 * H + j),
              o = load<V>(act + 3 * H + j);
      const V tc = tanh(load<V>(aux + j));
      const V d = load<V>(dh + j);
      const V dc = load<V>(carry + j) + d * o * (one - tc * tc);
      const V di = dc * g * i * (one - i);
      const V df = dc * load<V>(aux_prev + j) * f * (one - f);
      const V dg = dc * i * (one - g * g);
      const V dO = d * tc * o * (one - o);
      store(dc * f, carry + j);
      store(di, dxp + j);
      store(df, dxp + H + j);
      store(dg, dxp + 2 * H + j);
      store(dO, dxp + 3 * H + j);
      store(di, dhp + j);
      store(df, dhp + H + j);
      store(dg, dhp + 2 * H + j);
      store(dO, dhp + 3 * H + j);
      store(V(0.0f), dh_direct + j);
    });
  }
};

/// GRU (Cho et al. 2014; PyTorch's form, reset gate applied to the recurrent term):
///   r = s(xp_r + hp_r)  z = s(xp_z + hp_z)  n = tanh(xp_n + r * hp_n)
///   h_t = (1 - z) * n + z * h_{t-1}
struct GruCell {
  static constexpr std::size_t gates = 3;
  static constexpr const char* name = "GRU";

  template <std::size_t H>
  static void forward(const float* xp, const float* hp, const float*, const float* h_prev,
                      float* act, float* aux, float* h) {
    lanes<H>([&]<class V>(std::size_t j) {
      const V r = sigmoid(load<V>(xp + j) + load<V>(hp + j));
      const V z = sigmoid(load<V>(xp + H + j) + load<V>(hp + H + j));
      const V hn = load<V>(hp + 2 * H + j);
      const V n = tanh(load<V>(xp + 2 * H + j) + r * hn);
      store(r, act + j);
      store(z, act + H + j);
      store(n, act + 2 * H + j);
      store(hn, aux + j);
      store((V(1.0f) - z) * n + z * load<V>(h_prev + j), h + j);
    });
  }

  // dn = dh (1 - z), dz = dh (h_{t-1} - n), dh_direct = dh z; dpn = dn (1 - n^2);
  // dxp = (dr r(1-r), dz z(1-z), dpn) with dr = dpn hp_n; dhp equals dxp but dpn * r for n.
  template <std::size_t H>
  static void backward(const float* act, const float* aux, const float*, const float* h_prev,
                       const float* dh, float*, float* dxp, float* dhp, float* dh_direct) {
    lanes<H>([&]<class V>(std::size_t j) {
      const V one(1.0f);
      const V r = load<V>(act + j), z = load<V>(act + H + j), n = load<V>(act + 2 * H + j);
      const V d = load<V>(dh + j);
      const V dpn = d * (one - z) * (one - n * n);
      const V dr = dpn * load<V>(aux + j) * r * (one - r);
      const V dz = d * (load<V>(h_prev + j) - n) * z * (one - z);
      store(dr, dxp + j);
      store(dz, dxp + H + j);
      store(dpn, dxp + 2 * H + j);
      store(dr, dhp + j);
      store(dz, dhp + H + j);
      store(dpn * r, dhp + 2 * H + j);
      store(d * z, dh_direct + j);
    });
  }
};

/// Elman RNN with tanh (PyTorch's nn.RNN): h_t = tanh(xp + hp).
struct RnnTanhCell {
  static constexpr std::size_t gates = 1;
  static constexpr const char* name = "SimpleRNN";

  template <std::size_t H>
  static void forward(const float* xp, const float* hp, const float*, const float*, float* act,
                      float*, float* h) {
    lanes<H>([&]<class V>(std::size_t j) {
      const V y = tanh(load<V>(xp + j) + load<V>(hp + j));
      store(y, act + j);
      store(y, h + j);
    });
  }

  template <std::size_t H>
  static void backward(const float* act, const float*, const float*, const float*, const float* dh,
                       float*, float* dxp, float* dhp, float* dh_direct) {
    lanes<H>([&]<class V>(std::size_t j) {
      const V y = load<V>(act + j);
      const V d = load<V>(dh + j) * (V(1.0f) - y * y);
      store(d, dxp + j);
      store(d, dhp + j);
      store(V(0.0f), dh_direct + j);
    });
  }
};

}  // namespace ctnn::kernels
