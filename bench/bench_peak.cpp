// FMA peak probe: independent chains of fused multiply-adds on full SIMD registers, so the
// kernels' GFLOP/s can be read as a fraction of what this core can do. One FMA = 2 flops/lane.
#include <benchmark/benchmark.h>

#include <ctnn/kernels/simd.hpp>

using ctnn::kernels::simd;
using ctnn::kernels::simd_width;

namespace {

template <std::size_t Chains>
void BM_FmaPeak(benchmark::State& state) {
  simd acc[Chains];
  for (std::size_t i = 0; i < Chains; ++i) acc[i] = simd(1.0f + 0.001f * float(i));
  const simd a(0.999999f), b(1e-7f);
  constexpr std::size_t inner = 1 << 12;
  for (auto _ : state) {
    for (std::size_t it = 0; it < inner; ++it)
      ctnn::kernels::static_for<Chains>([&](auto i) { acc[i] = xsimd::fma(acc[i], a, b); });
    for (auto& x : acc) benchmark::DoNotOptimize(x);
  }
  state.counters["FLOP/s"] = benchmark::Counter(
      double(state.iterations()) * inner * Chains * simd_width * 2, benchmark::Counter::kIsRate);
}

}  // namespace

// More chains than the FMA latency x throughput product keep every FMA unit busy.
BENCHMARK(BM_FmaPeak<8>);
BENCHMARK(BM_FmaPeak<12>);
BENCHMARK(BM_FmaPeak<16>);

BENCHMARK_MAIN();
