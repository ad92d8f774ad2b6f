// Finite-difference checks of a bound layer's backward pass.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <ctnn/layers/layer.hpp>
#include <ctnn/network.hpp>
#include <vector>

#include "reference.hpp"

namespace ctnn_test {

/// Runs L::forward on `in` (batch samples) with its own scratch and returns the output; the
/// Dropout mask is the same on every call.
template <class L>
std::vector<float> run_forward(const std::vector<float>& params, std::vector<float>& state,
                               const std::vector<float>& in, std::size_t batch, bool training) {
  std::vector<float> out(batch * L::output_shape::size);
  std::vector<float> scratch(batch * L::scratch_per_sample + L::scratch_fixed + 1);
  ctnn::Rng rng(77);
  ctnn::Pass p;
  p.params = params.data();
  p.state = state.data();
  p.scratch = scratch.data();
  p.in = in.data();
  p.out = out.data();
  p.batch = batch;
  p.training = training;
  p.rng = &rng;
  L::forward(p);
  return out;
}

/// Runs L::forward on `in` and returns sum_i out[i] * r[i] in double.
template <class L>
double weighted_output(const std::vector<float>& params, std::vector<float>& state,
                       const std::vector<float>& in, const std::vector<float>& r, std::size_t batch,
                       bool training) {
  const std::vector<float> out = run_forward<L>(params, state, in, batch, training);
  double s = 0;
  for (std::size_t i = 0; i < out.size(); ++i) s += double(out[i]) * r[i];
  return s;
}

/// Compares L::backward's parameter and input gradients of f = sum(out * r) with central
/// differences, on `samples` evenly spread coordinates of each. Parameters start from the layer's
/// init() plus noise, so that zero biases and unit scales do not hide errors.
template <class L>
void check_layer_gradients(std::size_t batch, bool training, float h = 1e-2f,
                           std::size_t samples = 40) {
  constexpr std::size_t IN = L::input_shape::size, OUT = L::output_shape::size;
  std::vector<float> params(L::parameter_count + 1), state(L::state_count + 1);
  ctnn::Rng rng(5);
  L::init(params.data(), state.data(), rng);
  auto noise = random_vector(params.size(), 6, -0.1f, 0.1f);
  for (std::size_t i = 0; i < params.size(); ++i) params[i] += noise[i];
  if constexpr (L::state_count > 0) {  // running variance must stay positive
    auto s = random_vector(state.size(), 12, 0.5f, 1.5f);
    state = s;
  }
  auto in = random_vector(batch * IN, 7);
  auto r = random_vector(batch * OUT, 8);

  std::vector<float> out(batch * OUT), grads(params.size(), 0.0f), din(batch * IN, 0.0f);
  std::vector<float> scratch(batch * L::scratch_per_sample + L::scratch_fixed + 1);
  auto st = state;
  ctnn::Rng mask_rng(77);
  ctnn::Pass p;
  p.params = params.data();
  p.state = st.data();
  p.scratch = scratch.data();
  p.in = in.data();
  p.out = out.data();
  p.batch = batch;
  p.training = training;
  p.rng = &mask_rng;
  L::forward(p);
  p.dout = r.data();
  p.grads = grads.data();
  p.din = din.data();
  L::backward(p);

  auto numeric = [&](std::vector<float>& v, std::size_t i) {
    const float keep = v[i];
    v[i] = keep + h;
    auto s1 = state;
    const double fp = weighted_output<L>(params, s1, in, r, batch, training);
    v[i] = keep - h;
    auto s2 = state;
    const double fm = weighted_output<L>(params, s2, in, r, batch, training);
    v[i] = keep;
    return (fp - fm) / (2.0 * h);
  };
  auto close = [](double analytic, double num) {
    return std::abs(analytic - num) <= 2e-2 * std::max(1.0, std::abs(num));
  };
  for (std::size_t k = 0; k < std::min(samples, L::parameter_count); ++k) {
    const std::size_t i = k * L::parameter_count / std::min(samples, L::parameter_count);
    const double num = numeric(params, i);
    INFO(L::name(), " parameter ", i, ": analytic ", grads[i], ", numeric ", num);
    CHECK(close(grads[i], num));
  }
  for (std::size_t k = 0; k < std::min(samples, batch * IN); ++k) {
    const std::size_t i = k * (batch * IN) / std::min(samples, batch * IN);
    const double num = numeric(in, i);
    INFO(L::name(), " input ", i, ": analytic ", din[i], ", numeric ", num);
    CHECK(close(din[i], num));
  }
}

/// Compares Net::backward's parameter gradient of f = sum(output * r) for a batch of B random
/// inputs with central differences (step 1e-2) on every `stride`-th parameter; training selects
/// the forward mode of both passes.
template <class Net>
void check_network_gradients(Net& net, std::size_t B, std::uint32_t seed, bool training,
                             std::size_t stride) {
  constexpr std::size_t O = Net::output_shape::size;
  auto x = random_vector(B * Net::input_shape::size, seed);
  auto r = random_vector(B * O, seed + 1);
  ctnn::Workspace<Net> ws(B);
  auto f = [&] {
    const float* y = net.forward(x.data(), B, ws, training ? ctnn::Mode::training : ctnn::Mode::inference);
    double s = 0;
    for (std::size_t i = 0; i < B * O; ++i) s += double(y[i]) * r[i];
    return s;
  };
  f();
  std::vector<float> g(Net::parameter_count, 0.0f);
  net.backward(x.data(), r.data(), g.data(), B, ws, training);
  auto p = net.parameters();
  for (std::size_t i = 0; i < p.size(); i += stride) {
    const float keep = p[i], h = 1e-2f;
    p[i] = keep + h;
    const double fp = f();
    p[i] = keep - h;
    const double fm = f();
    p[i] = keep;
    const double num = (fp - fm) / (2 * h);
    INFO("parameter ", i, ": analytic ", g[i], ", numeric ", num);
    CHECK(std::abs(g[i] - num) <= 1e-2 * std::max(1.0, std::abs(num)));
  }
}

}  // namespace ctnn_test
