#!/usr/bin/python3
"""PyTorch (Python) side of the reference workloads, beside libtorch_bench and onednn_bench.

The same three networks as bench/peers/libtorch_bench.cpp (CNN, LSTM, CRNN of
examples/networks.hpp, checked by their parameter counts) and the same measurements:

  M1  batch-1 inference latency, 1 thread: median us of single forwards (after warm-up);
  M2  batch-256 inference, --threads threads (default 2): 256 / median batch time, images/s;
  M3  training, batch 32, Adam lr 1e-3, softmax cross-entropy: images/s over all timed steps
      (after warm-up), on 1 thread and on --threads threads.

Inference is timed in each configuration PyTorch 1.13 offers from Python: eager under
torch.inference_mode (for the convolutional networks also with channels-last tensors), a
torch.jit.trace'd module frozen with torch.jit.freeze, and that module passed through
torch.jit.optimize_for_inference (which moves convolutions to oneDNN with pre-packed weights).
Every configuration is checked against the eager forward and printed on a `#` line; the fastest
is the `pytorch` figure, and a `#` line names it. Training is eager, in plain and (convolutional
networks) channels-last tensors, the faster counting.

With --int8 the networks are quantized to int8 after training (post-training quantization,
torch.ao.quantization) and timed for M1 and M2 under the library name `pytorch-int8`:

  cnn, resnet  static quantization in FX graph mode with the engine's default configuration:
               weights int8 symmetric, per output channel (PerChannelMinMaxObserver; per tensor
               for qnnpack, its default); activations
               uint8 with per-tensor scale and zero point from a HistogramObserver over the
               calibration batch; BatchNorm folded into the convolution before it, ReLU and the
               residual add fused (quantized conv_relu, linear_relu, add_relu); max-pooling and
               the global average on uint8; the last Linear in int8 with a float32 output.
  lstm, crnn   dynamic quantization of the LSTM and Linear layers (weights int8 per tensor,
               activations quantized at run time per batch, cell arithmetic in float32); the
               CRNN's convolution and pooling stay float32.

The calibration batch is 64 synthetic images (uniform in [0, 1], another seed than the timed
ones) through the same random weights, as the float figures use random weights and synthetic
inputs. Each quantized engine the build has (torch.backends.quantized.supported_engines, of
x86, fbgemm, onednn, qnnpack) quantizes its own copy; each copy runs eager and
torch.jit.trace'd + frozen, in plain and (convolutional networks) channels-last tensors. Every
configuration is checked against the float32 forward (largest logit error at most 15% of the
largest logit), probed with a few forwards, and the fastest probe is timed as the float figures
are; `#` lines give every probe and name the configuration timed. --accuracy trains the
float32 CNN and ResNet on Fashion-MNIST and prints their test accuracy beside the int8 one.

Output: one line per figure, `network,measure,library,threads,median,unit`, e.g.
`cnn,M1,pytorch,1,231.40,us`, as the C++ peers print it; every other line starts with `#`.
Inputs are synthetic (uniform in [0, 1], like pixel / 255); the work does not depend on them.

OpenMP reads its thread count when torch loads, so each thread count runs in its own process:
without --only-threads the script starts itself once per thread count (1, then --threads) with
OMP_NUM_THREADS and MKL_NUM_THREADS set before torch is imported. Run it with Debian's
/usr/bin/python3 (package python3-torch) and, as bench/compare.sh does,
OPENBLAS_CORETYPE=SkylakeX ATEN_CPU_CAPABILITY=avx512 OPENBLAS_NUM_THREADS=1.
"""

import argparse
import copy
import os
import subprocess
import sys
import time

