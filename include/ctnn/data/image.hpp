// ctnn/data/image.hpp — reading an image file as one network input sample.
//
// Decoding is done by stb_image (v2.27 in Debian 12's libstb-dev) and resizing by
// stb_image_resize (v0.97), both by Sean Barrett and contributors (http://nothings.org/stb).
// stb's single-file headers become a library only where one source file defines
// STB_IMAGE_IMPLEMENTATION (and STB_IMAGE_RESIZE_IMPLEMENTATION) before including them. A
// header-only library cannot be that file: every program including ctnn would define the
// functions again, and a program that also uses stb itself would get them twice. So these headers
// only declare the functions, and the `ctnn::ctnn` CMake target links Debian's libstb (package
// libstb-dev), which holds the compiled implementations. Without CMake, link with `-lstb`. A
// program that links ctnn must not define STB_IMAGE_IMPLEMENTATION or
// STB_IMAGE_RESIZE_IMPLEMENTATION itself.
#pragma once

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../io/detail/regular_file.hpp"
#include "../metadata.hpp"
#include "../shape.hpp"
#include "image_checks.hpp"

namespace ctnn::data {

/// How load_image turns the pixel bytes (0 to 255) of channel c into floats:
///
///   v = byte * scale
///   v = 255 * scale - v          (only with invert)
///   v = (v - mean[c]) / std[c]
///
/// With the defaults the result is byte / 255 in [0, 1], as load_fashion_mnist produces. Only
/// mean[0] and std[0] are used for one-channel images; channels are in R, G, B order.
struct ImageOptions {
  float scale = 1.0f / 255.0f;
  std::array<float, 3> mean = {0.0f, 0.0f, 0.0f};
  std::array<float, 3> std = {1.0f, 1.0f, 1.0f};
  /// Reverses light and dark before mean and std are applied. Fashion-MNIST's images are light
  /// objects on a black background; a photo of an object on a light background needs this to
  /// look like them.
  bool invert = false;
};

namespace detail {

inline std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown error";
}

struct StbiFree {
  void operator()(unsigned char* p) const noexcept { stbi_image_free(p); }
};

/// The bytes of an image file read before its header is judged.
inline constexpr std::size_t kImageHeadBytes = std::size_t{1} << 16;

/// The whole file, read header first: the first kImageHeadBytes bytes are read and judged
/// (header_problem with `max_pixels`, and the format must be one stb_image decodes) before the
/// rest is read. Throws FileError if the file cannot be opened, is not a regular file (a FIFO, a
/// device or a directory is refused when opened, without blocking or reading), is larger than
/// stb_image takes (2^31 - 1 bytes), its header is refused, or a read fails.
inline std::vector<unsigned char> read_image_file(const std::string& path,
                                                  std::uint64_t max_pixels) {
  io::detail::RegularFile file(path);
  if (file.size() > std::uint64_t{INT32_MAX})
    throw FileError(path, "the file has " + std::to_string(file.size()) +
                              " bytes, more than the 2 GiB stb_image reads");
  const auto size = static_cast<std::size_t>(file.size());
  std::vector<unsigned char> bytes(std::min(size, kImageHeadBytes));
  std::size_t got = file.read(bytes.data(), bytes.size());
  const ImageHeader h = image_header(bytes.data(), got);
  if (h.format == ImageFormat::unknown)
    throw FileError(path,
                    "cannot decode the image: unknown image type (not PNG, JPEG, BMP, GIF, "
                    "TGA, PGM or PPM)");
  if (const std::string why = header_problem(h, max_pixels); !why.empty())
    throw FileError(path, why);
  if (got == bytes.size() && size > bytes.size()) {
    bytes.resize(size);
    got += file.read(bytes.data() + got, size - got);
  }
  bytes.resize(got);  // the file shrank while it was read: what it held is judged below
  return bytes;
}

/// Throws InvalidArgument unless scale and mean[0 .. channels-1] are finite and
/// std[0 .. channels-1] are positive and finite.
inline void check_image_options(const ImageOptions& options, std::size_t channels) {
  if (!std::isfinite(options.scale))
    throw InvalidArgument("load_image: ImageOptions::scale must be finite");
  for (std::size_t c = 0; c < channels && c < options.mean.size(); ++c) {
    if (!std::isfinite(options.mean[c]))
      throw InvalidArgument("load_image: ImageOptions::mean[" + std::to_string(c) +
                            "] must be finite");
    if (!(options.std[c] > 0.0f) || !std::isfinite(options.std[c]))
      throw InvalidArgument("load_image: ImageOptions::std[" + std::to_string(c) +
                            "] must be positive and finite");
  }
}

/// load_image() for an image of H x W pixels and C channels given at run time (defined below).
inline std::vector<float> load_image_sized(const std::string& path, std::size_t H, std::size_t W,
                                           std::size_t C, const ImageOptions& options);

}  // namespace detail

