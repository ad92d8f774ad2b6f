// Whole-network measurements of the reference workloads:
//   M1 batch-1 inference latency on one thread (median of single-forward timings),
//   M2 batch-256 inference throughput on all threads,
//   M3 training throughput at batch 32 with Adam on 1 and on all threads, and for the image
//      networks also with on-the-fly augmentation (shift 2, hflip, erase: what it costs);
//   the time of one training step on one thread for batches of 1 to 256 samples
//      (<net>/step_1thread/<batch>): the compute part of the scaling model of distributed
//      training (tools/scaling_model.py), where the batch is one process's share.
// Inputs are synthetic (pixel values in [0, 1]); the work does not depend on the values.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctnn/ctnn.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "networks.hpp"

namespace {

template <class Net>
ctnn::data::Dataset synthetic(std::size_t n) {
  ctnn::data::Dataset d;
  d.sample_size = Net::input_shape::size;
  d.classes = Net::output_shape::size;
  ctnn::Rng rng(3);
  d.inputs.resize(n * d.sample_size);
  for (auto& v : d.inputs) v = rng.uniform();
  for (std::size_t i = 0; i < n; ++i)
    d.labels.push_back(static_cast<std::int32_t>(i % Net::output_shape::size));
  return d;
}

std::size_t all_threads() {
  return std::max(1u, std::thread::hardware_concurrency());
}

template <class Net>
void BM_M1_Latency(benchmark::State& state) {
  const auto net = std::make_unique<Net>(1);
  const auto d = synthetic<Net>(16);
  ctnn::Workspace<Net> ws(1, ctnn::inference_only);
  std::vector<float> out(Net::output_shape::size);
  std::vector<double> us;
  std::size_t i = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    net->predict(d.sample(i++ % 16), out.data(), 1, ws);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(out.data());
    const double s = std::chrono::duration<double>(t1 - t0).count();
    state.SetIterationTime(s);
    us.push_back(s * 1e6);
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  state.counters["median_us"] = us[us.size() / 2];
}

template <class Net>
void BM_M2_Batch256(benchmark::State& state) {
  const auto net = std::make_unique<Net>(1);
  const auto d = synthetic<Net>(256);
  ctnn::Predictor<Net> predictor(*net, 256, all_threads());
  std::vector<float> out(256 * Net::output_shape::size);
  for (auto _ : state) {
    predictor.predict(d.inputs.data(), out.data(), 256);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["images/s"] =
      benchmark::Counter(double(state.iterations()) * 256, benchmark::Counter::kIsRate);
  state.counters["threads"] = double(predictor.threads());
}

template <class Net, bool augmented = false>
void BM_M3_Train(benchmark::State& state) {
  const std::size_t threads = state.range(0) == 0 ? all_threads() : std::size_t(state.range(0));
  auto net = std::make_unique<Net>(1);
  const auto d = synthetic<Net>(32 * 64);
  ctnn::Adam adam(1e-3f);
  ctnn::Trainer<Net, ctnn::Adam> trainer(*net, adam, 32, threads, 1);
  if constexpr (augmented) trainer.augment(ctnn::data::parse_augmentation("shift,hflip,erase"));
  std::vector<std::size_t> idx(d.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::size_t step = 0;
  for (auto _ : state) {
    const auto r = trainer.step(d, idx.data() + (step % 64) * 32, 32, step);
    benchmark::DoNotOptimize(r.loss);
    ++step;
  }
  state.counters["images/s"] =
      benchmark::Counter(double(state.iterations()) * 32, benchmark::Counter::kIsRate);
  state.counters["threads"] = double(threads);
}

// One Trainer::step on one thread for a batch of state.range(0) samples, with Adam.
template <class Net>
void BM_StepPerBatch(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  auto net = std::make_unique<Net>(1);
  const auto d = synthetic<Net>(batch * 16);
  ctnn::Adam adam(1e-3f);
  ctnn::Trainer<Net, ctnn::Adam> trainer(*net, adam, batch, 1, 1);
  std::vector<std::size_t> idx(d.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::size_t step = 0;
  for (auto _ : state) {
    const auto r = trainer.step(d, idx.data() + (step % 16) * batch, batch, step);
    benchmark::DoNotOptimize(r.loss);
    ++step;
  }
  state.counters["images/s"] =
      benchmark::Counter(double(state.iterations() * batch), benchmark::Counter::kIsRate);
  state.counters["parameters"] = double(Net::parameter_count);
}

}  // namespace

#define CTNN_NETWORK_BENCHMARKS(Net, label) \
  BENCHMARK(BM_M1_Latency<Net>)             \
      ->Name(label "/M1_batch1_latency")    \
      ->UseManualTime()                     \
      ->Iterations(2000)                    \
      ->Unit(benchmark::kMicrosecond);      \
  BENCHMARK(BM_M2_Batch256<Net>)            \
      ->Name(label "/M2_batch256")          \
      ->UseRealTime()                       \
      ->MinTime(2.0)                        \
      ->Unit(benchmark::kMillisecond);      \
  BENCHMARK(BM_M3_Train<Net>)               \
      ->Name(label "/M3_train_batch32")     \
      ->Arg(1)                              \
      ->Arg(0)                              \
      ->UseRealTime()                       \
      ->MinTime(3.0)                        \
      ->Unit(benchmark::kMillisecond)

#define CTNN_AUGMENTED_BENCHMARK(Net, label)      \
  BENCHMARK(BM_M3_Train<Net, true>)               \
      ->Name(label "/M3_train_batch32_augmented") \
      ->Arg(1)                                    \
      ->Arg(0)                                    \
      ->UseRealTime()                             \
      ->MinTime(3.0)                              \
      ->Unit(benchmark::kMillisecond)

#define CTNN_STEP_BENCHMARK(Net, label) \
  BENCHMARK(BM_StepPerBatch<Net>)       \
      ->Name(label "/step_1thread")     \
      ->RangeMultiplier(2)              \
      ->Range(1, 256)                   \
      ->UseRealTime()                   \
      ->MinTime(0.5)                    \
      ->Unit(benchmark::kMillisecond)

CTNN_NETWORK_BENCHMARKS(examples::FashionCnn, "cnn");
CTNN_AUGMENTED_BENCHMARK(examples::FashionCnn, "cnn");
CTNN_NETWORK_BENCHMARKS(examples::FashionLstm, "lstm");
CTNN_NETWORK_BENCHMARKS(examples::FashionCrnn, "crnn");
CTNN_AUGMENTED_BENCHMARK(examples::FashionCrnn, "crnn");
CTNN_NETWORK_BENCHMARKS(examples::FashionResNet, "resnet");
CTNN_STEP_BENCHMARK(examples::FashionCnn, "cnn");
CTNN_STEP_BENCHMARK(examples::FashionLstm, "lstm");
CTNN_STEP_BENCHMARK(examples::FashionCrnn, "crnn");

BENCHMARK_MAIN();
