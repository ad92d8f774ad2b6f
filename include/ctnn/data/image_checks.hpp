// ctnn/data/image_checks.hpp — structural checks of JPEG and PNG files before stb_image decodes
// them.
//
// stb_image 2.27 (Debian 12's libstb) trusts two things a hostile JPEG can break, and then reads
// and writes outside its tables:
//  - a DHT (define Huffman table) segment whose 16 code-length counts add up to more than 256:
//    stbi__build_huffman writes up to 4,080 entries into a 257-entry array (upstream stb_image
//    rejects this since 2.28, "bad DHT header");
//  - a scan (SOS) that uses a Huffman table no DHT segment defined: the decoder's tables live in
//    memory that stb does not clear, so the table is whatever the heap held, and decoding indexes
//    its symbol array with that garbage.
// jpeg_problem() walks the file's markers the way stb_image does and reports either, so that
// load_image can refuse the file with a FileError instead of handing it to the decoder.
// For PNG, stb_image grows its buffer to a chunk's declared length before reading the chunk, so
// a 100-byte file can make it allocate 2 GiB; png_problem() reports a chunk longer than what is
// left of the file.
// References: ITU-T T.81 (JPEG), B.2.4.2 (DHT) and B.2.3 (SOS); the PNG specification (W3C,
// 2003), 5.3 (chunk layout); stb_image.h, stbi__get_marker, stbi__process_marker,
// stbi__decode_jpeg_image and stbi__parse_png_file.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ctnn::data::detail {

/// For bytes that stb_image would decode as a JPEG (0xFF, optional 0xFF fill bytes, then the SOI
/// marker 0xD8), returns why it must not be decoded: a Huffman table with more than 256 codes, or
/// a scan using a table no DHT segment defined before it. Returns "" otherwise, including for
/// other formats and for damage that stb_image reports itself. Reads only within [data, data +
/// size); bytes past the end count as 0, as stb_image reads them.
inline std::string jpeg_problem(const unsigned char* data, std::size_t size) {
  std::size_t p = 0;
  const auto get = [&]() -> unsigned { return p < size ? data[p++] : (++p, 0u); };
  const auto get16 = [&]() -> unsigned {
    const unsigned hi = get();
    return hi << 8 | get();
  };
  // A marker where stb expects one: 0xFF, fill bytes, the marker byte; 0 for "none".
  const auto marker = [&]() -> unsigned {
    if (get() != 0xFF) return 0;
    unsigned m = 0xFF;
    while (m == 0xFF && p < size) m = get();
    return m == 0xFF ? 0 : m;
  };
  if (marker() != 0xD8) return "";  // not a JPEG for stb_image

  bool dc[4] = {}, ac[4] = {};  // tables defined so far
  bool progressive = false;
  while (p < size) {
    const unsigned m = marker();
    if (m == 0) continue;       // stb skips bytes until a marker
    if (m == 0xD9) return "";   // EOI
    if (m >= 0xD0 && m <= 0xD7) continue;  // a stray restart marker carries no segment
    const std::size_t start = p;
    const unsigned length = get16();
    if (length < 2) return "";  // stb reports a bad length itself
    const std::size_t end = start + length;
    if (m == 0xC4) {  // DHT: tables until the length is used up (stb reads a last table whole
      while (p < end) {  // even when it runs past the length, and then fails)
        const unsigned q = get(), table_class = q >> 4, id = q & 15;
        unsigned codes = 0;
        for (int i = 0; i < 16; ++i) codes += get();
        if (codes > 256)
          return "a Huffman table (DHT at byte " + std::to_string(start - 2) + ") declares " +
                 std::to_string(codes) + " codes; at most 256 exist";
        if (table_class <= 1 && id <= 3) (table_class == 0 ? dc : ac)[id] = true;
        p += codes;
      }
      continue;
    } else if (m == 0xC0 || m == 0xC1 || m == 0xC2) {  // SOF: baseline, extended, progressive
      progressive = m == 0xC2;
    } else if (m == 0xDA) {  // SOS: check the tables its components use
      const unsigned components = get();
      if (components < 1 || components > 4) return "";  // stb rejects the count itself
      unsigned tables[4] = {};
      for (unsigned i = 0; i < components; ++i) {
        get();  // component id
        tables[i] = get();
      }
      p = start + 2 + 1 + 2 * components;
      const unsigned first = get();  // Ss: 0 for the DC coefficient
      for (unsigned i = 0; i < components; ++i) {
        const unsigned d = tables[i] >> 4, a = tables[i] & 15;
        if (d > 3 || a > 3) return "";  // stb rejects the table index itself
        const bool needs_dc = !progressive || first == 0, needs_ac = !progressive || first > 0;
        if ((needs_dc && !dc[d]) || (needs_ac && !ac[a]))
          return "a scan (SOS at byte " + std::to_string(start - 2) + ") uses Huffman table " +
                 std::string(needs_dc && !dc[d] ? "DC " : "AC ") +
                 std::to_string(needs_dc && !dc[d] ? d : a) + ", which no DHT segment defines";
      }
      // Skip the entropy-coded data: up to a 0xFF that is neither a stuffed 0xFF 0x00 nor a
      // restart marker (after any fill bytes).
      p = end;
      while (p < size) {
        if (data[p] != 0xFF) {
          ++p;
          continue;
        }
        std::size_t q = p + 1;
        while (q < size && data[q] == 0xFF) ++q;
        if (q >= size) return "";
        if (data[q] == 0x00 || (data[q] >= 0xD0 && data[q] <= 0xD7)) {
          p = q + 1;
          continue;
        }
        p = q - 1;  // at the last 0xFF before the marker byte
        break;
      }
      continue;
    }
    p = end;
  }
  return "";
}

/// For bytes with the PNG signature, returns why stb_image must not decode them: a chunk whose
/// declared length runs past the end of the file. Returns "" otherwise; stops at IEND.
inline std::string png_problem(const unsigned char* data, std::size_t size) {
  static constexpr unsigned char signature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (size < 8 || !std::equal(signature, signature + 8, data)) return "";
  std::size_t p = 8;
  while (p + 8 <= size) {
    const std::uint32_t length = std::uint32_t{data[p]} << 24 | std::uint32_t{data[p + 1]} << 16 |
                                 std::uint32_t{data[p + 2]} << 8 | data[p + 3];
    const std::string type(reinterpret_cast<const char*>(data + p + 4), 4);
    const std::size_t left = size - p - 8;  // after the length and the type
    if (std::uint64_t{length} + 4 > left)
      return "chunk '" + type + "' at byte " + std::to_string(p) + " declares " +
             std::to_string(length) + " bytes of data, but the file has " +
             std::to_string(left < 4 ? 0 : left - 4) + " after it (truncated or corrupt)";
    if (type == "IEND") return "";
    p += 12 + std::size_t{length};
  }
  return "";
}

/// jpeg_problem or png_problem, whichever applies to the bytes ("" for other formats).
inline std::string decoder_problem(const unsigned char* data, std::size_t size) {
  std::string why = jpeg_problem(data, size);
  if (!why.empty()) return "corrupt JPEG, not decoded: " + why;
  why = png_problem(data, size);
  if (!why.empty()) return "corrupt PNG, not decoded: " + why;
  return "";
}

}  // namespace ctnn::data::detail
