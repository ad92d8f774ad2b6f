// libFuzzer target for ctnn::load_safetensors (include/ctnn/io/safetensors.hpp): the input,
// written to a scratch file, is loaded into a small network with a Conv2D, an LSTM reading the
// convolution's rows and a Dense (ctnn_fuzz::SafetensorsNet). load_safetensors promises all or
// nothing, so a load that throws must leave the parameters and state as they were
// (ctnn_fuzz::fuzz_model_load).
#include <cstddef>
#include <cstdint>
#include <ctnn/io/safetensors.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ctnn_fuzz::ScratchFile file("safetensors");
  static ctnn_fuzz::SafetensorsNet net(1);
  return ctnn_fuzz::fuzz_model_load(
      file, net, data, size, [](auto& n, const std::string& p) { ctnn::load_safetensors(n, p); });
}
