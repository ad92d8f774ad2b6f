// libtorch (PyTorch's C++ API) side of the reference workloads, so that ctnn's bench_networks can
// be read beside it: the same three networks (CNN, LSTM, CRNN of examples/networks.hpp) and the
// same measurements:
//   M1  batch-1 inference latency, 1 thread: median us of single forwards (after warm-up);
//   M2  batch-256 inference, 2 threads: 256 / median batch time, images/s;
//   M3  training, batch 32, Adam lr 1e-3, softmax cross-entropy: images/s over all timed steps
//       (after warm-up), on 1 and on 2 threads.
// Inference is tried in the eager modes libtorch 1.13's C++ API offers: NoGradGuard,
// InferenceMode, and for the convolutional networks InferenceMode with channels-last tensors and
// with oneDNN (MKL-DNN) tensors and pre-reordered kernels, as torch.utils.mkldnn does in Python
// (the nearest C++ counterpart of torch.jit.optimize_for_inference, which C++ does not offer for a
// module built in C++). Training is tried eager in plain and in channels-last tensors. The fastest
// mode is the `libtorch` figure; every mode is printed on a `#` comment line.
//
// Output: one machine-readable line per figure, `network,measure,library,threads,median,unit`,
// e.g. `cnn,M1,libtorch,1,245.3,us`; every other line starts with `#`.
// Inputs are synthetic (uniform in [0, 1], as in bench_networks); the work does not depend on them.
//
// Run it with OPENBLAS_CORETYPE=SkylakeX ATEN_CPU_CAPABILITY=avx512 OPENBLAS_NUM_THREADS=1 (see
// bench/compare.sh): without them this machine's torch runs AVX2 code and OpenBLAS threads fight
// torch's own for the two cores.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "peer_common.hpp"

namespace {

using clk = std::chrono::steady_clock;
using peer::median;
using peer::split;

void emit(const std::string& net, const char* measure, int threads, double value,
          const char* unit) {
  peer::emit("libtorch", net, measure, threads, value, unit);
}

// ------------------------------------------------------------------------------ networks
// A convolution prepared for oneDNN (MKL-DNN) tensors, as torch.utils.mkldnn does in Python:
// the kernel reordered once into oneDNN's blocked layout, the bias as a oneDNN tensor.
struct PackedConv {
  torch::Tensor w, b;
  PackedConv() = default;
  explicit PackedConv(const torch::nn::Conv2d& c)
      : w(at::mkldnn_reorder_conv2d_weight(c->weight.detach().to_mkldnn(), {0, 0}, {1, 1}, {1, 1},
                                           1)),
        b(c->bias.detach().to_mkldnn()) {}
  torch::Tensor operator()(const torch::Tensor& x) const {  // x: a oneDNN tensor
    return at::mkldnn_convolution(x, w, b, {0, 0}, {1, 1}, {1, 1}, 1);
  }
};

// W1: 28x28x1 -> Conv 32 3x3 + ReLU -> Conv 64 3x3 + ReLU -> MaxPool 2 -> Conv 64 3x3 + ReLU
//     -> MaxPool 2 -> Flatten 1600 -> Dense 128 + ReLU -> Dense 10 (logits).
struct CnnImpl : torch::nn::Module {
  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, c3{nullptr};
  torch::nn::Linear d1{nullptr}, d2{nullptr};
  CnnImpl() {
    c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3)));
    c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3)));
    c3 = register_module("c3", torch::nn::Conv2d(torch::nn::Conv2dOptions(64, 64, 3)));
    d1 = register_module("d1", torch::nn::Linear(5 * 5 * 64, 128));
    d2 = register_module("d2", torch::nn::Linear(128, 10));
  }
  torch::Tensor forward(torch::Tensor x) {  // x: (B, 1, 28, 28)
    x = torch::relu(c1->forward(x));
    x = torch::max_pool2d(torch::relu(c2->forward(x)), 2);
    x = torch::max_pool2d(torch::relu(c3->forward(x)), 2);
    x = torch::relu(d1->forward(x.flatten(1)));
    return d2->forward(x);
  }
  // The same on oneDNN tensors up to the last pooling; the dense layers run on plain tensors.
  PackedConv p1, p2, p3;
  void pack() { p1 = PackedConv(c1), p2 = PackedConv(c2), p3 = PackedConv(c3); }
  torch::Tensor forward_mkldnn(const torch::Tensor& input) {
    auto x = torch::relu(p1(input.to_mkldnn()));
    x = torch::max_pool2d(torch::relu(p2(x)), 2);
    x = torch::max_pool2d(torch::relu(p3(x)), 2);
    x = torch::relu(d1->forward(x.to_dense().flatten(1)));
    return d2->forward(x);
  }
};
TORCH_MODULE(Cnn);

