// ctnn/data/image_checks.hpp — what load_image checks in an image file before stb_image decodes
// it.
//
// stb_image 2.27 (Debian 12's libstb) is compiled once, with every decoder it has; a program
// linking it cannot leave formats out with STBI_NO_HDR and the like. So the checks here read the
// file the way stb_image does and refuse, before it decodes anything:
//  - formats load_image does not read. stb_image picks the decoder from the contents, so these
//    are told apart by their signatures whatever the file's name: Radiance HDR ("#?RADIANCE\n" or
//    "#?RGBE\n"), whose RLE decoder loops forever on a run count of 0 read past the end of the
//    file (CVE-2021-42715: 49 bytes hang the program), Photoshop PSD ("8BPS") and Softimage PIC;
//  - headers declaring more than kMaxImagePixels pixels (stb_image's own size checks can fail
//    first, and its format detection then reports "unknown image type");
//  - in a JPEG, Huffman tables stb_image 2.27 would read or write out of bounds with:
//    - a DHT (define Huffman table) segment whose 16 code-length counts add up to more than
//      256: stbi__build_huffman writes up to 4,080 entries into a 257-entry array (upstream
//      stb_image rejects this since 2.28, "bad DHT header");
//    - a scan (SOS) that uses a Huffman table no DHT segment defined: the decoder's tables live
//      in memory that stb does not clear, so the table is whatever the heap held, and decoding
//      indexes its symbol array with that garbage;
//  - in a PNG, a chunk longer than what is left of the file: stb_image grows its buffer to a
//    chunk's declared length before reading the chunk, so a 100-byte file can make it allocate
//    2 GiB.
// References: ITU-T T.81 (JPEG), B.2.4.2 (DHT) and B.2.3 (SOS); the PNG specification (W3C,
// 2003), 5.3 (chunk layout) and 11.2.2 (IHDR); stb_image.h, stbi__load_main and each format's
// test function, stbi__get_marker, stbi__process_marker, stbi__decode_jpeg_image and
// stbi__parse_png_file.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ctnn::data::detail {

/// The largest image load_image decodes: 2^28 pixels (256 megapixels). Loading one takes up to
/// 4 bytes per pixel for the decoded bytes and 4 * C for the converted floats.
inline constexpr std::uint64_t kMaxImagePixels = std::uint64_t{1} << 28;

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

/// The formats stb_image 2.27 decodes; load_image reads all but psd, pic and hdr.
enum class ImageFormat { unknown, png, bmp, gif, psd, pic, jpeg, pnm, hdr, tga };

inline const char* format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::png:
      return "PNG";
    case ImageFormat::bmp:
      return "BMP";
    case ImageFormat::gif:
      return "GIF";
    case ImageFormat::psd:
      return "Photoshop PSD";
    case ImageFormat::pic:
      return "Softimage PIC";
    case ImageFormat::jpeg:
      return "JPEG";
    case ImageFormat::pnm:
      return "PNM";
    case ImageFormat::hdr:
      return "Radiance HDR";
    case ImageFormat::tga:
      return "TGA";
    case ImageFormat::unknown:
      break;
  }
  return "image";
}

/// Bytes read the way stb_image reads them: past the end, every byte is 0.
struct ImageBytes {
  const unsigned char* data;
  std::size_t size;
  std::uint64_t pos = 0;

  unsigned at(std::uint64_t i) const { return i < size ? data[i] : 0u; }
  bool eof() const { return pos >= size; }
  unsigned u8() { return at(pos++); }
  std::uint32_t le16() {
    const std::uint32_t lo = u8();
    return lo | std::uint32_t{u8()} << 8;
  }
  std::uint32_t le32() {
    const std::uint32_t lo = le16();
    return lo | le16() << 16;
  }
  std::uint32_t be16() {
    const std::uint32_t hi = u8();
    return hi << 8 | u8();
  }
  std::uint32_t be32() {
    const std::uint32_t hi = be16();
    return hi << 16 | be16();
  }
  /// True when the n bytes from `from` are those of `s`.
  bool matches(std::uint64_t from, const char* s, std::size_t n) const {
    for (std::size_t i = 0; i < n; ++i)
      if (at(from + i) != static_cast<unsigned char>(s[i])) return false;
    return true;
  }
};