/// Reads an image file as one sample of shape `Shape` = `ctnn::Image<H, W, C>` with C = 1
/// (grey) or 3 (RGB).
///
/// Formats: PNG (8 and 16 bits per channel, 16-bit values are reduced to 8 bits), baseline and
/// progressive JPEG, uncompressed BMP, GIF (the first frame), TGA, and binary PGM and PPM (P5,
/// P6). The format is recognised from the file's contents, not its name. The other formats
/// stb_image 2.27 decodes, Radiance HDR, Photoshop PSD and Softimage PIC, are refused: its HDR
/// decoder loops forever on a corrupt 49-byte file (CVE-2021-42715).
///
/// Returns H * W * C floats, channels-last: element (h, w, c) is at index (h * W + w) * C + c,
/// rows from the top of the image. Steps, in this order:
///  1. Channels. A grey image read as RGB repeats its value in R, G and B. An RGB image read as
///     grey becomes its luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601). An alpha channel is
///     dropped; the colour values are used as they are, not blended onto a background.
///  2. Size. When the file's size differs from H x W, the image is resized with stb_image_resize,
///     on each axis separately, in linear floats (no sRGB conversion): an axis that shrinks uses
///     the box filter (the mean of the covered pixels for an integer ratio, like OpenCV's
///     INTER_AREA), an axis that grows uses the triangle filter (bilinear interpolation, pixel
///     centres aligned, edge pixels repeated). The aspect ratio is not kept: the whole image is
///     fitted to H x W.
///  3. Values, as ImageOptions describes.
///
/// Limits: only a regular file is read (a FIFO, a device or a directory is refused when it is
/// opened, without blocking or reading from it), and its header is judged on its first 64 KiB
/// before the rest is read. An image may have at most 1024 times the H x W pixels of `Shape` (32
/// times its height and width), but never fewer than 2^26 pixels (8192 x 8192) nor more than
/// 2^28 (data/image_checks.hpp, image_pixel_limit): decoding costs up to about 4 * C + 8 bytes
/// per pixel of the file, for pixels the network does not use.
///
/// Throws ctnn::InvalidArgument (before opening the file) if `options.scale` or a used mean is not
/// finite, or a used std is not positive and finite. Throws ctnn::FileError, whose message starts
/// with `path`, if the file cannot be opened or is not a regular file (the message says what it
/// is), stb_image cannot decode it (the message gives stb's reason, such as "unknown image type" or
/// "bad png sig"), its width or height is 0, or resizing fails; and, before stb_image sees it
/// (data/image_checks.hpp), if it is in no format stb_image decodes ("unknown image type"), an HDR,
/// PSD or PIC file, its header declares more pixels than the limit above (the message gives both),
/// it is smaller than the pixels its header declares need (per format, a bound no valid file is
/// under: uncompressed BMP, TGA and PNM rows; a packet byte and a pixel per 128 pixels of a
/// run-length encoded TGA; a bit per 8 x 8 block of each JPEG component; a bit per 4096 pixels of a
/// GIF's first image), it is a GIF without a first image stb_image can decode, a JPEG whose Huffman
/// tables would make stb_image 2.27 read or write out of bounds, or a PNG with a chunk longer than
/// the rest of the file.
template <class Shape>
std::vector<float> load_image(const std::string& path, const ImageOptions& options = {}) {
  static_assert(is_image_v<Shape>, "load_image: the shape must be a ctnn::Image<H, W, C>");
  static_assert(Shape::channels == 1 || Shape::channels == 3,
                "load_image: images have 1 channel (grey) or 3 (RGB)");
  static_assert(Shape::height <= (std::size_t{1} << 24) && Shape::width <= (std::size_t{1} << 24),
                "load_image: the image is too large for stb_image_resize");
  return detail::load_image_sized(path, Shape::height, Shape::width, Shape::channels, options);
}

