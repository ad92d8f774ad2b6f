// Small synthetic data sets that training tests learn in a few epochs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctnn/data/dataset.hpp>
#include <ctnn/random.hpp>

#include "reference.hpp"

namespace ctnn_test {

/// n images of 6x6 pixels in 3 classes: noise in [0, 0.2) plus a bright band of two rows at the
/// top (class 0), in the middle (1) or at the bottom (2).
inline ctnn::data::Dataset bands(std::size_t n, std::uint32_t seed) {
  ctnn::data::Dataset d;
  d.sample_size = 36;
  d.classes = 3;
  d.inputs = random_vector(n * 36, seed, 0.0f, 0.2f);
  ctnn::Rng rng(seed);
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::int32_t>(rng.below(3));
    d.labels.push_back(k);
    for (std::size_t r = 0; r < 2; ++r)
      for (std::size_t c = 0; c < 6; ++c) d.inputs[i * 36 + (2 * k + r) * 6 + c] += 0.8f;
  }
  return d;
}

}  // namespace ctnn_test
