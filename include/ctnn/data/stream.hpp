// ctnn/data/stream.hpp — a labelled data set read on demand instead of held in memory, as fit()
// and evaluate() consume it when the data does not fit (data::ImageFileStream reads image files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ctnn::data {

/// A labelled data set whose samples are produced on demand (decoded from files, generated),
/// so that only the samples about to be used are in memory.
///
/// Protocol: the reader (fit(), evaluate()) first calls start() with the indices of the samples
/// it will read, in the order it will read them; then read() hands out the next samples of that
/// plan, in order. A stream may prepare planned samples ahead of read() (ImageFileStream decodes
/// them on its own threads). Samples are laid out as in Dataset: `sample_size()` floats each,
/// images channels-last; labels are known without producing the samples. fit() plans, per
/// epoch, only this process's share of every batch, so with several processes each reads only
/// its share.
///
/// One reader at a time: start() and read() are called from one thread (fit() calls them from
/// its calling thread); the stream must outlive the reading.
class SampleStream {
 public:
  virtual ~SampleStream() = default;
  /// Number of samples.
  virtual std::size_t size() const = 0;
  /// Floats per sample.
  virtual std::size_t sample_size() const = 0;
  /// Number of classes; labels are in [0, classes()).
  virtual std::size_t classes() const = 0;
  /// The label of sample i < size().
  virtual std::int32_t label(std::size_t i) const = 0;
  /// Plans the samples that read() will give next: indices[0], indices[1], ... (each < size()).
  /// Replaces the previous plan; what was prepared of it and not read is dropped. Throws
  /// InvalidArgument for an index >= size().
  virtual void start(std::vector<std::size_t> indices) = 0;
  /// Copies the next n samples of the plan to `inputs` (n * sample_size() floats) and their
  /// labels to `labels`, waiting until they are ready. Throws InvalidArgument when fewer than n
  /// planned samples are left; what producing a sample threw (for files, a FileError naming the
  /// file), after which the stream stays at that sample.
  virtual void read(std::size_t n, float* inputs, std::int32_t* labels) = 0;
};

}  // namespace ctnn::data
