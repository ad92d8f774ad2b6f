// Every layer of the three reference networks (the Fashion-MNIST CNN, the LSTM and the CRNN),
// forward and backward, at batch 1 and batch 32, with FLOP/s and the fraction of this core's FMA
// peak (bench/peak.hpp, measured once at start-up). Layers followed by ReLU in the networks run
// with the ReLU fused into their epilogue, as the networks run them.
//
// Flops: forward as each layer's `flops` (2 per multiply-add). Backward counts the weight
// gradient and, except for a network's first layer, the input gradient, each as many flops as the
// forward product. One thread.
#include <benchmark/benchmark.h>

#include <chrono>
#include <ctnn/ctnn.hpp>
#include <vector>

#include "peak.hpp"

namespace {

const double g_peak = [] {
  const double peak = bench::fma_peak_flops();
  benchmark::AddCustomContext("fma_peak_GFLOP/s", std::to_string(peak * 1e-9));
  return peak;
}();

template <class L>
struct LayerData {
  // 64-byte aligned, as a network's parameters and workspace are.
  ctnn::aligned_vector<float> params, grads, in, out, dout, din, scratch;
  ctnn::Rng rng{1};
  std::size_t batch;
  explicit LayerData(std::size_t b)
      : params(L::parameter_count + 1),
        grads(L::parameter_count + 1),
        in(b * L::input_shape::size),
        out(b * L::output_shape::size),
        dout(b * L::output_shape::size, 0.01f),
        din(b * L::input_shape::size),
        scratch(b * L::scratch_per_sample + L::scratch_fixed + 1),
        batch(b) {
    std::vector<float> st(L::state_count + 1);
    L::init(params.data(), st.data(), rng);
    for (auto& v : in) v = rng.uniform();
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
    p.batch = batch;
    p.training = true;
    p.rng = &rng;
    return p;
  }
};

using Clock = std::chrono::steady_clock;

/// FLOP/s as a rate, and of_peak = FLOP/s / the probe's peak, from the loop's wall time.
void report(benchmark::State& state, double flops_per_sample, Clock::time_point start) {
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double flops = double(state.iterations()) * double(state.range(0)) * flops_per_sample;
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsRate);
  state.counters["of_peak"] = flops / seconds / g_peak;
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

template <class L, bool Relu>
void run_forward(const ctnn::Pass& p) {
  if constexpr (Relu)
    L::template forward_fused<ctnn::fused::relu>(p, {});
  else
    L::forward(p);
}

template <class L, bool Relu = false>
void BM_Forward(benchmark::State& state) {
  LayerData<L> d(std::size_t(state.range(0)));
  const auto p = d.pass(false);
  const auto start = Clock::now();
  for (auto _ : state) {
    run_forward<L, Relu>(p);
    benchmark::DoNotOptimize(d.out.data());
  }
  report(state, double(L::flops), start);
}

template <class L, bool InputGradient>
void BM_Backward(benchmark::State& state) {
  LayerData<L> d(std::size_t(state.range(0)));
  const auto p = d.pass(InputGradient);
  L::forward(p);
  const auto start = Clock::now();
  for (auto _ : state) {
    L::backward(p);
    benchmark::DoNotOptimize(d.grads.data());
  }
  report(state, double(L::flops) * (InputGradient ? 2 : 1), start);
}

using ctnn::Image;
using ctnn::Vector;
// CNN: Conv2D<32,3> ReLU Conv2D<64,3> ReLU MaxPool2D<2> Conv2D<64,3> ReLU MaxPool2D<2>
//      Dense<128> ReLU Dense<10>
using CnnConv1 = ctnn::Conv2D<32, 3>::bind<Image<28, 28, 1>>;
using CnnConv2 = ctnn::Conv2D<64, 3>::bind<Image<26, 26, 32>>;
using CnnPool1 = ctnn::MaxPool2D<2>::bind<Image<24, 24, 64>>;
using CnnConv3 = ctnn::Conv2D<64, 3>::bind<Image<12, 12, 64>>;
using CnnPool2 = ctnn::MaxPool2D<2>::bind<Image<10, 10, 64>>;
using CnnDense1 = ctnn::Dense<128>::bind<Image<5, 5, 64>>;
using CnnDense2 = ctnn::Dense<10>::bind<Vector<128>>;
// LSTM: LSTM<128> Dense<10>
using LstmLstm = ctnn::LSTM<128>::bind<Image<28, 28, 1>>;
// CRNN: Conv2D<32,3> ReLU MaxPool2D<2> LSTM<256> Dense<10> (the convolution is CnnConv1)
using CrnnPool = ctnn::MaxPool2D<2>::bind<Image<26, 26, 32>>;
using CrnnLstm = ctnn::LSTM<256>::bind<Image<13, 13, 32>>;
using CrnnDense = ctnn::Dense<10>::bind<Vector<256>>;
// ResNet (examples::FashionResNet): the 3x3 "same" convolutions of its three stages, the
// stride-2 ones that start stages 2 and 3, and BatchNorm on the largest maps.
using ResConv16 = ctnn::Conv2D<16, 3, 1, ctnn::Same>::bind<Image<28, 28, 16>>;
using ResConv32s2 = ctnn::Conv2D<32, 3, 2, ctnn::Same>::bind<Image<28, 28, 16>>;
using ResConv32 = ctnn::Conv2D<32, 3, 1, ctnn::Same>::bind<Image<14, 14, 32>>;
using ResConv64s2 = ctnn::Conv2D<64, 3, 2, ctnn::Same>::bind<Image<14, 14, 32>>;
using ResConv64 = ctnn::Conv2D<64, 3, 1, ctnn::Same>::bind<Image<7, 7, 64>>;
using ResBn16 = ctnn::BatchNorm::bind<Image<28, 28, 16>>;

}  // namespace

