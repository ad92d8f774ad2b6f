// ctnn/data/dataset.hpp — labelled samples in memory, as the training loop consumes them.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../random.hpp"

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

/// Splits `d` into (training, validation) sets, stratified: from every class, round(fraction *
/// its count) samples, chosen by a seeded shuffle of that class, go to validation, the rest to
/// training; each part keeps the original order of its samples. Throws InvalidArgument for a
/// fraction outside [0, 1) or a label outside [0, d.classes).
inline std::pair<Dataset, Dataset> stratified_split(const Dataset& d, double fraction,
                                                    std::uint64_t seed = 1) {
  if (!(fraction >= 0.0 && fraction < 1.0))
    throw InvalidArgument("stratified_split: the validation fraction must be in [0, 1), not " +
                          std::to_string(fraction));
  std::vector<std::vector<std::size_t>> by_class(d.classes);
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d.labels[i] < 0 || static_cast<std::size_t>(d.labels[i]) >= d.classes)
      throw InvalidArgument("stratified_split: label " + std::to_string(d.labels[i]) +
                            " of sample " + std::to_string(i) + " is outside [0, " +
                            std::to_string(d.classes) + ")");
    by_class[static_cast<std::size_t>(d.labels[i])].push_back(i);
  }
  std::vector<bool> to_validation(d.size(), false);
  for (std::size_t k = 0; k < d.classes; ++k) {
    auto& idx = by_class[k];
    Rng rng(derive_seed(seed, 0x5917, k));
    ctnn::shuffle(idx, rng);
    const auto n = static_cast<std::size_t>(std::llround(fraction * double(idx.size())));
    for (std::size_t i = 0; i < n; ++i) to_validation[idx[i]] = true;
  }
  std::pair<Dataset, Dataset> out;
  for (Dataset* p : {&out.first, &out.second}) {
    p->sample_size = d.sample_size;
    p->classes = d.classes;
  }
  for (std::size_t i = 0; i < d.size(); ++i) {
    Dataset& p = to_validation[i] ? out.second : out.first;
    p.inputs.insert(p.inputs.end(), d.sample(i), d.sample(i) + d.sample_size);
    p.labels.push_back(d.labels[i]);
  }
  return out;
}

}  // namespace ctnn::data
