// libFuzzer target for ctnn::load (include/ctnn/io/model_file.hpp): the input, written to a
// scratch file, is loaded into a small fixed network (ctnn_fuzz::ModelNet). load promises all or
// nothing, so a load that throws must leave the network's parameters and state as they were.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ctnn_fuzz::ScratchFile file("model");
  static ctnn_fuzz::ModelNet net(1);
  static const std::vector<float> params(net.parameters().begin(), net.parameters().end());
  static const std::vector<float> state(net.state().begin(), net.state().end());

  file.write(data, size);
  try {
    ctnn::load(net, file.path());
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
