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
//  - headers declaring more pixels than load_image decodes for the input size (image_pixel_limit,
//    at most kMaxImagePixels; stb_image's own size checks can fail first, and its format
//    detection then reports "unknown image type");
//  - files too small for the pixels their header declares. stb_image allocates the whole image
//    and reads zeros past the end of the file, so a 54-byte BMP declaring 16384 x 16384 pixels
//    costs seconds and a gigabyte before "succeeding" with a black image. Each format has a
//    lower bound on the bytes its declared pixels need (the *_header functions below), one that
//    no valid file is under. A GIF's logical screen is the exception: outside its first image it
//    is background, so a large screen is valid with a small image and only kMaxImagePixels
//    bounds it;
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
// References: ITU-T T.81 (JPEG), B.2.2 (frame header), B.2.4.2 (DHT) and B.2.3 (SOS), A.2.1
// (blocks per component); the PNG specification (W3C, 2003), 5.3 (chunk layout) and 11.2.2
// (IHDR); Microsoft's BITMAPINFOHEADER; the Truevision TGA 2.0 specification; the Netpbm PGM and
// PPM pages; GIF89a (CompuServe, 1990), sections 18-22; stb_image.h, stbi__load_main and each
// format's test, header and load functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ctnn::data::detail {

/// The largest image load_image decodes for any input size: 2^28 pixels (256 megapixels).
/// Loading one takes up to 4 bytes per pixel for the decoded bytes (and, for a PNG, about as much
/// again for its inflated data) and 4 * C for the converted floats.
inline constexpr std::uint64_t kMaxImagePixels = std::uint64_t{1} << 28;

/// The limit load_image never goes below: 2^26 pixels (67 megapixels, 8192 x 8192), so that
/// photos of any common camera load whatever the input size.
inline constexpr std::uint64_t kMinImagePixelLimit = std::uint64_t{1} << 26;

/// The most pixels load_image decodes for an input of height x width pixels: 1024 times as
/// many (32 times the height and the width), but at least kMinImagePixelLimit and at most
/// kMaxImagePixels. Decoding costs memory per pixel of the file (see kMaxImagePixels), while the
/// network uses only height x width: a larger image costs hundreds of megabytes for nothing.
constexpr std::uint64_t image_pixel_limit(std::uint64_t height, std::uint64_t width) {
  return std::clamp<std::uint64_t>(1024 * height * width, kMinImagePixelLimit, kMaxImagePixels);
}

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
    if (m == 0) continue;                  // stb skips bytes until a marker
    if (m == 0xD9) return "";              // EOI
    if (m >= 0xD0 && m <= 0xD7) continue;  // a stray restart marker carries no segment
    const std::size_t start = p;
    const unsigned length = get16();
    if (length < 2) return "";  // stb reports a bad length itself
    const std::size_t end = start + length;
    if (m == 0xC4) {     // DHT: tables until the length is used up (stb reads a last table whole
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
  /// The pixels stb_image would allocate (for a GIF, its logical screen); 0 when not known.
  std::uint64_t width = 0, height = 0;
  /// A lower bound on the size of any valid file with this header (0: none), and what it counts.
  std::uint64_t need = 0;
  std::string counted;
  /// Why stb_image would fail on this header after allocating the image ("": it would not).
  std::string problem;
};

inline std::string dims(std::uint64_t w, std::uint64_t h) {
  return std::to_string(w) + " x " + std::to_string(h);
}

/// PNG: width and height from the IHDR chunk, which must come first. No size bound: deflate
/// can legitimately shrink pixels over 1000-fold, and stb_image fails fast and without touching
/// its buffer when the data is short.
inline void png_header(ImageBytes b, ImageHeader& h) {
  if (b.at(11) != 13 || !b.matches(12, "IHDR", 4)) return;
  b.pos = 16;
  h.width = b.be32();
  h.height = b.be32();
}

