// The pieces fit() is made of, each on its own: the shuffle, the range split, the gradient
// reducer, the progress and log callbacks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ctnn/parallel.hpp>
#include <ctnn/random.hpp>
#include <numeric>
#include <vector>

using namespace ctnn;

TEST_CASE("shuffle draws as the textbook Fisher-Yates loop and gives a permutation") {
  for (const std::size_t n : {0u, 1u, 2u, 7u, 100u}) {
    std::vector<std::size_t> a(n), b(n);
    std::iota(a.begin(), a.end(), std::size_t{0});
    std::iota(b.begin(), b.end(), std::size_t{0});
    Rng r1(derive_seed(42, n)), r2(derive_seed(42, n));
    ctnn::shuffle(a, r1);
    for (std::size_t i = n; i-- > 1;) std::swap(b[i], b[r2.below(i + 1)]);
    CHECK(a == b);
    CHECK(r1.next() == r2.next());  // the same number of draws
    std::sort(a.begin(), a.end());
    std::vector<std::size_t> id(n);
    std::iota(id.begin(), id.end(), std::size_t{0});
    CHECK(a == id);
  }
}

TEST_CASE("shuffle of fewer than two items draws nothing") {
  std::vector<int> one{5};
  Rng r(3), fresh(3);
  ctnn::shuffle(one, r);
  CHECK(one == std::vector<int>{5});
  CHECK(r.next() == fresh.next());
}

TEST_CASE("split_range covers [0, n) with contiguous parts in order") {
  for (const std::size_t n : {0u, 1u, 5u, 16u, 17u, 1000u, 1025u})
    for (const std::size_t parts : {1u, 2u, 3u, 7u, 64u})
      for (const std::size_t g : {1u, 16u}) {
        std::size_t at = 0, smallest = n, largest = 0;
        for (std::size_t p = 0; p < parts; ++p) {
          const auto [b, e] = split_range(n, p, parts, g);
          CHECK(b == at);
          CHECK(e >= b);
          if (e != n) CHECK(e % g == 0);
          if (g == 1) {
            CHECK(b == n * p / parts);
            CHECK(e == n * (p + 1) / parts);
          }
          smallest = std::min(smallest, e - b);
          largest = std::max(largest, e - b);
          at = e;
        }
        CHECK(at == n);
        CHECK(largest - smallest < 2 * g);
      }
}
