// tests/fuzz/fuzz_common.hpp — what the libFuzzer targets and make_corpus share: a per-process
// scratch file (the readers take a path, not bytes) and the fixed network types the model readers
// load into.
//
// Each target catches `const ctnn::Error&` only: that is how the readers report a bad file.
// Anything else (another exception, a crash, a sanitizer report, a leak) escapes to libFuzzer,
// which saves the input and fails.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctnn/data/idx.hpp>
#include <ctnn/error.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/layers/activation.hpp>
#include <ctnn/layers/conv2d.hpp>
#include <ctnn/layers/dense.hpp>
#include <ctnn/layers/recurrent.hpp>
#include <ctnn/network.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctnn_fuzz {

/// Network for fuzz_model_file. (No BatchNorm, which would give it state: BatchNorm's momentum
/// and epsilon are floating-point template arguments, which clang 14 does not support.)
using ModelNet =
    ctnn::Sequential<ctnn::Input<6, 6, 1>, ctnn::Conv2D<2, 3>, ctnn::ReLU, ctnn::Dense<3>>;

/// Network for fuzz_safetensors: a convolution, an LSTM over the rows of its output and a dense
/// layer, so the file has PyTorch's Conv2d, LSTM and Linear tensors (permuted and transposed).
using SafetensorsNet = ctnn::Sequential<ctnn::Input<6, 6, 1>, ctnn::Conv2D<2, 3>, ctnn::ReLU,
                                        ctnn::LSTM<3>, ctnn::Dense<2>>;

/// A file with a name unique to this process (mkstemp) in $CTNN_FUZZ_TMPDIR, or /tmp when that
/// is not set, created once and overwritten by every write(); removed when the process exits
/// normally (libFuzzer ends its runs with exit()). A crashing process leaves it behind, so run.sh
/// points CTNN_FUZZ_TMPDIR into its own temporary directory.
///
/// write() overwrites in place and then sets the length, instead of truncating to zero first: on
/// ext4, truncating a file to zero and rewriting it makes close() start writeback to disk
/// (auto_da_alloc), which would cost more than the reader under test.
class ScratchFile {
 public:
  explicit ScratchFile(const char* tag) {
    const char* dir = std::getenv("CTNN_FUZZ_TMPDIR");
    path_ = std::string(dir && *dir ? dir : "/tmp") + "/ctnn-fuzz-" + tag + "-XXXXXX";
    fd_ = ::mkstemp(path_.data());
    if (fd_ < 0) throw std::runtime_error("mkstemp failed for " + path_);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile() {
    ::close(fd_);
    std::remove(path_.c_str());
  }

  const std::string& path() const noexcept { return path_; }

  /// Replaces the file's contents with `size` bytes from `data`; aborts on an I/O failure, which
  /// would make every later result meaningless.
  void write(const std::uint8_t* data, std::size_t size) const {
    std::size_t done = 0;
    while (done < size) {
      const ::ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<::off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<std::size_t>(n);
    }
    if (::ftruncate(fd_, static_cast<::off_t>(size)) != 0) std::abort();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

/// The body of the two model-reader targets: writes the input to `file`, calls load(net, path)
/// and checks the all-or-nothing promise: a load that throws ctnn::Error must leave the network's
/// parameters and state bit for bit as they were (a file may legitimately hold NaNs), else abort.
/// A successful load is undone for the next input.
template <class Net, class Load>
int fuzz_model_load(const ScratchFile& file, Net& net, const std::uint8_t* data, std::size_t size,
                    Load&& load) {
  static const std::vector<float> params(net.parameters().begin(), net.parameters().end());
  static const std::vector<float> state(net.state().begin(), net.state().end());
  file.write(data, size);
  try {
    load(net, file.path());
  } catch (const ctnn::Error&) {
    const auto same = [](auto span, const std::vector<float>& ref) {
      return std::equal(span.begin(), span.end(), ref.begin(), ref.end(),
                        [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; });
    };
    if (!same(net.parameters(), params) || !same(net.state(), state)) std::abort();
    return 0;
  }
  std::copy(params.begin(), params.end(), net.parameters().begin());
  std::copy(state.begin(), state.end(), net.state().begin());
  return 0;
}

}  // namespace ctnn_fuzz
