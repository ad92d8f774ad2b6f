// libFuzzer target for ctnn::data::read_idx and load_idx_dataset (include/ctnn/data/idx.hpp).
//
// The input is written to a scratch file and read three ways: with read_idx; with
// load_idx_dataset as the image file beside a fixed valid label file; and with load_idx_dataset as
// the label file beside a fixed valid image file (which drives the count and label checks).
// Raw and gzipped inputs both reach the reader: it recognises gzip by the magic 1f 8b.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.hpp"

namespace {

// Two 2 x 2 images and the two labels 0 and 1: the fuzzed file meets a valid partner.
constexpr std::uint8_t kImages[] = {0, 0, 8, 3, 0, 0,  0,   2,   0, 0, 0, 2,
                                    0, 0, 0, 2, 0, 64, 128, 255, 1, 2, 3, 4};
constexpr std::uint8_t kLabels[] = {0, 0, 8, 1, 0, 0, 0, 2, 0, 1};

struct Files {
  ctnn_fuzz::ScratchFile input{"idx"};
  ctnn_fuzz::ScratchFile images{"idx-images"};
  ctnn_fuzz::ScratchFile labels{"idx-labels"};
  Files() {
    images.write(kImages, sizeof kImages);
    labels.write(kLabels, sizeof kLabels);
  }
};

const Files& files() {
  static const Files f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Files& f = files();
  f.input.write(data, size);
  try {
    const ctnn::data::IdxArray a = ctnn::data::read_idx(f.input.path());
    std::size_t total = 1;
    for (std::size_t d : a.dims) total *= d;
    if (a.dims.empty() || a.dims.size() > 4 || a.data.size() != total) std::abort();
  } catch (const ctnn::Error&) {
  }
  try {
    const ctnn::data::Dataset ds =
        ctnn::data::load_idx_dataset(f.input.path(), f.labels.path(), 10);
    if (ds.labels.size() != 2 || ds.inputs.size() != 2 * ds.sample_size) std::abort();
  } catch (const ctnn::Error&) {
  }
  try {
    const ctnn::data::Dataset ds = ctnn::data::load_idx_dataset(f.images.path(), f.input.path(), 3);
    if (ds.labels.size() != 2 || ds.sample_size != 4) std::abort();
    for (auto l : ds.labels)
      if (l < 0 || l >= 3) std::abort();
  } catch (const ctnn::Error&) {
  }
  return 0;
}
