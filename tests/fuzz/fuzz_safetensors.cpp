// libFuzzer target for ctnn::load_safetensors (include/ctnn/io/safetensors.hpp): the input,
// written to a scratch file, is loaded into a small network with a Conv2D, an LSTM reading the
// convolution's rows and a Dense (ctnn_fuzz::SafetensorsNet). load_safetensors promises all or
// nothing, so a load that throws must leave the parameters and state as they were.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctnn/io/safetensors.hpp>
#include <vector>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ctnn_fuzz::ScratchFile file("safetensors");
  static ctnn_fuzz::SafetensorsNet net(1);
  static const std::vector<float> params(net.parameters().begin(), net.parameters().end());
  static const std::vector<float> state(net.state().begin(), net.state().end());

  file.write(data, size);
  try {
    ctnn::load_safetensors(net, file.path());
  } catch (const ctnn::Error&) {
    // Unchanged on error (compare bit patterns: a file may legitimately hold NaNs).
    const auto same = [](auto span, const std::vector<float>& ref) {
      return std::equal(span.begin(), span.end(), ref.begin(), ref.end(),
                        [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; });
    };
    if (!same(net.parameters(), params) || !same(net.state(), state)) std::abort();
    return 0;
  }
  // A successful load changed the network: restore it for the next input.
  std::copy(params.begin(), params.end(), net.parameters().begin());
  std::copy(state.begin(), state.end(), net.state().begin());
  return 0;
}