// W2: the image's 28 rows as 28 steps of 28 features -> LSTM 128 (last hidden state) -> Dense 10.
struct LstmImpl : torch::nn::Module {
  torch::nn::LSTM lstm{nullptr};
  torch::nn::Linear d{nullptr};
  LstmImpl() {
    lstm =
        register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(28, 128).batch_first(true)));
    d = register_module("d", torch::nn::Linear(128, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x.reshape({x.size(0), 28, 28});
    const auto h = std::get<0>(std::get<1>(lstm->forward(x)));  // (layers = 1, B, 128)
    return d->forward(h[0]);
  }
};
TORCH_MODULE(Lstm);

// W3: Conv 32 3x3 + ReLU -> MaxPool 2 -> the 13x13x32 map as 13 steps (rows) of 13*32 = 416
//     features ordered (column, channel) as ctnn's channels-last layout -> LSTM 256 -> Dense 10.
struct CrnnImpl : torch::nn::Module {
  torch::nn::Conv2d c{nullptr};
  torch::nn::LSTM lstm{nullptr};
  torch::nn::Linear d{nullptr};
  CrnnImpl() {
    c = register_module("c", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3)));
    lstm = register_module("lstm",
                           torch::nn::LSTM(torch::nn::LSTMOptions(416, 256).batch_first(true)));
    d = register_module("d", torch::nn::Linear(256, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(c->forward(x)), 2);  // (B, 32, 13, 13)
    return rest(x);
  }
  torch::Tensor rest(torch::Tensor x) {
    x = x.permute({0, 2, 3, 1}).reshape({x.size(0), 13, 416});  // (B, row, col * 32 + channel)
    const auto h = std::get<0>(std::get<1>(lstm->forward(x)));
    return d->forward(h[0]);
  }
  PackedConv p;
  void pack() { p = PackedConv(c); }
  torch::Tensor forward_mkldnn(const torch::Tensor& input) {
    return rest(torch::max_pool2d(torch::relu(p(input.to_mkldnn())), 2).to_dense());
  }
};
TORCH_MODULE(Crnn);

// W4 (examples::FashionResNet): a basic residual block: conv 3x3 (stride s) + BN + ReLU, conv 3x3
// + BN, plus the input or its 1x1 stride-s conv + BN projection, then ReLU. Convolutions have
// biases, as ctnn's Conv2D.
struct BlockImpl : torch::nn::Module {
  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, pc{nullptr};
  torch::nn::BatchNorm2d b1{nullptr}, b2{nullptr}, pb{nullptr};
  BlockImpl(std::int64_t cin, std::int64_t cout, std::int64_t stride) {
    using torch::nn::Conv2dOptions;
    c1 = register_module("c1",
                         torch::nn::Conv2d(Conv2dOptions(cin, cout, 3).stride(stride).padding(1)));
    b1 = register_module("b1", torch::nn::BatchNorm2d(cout));
    c2 = register_module("c2", torch::nn::Conv2d(Conv2dOptions(cout, cout, 3).padding(1)));
    b2 = register_module("b2", torch::nn::BatchNorm2d(cout));
    if (stride != 1 || cin != cout) {
      pc = register_module("pc", torch::nn::Conv2d(Conv2dOptions(cin, cout, 1).stride(stride)));
      pb = register_module("pb", torch::nn::BatchNorm2d(cout));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = b2->forward(c2->forward(torch::relu(b1->forward(c1->forward(x)))));
    return torch::relu(y + (pc ? pb->forward(pc->forward(x)) : x));
  }
};
TORCH_MODULE(Block);

// Conv 16 3x3 same + BN + ReLU, three stages of two blocks (16, 32, 64 filters; stride 2 into the
// second and third), global average pooling, Dense 10.
struct ResNetImpl : torch::nn::Module {
  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  std::vector<Block> blocks;
  torch::nn::Linear d{nullptr};
  ResNetImpl() {
    stem =
        register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3).padding(1)));
    bn = register_module("bn", torch::nn::BatchNorm2d(16));
    const std::int64_t spec[6][3] = {{16, 16, 1}, {16, 16, 1}, {16, 32, 2},
                                     {32, 32, 1}, {32, 64, 2}, {64, 64, 1}};
    for (int i = 0; i < 6; ++i)
      blocks.push_back(
          register_module("block" + std::to_string(i), Block(spec[i][0], spec[i][1], spec[i][2])));
    d = register_module("d", torch::nn::Linear(64, 10));
  }
  torch::Tensor forward(const torch::Tensor& input) {
    auto x = torch::relu(bn->forward(stem->forward(input)));
    for (auto& b : blocks) x = b->forward(x);
    return d->forward(x.mean({2, 3}));
  }
};
TORCH_MODULE(ResNet);

