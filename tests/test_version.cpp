// Tests for ctnn/version.hpp: the macros are the version of the CMake project (passed in by
// tests/CMakeLists.txt), which the package version file and CHANGELOG.md's top entry also carry.
#include <doctest/doctest.h>

#include <string>

#include "ctnn/ctnn.hpp"

static_assert(CTNN_VERSION ==
              CTNN_VERSION_MAJOR * 10000 + CTNN_VERSION_MINOR * 100 + CTNN_VERSION_PATCH);

TEST_CASE("version: the macros are the CMake project's version") {
  CHECK(CTNN_VERSION_MAJOR == CTNN_TEST_PROJECT_VERSION_MAJOR);
  CHECK(CTNN_VERSION_MINOR == CTNN_TEST_PROJECT_VERSION_MINOR);
  CHECK(CTNN_VERSION_PATCH == CTNN_TEST_PROJECT_VERSION_PATCH);
  CHECK(std::string(CTNN_VERSION_STRING) == CTNN_TEST_PROJECT_VERSION);
  CHECK(std::string(CTNN_VERSION_STRING) == std::to_string(CTNN_VERSION_MAJOR) + "." +
                                                std::to_string(CTNN_VERSION_MINOR) + "." +
                                                std::to_string(CTNN_VERSION_PATCH));
}
