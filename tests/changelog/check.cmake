# CHANGELOG.md's first entry ("## <version> ...", after an "## Unreleased" one if there is) names
# the CMake project's version, so that a version bump cannot go out without its entry.   -DCHANGELOG=... -DVERSION=...
file(STRINGS ${CHANGELOG} headings REGEX "^## ")
list(FILTER headings EXCLUDE REGEX "^## Unreleased$")  # changes not yet in a version
if(NOT headings)
  message(FATAL_ERROR "${CHANGELOG}: no entry (a line starting with \"## \")")
endif()
list(GET headings 0 top)
if(NOT top MATCHES "^## ([0-9]+\\.[0-9]+\\.[0-9]+)( |$)")
  message(FATAL_ERROR "${CHANGELOG}: the top entry \"${top}\" does not start with a version "
                      "MAJOR.MINOR.PATCH")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL VERSION)
  message(FATAL_ERROR "${CHANGELOG}: the top entry is ${CMAKE_MATCH_1}, the project's version "
                      "(CMakeLists.txt) is ${VERSION}")
endif()
message(STATUS "${CHANGELOG}: the top entry is the project's version ${VERSION}")