/// BMP: uncompressed rows of ceil(width * bits / 8) bytes (the padding of each row to 4 bytes
/// is not counted) from the pixel-data offset of the file header. stb_image reads no RLE or
/// embedded PNG/JPEG BMP, and fails on those before allocating.
inline void bmp_header(ImageBytes b, ImageHeader& h) {
  b.pos = 10;
  const std::uint32_t offset = b.le32(), info_size = b.le32();
  std::uint32_t planes = 0, bits = 0, compression = 0;
  if (info_size == 12) {
    h.width = b.le16();
    h.height = b.le16();
    planes = b.le16();
    bits = b.le16();
  } else {
    h.width = b.le32();
    const auto rows = static_cast<std::int32_t>(b.le32());  // negative: stored top-down
    h.height = std::uint64_t(rows < 0 ? -std::int64_t{rows} : std::int64_t{rows});
    planes = b.le16();
    bits = b.le16();
    compression = b.le32();
  }
  if (h.width * h.height > kMaxImagePixels || offset > INT32_MAX || planes != 1 ||
      (compression != 0 && compression != 3))
    return;
  if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32) return;
  h.need = offset + (h.width * bits + 7) / 8 * h.height;
  h.counted = "a " + dims(h.width, h.height) + " image of " + std::to_string(bits) +
              " bits per pixel from byte " + std::to_string(offset);
}

/// TGA: after the 18-byte header, the image ID and the colour map, width * height pixels of
/// ceil(bits / 8) bytes; run-length encoded, at least a packet header and one pixel per 128
/// pixels (a packet covers at most 128).
inline void tga_header(ImageBytes b, ImageHeader& h) {
  const unsigned id_length = b.at(0), colormap = b.at(1), type = b.at(2);
  b.pos = 5;
  const std::uint64_t colormap_length = b.le16(), colormap_bits = b.u8();
  b.pos = 12;
  h.width = b.le16();
  h.height = b.le16();
  const std::uint64_t bytes = (b.u8() + 7u) / 8;
  const std::uint64_t start =
      18 + id_length + (colormap ? colormap_length * ((colormap_bits + 7) / 8) : 0);
  const std::uint64_t pixels = h.width * h.height;
  if (pixels > kMaxImagePixels) return;
  const bool rle = type >= 8;
  h.need = start + (rle ? (pixels + 127) / 128 * (1 + bytes) : pixels * bytes);
  h.counted = "a " + dims(h.width, h.height) + (rle ? " run-length encoded" : "") + " image of " +
              std::to_string(bytes) + " bytes per pixel from byte " + std::to_string(start) +
              (rle ? " (at least a packet header and a pixel per 128 pixels)" : "");
}

/// Binary PGM (P5) and PPM (P6): the header's text, then width * height * channels samples of
/// 1 byte (maximum value up to 255) or 2. The header is parsed exactly as stb_image parses it.
inline void pnm_header(ImageBytes b, ImageHeader& h) {
  const std::uint64_t channels = b.at(1) == '6' ? 3 : 1;
  b.pos = 2;
  unsigned c = b.u8();
  const auto space = [](unsigned ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
  };
  const auto skip_space = [&] {
    for (;;) {
      while (!b.eof() && space(c)) c = b.u8();
      if (b.eof() || c != '#') break;
      while (!b.eof() && c != '\n' && c != '\r') c = b.u8();
    }
  };
  const auto integer = [&] {  // saturates where stb_image's int would overflow
    std::uint64_t v = 0;
    while (!b.eof() && c >= '0' && c <= '9') {
      v = std::min<std::uint64_t>(v * 10 + (c - '0'), UINT32_MAX);
      c = b.u8();
    }
    return v;
  };
  skip_space();
  h.width = integer();
  skip_space();
  h.height = integer();
  skip_space();
  const std::uint64_t max_value = integer();
  if (max_value > 65535 || h.width * h.height > kMaxImagePixels) return;
  const std::uint64_t bytes = max_value > 255 ? 2 : 1;
  h.need = b.pos + h.width * h.height * channels * bytes;
  h.counted = "a " + dims(h.width, h.height) + " image of " + std::to_string(channels) +
              (channels == 1 ? " sample" : " samples") + " of " + std::to_string(bytes) +
              (bytes == 1 ? " byte" : " bytes") + " per pixel from byte " + std::to_string(b.pos);
}