NETS = ("cnn", "lstm", "crnn", "resnet")
MEASURES = ("M1", "M2", "M3")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="pytorch_bench.py",
        allow_abbrev=False,
        description="Prints `network,measure,library,threads,median,unit` lines; other lines "
        "start with #.",
    )
    p.add_argument("--quick", action="store_true",
                   help="a smoke run (M1 200 forwards, M2 5 batches, M3 10 steps)")
    p.add_argument("--nets", default=",".join(NETS), help="networks to run (default: %(default)s)")
    p.add_argument("--measures", default=",".join(MEASURES),
                   help="measurements to take (default: %(default)s)")
    p.add_argument("--m1-iters", type=int, metavar="N", help="timed forwards of M1 (default 2000)")
    p.add_argument("--m2-runs", type=int, metavar="N", help="timed batches of M2 (default 30)")
    p.add_argument("--m3-steps", type=int, metavar="N",
                   help="timed training steps of M3 (default 100)")
    p.add_argument("--threads", type=int, default=2, metavar="N",
                   help="threads of M2 and of the second M3 figure (default 2; M1 and the first "
                   "M3 use 1)")
    p.add_argument("--int8", action="store_true",
                   help="time the networks quantized to int8 (post-training quantization; "
                   "library pytorch-int8, M1 and M2 only)")
    p.add_argument("--accuracy", action="store_true",
                   help="train the float32 CNN and ResNet of --nets on Fashion-MNIST for "
                   "--epochs epochs, then print the test accuracy of float32 and of int8 "
                   "(calibrated on 512 training images) and exit")
    p.add_argument("--epochs", type=int, default=1, metavar="N",
                   help="training epochs of --accuracy (default 1)")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist", metavar="DIR",
                   help="Fashion-MNIST's idx files (gzip), for --accuracy (default %(default)s)")
    p.add_argument("--only-threads", type=int, metavar="T",
                   help="only the figures on T threads, in this process (default: one process "
                   "per thread count)")
    o = p.parse_args(argv)

    def names(value, allowed, flag):
        items = [s for s in value.split(",") if s]
        for s in items:
            if s not in allowed:
                p.error(f"{flag}: unknown {s!r} (one of {','.join(allowed)})")
        return set(items)

    o.nets = names(o.nets, NETS, "--nets")
    o.measures = names(o.measures, MEASURES, "--measures")
    o.m1_warmup, o.m2_warmup, o.m3_warmup = (20, 1, 3) if o.quick else (200, 5, 10)
    defaults = {"m1_iters": 200, "m2_runs": 5, "m3_steps": 10} if o.quick else \
        {"m1_iters": 2000, "m2_runs": 30, "m3_steps": 100}
    for count, default in defaults.items():
        if getattr(o, count) is None:
            setattr(o, count, default)
    if o.int8:
        o.measures.discard("M3")
    if o.accuracy:  # one process, on --threads threads
        o.measures = {"M2"}
    for count in ("m1_iters", "m2_runs", "m3_steps", "threads", "only_threads", "epochs"):
        if getattr(o, count) is not None and getattr(o, count) < 1:
            p.error(f"--{count.replace('_', '-')} needs a positive number")
    return o


def measures_on(threads, o):
    """The measurements of this run that are taken on `threads` threads."""
    on = set()
    if threads == 1:
        on |= {"M1", "M3"}
    if threads == o.threads:
        on |= {"M2", "M3"}
    return on & o.measures


def run_each_thread_count(o):
    """Starts this script once per thread count the run needs; their lines go to our stdout."""
    for threads in sorted({1, o.threads}):
        if not measures_on(threads, o):
            continue
        sys.stdout.flush()
        argv = sys.argv[1:] + ["--only-threads", str(threads)]
        status = subprocess.call([sys.executable, os.path.abspath(__file__)] + argv)
        if status != 0:
            return status
    return 0


if __name__ == "__main__":
    OPTIONS = parse_args(sys.argv[1:])
    if OPTIONS.only_threads is None:
        sys.exit(run_each_thread_count(OPTIONS))
    # Before torch loads: its OpenMP runtime and BLAS size their thread pools from these.
    os.environ["OMP_NUM_THREADS"] = str(OPTIONS.only_threads)
    os.environ["MKL_NUM_THREADS"] = str(OPTIONS.only_threads)

import torch  # noqa: E402  (after the thread variables are set)
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


