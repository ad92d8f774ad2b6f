// libFuzzer target for ctnn::data::load_image (include/ctnn/data/image.hpp): the input, written to
// a scratch file, is read as a grey 8 x 8 sample and as an RGB 5 x 7 sample, so both the channel
// conversions and resizing in both directions are reached.
//
// stb_image and stb_image_resize are compiled into this program from Debian's unmodified headers
// (stb_impl.cpp) instead of coming from the prebuilt libstb, so that the decoders are instrumented
// for coverage and AddressSanitizer (not UBSan: see CMakeLists.txt); the executable's definitions
// take the place of libstb's.
//
// The files load_image refuses before stb_image sees them (ctnn/data/image_checks.hpp) are fuzzed
// like any input: JPEGs that would make Debian 12's stb_image (2.27) read or write out of bounds,
// PNGs that would make it allocate far more than the file holds, Radiance HDR files (its decoder
// can loop forever), and files smaller than the pixels their header declares need. Other inputs
// whose header declares more than 2^16 pixels are skipped: load_image accepts up to 2^28 (by
// contract), and a GIF whose first image is small can still declare a large logical screen, which
// stb_image allocates and clears; large images reach no code that small ones do not, and would
// only slow the fuzzer down or stop it at its memory limit.
#include <stb/stb_image.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctnn/data/image.hpp>
#include <vector>

#include "fuzz_common.hpp"

namespace {

template <class Shape>
void load_as(const std::string& path) {
  try {
    const std::vector<float> v = ctnn::data::load_image<Shape>(path);
    if (v.size() != Shape::size) std::abort();
    // Default options map bytes to [0, 1]; resizing with box and triangle filters stays inside
    // the range of its inputs up to rounding.
    for (float x : v)
      if (!(x >= -1e-3f && x <= 1.0f + 1e-3f)) std::abort();
  } catch (const ctnn::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ctnn_fuzz::ScratchFile file("image");
  if (size > static_cast<std::size_t>(INT32_MAX)) return 0;
  int w = 0, h = 0, n = 0;
  if (ctnn::data::detail::decoder_problem(data, size).empty() &&
      stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &n) &&
      std::int64_t{w} * std::int64_t{h} > (std::int64_t{1} << 16))
    return 0;
  file.write(data, size);
  load_as<ctnn::Image<8, 8, 1>>(file.path());
  load_as<ctnn::Image<5, 7, 3>>(file.path());
  return 0;
}
