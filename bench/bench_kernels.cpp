// Per-layer kernels of the Fashion-MNIST CNN at batch 32: forward and backward, with FLOP/s.
// Backward counts the weight gradient and, except for the first layer, the input gradient, each
// as many flops as the forward product.
#include <benchmark/benchmark.h>

#include <ctnn/ctnn.hpp>

#include <vector>

namespace {

constexpr std::size_t kBatch = 32;

template <class L>
struct LayerData {
  std::vector<float> params, grads, in, out, dout, din, scratch;
  ctnn::Rng rng{1};
  LayerData()
      : params(L::parameter_count + 1), grads(L::parameter_count + 1),
        in(kBatch * L::input_shape::size, 0.5f), out(kBatch * L::output_shape::size),
        dout(kBatch * L::output_shape::size, 0.01f), din(kBatch * L::input_shape::size),
        scratch(kBatch * L::scratch_per_sample + L::scratch_fixed + 1) {
    std::vector<float> st(L::state_count + 1);
    L::init(params.data(), st.data(), rng);
  }
  ctnn::Pass pass(bool with_din) {
    ctnn::Pass p;
    p.params = params.data();
    p.grads = grads.data();
    p.scratch = scratch.data();
    p.in = in.data();
    p.out = out.data();
    p.dout = dout.data();
    p.din = with_din ? din.data() : nullptr;
    p.batch = kBatch;
    p.training = true;
    p.rng = &rng;
    return p;
  }
};

template <class L>
void BM_Forward(benchmark::State& state) {
  LayerData<L> d;
  const auto p = d.pass(false);
  for (auto _ : state) {
    L::forward(p);
    benchmark::DoNotOptimize(d.out.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(double(state.iterations()) * kBatch * L::flops,
                                                benchmark::Counter::kIsRate);
  state.SetItemsProcessed(state.iterations() * kBatch);
}

template <class L, bool InputGradient>
void BM_Backward(benchmark::State& state) {
  LayerData<L> d;
  const auto p = d.pass(InputGradient);
  L::forward(p);
  for (auto _ : state) {
    L::backward(p);
    benchmark::DoNotOptimize(d.grads.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(double(state.iterations()) * kBatch * L::flops * (InputGradient ? 2 : 1),
                         benchmark::Counter::kIsRate);
  state.SetItemsProcessed(state.iterations() * kBatch);
}

using Conv1 = ctnn::Conv2D<32, 3>::bind<ctnn::Image<28, 28, 1>>;
using Conv2 = ctnn::Conv2D<64, 3>::bind<ctnn::Image<26, 26, 32>>;
using Conv3 = ctnn::Conv2D<64, 3>::bind<ctnn::Image<12, 12, 64>>;
using Pool1 = ctnn::MaxPool2D<2>::bind<ctnn::Image<24, 24, 64>>;
using Dense1 = ctnn::Dense<128>::bind<ctnn::Image<5, 5, 64>>;
using Dense2 = ctnn::Dense<10>::bind<ctnn::Vector<128>>;

}  // namespace

BENCHMARK(BM_Forward<Conv1>)->Name("conv1_28x28x1_to_32/forward");
BENCHMARK(BM_Backward<Conv1, false>)->Name("conv1_28x28x1_to_32/backward");
BENCHMARK(BM_Forward<Conv2>)->Name("conv2_26x26x32_to_64/forward");
BENCHMARK(BM_Backward<Conv2, true>)->Name("conv2_26x26x32_to_64/backward");
BENCHMARK(BM_Forward<Conv3>)->Name("conv3_12x12x64_to_64/forward");
BENCHMARK(BM_Backward<Conv3, true>)->Name("conv3_12x12x64_to_64/backward");
BENCHMARK(BM_Forward<Pool1>)->Name("maxpool_24x24x64/forward");
BENCHMARK(BM_Backward<Pool1, true>)->Name("maxpool_24x24x64/backward");
BENCHMARK(BM_Forward<Dense1>)->Name("dense_1600_to_128/forward");
BENCHMARK(BM_Backward<Dense1, true>)->Name("dense_1600_to_128/backward");
BENCHMARK(BM_Forward<Dense2>)->Name("dense_128_to_10/forward");
BENCHMARK(BM_Backward<Dense2, true>)->Name("dense_128_to_10/backward");

BENCHMARK_MAIN();
