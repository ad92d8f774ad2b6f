// The FMA peak of one core: independent chains of fused multiply-adds on full SIMD registers.
// bench_peak reports it per chain count; bench_kernels divides each kernel's FLOP/s by it.
// One FMA on one lane counts as 2 flops.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <ctnn/kernels/simd.hpp>

namespace bench {

/// Runs `iterations` rounds of Chains independent FMAs; returns a value that depends on all
/// of them so that the compiler keeps the work.
/// The operands are read through volatile variables: with constants, GCC evaluates the whole
/// loop at compile time and the "measurement" times nothing (petaflops).
template <std::size_t Chains>
inline float fma_chains(std::size_t iterations) {
  using ctnn::kernels::simd;
  static volatile float start = 1.0f, factor = 0.999999f, addend = 1e-7f;
  simd acc[Chains];
  for (std::size_t i = 0; i < Chains; ++i) acc[i] = simd(start + 0.001f * float(i));
  const simd a(factor), b(addend);
  for (std::size_t it = 0; it < iterations; ++it)
    ctnn::kernels::static_for<Chains>([&](auto i) { acc[i] = xsimd::fma(acc[i], a, b); });
  simd s(0.0f);
  for (const auto& x : acc) s += x;
  return xsimd::hadd(s);
}

/// FLOP/s of one core at its FMA peak: the best of several 20 ms runs of 16 chains (more than
/// the FMA latency times the FMA units of current cores, so every unit stays busy).
inline double fma_peak_flops() {
  constexpr std::size_t chains = 16, iterations = std::size_t{1} << 16;
  double best = 0;
  volatile float sink = 0;
  for (int run = 0; run < 8; ++run) {
    std::size_t rounds = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto t1 = t0;
    do {
      sink = sink + fma_chains<chains>(iterations);
      ++rounds;
      t1 = std::chrono::steady_clock::now();
    } while (t1 - t0 < std::chrono::milliseconds(20));
    const double s = std::chrono::duration<double>(t1 - t0).count();
    best = std::max(best, double(rounds) * iterations * chains * ctnn::kernels::simd_width * 2 / s);
  }
  return best;
}

}  // namespace bench