# ------------------------------------------------------------------------------ networks
class Cnn(nn.Module):
    """W1: 28x28x1 -> Conv 32 3x3 + ReLU -> Conv 64 3x3 + ReLU -> MaxPool 2 -> Conv 64 3x3 + ReLU
    -> MaxPool 2 -> Flatten 1600 -> Dense 128 + ReLU -> Dense 10 (logits)."""

    params = 261962

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3)
        self.c2 = nn.Conv2d(32, 64, 3)
        self.c3 = nn.Conv2d(64, 64, 3)
        self.d1 = nn.Linear(5 * 5 * 64, 128)
        self.d2 = nn.Linear(128, 10)

    def forward(self, x):  # x: (B, 1, 28, 28)
        x = F.relu(self.c1(x))
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        x = F.relu(self.d1(x.flatten(1)))
        return self.d2(x)


class Lstm(nn.Module):
    """W2: the image's 28 rows as 28 steps of 28 features -> LSTM 128 (last hidden state)
    -> Dense 10."""

    params = 4 * 128 * (28 + 128 + 2) + 128 * 10 + 10

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)
        self.d = nn.Linear(128, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x.reshape(x.size(0), 28, 28))  # h: (layers = 1, B, 128)
        return self.d(h[0])


class Crnn(nn.Module):
    """W3: Conv 32 3x3 + ReLU -> MaxPool 2 -> the 13x13x32 map as 13 steps (rows) of 13*32 = 416
    features ordered (column, channel) as ctnn's channels-last layout -> LSTM 256 -> Dense 10."""

    params = 320 + 4 * 256 * (416 + 256 + 2) + 2570

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 32, 3)
        self.lstm = nn.LSTM(416, 256, batch_first=True)
        self.d = nn.Linear(256, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c(x)), 2)  # (B, 32, 13, 13)
        x = x.permute(0, 2, 3, 1).reshape(x.size(0), 13, 416)  # (B, row, col * 32 + channel)
        _, (h, _) = self.lstm(x)
        return self.d(h[0])


