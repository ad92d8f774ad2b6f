// The time of one all-reduce (sum) of n floats across the processes of an MPI job, through
// ctnn::mpi::Communicator as distributed training calls it (queued to the communicator's thread,
// MPI_Allreduce there, waited for): the communication part of the scaling model of distributed
// training (tools/scaling_model.py). Run under mpirun with 2 or more processes; only process 0
// prints. Every process runs the same fixed number of iterations of each size, so their calls
// pair up:
//
//   mpirun -np 2 build/release/bench/bench_allreduce --benchmark_format=json
#include <benchmark/benchmark.h>

#include <chrono>
#include <ctnn/distributed/mpi.hpp>
#include <memory>
#include <sstream>
#include <vector>

namespace {

ctnn::mpi::Communicator* world = nullptr;

void BM_Allreduce(benchmark::State& state) {
  std::vector<float> data(static_cast<std::size_t>(state.range(0)), 1.0f);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    world->allreduce_sum(data.data(), data.size());
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::fill(data.begin(), data.end(), 1.0f);  // keep the values finite
  }
  state.counters["processes"] = double(world->size());
  state.counters["bytes"] = double(data.size() * sizeof(float));
}

// Fixed iteration counts (no calibration run, which could differ between processes).
BENCHMARK(BM_Allreduce)
    ->Name("allreduce")
    ->Arg(1)
    ->Arg(1 << 10)
    ->Arg(1 << 14)
    ->Arg(1 << 16)
    ->UseManualTime()
    ->Iterations(400)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Allreduce)
    ->Name("allreduce")
    ->Arg(1 << 18)
    ->Arg(1 << 20)
    ->UseManualTime()
    ->Iterations(40)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  ctnn::mpi::Environment mpi(argc, argv);
  ctnn::mpi::Communicator communicator(MPI_COMM_WORLD, 120.0);
  world = &communicator;
  benchmark::Initialize(&argc, argv);
  if (communicator.rank() == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {  // the same calls, nothing printed
    std::ostringstream sink;
    benchmark::ConsoleReporter quiet;
    quiet.SetOutputStream(&sink);
    quiet.SetErrorStream(&sink);
    benchmark::RunSpecifiedBenchmarks(&quiet);
  }
  benchmark::Shutdown();
  return 0;
}