/// JPEG: the first frame header (SOF0, SOF1 or SOF2, the ones stb_image decodes). Every 8 x 8
/// block of every component has its DC coefficient coded with a Huffman code of at least one
/// bit, so the file has at least (blocks + 7) / 8 bytes. Component i has
/// ceil(ceil(X * Hi / Hmax) / 8) x ceil(ceil(Y * Vi / Vmax) / 8) blocks (T.81, A.2.1).
inline void jpeg_header(ImageBytes b, ImageHeader& h) {
  const auto marker = [&]() -> unsigned {
    if (b.u8() != 0xFF) return 0;
    unsigned m = 0xFF;
    while (m == 0xFF && !b.eof()) m = b.u8();
    return m == 0xFF ? 0 : m;
  };
  if (marker() != 0xD8) return;
  for (;;) {
    if (b.eof()) return;
    const unsigned m = marker();
    if (m == 0) continue;  // stb skips bytes until a marker
    if (m == 0xC0 || m == 0xC1 || m == 0xC2) break;
    // Before the frame, stb_image takes DHT, DQT, DRI, APPn and COM segments and fails on
    // anything else.
    if (m != 0xC4 && m != 0xDB && m != 0xDD && m != 0xFE && (m < 0xE0 || m > 0xEF)) return;
    const std::uint64_t start = b.pos;
    const std::uint32_t length = b.be16();
    if (length < 2) return;
    b.pos = start + length;
  }
  const std::uint32_t length = b.be16(), precision = b.u8();
  const std::uint32_t y = b.be16(), x = b.be16(), n = b.u8();
  h.width = x;
  h.height = y;
  if (precision != 8 || x == 0 || y == 0 || (n != 1 && n != 3 && n != 4) || length != 8 + 3 * n)
    return;  // stb_image rejects these before allocating
  std::uint32_t hs[4] = {}, vs[4] = {}, h_max = 1, v_max = 1;
  for (std::uint32_t i = 0; i < n; ++i) {
    b.u8();  // component id
    const unsigned q = b.u8();
    hs[i] = q >> 4, vs[i] = q & 15;
    b.u8();  // quantization table
    if (hs[i] < 1 || hs[i] > 4 || vs[i] < 1 || vs[i] > 4) return;
    h_max = std::max(h_max, hs[i]), v_max = std::max(v_max, vs[i]);
  }
  std::uint64_t blocks = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (h_max % hs[i] != 0 || v_max % vs[i] != 0) return;
    const std::uint64_t cx = (std::uint64_t{x} * hs[i] + h_max - 1) / h_max;
    const std::uint64_t cy = (std::uint64_t{y} * vs[i] + v_max - 1) / v_max;
    blocks += (cx + 7) / 8 * ((cy + 7) / 8);
  }
  h.need = (blocks + 7) / 8;
  h.counted = "a " + dims(x, y) + " image in " + std::to_string(n) +
              (n == 1 ? " component" : " components") + ", " + std::to_string(blocks) +
              " blocks of 8 x 8 of at least one bit each,";
}

/// GIF: the blocks up to the first image, as stb_image reads them. stb_image allocates the
/// logical screen (9 bytes per pixel) before reading them, so a header without an image that
/// stb_image can decode is refused here. The first image's LZW data has at least one bit per
/// code, and a code yields at most 4,096 pixels (the longest string a 4,096-entry table holds),
/// so its W x H pixels need at least W * H / 32768 bytes. The screen outside the first image is
/// background: a small image on a large screen is valid and not bounded here beyond
/// kMaxImagePixels.
inline void gif_header(ImageBytes b, ImageHeader& h) {
  b.pos = 6;
  h.width = b.le16();
  h.height = b.le16();
  const unsigned flags = b.u8();
  b.pos = 13;
  if (flags & 0x80) b.pos += 3u * (2u << (flags & 7));
  for (;;) {
    const std::uint64_t at = b.pos;
    const unsigned tag = b.u8();
    if (tag == 0x21) {       // an extension: sub-blocks up to an empty one
      if (b.u8() == 0xF9) {  // graphic control: stb reads 4 bytes, or skips an odd length
        const unsigned length = b.u8();
        b.pos += length;
        if (length != 4) continue;
      }
      for (unsigned length; (length = b.u8()) != 0;) b.pos += length;
      continue;
    }
    if (tag != 0x2C) {
      h.problem =
          "its " + dims(h.width, h.height) + " logical screen has no image (byte " +
          std::to_string(at) +
          (at < b.size ? " is block type " + std::to_string(tag) : " is past the end of the file") +
          ", where an image or an extension must come)";
      return;
    }
    const std::uint64_t x = b.le16(), y = b.le16(), w = b.le16(), rows = b.le16();
    if (x + w > h.width || y + rows > h.height) {
      h.problem = "its first image, " + dims(w, rows) + " at (" + std::to_string(x) + ", " +
                  std::to_string(y) + "), does not fit its " + dims(h.width, h.height) +
                  " logical screen";
      return;
    }
    const unsigned local = b.u8();
    if (local & 0x80) {
      b.pos += 3u * (2u << (local & 7));
    } else if (!(flags & 0x80)) {
      h.problem = "its first image has no colour table";
      return;
    }
    if (b.u8() > 12) {
      h.problem = "its first image's LZW code size is over 12 bits";
      return;
    }
    h.need = b.pos + (w * rows + 32767) / 32768;
    h.counted = "a first image of " + dims(w, rows) + " pixels, LZW-coded from byte " +
                std::to_string(b.pos) + " (at most 4096 pixels per code of at least one bit),";
    return;
  }
}