class Block(nn.Module):
    """A basic residual block as ctnn's examples::BasicBlock: conv 3x3 (stride s) + BN + ReLU,
    conv 3x3 + BN, plus the input (or its 1x1 stride-s conv + BN projection), then ReLU. The
    convolutions have biases, as ctnn's Conv2D."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.b2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.proj is None else self.proj(x)))


class ResNet(nn.Module):
    """W4 (examples::FashionResNet): conv 16 3x3 same + BN + ReLU, three stages of two basic
    blocks (16, 32, 64 filters; stride 2 into the second and third), global average pooling,
    Dense 10."""

    params = 175530

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 16, 1), Block(16, 32, 2),
                                    Block(32, 32, 1), Block(32, 64, 2), Block(64, 64, 1))
        self.d = nn.Linear(64, 10)

    def forward(self, x):  # x: (B, 1, 28, 28)
        return self.d(self.blocks(self.stem(x)).mean(dim=(2, 3)))


NETWORKS = {"cnn": Cnn, "lstm": Lstm, "crnn": Crnn, "resnet": ResNet}


def make(name):
    torch.manual_seed(1)
    return NETWORKS[name]()


def convolutional(name):
    return name != "lstm"


def check_shapes(name):
    """Prints the parameters' shapes; exits when their count is not that of ctnn's network."""
    m = make(name)
    count = sum(p.numel() for p in m.parameters())
    shapes = ", ".join(f"{n} {'x'.join(map(str, p.shape))}" for n, p in m.named_parameters())
    print(f"# {name}: {count} parameters: {shapes}")
    if count != m.params:
        print(f"{name} has {count} parameters, ctnn's has {m.params}", file=sys.stderr)
        sys.exit(1)


# ------------------------------------------------------------------------------ helpers
def emit(net, measure, threads, value, unit, library="pytorch"):
    print(f"{net},{measure},{library},{threads},{value:.2f},{unit}", flush=True)


def median(v):
    """The median of v (the upper one for an even count), as the C++ peers take it."""
    return sorted(v)[len(v) // 2]


def images(n):
    torch.manual_seed(3)
    return torch.rand(n, 1, 28, 28)


def inference_modes(name, model, example):
    """(name, forward, channels_last) for each inference configuration that builds; `example` is
    an input of the batch size to be timed (TorchScript traces at that shape)."""
    model = model.eval()
    modes = [("inference_mode", model, False)]
    if convolutional(name):
        cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
        modes.append(("inference_mode+channels_last", cl, True))
    try:
        with torch.no_grad():
            frozen = torch.jit.freeze(torch.jit.trace(model, example))
        modes.append(("jit.trace+freeze", frozen, False))
        with torch.no_grad():
            optimized = torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(model, example)))
        modes.append(("jit.trace+freeze+optimize_for_inference", optimized, False))
    except Exception as e:  # a configuration this build cannot make is skipped, not fatal
        print(f"# {name}: TorchScript configuration failed: {type(e).__name__}: {e}")
    return modes


def layout(x, channels_last):
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def check(name, mode, forward, x, expected):
    """Every configuration must compute the same network."""
    with torch.inference_mode():
        diff = (forward(x) - expected).abs().max().item()
    if diff > 1e-4:
        print(f"{name} {mode} differs from the eager forward by {diff:g}", file=sys.stderr)
        sys.exit(1)


# ------------------------------------------------------------------------------ int8
QUANTIZED_ENGINES = ("x86", "fbgemm", "onednn", "qnnpack")


def quantized_engines():
    return [e for e in QUANTIZED_ENGINES if e in torch.backends.quantized.supported_engines]


def calibration_images(n=64):
    torch.manual_seed(4)
    return torch.rand(n, 1, 28, 28)


def quantize(name, model, engine, calibration):
    """The int8 copy of the float32 `model` for `engine` (see the module's docstring)."""
    import torch.ao.quantization as tq
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = engine
    model = copy.deepcopy(model).eval()
    if name in ("lstm", "crnn"):
        return tq.quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype=torch.qint8)
    prepared = prepare_fx(model, tq.get_default_qconfig_mapping(engine), (calibration[:1],))
    with torch.no_grad():
        prepared(calibration)
    return convert_fx(prepared)


def int8_modes(name, model, example):
    """(name, forward, channels_last, engine) for each int8 configuration that builds."""
    calibration = calibration_images()
    modes = []
    for engine in quantized_engines():
        quantized = quantize(name, model, engine, calibration)
        for channels_last in (False, True) if convolutional(name) else (False,):
            suffix = "+channels_last" if channels_last else ""
            modes.append((f"{engine}{suffix}", quantized, channels_last, engine))
            try:
                with torch.no_grad():
                    traced = torch.jit.freeze(
                        torch.jit.trace(quantized, layout(example, channels_last)))
                modes.append((f"{engine}+jit.trace+freeze{suffix}", traced, channels_last, engine))
            except Exception as e:  # not fatal: the eager configuration remains
                print(f"# {name}: {engine} TorchScript failed: {type(e).__name__}: {e}")
    return modes


def check_int8(name, mode, forward, x, expected):
    """An int8 configuration must compute the float32 network up to quantization error."""
    with torch.inference_mode():
        diff = (forward(x) - expected).abs().max().item()
    scale = expected.abs().max().item()
    print(f"# {name} int8 {mode}: max |int8 - float32| = {diff:.3g} (logits up to {scale:.3g})")
    if not diff <= 0.15 * scale:
        print(f"{name} int8 {mode} differs from float32 by {diff:g}", file=sys.stderr)
        sys.exit(1)


def time_forwards(forward, xs, warmup, runs):
    """Seconds of each of `runs` forwards (after `warmup`), cycling through the inputs xs."""
    s = []
    clock = time.perf_counter
    with torch.inference_mode():
        for i in range(warmup):
            forward(xs[i % len(xs)])
        for i in range(runs):
            x = xs[i % len(xs)]
            t0 = clock()
            forward(x)
            s.append(clock() - t0)
    return s


