// ctnn/testing/gradcheck.hpp — checks a layer's (or a network's) backward pass against central
// differences of its forward pass, the way the library tests its own layers (in the manner of
// dlib's test_layer). Needs only ctnn::core; works with any test framework, or none.
//
//   #include <ctnn/testing/gradcheck.hpp>
//   using L = MyLayer::bind<ctnn::Image<4, 5, 3>>;   // a bound layer: the spec on an input shape
//   const auto r = ctnn::testing::check_layer_gradients<L>({.batch = 3});
//   if (!r.ok()) std::puts(r.message().c_str());   // with doctest: INFO(r.message());
//   CHECK(r.ok());
//
// run_forward<L>(params, state, in, batch, training) runs a bound layer alone on a batch and
// returns its outputs, for comparing a layer with a reference of one's own.
//
// What is checked. For f(x, θ) = Σ_i out_i · r_i, with out = L::forward(x, θ) on a batch of
// random inputs x in [-1, 1) and fixed random weights r in [-1, 1), L::backward given dout = r
// must return ∂f/∂θ (added into grads) and ∂f/∂x (din). Both are compared, on `samples` evenly
// spread coordinates of θ and of x, with the central difference
//   numeric = (f(v + h) - f(v - h)) / (2h)           (error O(h²) for smooth f)
// and a coordinate passes when |analytic - numeric| <= tolerance · max(1, |numeric|): an
// absolute tolerance for small gradients, a relative one for large. The parameters start from
// L::init plus uniform noise in [-0.1, 0.1), so that zero biases and unit scales cannot hide a
// wrong term; state (BatchNorm's running variance) is uniform in [0.5, 1.5). Every forward pass
// starts from the same state and the same Dropout generator (seed 77), so Dropout's mask is the
// same in all of them. Each call is deterministic: the same layer and options give the same
// result on every run.
//
// Tolerances. The defaults (h = 1e-2, tolerance 2e-2) hold for the library's layers in float32,
// including the smooth activations, whose third derivatives make the O(h²) term visible. A
// layer with kinks (ReLU, max pooling) can fail where x ± h crosses a kink: pass a smaller step
// (e.g. 1e-3) or inputs away from the kink. Too small a step makes float32 rounding dominate
// (the forward sums are float; f is summed in double).
//
// Memory: the check allocates its buffers (parameters, state, a batch of inputs and outputs, the
// layer's scratch); it runs 2 forward passes per checked coordinate plus one forward and one
// backward. Throws what the layer throws; nothing else.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../layers/layer.hpp"
#include "../network.hpp"
#include "../random.hpp"

namespace ctnn::testing {

/// Options of check_layer_gradients.
struct GradientCheckOptions {
  std::size_t batch = 2;     ///< samples per pass (BatchNorm's statistics need 2 or more)
  bool training = true;      ///< the mode of every forward and backward pass (Dropout, BatchNorm)
  float step = 1e-2f;        ///< h of the central differences, in the units of θ and x
  std::size_t samples = 40;  ///< coordinates checked of θ and of x (all when fewer)
  double tolerance = 2e-2;   ///< pass when |analytic - numeric| <= tolerance · max(1, |numeric|)
};

/// Options of check_network_gradients.
struct NetworkGradientCheckOptions {
  std::size_t batch = 2;    ///< samples per pass
  std::uint32_t seed = 1;   ///< inputs from seed, output weights r from seed + 1
  bool training = false;    ///< the mode of the forward and backward passes
  std::size_t stride = 1;   ///< check every stride-th parameter
  float step = 1e-2f;       ///< h of the central differences
  double tolerance = 1e-2;  ///< as in GradientCheckOptions
};

/// One coordinate whose analytic gradient differs from the central difference.
struct GradientMismatch {
  bool input = false;     ///< a coordinate of x (din), else of θ (grads)
  std::size_t index = 0;  ///< its index in the batch's inputs or in the parameters
  double analytic = 0;    ///< what backward gave
  double numeric = 0;     ///< the central difference
};

/// The result of a check: how many coordinates were compared and which of them differ.
struct GradientCheck {
  std::string layer;  ///< the layer's name() or "network"
  std::size_t checked = 0;
  std::vector<GradientMismatch> mismatches;

  bool ok() const noexcept { return mismatches.empty(); }