// Parameter counts of examples/networks.hpp, to make sure the same networks are measured.
constexpr std::int64_t kCnnParams = 261962;
constexpr std::int64_t kLstmParams = 4 * 128 * (28 + 128 + 2) + 128 * 10 + 10;
constexpr std::int64_t kCrnnParams = 320 + 4 * 256 * (416 + 256 + 2) + 2570;
constexpr std::int64_t kResNetParams = 175530;

// A network behind one interface. The convolutional ones also have a oneDNN-tensor forward
// (`pack` prepares its weights) and take channels-last tensors.
struct Model {
  std::string name;
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward, forward_mkldnn;
  std::function<void()> pack;
  bool convolutional() const { return bool(forward_mkldnn); }
};

Model make(const std::string& name) {
  torch::manual_seed(1);
  if (name == "cnn") {
    Cnn m;
    return {name, m.ptr(), [m](const torch::Tensor& x) mutable { return m->forward(x); },
            [m](const torch::Tensor& x) mutable { return m->forward_mkldnn(x); },
            [m]() mutable { m->pack(); }};
  }
  if (name == "lstm") {
    Lstm m;
    return {name, m.ptr(), [m](const torch::Tensor& x) mutable { return m->forward(x); }, {}, {}};
  }
  if (name == "resnet") {
    ResNet m;
    return {name, m.ptr(), [m](const torch::Tensor& x) mutable { return m->forward(x); }, {}, {}};
  }
  Crnn m;
  return {name, m.ptr(), [m](const torch::Tensor& x) mutable { return m->forward(x); },
          [m](const torch::Tensor& x) mutable { return m->forward_mkldnn(x); },
          [m]() mutable { m->pack(); }};
}

std::int64_t parameter_count(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// Four-dimensional parameters (convolution kernels) to channels-last, in place.
void to_channels_last(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
}

void to_contiguous(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous());
}

// ------------------------------------------------------------------------------ helpers
torch::Tensor images(std::int64_t n) {
  torch::manual_seed(3);
  return torch::rand({n, 1, 28, 28});
}