def int8_measure(name, measure, threads, batch, o):
    """M1 (batch 1) or M2 (batch 256) of the int8 network: every configuration is checked and
    probed, the fastest probe is timed."""
    torch.set_num_threads(threads)
    model = make(name).eval()
    pool = images(16) if batch == 1 else images(256)
    with torch.no_grad():
        expected = model(pool[0:batch])
    warmup, runs = (o.m1_warmup, o.m1_iters) if batch == 1 else (o.m2_warmup, o.m2_runs)
    probe = (min(20, runs), 3) if batch == 1 else (min(3, runs), 1)
    best = None
    for mode, forward, channels_last, engine in int8_modes(name, model, pool[0:batch]):
        torch.backends.quantized.engine = engine
        xs = [layout(pool[i:i + batch], channels_last) for i in range(0, len(pool), batch)]
        check_int8(name, mode, forward, xs[0], expected)
        s = median(time_forwards(forward, xs, probe[1], probe[0]))
        print(f"# {name} {measure} int8 {mode}: probe median {s * 1e6:.1f} us per batch of "
              f"{batch}")
        if best is None or s < best[0]:
            best = (s, mode, forward, xs, engine)
    _, mode, forward, xs, engine = best
    torch.backends.quantized.engine = engine
    s = median(time_forwards(forward, xs, warmup, runs))
    print(f"# {name} {measure} int8 timed: {mode} (engine {engine}), median {s * 1e6:.1f} us "
          f"over {runs} batches of {batch}")
    if batch == 1:
        emit(name, "M1", 1, s * 1e6, "us", "pytorch-int8")
    else:
        emit(name, "M2", threads, 256 / s, "images/s", "pytorch-int8")


