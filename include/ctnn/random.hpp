// ctnn/random.hpp — the seeded generator behind weight initialisation, shuffling and dropout.
//
// Reproducible by construction: the engine is std::mt19937_64 (fully specified by the C++
// standard) and the conversions to floats are written here rather than taken from the
// implementation-defined std distributions, so a seed gives the same numbers everywhere.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <random>
#include <ranges>
#include <utility>

namespace ctnn {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : engine_(seed) {}

  /// Uniform in [0, 1), 24 random bits.
  float uniform() { return static_cast<float>(engine_() >> 40) * (1.0f / 16777216.0f); }
  /// Uniform in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal, by the Box-Muller transform (Box & Muller 1958).
  float normal() {
    const double u1 = (static_cast<double>(engine_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) *
                              std::cos(2.0 * std::numbers::pi * u2));
  }
  /// Uniform integer in [0, n), n > 0 (Lemire's nearly-divisionless method is not needed at
  /// these sizes: rejection keeps it exactly uniform).
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t x;
    do x = engine_();
    while (x >= limit);
    return x % n;
  }
  std::uint64_t next() { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

/// A seed derived from a base seed and a few indices (epoch, step, thread), by SplitMix64
/// finalisation (Steele, Lea & Flood 2014), so that streams do not overlap.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0,
                                 std::uint64_t c = 0) {
  auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(mix(seed) ^ a) ^ b) ^ c);
}

/// Shuffles `items` in place by Fisher-Yates in Durstenfeld's form (Knuth, TAOCP vol. 2,
/// algorithm 3.4.2 P): for i = n-1 down to 1, items[i] is swapped with items[rng.below(i + 1)].
/// Exactly n-1 draws of rng.below() (none for n < 2), so a seed gives the same order everywhere;
/// the training shuffle, the data set splits and the image-folder split all use this.
template <std::ranges::random_access_range R>
void shuffle(R&& items, Rng& rng) {
  const auto first = std::ranges::begin(items);
  for (auto i = static_cast<std::uint64_t>(std::ranges::size(items)); i > 1; --i) {
    using std::swap;
    swap(first[static_cast<std::ptrdiff_t>(i - 1)],
         first[static_cast<std::ptrdiff_t>(rng.below(i))]);
  }
}

}  // namespace ctnn
