// libFuzzer target for ctnn::data::load_image (include/ctnn/data/image.hpp): the input, written to
// a scratch file, is read as a grey 8 x 8 sample and as an RGB 5 x 7 sample, so both the channel
// conversions and resizing in both directions are reached.
//
// stb_image and stb_image_resize are compiled into this program from Debian's unmodified headers
// (stb_impl.cpp) instead of coming from the prebuilt libstb, so that the decoders are instrumented
// for coverage and AddressSanitizer (not UBSan: see CMakeLists.txt); the executable's definitions
// take the place of libstb's.
//
// Inputs that hit a known bug of Debian 12's stb_image are skipped (see stb_dht_overflow below)
// so that the fuzzer can look past it. Inputs whose header declares more than 2^16 pixels are
// skipped too: load_image accepts up to 2^28 (by contract), and stb fills missing pixel data with
// zeros, so a 54-byte BMP header can ask for gigabytes and seconds; large images reach no code
// that small ones do not, and would only slow the fuzzer down or stop it at its memory limit.
#include <stb/stb_image.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctnn/data/image.hpp>
#include <vector>

#include "fuzz_common.hpp"

namespace {

// stb_image as of Debian 12 (libstb 0.0~git20220908, stb_image 2.27) does not check that the 16
// code counts of a JPEG DHT table sum to at most 256 (later upstream versions do: "bad DHT
// header"). stbi__build_huffman then writes up to 4080 bytes past stbi__huffman::size[257] and the
// values after it, corrupting the decoder's other tables inside the same heap object, and later
// decoding can index values[] with the corrupted deltas. Every decode path reaches it (stbi_info
// too); AddressSanitizer does not see the overflow itself (it stays inside one allocation) but can
// trip over its consequences, and UBSan's bounds check reports it within seconds. Skipping these
// inputs emulates upstream's fix.
//
// A JPEG starts with FF (stb skips fill bytes before the SOI marker), and stb reads a DHT segment
// wherever an FF C4 marker (after fill bytes) appears among the markers; looking at every FF C4
// in the file covers those places. Bytes past the end read as 0, as stbi__get8 returns.
bool stb_dht_overflow(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || data[0] != 0xFF) return false;
  auto at = [&](std::size_t i) -> unsigned { return i < size ? data[i] : 0u; };
  for (std::size_t m = 0; m + 1 < size; ++m) {
    if (data[m] != 0xFF || data[m + 1] != 0xC4) continue;
    std::size_t p = m + 2;
    long left = long(at(p) << 8 | at(p + 1)) - 2;
    p += 2;
    while (left > 0 && p < size) {
      ++p;  // table class and index
      unsigned n = 0;
      for (int i = 0; i < 16; ++i) n += at(p++);
      if (n > 256) return true;
      p += n;
      left -= 17 + long(n);
    }
  }
  return false;
}

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
  if (size > static_cast<std::size_t>(INT32_MAX) || stb_dht_overflow(data, size)) return 0;
  int w = 0, h = 0, n = 0;
  if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &n) &&
      std::int64_t{w} * std::int64_t{h} > (std::int64_t{1} << 16))
    return 0;
  file.write(data, size);
  load_as<ctnn::Image<8, 8, 1>>(file.path());
  load_as<ctnn::Image<5, 7, 3>>(file.path());
  return 0;
}
