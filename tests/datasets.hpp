// Small synthetic data sets that training tests learn in a few epochs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ctnn/data/dataset.hpp>
#include <ctnn/data/stream.hpp>
#include <ctnn/error.hpp>
#include <ctnn/random.hpp>
#include <vector>

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

/// A SampleStream over a Dataset that records which samples were read, in order.
class MemoryStream final : public ctnn::data::SampleStream {
 public:
  explicit MemoryStream(const ctnn::data::Dataset& d) : d_(d) {}
  std::size_t size() const override { return d_.size(); }
  std::size_t sample_size() const override { return d_.sample_size; }
  std::size_t classes() const override { return d_.classes; }
  std::int32_t label(std::size_t i) const override { return d_.labels[i]; }
  void start(std::vector<std::size_t> indices) override {
    plan_ = std::move(indices);
    next_ = 0;
    ++starts;
  }
  void read(std::size_t n, float* inputs, std::int32_t* labels) override {
    if (plan_.size() - next_ < n) throw ctnn::InvalidArgument("MemoryStream: read past the plan");
    for (std::size_t i = 0; i < n; ++i, ++next_) {
      const std::size_t k = plan_[next_];
      std::copy_n(d_.sample(k), d_.sample_size, inputs + i * d_.sample_size);
      labels[i] = d_.labels[k];
      read_indices.push_back(k);
    }
  }
  std::vector<std::size_t> read_indices;  ///< every sample read, in order
  std::size_t starts = 0;                 ///< start() calls

 private:
  const ctnn::data::Dataset& d_;
  std::vector<std::size_t> plan_;
  std::size_t next_ = 0;
};

}  // namespace ctnn_test
