// ctnn/train/checks.hpp — the checks fit(), evaluate() and Trainer::step make on their data
// before using it: sample size, labels, finite inputs.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "../attributes.hpp"
#include "../data/dataset.hpp"
#include "../data/stream.hpp"
#include "../error.hpp"
#include "../loss.hpp"

namespace ctnn::detail {

/// Index of the first NaN or infinity among x[0..n), or n when all are finite. The first pass
/// only ORs a flag per element (vectorisable); the second runs only when something was found.
inline std::size_t first_non_finite(const float* x, std::size_t n) {
  std::uint32_t any = 0;
  for (std::size_t i = 0; i < n; ++i)
    any |= (std::bit_cast<std::uint32_t>(x[i]) & 0x7f800000u) == 0x7f800000u;
  if (!any) return n;
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return i;
  return n;
}

inline std::string describe_value(float v) {
  return std::isnan(v) ? "NaN" : v > 0 ? "+infinity" : "-infinity";
}

/// Throws InvalidArgument unless samples of `sample_size` floats fit the network's input, there
/// is at least one, and every label_of(i), i < size, indexes one of its outputs.
template <class Net, class LabelOf>
CTNN_COLD void check_samples(std::size_t sample_size, std::size_t size, LabelOf label_of,
                             const char* what) {
  if (sample_size != Net::input_shape::size)
    throw InvalidArgument(std::string(what) + ": samples have " + std::to_string(sample_size) +
                          " floats, the network's input " + Net::input_shape::name() + " needs " +
                          std::to_string(Net::input_shape::size));
  if (size == 0) throw InvalidArgument(std::string(what) + ": the data set is empty");
  for (std::size_t i = 0; i < size; ++i)
    if (const std::int32_t l = label_of(i);
        l < 0 || static_cast<std::size_t>(l) >= Net::output_shape::size)
      throw InvalidArgument(std::string(what) + ": label " + std::to_string(l) + " of sample " +
                            std::to_string(i) + " is outside the network's " +
                            std::to_string(Net::output_shape::size) + " outputs");
}

/// Throws InvalidArgument unless the regression targets of `d` fit the network's outputs
/// (target_size equal to the output size, whole rows) and are finite numbers.
template <class Net>
CTNN_COLD void check_targets(const data::Dataset& d, const char* what) {
  constexpr std::size_t N = Net::output_shape::size;
  if (d.target_size != N)
    throw InvalidArgument(std::string(what) + ": targets have " + std::to_string(d.target_size) +
                          " floats per sample, the network's output " + Net::output_shape::name() +
                          " gives " + std::to_string(N));
  if (d.targets.size() % d.target_size != 0)
    throw InvalidArgument(std::string(what) + ": " + std::to_string(d.targets.size()) +
                          " target floats are not whole rows of " + std::to_string(d.target_size));
  if (const std::size_t i = first_non_finite(d.targets.data(), d.targets.size());
      i != d.targets.size())
    throw InvalidArgument(std::string(what) + ": the target of sample " +
                          std::to_string(i / d.target_size) + " holds " +
                          describe_value(d.targets[i]) + "; targets must be finite numbers");
}

/// check_samples (or, for a regression set, check_targets), then that the inputs hold size()
/// samples of finite numbers (InvalidArgument naming the first sample and element that does not).
template <class Net>
CTNN_COLD void check_dataset(const data::Dataset& d, const char* what) {
  if (d.has_targets()) {
    check_targets<Net>(d, what);
    check_samples<Net>(
        d.sample_size, d.size(), [](std::size_t) { return std::int32_t{0}; }, what);
  } else {
    check_samples<Net>(
        d.sample_size, d.size(), [&](std::size_t i) { return d.labels[i]; }, what);
  }
  if (d.inputs.size() != d.size() * d.sample_size)
    throw InvalidArgument(std::string(what) + ": inputs hold " + std::to_string(d.inputs.size()) +
                          " floats for " + std::to_string(d.size()) + " samples");
  if (const std::size_t i = first_non_finite(d.inputs.data(), d.inputs.size());
      i != d.inputs.size())
    throw InvalidArgument(std::string(what) + ": sample " + std::to_string(i / d.sample_size) +
                          " holds " + describe_value(d.inputs[i]) + " at element " +
                          std::to_string(i % d.sample_size) + "; inputs must be finite numbers");
}

/// check_samples on a stream's labels; its inputs are checked as they are read
/// (check_finite_samples).
template <class Net>
void check_stream(const data::SampleStream& d, const char* what) {
  check_samples<Net>(
      d.sample_size(), d.size(), [&](std::size_t i) { return d.label(i); }, what);
}

/// Throws InvalidArgument naming the sample when one of the n samples of `inputs` (read from a
/// stream, the `first`-th of the batch on) holds a NaN or an infinity.
inline void check_finite_samples(const float* inputs, std::size_t n, std::size_t sample_size,
                                 std::size_t first, const char* what) {
  if (const std::size_t i = first_non_finite(inputs, n * sample_size); i != n * sample_size)
    throw InvalidArgument(
        std::string(what) + ": sample " + std::to_string(first + i / sample_size) +
        " of the batch read from the stream holds " + describe_value(inputs[i]) + " at element " +
        std::to_string(i % sample_size) + "; inputs must be finite numbers");
}

/// Throws InvalidArgument when data with real-valued targets meets a loss that compares with
/// class labels (or the reverse is harmless: MeanSquaredError also takes one-hot labels).
template <class Loss>
void check_loss_for_data(bool has_targets, const char* what) {
  if constexpr (!loss_takes_targets<Loss>())
    if (has_targets)
      throw InvalidArgument(std::string(what) +
                            ": the data set has real-valued targets, which this loss (it takes "
                            "class labels) cannot use; train with ctnn::MeanSquaredError");
}

/// The index of the largest of x[0..n) (the first of equals): the predicted class.
inline std::size_t argmax(const float* x, std::size_t n) {
  return static_cast<std::size_t>(std::max_element(x, x + n) - x);
}

}  // namespace ctnn::detail
