// The helpers each written once and used by several parts of the library: channels_of
// (shape.hpp), the softmax (kernels/softmax.hpp), FNV-1a (hash.hpp) and the names of file types
// in messages (io/detail/regular_file.hpp).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdint>
#include <ctnn/hash.hpp>
#include <ctnn/io/detail/regular_file.hpp>
#include <ctnn/kernels/softmax.hpp>
#include <ctnn/shape.hpp>
#include <span>
#include <string>
#include <vector>

static_assert(ctnn::channels_of<ctnn::Image<5, 4, 3>>() == 3);
static_assert(ctnn::channels_of<ctnn::Sequence<7, 11>>() == 11);
static_assert(ctnn::channels_of<ctnn::Vector<13>>() == 13);

TEST_CASE("softmax: exp(x - max) / sum, summing to 1, without overflow for large values") {
  const std::vector<float> x = {1.0f, -2.0f, 0.5f, 3.0f};
  std::vector<float> y(4);
  ctnn::kernels::softmax(x.data(), y.data(), 4);
  double sum = 0, direct_sum = 0;
  for (float v : x) direct_sum += std::exp(double(v));
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(y[i] == doctest::Approx(std::exp(double(x[i])) / direct_sum).epsilon(1e-6));
    sum += y[i];
  }
  CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
  // exp(1000) overflows a float; shifted by the maximum it does not.
  const std::vector<float> big = {1000.0f, 999.0f};
  std::vector<float> p(2);
  ctnn::kernels::softmax(big.data(), p.data(), 2);
  CHECK(p[0] == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))).epsilon(1e-6));
  CHECK(p[1] == doctest::Approx(std::exp(-1.0) / (1.0 + std::exp(-1.0))).epsilon(1e-6));
  // In place, and the sums for a log-sum-exp, in double.
  std::vector<float> in_place = x;
  ctnn::kernels::softmax(in_place.data(), in_place.data(), 4);
  CHECK(in_place == y);
  std::vector<double> e(4);
  const auto s = ctnn::kernels::exp_shifted(x.data(), e.data(), 4);
  CHECK(s.max == 3.0f);
  CHECK(s.max + std::log(s.sum) == doctest::Approx(std::log(direct_sum)).epsilon(1e-12));
  CHECK(e[1] == std::exp(-5.0));
}

TEST_CASE("FNV-1a 64: the published test vectors, continued hashes and words") {
  CHECK(ctnn::detail::fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(ctnn::detail::fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(ctnn::detail::fnv1a64("foobar") == 0x85944171f73967e8ull);
  CHECK(ctnn::detail::fnv1a64("bar", ctnn::detail::fnv1a64("foo")) ==
        ctnn::detail::fnv1a64("foobar"));
  const std::vector<float> w = {1.0f, 2.0f, 3.0f};
  std::vector<float> changed = w;
  changed[2] = 3.5f;
  const auto h = ctnn::detail::hash_words(std::span<const float>(w));
  CHECK(h == ctnn::detail::hash_words(std::span<const float>(w)));
  CHECK(h != ctnn::detail::hash_words(std::span<const float>(changed)));
}

TEST_CASE("file type names, as the readers and the writers say them") {
  using ctnn::io::detail::file_type_name;
  CHECK(file_type_name(S_IFDIR) == "a directory");
  CHECK(file_type_name(S_IFCHR) == "a character device");
  CHECK(file_type_name(S_IFBLK) == "a block device");
  CHECK(file_type_name(S_IFIFO) == "a FIFO");
  CHECK(file_type_name(S_IFIFO, true) == "a FIFO (named pipe)");
  CHECK(file_type_name(S_IFSOCK) == "a socket");
  CHECK(file_type_name(S_IFLNK) == "a symbolic link");
}
