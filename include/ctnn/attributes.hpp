// ctnn/attributes.hpp — compiler attributes the headers use.
#pragma once

/// Marks a function that runs once per program or per file rather than per sample or batch:
/// checks, settings, summaries, file encoding and decoding. GCC and Clang then optimise it for
/// size and treat the paths that call it as unlikely ("cold" in the GCC manual, section Common
/// Function Attributes), which keeps the compile time of a program spent on its hot paths.
/// Nothing else changes: the function computes the same results.
#if defined(__GNUC__) || defined(__clang__)
#define CTNN_COLD [[gnu::cold]]
#else
#define CTNN_COLD
#endif
