// ctnn/data/augment.hpp — label-preserving image augmentation, applied on the fly to each
// training sample.
//
// Images are channels-last, H x W x C floats. Each transform draws from a generator seeded per
// sample (see Trainer), so a sample's augmentation depends on the seed, the step and its place in
// the batch, never on the thread that computes it. Which transforms keep the label is the user's
// call: a horizontal flip is right for clothes and wrong for digits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../random.hpp"

namespace ctnn::data {

/// What to apply to each training image, in this order.
struct Augmentation {
  /// Random translation by up to `shift` pixels in each direction, the uncovered border zero:
  /// the same as zero-padding by `shift` and cropping at a random offset (the "pad and crop" of
  /// He et al. 2016's CIFAR-10 recipe). 0: off.
  std::size_t shift = 0;
  /// Mirror left-right with probability 1/2.
  bool hflip = false;
  /// Random erasing (Zhong et al. 2020, "Random Erasing Data Augmentation"): with probability
  /// `erase`, a rectangle of 2% to 40% of the image, aspect ratio (height / width) from 0.3 to
  /// 1 / 0.3 (log-uniform), is set to `erase_value` (0, as torchvision's RandomErasing). 0: off.
  float erase = 0.0f;
  float erase_value = 0.0f;

  bool enabled() const noexcept { return shift > 0 || hflip || erase > 0.0f; }

  /// Throws InvalidArgument for an erase probability outside [0, 1] or a shift not smaller than
  /// the image.
  void check(std::size_t height, std::size_t width) const {
    if (!(erase >= 0.0f && erase <= 1.0f))
      throw InvalidArgument("Augmentation: erase is a probability in [0, 1], not " +
                            std::to_string(erase));
    if (shift > 0 && (shift >= height || shift >= width))
      throw InvalidArgument("Augmentation: a shift of " + std::to_string(shift) +
                            " pixels does not fit a " + std::to_string(height) + "x" +
                            std::to_string(width) + " image");
  }
};

/// Applies `a` to one image (height x width x channels floats, channels-last) in place, drawing
/// from `rng` in a fixed order: the shift (dy, then dx, each uniform in [-shift, shift]), the
/// flip (one draw), then the erasing (probability, area, aspect, top, left). `scratch` holds at
/// least height * width * channels floats.
inline void augment(float* image, std::size_t height, std::size_t width, std::size_t channels,
                    const Augmentation& a, Rng& rng, float* scratch) {
  const std::size_t row = width * channels;
  if (a.shift > 0) {
    const auto span = 2 * a.shift + 1;
    const auto dy = static_cast<std::ptrdiff_t>(rng.below(span)) - std::ptrdiff_t(a.shift);
    const auto dx = static_cast<std::ptrdiff_t>(rng.below(span)) - std::ptrdiff_t(a.shift);
    if (dy != 0 || dx != 0) {
      // out(y, x) = in(y - dy, x - dx), zero outside.
      std::fill(scratch, scratch + height * row, 0.0f);
      const auto H = std::ptrdiff_t(height), W = std::ptrdiff_t(width);
      const std::ptrdiff_t x0 = std::max<std::ptrdiff_t>(0, dx), x1 = std::min(W, W + dx);
      for (std::ptrdiff_t y = std::max<std::ptrdiff_t>(0, dy); y < std::min(H, H + dy); ++y)
        std::copy(image + (y - dy) * row + (x0 - dx) * channels,
                  image + (y - dy) * row + (x1 - dx) * channels, scratch + y * row + x0 * channels);
      std::copy(scratch, scratch + height * row, image);
    }
  }
  if (a.hflip && rng.below(2) == 1) {
    for (std::size_t y = 0; y < height; ++y) {
      float* r = image + y * row;
      for (std::size_t x = 0; x < width / 2; ++x)
        std::swap_ranges(r + x * channels, r + (x + 1) * channels, r + (width - 1 - x) * channels);
    }
  }
  if (a.erase > 0.0f && rng.uniform() < a.erase) {
    const double area = double(height * width) * rng.uniform(0.02f, 0.4f);
    const double aspect = std::exp(rng.uniform(std::log(0.3f), std::log(1.0f / 0.3f)));
    const auto h = std::min<std::size_t>(
        height, std::max<std::size_t>(1, std::size_t(std::lround(std::sqrt(area * aspect)))));
    const auto w = std::min<std::size_t>(
        width, std::max<std::size_t>(1, std::size_t(std::lround(std::sqrt(area / aspect)))));
    const std::size_t top = rng.below(height - h + 1), left = rng.below(width - w + 1);
    for (std::size_t y = top; y < top + h; ++y)
      std::fill(image + y * row + left * channels, image + y * row + (left + w) * channels,
                a.erase_value);
  }
}

/// The flags of the examples' --augment: a comma-separated list of `shift` (2 pixels), `hflip`
/// and `erase` (probability 0.5). Throws InvalidArgument naming an unknown item.
inline Augmentation parse_augmentation(const std::string& list) {
  Augmentation a;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    if (item == "shift")
      a.shift = 2;
    else if (item == "hflip")
      a.hflip = true;
    else if (item == "erase")
      a.erase = 0.5f;
    else if (!(item.empty() && list.empty()))
      throw InvalidArgument("unknown augmentation '" + item + "' (expected shift, hflip, erase)");
    start = end + 1;
  }
  return a;
}

}  // namespace ctnn::data
