// ctnn/io/detail/json_linkage.hpp — where the JSON parts of the file formats are compiled.
//
// The checkpoint's training state and the safetensors header are JSON, read and written with
// nlohmann-json. By default, as everything in ctnn, that code is inline in the headers, and every
// translation unit that includes them compiles it again (several seconds at -O3). A program can
// compile it once instead:
//
//   - define CTNN_SEPARATE_JSON in every translation unit (e.g. target_compile_definitions in
//     CMake); the headers then only declare those functions and do not include nlohmann-json;
//   - in exactly one source file, define CTNN_JSON_IMPLEMENTATION before including
//     <ctnn/ctnn.hpp> (or <ctnn/io/checkpoint.hpp> and <ctnn/io/safetensors.hpp>): the
//     functions are defined there, not inline.
#pragma once

#if defined(CTNN_JSON_IMPLEMENTATION)
#define CTNN_JSON_FUNCTION
#define CTNN_JSON_DEFINITIONS 1
#elif defined(CTNN_SEPARATE_JSON)
#define CTNN_JSON_FUNCTION
#define CTNN_JSON_DEFINITIONS 0
#else
#define CTNN_JSON_FUNCTION inline
#define CTNN_JSON_DEFINITIONS 1
#endif
