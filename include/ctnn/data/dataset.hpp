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

/// A data set held in memory: samples with class labels (classification) or with real-valued
/// targets (regression).
///
/// Layout: `inputs` holds `size()` samples of `sample_size` floats each, back to back; an image
/// sample is stored channels-last (row, column, channel), matching `Image<H, W, C>`, a sequence
/// step after step (`Sequence<T, F>`: T rows of F features).
///   - Classification (target_size == 0): `labels[i]` is the class index of sample i, in
///     [0, classes); size() is labels.size().
///   - Regression (target_size > 0): `targets` holds size() rows of `target_size` floats, the
///     values the network's outputs are compared with (by MeanSquaredError, loss.hpp), so
///     target_size must equal the network's output size; size() is targets.size() / target_size;
///     `labels` and `classes` are not used (leave them empty and 0).
struct Dataset {
  std::size_t sample_size = 0;       ///< floats per sample
  std::size_t classes = 0;           ///< number of classes (labels are 0 .. classes-1)
  std::vector<float> inputs;         ///< size() * sample_size floats
  std::vector<std::int32_t> labels;  ///< one class index per sample (classification)
  std::size_t target_size = 0;       ///< floats per sample's target; 0: a classification set
  std::vector<float> targets;        ///< size() * target_size floats (regression)

  /// Whether the samples carry real-valued targets rather than class labels.
  bool has_targets() const noexcept { return target_size != 0; }
  std::size_t size() const noexcept {
    return target_size != 0 ? targets.size() / target_size : labels.size();
  }
  const float* sample(std::size_t i) const noexcept { return inputs.data() + i * sample_size; }
  /// The target_size floats of sample i's target (regression sets only).
  const float* target(std::size_t i) const noexcept { return targets.data() + i * target_size; }
};

namespace detail {

/// The samples of `d` whose `keep[i]` equals `side`, in their order, with the same layout.
inline Dataset select_samples(const Dataset& d, const std::vector<bool>& keep, bool side) {
  Dataset p;
  p.sample_size = d.sample_size;
  p.classes = d.classes;
  p.target_size = d.target_size;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (keep[i] != side) continue;
    p.inputs.insert(p.inputs.end(), d.sample(i), d.sample(i) + d.sample_size);
    if (d.has_targets())
      p.targets.insert(p.targets.end(), d.target(i), d.target(i) + d.target_size);
    else
      p.labels.push_back(d.labels[i]);
  }
  return p;
}

}  // namespace detail

/// Splits `d` into (training, validation) sets, stratified: from every class, round(fraction *
/// its count) samples, chosen by a seeded shuffle of that class, go to validation, the rest to
/// training; each part keeps the original order of its samples. Throws InvalidArgument for a
/// fraction outside [0, 1), a label outside [0, d.classes), or a regression set (which has no
/// classes: use random_split).
inline std::pair<Dataset, Dataset> stratified_split(const Dataset& d, double fraction,
                                                    std::uint64_t seed = 1) {
  if (!(fraction >= 0.0 && fraction < 1.0))
    throw InvalidArgument("stratified_split: the validation fraction must be in [0, 1), not " +
                          std::to_string(fraction));
  if (d.has_targets())
    throw InvalidArgument(
        "stratified_split: the data set has real-valued targets, not classes; use random_split");
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
  return {detail::select_samples(d, to_validation, false),
          detail::select_samples(d, to_validation, true)};
}

