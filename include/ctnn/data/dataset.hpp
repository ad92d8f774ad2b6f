// ctnn/data/dataset.hpp — labelled samples in memory, as the training loop consumes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ctnn::data {

/// A labelled data set held in memory.
///
/// Layout: `inputs` holds `size()` samples of `sample_size` floats each, back to back; an image
/// sample is stored channels-last (row, column, channel), matching `Image<H, W, C>`. `labels[i]`
/// is the class index of sample i, in [0, classes).
struct Dataset {
  std::size_t sample_size = 0;       ///< floats per sample
  std::size_t classes = 0;           ///< number of classes (labels are 0 .. classes-1)
  std::vector<float> inputs;         ///< size() * sample_size floats
  std::vector<std::int32_t> labels;  ///< one class index per sample

  std::size_t size() const noexcept { return labels.size(); }
  const float* sample(std::size_t i) const noexcept { return inputs.data() + i * sample_size; }
};

}  // namespace ctnn::data
