// ctnn/train/source.hpp — the one way fit(), evaluate() and Trainer::step read samples, whether
// they are held in memory (data::Dataset) or read on demand (data::SampleStream).
//
// Both readers follow the stream protocol (data/stream.hpp): the reader is first told which
// samples it will be asked for and in which order (start(), or start_range() for consecutive
// ones), then stage(n) takes the next n of that plan, after which input(j) and label_of(j) (or,
// for a Dataset with targets, target_of(j)), j < n, give the j-th of them (from any thread,
// until the next stage()). A Dataset is random access: staging it copies nothing, input(j)
// points into the Dataset. A stream is read on stage(), by the calling thread, into the reader's
// Staging buffers, whose samples are checked there for NaN and infinity (a Dataset is checked
// whole beforehand, check_dataset()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "../aligned.hpp"
#include "../data/dataset.hpp"
#include "../data/stream.hpp"
#include "checks.hpp"

namespace ctnn::detail {

/// Reads a data::Dataset in place.
class DatasetReader {
 public:
  explicit DatasetReader(const data::Dataset& d) noexcept : d_(d) {}

  /// The data set itself (for the settings processes compare).
  const data::Dataset& source() const noexcept { return d_; }
  std::size_t size() const noexcept { return d_.size(); }

  /// Plans the samples indices[0], indices[1], ... (kept by the reader).
  void start(std::vector<std::size_t> indices) {
    owned_ = std::move(indices);
    view(owned_.data());
  }
  /// Plans the samples indices[0], indices[1], ... without copying them: they must stay until
  /// the reading ends.
  void view(const std::size_t* indices) noexcept {
    plan_ = indices;
    next_ = 0;
  }
  /// Plans the samples first, first + 1, ..., past - 1: input(j) of one stage are then
  /// consecutive in memory.
  void start_range(std::size_t first, std::size_t /*past*/) noexcept {
    plan_ = nullptr;
    offset_ = first;
    next_ = 0;
  }
  /// The most samples worth staging at once, out of `wanted` (a stream's buffer) and `all`
  /// left: all of them, since a Dataset is read in place.
  static std::size_t block(std::size_t /*wanted*/, std::size_t all) noexcept { return all; }
  /// Takes the next n samples of the plan (`first` and `what` name a bad sample of a stream).
  void stage(std::size_t n, std::size_t /*first*/, const char* /*what*/) noexcept {
    base_ = next_;
    next_ += n;
  }
  /// The j-th staged sample (sample_size floats) and its label (-1 in a regression set).
  const float* input(std::size_t j) const noexcept { return d_.sample(index(j)); }
  std::int32_t label_of(std::size_t j) const noexcept {
    return d_.has_targets() ? -1 : d_.labels[index(j)];
  }
  /// Whether the samples have real-valued targets; the j-th one's (target_size floats).
  bool has_targets() const noexcept { return d_.has_targets(); }
  const float* target_of(std::size_t j) const noexcept { return d_.target(index(j)); }

 private:
  std::size_t index(std::size_t j) const noexcept {
    return plan_ ? plan_[base_ + j] : offset_ + base_ + j;
  }

  const data::Dataset& d_;
  std::vector<std::size_t> owned_;
  const std::size_t* plan_ = nullptr;
  std::size_t offset_ = 0, base_ = 0, next_ = 0;
};

/// The buffers a StreamReader reads into; kept by the caller so that they are allocated once
/// (Trainer::step on a stream builds a reader every step).
struct Staging {
  aligned_vector<float> inputs;
  std::vector<std::int32_t> labels;
};

/// Reads a data::SampleStream: each stage() reads the next samples of the stream's plan.
class StreamReader {
 public:
  StreamReader(data::SampleStream& s, Staging& staging)
      : s_(s), staging_(staging), sample_size_(s.sample_size()) {}

  const data::SampleStream& source() const noexcept { return s_; }
  std::size_t size() const { return s_.size(); }

  void start(std::vector<std::size_t> indices) { s_.start(std::move(indices)); }
  void start_range(std::size_t first, std::size_t past) {
    std::vector<std::size_t> plan(past - first);
    std::iota(plan.begin(), plan.end(), first);
    s_.start(std::move(plan));
  }
  /// `wanted`: the samples are copied, so no more than the caller asks for.
  static std::size_t block(std::size_t wanted, std::size_t /*all*/) noexcept { return wanted; }
  /// Reads the next n samples of the stream's plan (none for n = 0) and throws InvalidArgument,
  /// naming sample `first` + j of the batch, when one holds a NaN or an infinity; what the
  /// stream throws.
  void stage(std::size_t n, std::size_t first, const char* what) {
    staging_.inputs.resize(n * sample_size_);
    staging_.labels.resize(n);
    if (n == 0) return;
    s_.read(n, staging_.inputs.data(), staging_.labels.data());
    check_finite_samples(staging_.inputs.data(), n, sample_size_, first, what);
  }
  const float* input(std::size_t j) const noexcept {
    return staging_.inputs.data() + j * sample_size_;
  }
  std::int32_t label_of(std::size_t j) const noexcept { return staging_.labels[j]; }
  /// A stream carries class labels only.
  static constexpr bool has_targets() noexcept { return false; }
  static const float* target_of(std::size_t) noexcept { return nullptr; }

 private:
  data::SampleStream& s_;
  Staging& staging_;
  std::size_t sample_size_;
};

}  // namespace ctnn::detail