#define CTNN_LAYER(name, forward_bench, backward_bench)             \
  BENCHMARK(forward_bench)->Name(name "/forward")->Arg(1)->Arg(32); \
  BENCHMARK(backward_bench)->Name(name "/backward")->Arg(1)->Arg(32)

CTNN_LAYER("cnn/conv1_28x28x1_to_32", (BM_Forward<CnnConv1, true>), (BM_Backward<CnnConv1, false>));
CTNN_LAYER("cnn/conv2_26x26x32_to_64", (BM_Forward<CnnConv2, true>), (BM_Backward<CnnConv2, true>));
CTNN_LAYER("cnn/maxpool_24x24x64", BM_Forward<CnnPool1>, (BM_Backward<CnnPool1, true>));
CTNN_LAYER("cnn/conv3_12x12x64_to_64", (BM_Forward<CnnConv3, true>), (BM_Backward<CnnConv3, true>));
CTNN_LAYER("cnn/maxpool_10x10x64", BM_Forward<CnnPool2>, (BM_Backward<CnnPool2, true>));
CTNN_LAYER("cnn/dense_1600_to_128", (BM_Forward<CnnDense1, true>), (BM_Backward<CnnDense1, true>));
CTNN_LAYER("cnn/dense_128_to_10", BM_Forward<CnnDense2>, (BM_Backward<CnnDense2, true>));
CTNN_LAYER("lstm/lstm128_28x28", BM_Forward<LstmLstm>, (BM_Backward<LstmLstm, false>));
CTNN_LAYER("lstm/dense_128_to_10", BM_Forward<CnnDense2>, (BM_Backward<CnnDense2, true>));
CTNN_LAYER("crnn/conv_28x28x1_to_32", (BM_Forward<CnnConv1, true>), (BM_Backward<CnnConv1, false>));
CTNN_LAYER("crnn/maxpool_26x26x32", BM_Forward<CrnnPool>, (BM_Backward<CrnnPool, true>));
CTNN_LAYER("crnn/lstm256_13x13x32", BM_Forward<CrnnLstm>, (BM_Backward<CrnnLstm, true>));
CTNN_LAYER("crnn/dense_256_to_10", BM_Forward<CrnnDense>, (BM_Backward<CrnnDense, true>));
CTNN_LAYER("resnet/conv_28x28x16_to_16", (BM_Forward<ResConv16, true>),
           (BM_Backward<ResConv16, true>));
CTNN_LAYER("resnet/conv_s2_28x28x16_to_32", (BM_Forward<ResConv32s2, true>),
           (BM_Backward<ResConv32s2, true>));
CTNN_LAYER("resnet/conv_14x14x32_to_32", (BM_Forward<ResConv32, true>),
           (BM_Backward<ResConv32, true>));
CTNN_LAYER("resnet/conv_s2_14x14x32_to_64", (BM_Forward<ResConv64s2, true>),
           (BM_Backward<ResConv64s2, true>));
CTNN_LAYER("resnet/conv_7x7x64_to_64", (BM_Forward<ResConv64, true>),
           (BM_Backward<ResConv64, true>));
CTNN_LAYER("resnet/batchnorm_28x28x16", BM_Forward<ResBn16>, (BM_Backward<ResBn16, true>));

BENCHMARK_MAIN();