/// Splits `d` (classification or regression) into (training, validation) sets: round(fraction *
/// d.size()) samples, chosen by a seeded shuffle, go to validation, the rest to training; each
/// part keeps the original order of its samples. Throws InvalidArgument for a fraction outside
/// [0, 1).
inline std::pair<Dataset, Dataset> random_split(const Dataset& d, double fraction,
                                                std::uint64_t seed = 1) {
  if (!(fraction >= 0.0 && fraction < 1.0))
    throw InvalidArgument("random_split: the validation fraction must be in [0, 1), not " +
                          std::to_string(fraction));
  std::vector<std::size_t> idx(d.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  Rng rng(derive_seed(seed, 0x5918));
  ctnn::shuffle(idx, rng);
  const auto n = static_cast<std::size_t>(std::llround(fraction * double(idx.size())));
  std::vector<bool> to_validation(d.size(), false);
  for (std::size_t i = 0; i < n; ++i) to_validation[idx[i]] = true;
  return {detail::select_samples(d, to_validation, false),
          detail::select_samples(d, to_validation, true)};
}

/// Per-column standardisation z = (x - mean) / std, as scikit-learn's StandardScaler: `mean`
/// and `std` (the population standard deviation, divisor n) of each of the columns of a table,
/// computed in double precision. A column whose std is 0 (constant) keeps std = 1, so that it
/// becomes 0 rather than NaN. Compute it on the training split only and apply it to every split
/// (the test data must not leak into the scaling).
struct Standardization {
  std::vector<double> mean, std;

  /// The means and standard deviations of the `columns` columns of `rows` rows of `values`
  /// (row-major). Throws InvalidArgument when rows or columns is 0.
  static Standardization of(const float* values, std::size_t rows, std::size_t columns) {
    if (rows == 0 || columns == 0)
      throw InvalidArgument("Standardization: no values to compute the mean and std of (" +
                            std::to_string(rows) + " rows of " + std::to_string(columns) +
                            " columns)");
    Standardization s;
    s.mean.assign(columns, 0.0);
    s.std.assign(columns, 0.0);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < columns; ++c) s.mean[c] += values[r * columns + c];
    for (double& m : s.mean) m /= double(rows);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < columns; ++c) {
        const double d = values[r * columns + c] - s.mean[c];
        s.std[c] += d * d;
      }
    for (double& v : s.std) {
      v = std::sqrt(v / double(rows));
      if (!(v > 0.0)) v = 1.0;
    }
    return s;
  }

  /// The standardisation of a data set's inputs (each of its sample_size floats is a column).
  static Standardization of_inputs(const Dataset& d) {
    return of(d.inputs.data(), d.size(), d.sample_size);
  }
  /// The standardisation of a regression set's targets (each of its target_size floats).
  static Standardization of_targets(const Dataset& d) {
    return of(d.targets.data(), d.size(), d.target_size);
  }

  /// x = (x - mean) / std on `rows` rows of mean.size() columns.
  void apply(float* values, std::size_t rows) const {
    const std::size_t C = mean.size();
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < C; ++c)
        values[r * C + c] = static_cast<float>((values[r * C + c] - mean[c]) / std[c]);
  }
  /// The inverse: x = x * std + mean (e.g. a regression network's outputs back to the units of
  /// targets that were standardised).
  void invert(float* values, std::size_t rows) const {
    const std::size_t C = mean.size();
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < C; ++c)
        values[r * C + c] = static_cast<float>(values[r * C + c] * std[c] + mean[c]);
  }

  /// apply() to a data set's inputs. Throws InvalidArgument unless its sample_size is the
  /// number of columns.
  void apply_to_inputs(Dataset& d) const {
    check(d.sample_size, "inputs have");
    apply(d.inputs.data(), d.inputs.size() / d.sample_size);
  }
  /// apply() to a regression set's targets. Throws InvalidArgument unless its target_size is
  /// the number of columns.
  void apply_to_targets(Dataset& d) const {
    check(d.target_size, "targets have");
    apply(d.targets.data(), d.size());
  }

 private:
  void check(std::size_t columns, const char* what) const {
    if (columns != mean.size() || columns == 0)
      throw InvalidArgument(std::string("Standardization: the data set's ") + what + " " +
                            std::to_string(columns) + " columns, the standardisation " +
                            std::to_string(mean.size()));
  }
};

}  // namespace ctnn::data