  /// "Dense<7>: 2 of 61 gradients differ from central differences: parameter 3 (analytic 0.5,
  /// numeric 0.25), input 1 (...)", with the first 8 mismatches; or "Dense<7>: 61 gradients
  /// match central differences".
  std::string message() const {
    std::ostringstream s;
    s << layer << ": ";
    if (ok()) {
      s << checked << " gradients match central differences";
      return s.str();
    }
    s << mismatches.size() << " of " << checked << " gradients differ from central differences:";
    for (std::size_t k = 0; k < std::min<std::size_t>(mismatches.size(), 8); ++k) {
      const GradientMismatch& m = mismatches[k];
      s << (k ? ", " : " ") << (m.input ? "input " : "parameter ") << m.index << " (analytic "
        << m.analytic << ", numeric " << m.numeric << ")";
    }
    if (mismatches.size() > 8) s << ", ...";
    return s.str();
  }
};

namespace detail {
/// n floats uniform in [lo, hi) from std::mt19937(seed), 24 bits each.
inline std::vector<float> uniform_vector(std::size_t n, std::uint32_t seed, float lo = -1.0f,
                                         float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>(gen() >> 8) * (1.0f / 16777216.0f);
  return v;
}

}  // namespace detail

/// Runs the bound layer L's forward on `in` (batch samples, each L::input_shape::size floats)
/// with a scratch of its own and returns its outputs (batch * L::output_shape::size floats). The
/// layer reads `params` (L::parameter_count floats) and `state` (L::state_count), and in training
/// updates `state`; the Dropout generator starts from seed 77 on every call, so two calls draw the
/// same masks.
template <class L>
std::vector<float> run_forward(const std::vector<float>& params, std::vector<float>& state,
                               const std::vector<float>& in, std::size_t batch, bool training) {
  std::vector<float> out(batch * L::output_shape::size);
  std::vector<float> scratch(batch * L::scratch_per_sample + L::scratch_fixed + 1);
  Rng rng(77);
  Pass p;
  p.params = params.data();
  p.state = state.data();
  p.state_update = state.data();
  p.scratch = scratch.data();
  p.in = in.data();
  p.out = out.data();
  p.batch = batch;
  p.training = training;
  p.rng = &rng;
  L::forward(p);
  return out;
}

namespace detail {
/// Σ out_i · r_i in double of run_forward's outputs.
template <class L>
double weighted_output(const std::vector<float>& params, std::vector<float>& state,
                       const std::vector<float>& in, const std::vector<float>& r, std::size_t batch,
                       bool training) {
  const std::vector<float> out = run_forward<L>(params, state, in, batch, training);
  double s = 0;
  for (std::size_t i = 0; i < out.size(); ++i) s += double(out[i]) * r[i];
  return s;
}

inline bool gradients_close(double analytic, double numeric, double tolerance) {
  return std::abs(analytic - numeric) <= tolerance * std::max(1.0, std::abs(numeric));
}
}  // namespace detail

/// Compares the bound layer L's backward pass (parameter and input gradients) with central
/// differences of its forward pass, as described at the top of this file.
template <class L>
GradientCheck check_layer_gradients(const GradientCheckOptions& options = {}) {
  constexpr std::size_t IN = L::input_shape::size, OUT = L::output_shape::size;
  const std::size_t batch = options.batch;
  const bool training = options.training;
  const float h = options.step;
  std::vector<float> params(L::parameter_count + 1), state(L::state_count + 1);
  Rng rng(5);
  L::init(params.data(), state.data(), rng);
  const auto noise = detail::uniform_vector(params.size(), 6, -0.1f, 0.1f);
  for (std::size_t i = 0; i < params.size(); ++i) params[i] += noise[i];
  if constexpr (L::state_count > 0)  // a running variance must stay positive
    state = detail::uniform_vector(state.size(), 12, 0.5f, 1.5f);
  auto in = detail::uniform_vector(batch * IN, 7);
  const auto r = detail::uniform_vector(batch * OUT, 8);

  std::vector<float> out(batch * OUT), grads(params.size(), 0.0f), din(batch * IN, 0.0f);
  std::vector<float> scratch(batch * L::scratch_per_sample + L::scratch_fixed + 1);
  auto st = state;
  Rng mask_rng(77);
  Pass p;
  p.params = params.data();
  p.state = st.data();
  p.state_update = st.data();
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

  const auto numeric = [&](std::vector<float>& v, std::size_t i) {
    const float keep = v[i];
    v[i] = keep + h;
    auto s1 = state;
    const double fp = detail::weighted_output<L>(params, s1, in, r, batch, training);
    v[i] = keep - h;
    auto s2 = state;
    const double fm = detail::weighted_output<L>(params, s2, in, r, batch, training);
    v[i] = keep;
    return (fp - fm) / (2.0 * h);
  };
  GradientCheck result;
  result.layer = L::name();
  const auto check = [&](std::vector<float>& v, const std::vector<float>& analytic, std::size_t n,
                         bool input) {
    const std::size_t count = std::min(options.samples, n);
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = k * n / count;
      const double num = numeric(v, i);
      ++result.checked;
      if (!detail::gradients_close(analytic[i], num, options.tolerance))
        result.mismatches.push_back({input, i, analytic[i], num});
    }
  };
  check(params, grads, L::parameter_count, false);
  check(in, din, batch * IN, true);
  return result;
}

/// Compares Net::backward's parameter gradient of f = Σ output_i · r_i, for a batch of random
/// inputs in [-1, 1) and random r in [-1, 1), with central differences on every stride-th
/// parameter. Changes net's parameters while it runs and restores each one exactly.
template <class Net>
GradientCheck check_network_gradients(Net& net, const NetworkGradientCheckOptions& options = {}) {
  constexpr std::size_t O = Net::output_shape::size;
  const std::size_t B = options.batch;
  const auto x = detail::uniform_vector(B * Net::input_shape::size, options.seed);
  const auto r = detail::uniform_vector(B * O, options.seed + 1);
  Workspace<Net> ws(B);
  const auto f = [&] {
    const float* y =
        net.forward(x.data(), B, ws, options.training ? Mode::training : Mode::inference);
    double s = 0;
    for (std::size_t i = 0; i < B * O; ++i) s += double(y[i]) * r[i];
    return s;
  };
  f();
  std::vector<float> g(Net::parameter_count, 0.0f);
  net.backward(x.data(), r.data(), g.data(), B, ws,
               options.training ? Mode::training : Mode::inference);
  GradientCheck result;
  result.layer = "network";
  auto p = net.parameters();
  const float h = options.step;
  for (std::size_t i = 0; i < p.size(); i += std::max<std::size_t>(options.stride, 1)) {
    const float keep = p[i];
    p[i] = keep + h;
    const double fp = f();
    p[i] = keep - h;
    const double fm = f();
    p[i] = keep;
    const double num = (fp - fm) / (2 * h);
    ++result.checked;
    if (!detail::gradients_close(g[i], num, options.tolerance))
      result.mismatches.push_back({false, i, g[i], num});
  }
  return result;
}

}  // namespace ctnn::testing
