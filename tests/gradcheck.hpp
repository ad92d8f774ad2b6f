// The library's gradient checks (ctnn/testing/gradcheck.hpp) as doctest assertions: each
// mismatch is reported with its coordinate, the analytic and the numeric gradient.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <ctnn/layers/layer.hpp>
#include <ctnn/random.hpp>
#include <ctnn/testing/gradcheck.hpp>
#include <vector>

#include "reference.hpp"  // random_vector, which the tests that include this one use

namespace ctnn_test {

/// Checks the bound layer L's backward pass on `batch` samples in the given mode, with step h on
/// `samples` coordinates of the parameters and of the input (ctnn::testing::check_layer_gradients).
template <class L>
void check_layer_gradients(std::size_t batch, bool training, float h = 1e-2f,
                           std::size_t samples = 40) {
  const ctnn::testing::GradientCheck r = ctnn::testing::check_layer_gradients<L>(
      {.batch = batch, .training = training, .step = h, .samples = samples});
  INFO(r.message());
  CHECK(r.checked > 0);
  CHECK(r.ok());
}

/// Checks Net::backward's parameter gradient for a batch of B random inputs (from `seed`) on
/// every `stride`-th parameter (ctnn::testing::check_network_gradients).
template <class Net>
void check_network_gradients(Net& net, std::size_t B, std::uint32_t seed, bool training,
                             std::size_t stride) {
  const ctnn::testing::GradientCheck r = ctnn::testing::check_network_gradients(
      net, {.batch = B, .seed = seed, .training = training, .stride = stride});
  INFO(r.message());
  CHECK(r.checked > 0);
  CHECK(r.ok());
}

}  // namespace ctnn_test
