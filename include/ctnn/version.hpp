// ctnn/version.hpp — the version of these headers.
//
// The same version as the CMake package (find_package(ctnn 0.4) accepts 0.4.x) and as the top
// entry of CHANGELOG.md, which says what changed for users from one version to the next. Test
// it with the preprocessor, e.g.
//   #if CTNN_VERSION >= 200  // 0.2.0 or later: BatchNorm is written without <>
#pragma once

#define CTNN_VERSION_MAJOR 0
#define CTNN_VERSION_MINOR 4
#define CTNN_VERSION_PATCH 0
/// "MAJOR.MINOR.PATCH"
#define CTNN_VERSION_STRING "0.4.0"
/// MAJOR * 10000 + MINOR * 100 + PATCH, for comparisons in #if.
#define CTNN_VERSION (CTNN_VERSION_MAJOR * 10000 + CTNN_VERSION_MINOR * 100 + CTNN_VERSION_PATCH)
