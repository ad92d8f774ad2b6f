// FMA peak probe: independent chains of fused multiply-adds on full SIMD registers, so the
// kernels' GFLOP/s can be read as a fraction of what this core can do (bench/peak.hpp).
#include <benchmark/benchmark.h>

#include "peak.hpp"

namespace {

template <std::size_t Chains>
void BM_FmaPeak(benchmark::State& state) {
  constexpr std::size_t inner = 1 << 12;
  for (auto _ : state) benchmark::DoNotOptimize(bench::fma_chains<Chains>(inner));
  state.counters["FLOP/s"] = benchmark::Counter(
      double(state.iterations()) * inner * Chains * ctnn::kernels::simd_width * 2,
      benchmark::Counter::kIsRate);
}

}  // namespace

// More chains than the FMA latency x throughput product keep every FMA unit busy.
BENCHMARK(BM_FmaPeak<8>);
BENCHMARK(BM_FmaPeak<12>);
BENCHMARK(BM_FmaPeak<16>);

BENCHMARK_MAIN();
