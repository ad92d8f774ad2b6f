// libFuzzer target for ctnn::load (include/ctnn/io/model_file.hpp): the input, written to a
// scratch file, is loaded into a small fixed network (ctnn_fuzz::ModelNet). load promises all or
// nothing, so a load that throws must leave the network's parameters and state as they were
// (ctnn_fuzz::fuzz_model_load). ctnn::read_metadata reads the same file first, without a network
// type: it may throw ctnn::Error, nothing else.
#include <cstddef>
#include <cstdint>
#include <ctnn/io/safetensors.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ctnn_fuzz::ScratchFile file("model");
  static ctnn_fuzz::ModelNet net(1);
  return ctnn_fuzz::fuzz_model_load(file, net, data, size, [](auto& n, const std::string& p) {
    try {
      ctnn::read_metadata(p);
    } catch (const ctnn::Error&) {
    }
    ctnn::load(n, p);
  });
}