/// Reads an image file as one sample prepared as `p` says (metadata.hpp): p.channels channels,
/// p.height x p.width pixels, values as p.scale, p.mean, p.std and p.invert say; otherwise
/// exactly as load_image<Image<p.height, p.width, p.channels>>(path, options) does, with the same
/// limits and errors. Throws InvalidArgument, before opening the file, when p.channels is not 1
/// or 3, p.height or p.width is 0 or above 2^24, or the values fail the checks of ImageOptions.
inline std::vector<float> load_image(const std::string& path, const Preprocessing& p) {
  if (p.channels != 1 && p.channels != 3)
    throw InvalidArgument("load_image: Preprocessing::channels is " + std::to_string(p.channels) +
                          "; images have 1 channel (grey) or 3 (RGB)");
  if (p.height < 1 || p.width < 1 || p.height > (std::size_t{1} << 24) ||
      p.width > (std::size_t{1} << 24))
    throw InvalidArgument("load_image: Preprocessing asks for " + std::to_string(p.height) + " x " +
                          std::to_string(p.width) + " pixels; each side must be in [1, 2^24]");
  ImageOptions options;
  options.scale = p.scale;
  options.mean = p.mean;
  options.std = p.std;
  options.invert = p.invert;
  return detail::load_image_sized(path, p.height, p.width, p.channels, options);
}

namespace detail {

/// load_image() for an image of H x W pixels and C channels (1 or 3) given at run time.
inline std::vector<float> load_image_sized(const std::string& path, std::size_t H, std::size_t W,
                                           std::size_t C, const ImageOptions& options) {
  detail::check_image_options(options, C);

  const std::uint64_t max_pixels = detail::image_pixel_limit(H, W);
  const std::vector<unsigned char> bytes = detail::read_image_file(path, max_pixels);
  if (const std::string why = detail::decoder_problem(bytes.data(), bytes.size(), max_pixels);
      !why.empty())
    throw FileError(path, why);
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());

  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(data, size, &w, &h, &n))
    throw FileError(path, "cannot decode the image: " + detail::stb_reason());
  if (w <= 0 || h <= 0)
    throw FileError(path, "the image is " + std::to_string(w) + " x " + std::to_string(h) +
                              " pixels; width and height must be at least 1");
  if (std::uint64_t(w) * std::uint64_t(h) > max_pixels)
    throw FileError(path, "the image is " + std::to_string(w) + " x " + std::to_string(h) +
                              " pixels, more than the " + std::to_string(max_pixels) +
                              " load_image accepts for this input size");

  std::unique_ptr<unsigned char, detail::StbiFree> pixels(
      stbi_load_from_memory(data, size, &w, &h, &n, 0));
  if (!pixels) throw FileError(path, "cannot decode the image: " + detail::stb_reason());
  if (w <= 0 || h <= 0 || n < 1 || n > 4 || std::uint64_t(w) * std::uint64_t(h) > max_pixels)
    throw FileError(path, "the decoder returned a " + std::to_string(w) + " x " +
                              std::to_string(h) + " image with " + std::to_string(n) +
                              " channels, which load_image does not accept");

  // 1. Channels: n = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
  const std::size_t pixel_count = std::size_t(w) * std::size_t(h);
  const unsigned char* src = pixels.get();
  std::vector<float> converted(pixel_count * C);
  for (std::size_t i = 0; i < pixel_count; ++i) {
    const unsigned char* p = src + i * std::size_t(n);
    float* q = converted.data() + i * C;
    if (n <= 2) {
      for (std::size_t c = 0; c < C; ++c) q[c] = float(p[0]);
    } else if (C == 3) {
      q[0] = float(p[0]), q[1] = float(p[1]), q[2] = float(p[2]);
    } else {
      q[0] = 0.299f * float(p[0]) + 0.587f * float(p[1]) + 0.114f * float(p[2]);
    }
  }
  pixels.reset();

  // 2. Size.
  std::vector<float> out;
  if (std::size_t(w) == W && std::size_t(h) == H) {
    out = std::move(converted);
  } else {
    out.resize(H * W * C);
    const stbir_filter fh = W < std::size_t(w) ? STBIR_FILTER_BOX : STBIR_FILTER_TRIANGLE;
    const stbir_filter fv = H < std::size_t(h) ? STBIR_FILTER_BOX : STBIR_FILTER_TRIANGLE;
    if (!stbir_resize(converted.data(), w, h, 0, out.data(), int(W), int(H), 0, STBIR_TYPE_FLOAT,
                      int(C), STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP, fh,
                      fv, STBIR_COLORSPACE_LINEAR, nullptr))
      throw FileError(path, "cannot resize the " + std::to_string(w) + " x " + std::to_string(h) +
                                " image to " + std::to_string(W) + " x " + std::to_string(H) +
                                " (out of memory)");
  }

  // 3. Values.
  const float top = 255.0f * options.scale;
  for (std::size_t i = 0; i < H * W; ++i) {
    for (std::size_t c = 0; c < C; ++c) {
      float v = out[i * C + c] * options.scale;
      if (options.invert) v = top - v;
      out[i * C + c] = (v - options.mean[c]) / options.std[c];
    }
  }
  return out;
}

}  // namespace detail

}  // namespace ctnn::data