/// stbi__tga_test: TGA has no signature, only plausible header fields.
inline bool looks_like_tga(ImageBytes b) {
  b.pos = 1;
  const unsigned colormap = b.u8(), type = b.u8();
  if (colormap > 1) return false;
  const auto depth_ok = [](unsigned bits) {
    return bits == 8 || bits == 15 || bits == 16 || bits == 24 || bits == 32;
  };
  if (colormap == 1) {
    if (type != 1 && type != 9) return false;
    b.pos += 4;
    if (!depth_ok(b.u8())) return false;
    b.pos += 4;
  } else {
    if (type != 2 && type != 3 && type != 10 && type != 11) return false;
    b.pos += 9;
  }
  if (b.le16() < 1 || b.le16() < 1) return false;
  const unsigned bits = b.u8();
  return depth_ok(bits) && (colormap == 0 || bits == 8 || bits == 16);
}

/// The decoder stb_image 2.27 picks for the bytes: the first format whose test accepts them, in
/// the order of stbi__load_main.
inline ImageFormat image_format(const unsigned char* data, std::size_t size) {
  ImageBytes b{data, size};
  if (b.matches(0, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::png;
  if (b.matches(0, "BM", 2)) {
    b.pos = 14;
    const std::uint32_t info_size = b.le32();
    if (info_size == 12 || info_size == 40 || info_size == 56 || info_size == 108 ||
        info_size == 124)
      return ImageFormat::bmp;
  }
  if (b.matches(0, "GIF8", 4) && (b.at(4) == '7' || b.at(4) == '9') && b.at(5) == 'a')
    return ImageFormat::gif;
  if (b.matches(0, "8BPS", 4)) return ImageFormat::psd;
  if (b.matches(0, "\x53\x80\xF6\x34", 4) && b.matches(88, "PICT", 4)) return ImageFormat::pic;
  b.pos = 0;
  if (b.u8() == 0xFF) {  // a JPEG starts with the SOI marker, after any 0xFF fill bytes
    unsigned m = 0xFF;
    while (m == 0xFF && !b.eof()) m = b.u8();
    if (m == 0xD8) return ImageFormat::jpeg;
  }
  if (b.at(0) == 'P' && (b.at(1) == '5' || b.at(1) == '6')) return ImageFormat::pnm;
  if (b.matches(0, "#?RADIANCE\n", 11) || b.matches(0, "#?RGBE\n", 7)) return ImageFormat::hdr;
  if (looks_like_tga(b)) return ImageFormat::tga;
  return ImageFormat::unknown;
}

/// What an image file's header declares, read as stb_image 2.27 reads it.
struct ImageHeader {
  ImageFormat format = ImageFormat::unknown;
  /// The pixels stb_image would allocate; 0 when not known.
  std::uint64_t width = 0, height = 0;
};

inline std::string dims(std::uint64_t w, std::uint64_t h) {
  return std::to_string(w) + " x " + std::to_string(h);
}

/// PNG: width and height from the IHDR chunk, which must come first.
inline void png_header(ImageBytes b, ImageHeader& h) {
  if (b.at(11) != 13 || !b.matches(12, "IHDR", 4)) return;
  b.pos = 16;
  h.width = b.be32();
  h.height = b.be32();
}

/// The format and the declared size of the bytes, as image_format and png_header read them.
inline ImageHeader image_header(const unsigned char* data, std::size_t size) {
  ImageHeader h;
  h.format = image_format(data, size);
  const ImageBytes b{data, size};
  if (h.format == ImageFormat::png) png_header(b, h);
  return h;
}

/// Why load_image must not hand the bytes to stb_image, or "" when it may: a format it does not
/// read, more pixels than kMaxImagePixels, or a corrupt JPEG or PNG (jpeg_problem, png_problem).
inline std::string decoder_problem(const unsigned char* data, std::size_t size) {
  const ImageHeader h = image_header(data, size);
  const std::string name = format_name(h.format);
  if (h.format == ImageFormat::hdr || h.format == ImageFormat::psd || h.format == ImageFormat::pic)
    return name + " file, not decoded: load_image reads PNG, JPEG, BMP, GIF, TGA and binary " +
           "PGM/PPM files only";
  if (h.width * h.height > kMaxImagePixels)
    return name + " of " + dims(h.width, h.height) + " pixels, more than the " +
           std::to_string(kMaxImagePixels) + " (2^28) load_image decodes; not decoded";
  std::string why = jpeg_problem(data, size);
  if (!why.empty()) return "corrupt JPEG, not decoded: " + why;
  why = png_problem(data, size);
  if (!why.empty()) return "corrupt PNG, not decoded: " + why;
  return "";
}

}  // namespace ctnn::data::detail
