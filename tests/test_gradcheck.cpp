// ctnn/testing/gradcheck.hpp: the checker passes correct layers and networks and names the
// coordinates where a backward pass is wrong.
#include <doctest/doctest.h>

#include <cstddef>
#include <ctnn/layers/activation.hpp>
#include <ctnn/layers/dense.hpp>
#include <ctnn/network.hpp>
#include <ctnn/testing/gradcheck.hpp>
#include <string>

namespace {

/// y = a * x with one parameter a; `Wrong` selects a backward with a mistake: 1 drops the
/// parameter gradient's factor x, 2 multiplies the input gradient by 10.
template <int Wrong>
struct Scale {
  using input_shape = ctnn::Vector<6>;
  using output_shape = ctnn::Vector<6>;
  static constexpr std::size_t parameter_count = 1, state_count = 0;
  static constexpr std::size_t scratch_per_sample = 0, scratch_fixed = 0, flops = 6;
  static std::string name() { return "Scale<" + std::to_string(Wrong) + ">"; }
  static void init(float* params, float*, ctnn::Rng&) { params[0] = 1.5f; }
  static void forward(const ctnn::Pass& p) {
    for (std::size_t i = 0; i < p.batch * 6; ++i) p.out[i] = p.params[0] * p.in[i];
  }
  static void backward(const ctnn::Pass& p) {
    for (std::size_t i = 0; i < p.batch * 6; ++i) {
      p.grads[0] += p.dout[i] * (Wrong == 1 ? 1.0f : p.in[i]);
      if (p.din) p.din[i] = (Wrong == 2 ? 10.0f : 1.0f) * p.params[0] * p.dout[i];
    }
  }
};

}  // namespace

TEST_CASE("gradcheck: a correct layer passes, and every coordinate is counted") {
  const auto r = ctnn::testing::check_layer_gradients<Scale<0>>({.batch = 3});
  INFO(r.message());
  CHECK(r.ok());
  CHECK(r.layer == "Scale<0>");
  CHECK(r.checked == 1 + 18);  // the parameter and the 3 x 6 inputs
  CHECK(r.message() == "Scale<0>: 19 gradients match central differences");
  const auto few = ctnn::testing::check_layer_gradients<Scale<0>>({.batch = 3, .samples = 5});
  CHECK(few.checked == 1 + 5);
}

TEST_CASE("gradcheck: a wrong parameter gradient is found and named") {
  const auto r = ctnn::testing::check_layer_gradients<Scale<1>>({.batch = 2});
  REQUIRE(r.mismatches.size() == 1);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.mismatches[0].input);
  CHECK(r.mismatches[0].index == 0);
  CHECK(r.message().find("Scale<1>: 1 of 13 gradients differ from central differences: "
                         "parameter 0 (analytic ") == 0);
}

TEST_CASE("gradcheck: a wrong input gradient is found at every checked input") {
  const auto r = ctnn::testing::check_layer_gradients<Scale<2>>({.batch = 2});
  CHECK(r.checked == 13);
  REQUIRE(r.mismatches.size() == 12);
  for (std::size_t k = 0; k < r.mismatches.size(); ++k) {
    CHECK(r.mismatches[k].input);
    CHECK(r.mismatches[k].index == k);
    CHECK(r.mismatches[k].analytic == doctest::Approx(10 * r.mismatches[k].numeric).epsilon(1e-2));
  }
  CHECK(r.message().find(", ...") != std::string::npos);  // 8 shown of 12
}

TEST_CASE("gradcheck: the library's layers pass, with the tolerance the result reports against") {
  const auto dense = ctnn::testing::check_layer_gradients<ctnn::Dense<4>::bind<ctnn::Vector<5>>>();
  INFO(dense.message());
  CHECK(dense.ok());
  CHECK(dense.checked == 24 + 10);
  // A tolerance no float computation meets makes the same check fail.
  const auto strict = ctnn::testing::check_layer_gradients<ctnn::Dense<4>::bind<ctnn::Vector<5>>>(
      {.tolerance = 0.0});
  CHECK_FALSE(strict.ok());
}

TEST_CASE("gradcheck: a network's parameter gradients") {
  using Net = ctnn::Sequential<ctnn::Input<5>, ctnn::Dense<4>, ctnn::Tanh, ctnn::Dense<3>>;
  Net net(3);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  const auto r = ctnn::testing::check_network_gradients(net, {.batch = 2, .seed = 4, .stride = 2});
  INFO(r.message());
  CHECK(r.ok());
  CHECK(r.checked == (Net::parameter_count + 1) / 2);
  CHECK(std::vector<float>(net.parameters().begin(), net.parameters().end()) == before);
}