/// The format and the declared size of the bytes, as image_format and the functions above read
/// them.
inline ImageHeader image_header(const unsigned char* data, std::size_t size) {
  ImageHeader h;
  h.format = image_format(data, size);
  const ImageBytes b{data, size};
  switch (h.format) {
    case ImageFormat::png:
      png_header(b, h);
      break;
    case ImageFormat::bmp:
      bmp_header(b, h);
      break;
    case ImageFormat::gif:
      gif_header(b, h);
      break;
    case ImageFormat::jpeg:
      jpeg_header(b, h);
      break;
    case ImageFormat::pnm:
      pnm_header(b, h);
      break;
    case ImageFormat::tga:
      tga_header(b, h);
      break;
    default:
      break;
  }
  return h;
}

/// Why load_image must not decode an image with the header `h`, or "" when it may: a format it
/// does not read, or more pixels than `max_pixels`. Reads only the header's fields, so it can
/// judge the first bytes of a file before the rest is read.
inline std::string header_problem(const ImageHeader& h, std::uint64_t max_pixels) {
  const std::string name = format_name(h.format);
  if (h.format == ImageFormat::hdr || h.format == ImageFormat::psd || h.format == ImageFormat::pic)
    return name + " file, not decoded: load_image reads PNG, JPEG, BMP, GIF, TGA and binary " +
           "PGM/PPM files only";
  if (h.width * h.height > max_pixels)
    return name + " of " + dims(h.width, h.height) + " pixels, more than the " +
           std::to_string(max_pixels) +
           (max_pixels == kMaxImagePixels
                ? std::string(" (2^28) load_image decodes")
                : std::string(" load_image decodes for this input size (1024 times its pixels, "
                              "at least 2^26, at most 2^28)")) +
           "; not decoded";
  return "";
}

/// Why load_image must not hand the bytes to stb_image, or "" when it may: a format it does not
/// read, more pixels than `max_pixels` (header_problem), a corrupt JPEG or PNG (jpeg_problem,
/// png_problem), a GIF without a decodable first image, or fewer bytes than the declared pixels
/// need.
inline std::string decoder_problem(const unsigned char* data, std::size_t size,
                                   std::uint64_t max_pixels = kMaxImagePixels) {
  const ImageHeader h = image_header(data, size);
  const std::string name = format_name(h.format);
  if (std::string why = header_problem(h, max_pixels); !why.empty()) return why;
  std::string why = jpeg_problem(data, size);
  if (!why.empty()) return "corrupt JPEG, not decoded: " + why;
  why = png_problem(data, size);
  if (!why.empty()) return "corrupt PNG, not decoded: " + why;
  if (!h.problem.empty()) return "corrupt " + name + ", not decoded: " + h.problem;
  if (h.need > size)
    return "truncated or corrupt " + name + ", not decoded: " + h.counted + " needs at least " +
           std::to_string(h.need) + " bytes, but the file has " + std::to_string(size);
  return "";
}

}  // namespace ctnn::data::detail