double seconds(clk::time_point a, clk::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Options {
  std::set<std::string> nets{"cnn", "lstm", "crnn", "resnet"};
  std::set<std::string> measures{"M1", "M2", "M3"};
  int m1_iters = 2000, m1_warmup = 200;
  int m2_runs = 30, m2_warmup = 5;
  int m3_steps = 100, m3_warmup = 10;
  int threads = 2;  // "all threads" for M2 and M3
};

// Inference modes: the gradient guard, and the tensors the forward takes.
enum class Mode { NoGrad, Inference, InferenceChannelsLast, InferenceMkldnn };
const char* mode_name(Mode m) {
  switch (m) {
    case Mode::NoGrad:
      return "no_grad";
    case Mode::Inference:
      return "inference_mode";
    case Mode::InferenceChannelsLast:
      return "inference_mode+channels_last";
    default:
      return "inference_mode+mkldnn_tensors";
  }
}

std::vector<Mode> modes_for(const Model& m) {
  std::vector<Mode> v{Mode::NoGrad, Mode::Inference};
  if (m.convolutional()) v.insert(v.end(), {Mode::InferenceChannelsLast, Mode::InferenceMkldnn});
  if (m.name == "resnet") v.push_back(Mode::InferenceChannelsLast);
  return v;
}

// Runs body(forward) under the guard `mode` asks for, with the weights laid out for it.
template <class F>
void with_mode(Model& m, Mode mode, F&& body) {
  if (mode == Mode::NoGrad) {
    torch::NoGradGuard guard;
    body(m.forward);
    return;
  }
  c10::InferenceMode guard;
  if (mode == Mode::InferenceMkldnn) {
    m.pack();
    body(m.forward_mkldnn);
  } else if (mode == Mode::InferenceChannelsLast) {
    to_channels_last(*m.module);
    body(m.forward);
    to_contiguous(*m.module);
  } else {
    body(m.forward);
  }
}

// The input as the mode's forward takes it (a user's plain NCHW batch otherwise).
torch::Tensor layout(const torch::Tensor& x, Mode mode) {
  return mode == Mode::InferenceChannelsLast ? x.contiguous(torch::MemoryFormat::ChannelsLast)
                                             : x.contiguous();
}

// ------------------------------------------------------------------------------ measurements
void m1(Model& m, const Options& o) {
  at::set_num_threads(1);
  m.module->eval();
  const auto pool = images(16);
  torch::Tensor expected;
  {
    torch::NoGradGuard guard;
    expected = m.forward(pool.slice(0, 0, 1));
  }
  double best = 1e300;
  for (const Mode mode : modes_for(m)) {
    std::vector<double> us;
    us.reserve(o.m1_iters);
    with_mode(m, mode, [&](const auto& forward) {
      std::vector<torch::Tensor> xs;
      for (int i = 0; i < 16; ++i) xs.push_back(layout(pool.slice(0, i, i + 1), mode));
      const torch::Tensor got = forward(xs[0]);
      const double diff = (got - expected).abs().max().item<double>();
      if (diff > 1e-4) {  // every mode must compute the same network
        std::fprintf(stderr, "%s %s differs from the plain forward by %g\n", m.name.c_str(),
                     mode_name(mode), diff);
        std::exit(1);
      }
      for (int i = 0; i < o.m1_warmup; ++i) forward(xs[i % 16]);
      for (int i = 0; i < o.m1_iters; ++i) {
        const auto t0 = clk::now();
        const auto y = forward(xs[i % 16]);
        const auto t1 = clk::now();
        us.push_back(seconds(t0, t1) * 1e6);
      }
    });
    const double med = median(us);
    std::printf("# %s M1 %s: median %.2f us over %d forwards\n", m.name.c_str(), mode_name(mode),
                med, o.m1_iters);
    best = std::min(best, med);
  }
  emit(m.name, "M1", 1, best, "us");
}

void m2(Model& m, const Options& o) {
  at::set_num_threads(o.threads);
  m.module->eval();
  const auto x0 = images(256);
  double best = 0;
  for (const Mode mode : modes_for(m)) {
    std::vector<double> s;
    with_mode(m, mode, [&](const auto& forward) {
      const auto x = layout(x0, mode);
      for (int i = 0; i < o.m2_warmup; ++i) forward(x);
      for (int i = 0; i < o.m2_runs; ++i) {
        const auto t0 = clk::now();
        const auto y = forward(x);
        const auto t1 = clk::now();
        s.push_back(seconds(t0, t1));
      }
    });
    const double ips = 256 / median(s);
    std::printf("# %s M2 %s: %.1f images/s (median of %d batches of 256)\n", m.name.c_str(),
                mode_name(mode), ips, o.m2_runs);
    best = std::max(best, ips);
  }
  emit(m.name, "M2", o.threads, best, "images/s");
}

// Images/s of `steps` timed training steps, eager, in plain or channels-last tensors.
double train(const std::string& name, int threads, bool channels_last, const Options& o) {
  auto m = make(name);  // fresh weights and optimizer state for every run
  if (channels_last) to_channels_last(*m.module);
  m.module->train();
  constexpr int B = 32, batches = 64;
  auto x = images(B * batches);
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const auto y = torch::arange(B * batches, torch::kLong).remainder(10);
  torch::optim::Adam adam(m.module->parameters(), torch::optim::AdamOptions(1e-3));
  auto step = [&](int i) {
    const int b = i % batches;
    adam.zero_grad();
    const auto loss = torch::nn::functional::cross_entropy(
        m.forward(x.slice(0, b * B, (b + 1) * B)), y.slice(0, b * B, (b + 1) * B));
    loss.backward();
    adam.step();
    return loss.item<float>();
  };
  float loss = 0;
  for (int i = 0; i < o.m3_warmup; ++i) loss = step(i);
  const auto t0 = clk::now();
  for (int i = 0; i < o.m3_steps; ++i) loss = step(o.m3_warmup + i);
  const double s = seconds(t0, clk::now());
  std::printf("# %s M3 %s: %d steps of %d in %.3f s on %d threads, last loss %.4f\n", name.c_str(),
              channels_last ? "eager+channels_last" : "eager", o.m3_steps, B, s, threads, loss);
  return double(o.m3_steps) * B / s;
}

void m3(const std::string& name, int threads, const Options& o) {
  at::set_num_threads(threads);
  double best = train(name, threads, false, o);
  if (name != "lstm") best = std::max(best, train(name, threads, true, o));
  emit(name, "M3", threads, best, "images/s");
}

void usage() {
  std::puts(
      "usage: libtorch_bench [--quick] [--nets cnn,lstm,crnn,resnet] [--measures M1,M2,M3]\n"
      "                      [--m1-iters N] [--m2-runs N] [--m3-steps N] [--threads N]\n"
      "Prints `network,measure,library,threads,median,unit` lines; other lines start with #.\n"
      "--quick: a smoke run (M1 200 forwards, M2 5 batches, M3 10 steps).\n"
      "--threads: threads of M2 and of the second M3 figure (default 2; M1 and the first M3 use "
      "1).");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (peer::Args a(argc, argv); a.next();) {
    if (a.is("--quick")) {
      o.m1_iters = 200, o.m1_warmup = 20, o.m2_runs = 5, o.m2_warmup = 1, o.m3_steps = 10,
      o.m3_warmup = 3;
    } else if (a.is("--nets")) {
      o.nets = split(a.value());
    } else if (a.is("--measures")) {
      o.measures = split(a.value());
    } else if (a.is("--m1-iters")) {
      o.m1_iters = a.int_value();
    } else if (a.is("--m2-runs")) {
      o.m2_runs = a.int_value();
    } else if (a.is("--m3-steps")) {
      o.m3_steps = a.int_value();
    } else if (a.is("--threads")) {
      o.threads = a.int_value();
    } else if (a.is("--help") || a.is("-h")) {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.current().c_str());
      usage();
      return 2;
    }
  }
  at::set_num_interop_threads(1);

  std::string capability = "?";
  {
    std::istringstream cfg(at::show_config());
    for (std::string line; std::getline(cfg, line);)
      if (line.find("CPU capability usage:") != std::string::npos)
        capability = line.substr(line.find(':') + 2);
  }
  const char* blas = std::getenv("OPENBLAS_NUM_THREADS");
  std::printf("# libtorch %s, CPU capability %s, OPENBLAS_NUM_THREADS=%s, threads for M2/M3 %d\n",
              TORCH_VERSION, capability.c_str(), blas ? blas : "(unset)", o.threads);

  for (const std::string name : {"cnn", "lstm", "crnn", "resnet"}) {
    if (!o.nets.count(name)) continue;
    auto m = make(name);
    const std::int64_t want = name == "cnn"      ? kCnnParams
                              : name == "lstm"   ? kLstmParams
                              : name == "resnet" ? kResNetParams
                                                 : kCrnnParams;
    const std::int64_t got = parameter_count(*m.module);
    if (got != want) {
      std::fprintf(stderr, "%s has %lld parameters, ctnn's has %lld\n", name.c_str(),
                   (long long)got, (long long)want);
      return 1;
    }
    if (o.measures.count("M1")) m1(m, o);
    if (o.measures.count("M2")) m2(m, o);
    if (o.measures.count("M3")) {
      m3(name, 1, o);
      if (o.threads != 1) m3(name, o.threads, o);
    }
  }
  return 0;
}