# ------------------------------------------------------------------------------ accuracy
def fashion_mnist(directory, part):
    """(images N x 1 x 28 x 28 in [0, 1], labels N) of part "train" or "t10k"."""
    import gzip
    with gzip.open(os.path.join(directory, f"{part}-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    x = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(directory, f"{part}-labels-idx1-ubyte.gz")) as f:
        y = torch.frombuffer(bytearray(f.read()[8:]), dtype=torch.uint8).long()
    return x.float() / 255, y


def test_accuracy(forward, x, y):
    with torch.inference_mode():
        hits = sum((forward(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item()
                   for i in range(0, len(x), 500))
    return hits / len(x)


def accuracy(o):
    """Trains each of the CNN and ResNet in o.nets in float32 (batch 32, Adam lr 1e-3, shuffled
    with a fixed seed), then prints its test accuracy in float32 and in int8 for each engine,
    calibrated on the first 512 training images."""
    torch.set_num_threads(o.threads)
    x, y = fashion_mnist(o.data, "train")
    tx, ty = fashion_mnist(o.data, "t10k")
    for name in ("cnn", "resnet"):
        if name not in o.nets:
            continue
        model = make(name).train()
        adam = torch.optim.Adam(model.parameters(), lr=1e-3)
        t0 = time.perf_counter()
        for epoch in range(o.epochs):
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
            for i in range(0, len(x), 32):
                b = order[i:i + 32]
                adam.zero_grad()
                F.cross_entropy(model(x[b]), y[b]).backward()
                adam.step()
        model.eval()
        print(f"# {name}: {o.epochs} epoch(s) of float32 training in "
              f"{time.perf_counter() - t0:.0f} s")
        print(f"{name} float32 test accuracy: {test_accuracy(model, tx, ty):.4f}")
        for engine in quantized_engines():
            quantized = quantize(name, model, engine, x[:512])
            print(f"{name} int8 ({engine}) test accuracy: "
                  f"{test_accuracy(quantized, tx, ty):.4f}", flush=True)
    return 0


# ------------------------------------------------------------------------------ measurements
def m1(name, o):
    torch.set_num_threads(1)
    model = make(name).eval()
    pool = images(16)
    with torch.no_grad():
        expected = model(pool[0:1])
    best = None
    for mode, forward, channels_last in inference_modes(name, model, pool[0:1]):
        xs = [layout(pool[i:i + 1], channels_last) for i in range(16)]
        check(name, mode, forward, xs[0], expected)
        us = []
        clock = time.perf_counter
        with torch.inference_mode():
            for i in range(o.m1_warmup):
                forward(xs[i % 16])
            for i in range(o.m1_iters):
                x = xs[i % 16]
                t0 = clock()
                forward(x)
                us.append((clock() - t0) * 1e6)
        med = median(us)
        print(f"# {name} M1 {mode}: median {med:.2f} us over {o.m1_iters} forwards")
        if best is None or med < best[0]:
            best = (med, mode)
    print(f"# {name} M1 fastest: {best[1]}")
    emit(name, "M1", 1, best[0], "us")


def m2(name, o):
    torch.set_num_threads(o.threads)
    model = make(name).eval()
    x0 = images(256)
    with torch.no_grad():
        expected = model(x0)
    best = None
    for mode, forward, channels_last in inference_modes(name, model, x0):
        x = layout(x0, channels_last)
        check(name, mode, forward, x, expected)
        s = []
        clock = time.perf_counter
        with torch.inference_mode():
            for _ in range(o.m2_warmup):
                forward(x)
            for _ in range(o.m2_runs):
                t0 = clock()
                forward(x)
                s.append(clock() - t0)
        ips = 256 / median(s)
        print(f"# {name} M2 {mode}: {ips:.1f} images/s (median of {o.m2_runs} batches of 256)")
        if best is None or ips > best[0]:
            best = (ips, mode)
    print(f"# {name} M2 fastest: {best[1]}")
    emit(name, "M2", o.threads, best[0], "images/s")


def train(name, threads, channels_last, o):
    """Images/s of o.m3_steps timed training steps, eager, in plain or channels-last tensors."""
    model = make(name)  # fresh weights and optimizer state for every run
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    B, batches = 32, 64
    x = layout(images(B * batches), channels_last)
    y = torch.arange(B * batches) % 10
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(i):
        b = i % batches
        adam.zero_grad()
        loss = F.cross_entropy(model(x[b * B:(b + 1) * B]), y[b * B:(b + 1) * B])
        loss.backward()
        adam.step()
        return loss.item()

    loss = 0.0
    for i in range(o.m3_warmup):
        loss = step(i)
    t0 = time.perf_counter()
    for i in range(o.m3_steps):
        loss = step(o.m3_warmup + i)
    s = time.perf_counter() - t0
    print(f"# {name} M3 {'eager+channels_last' if channels_last else 'eager'}: {o.m3_steps} steps "
          f"of {B} in {s:.3f} s on {threads} threads, last loss {loss:.4f}")
    return o.m3_steps * B / s


def m3(name, threads, o):
    torch.set_num_threads(threads)
    best = train(name, threads, False, o)
    if convolutional(name):
        best = max(best, train(name, threads, True, o))
    emit(name, "M3", threads, best, "images/s")


def capability():
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "?"


def run(o):
    threads = o.only_threads
    todo = measures_on(threads, o)
    torch.set_num_interop_threads(1)
    torch.set_num_threads(threads)
    env = " ".join(f"{v}={os.environ.get(v, '(unset)')}"
                   for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    print(f"# pytorch {torch.__version__}, CPU capability {capability()}, {env}; "
          f"this process: {','.join(sorted(todo)) or 'nothing'} on {threads} threads"
          f"{'; int8, quantized engines ' + ','.join(quantized_engines()) if o.int8 else ''}")
    if o.accuracy:
        return accuracy(o)
    for name in NETS:
        if name not in o.nets or not todo:
            continue
        check_shapes(name)
        if o.int8:
            if "M1" in todo:
                int8_measure(name, "M1", 1, 1, o)
            if "M2" in todo:
                int8_measure(name, "M2", threads, 256, o)
            continue
        if "M1" in todo:
            m1(name, o)
        if "M2" in todo:
            m2(name, o)
        if "M3" in todo:
            m3(name, threads, o)
    return 0


if __name__ == "__main__":
    sys.exit(run(OPTIONS))
