#!/usr/bin/env python3
"""The step time of data-parallel training on R machines, modelled from measurements on one.

A step on R processes of one thread, global batch B, is the computation of the slowest process's
share, ceil(B / R) samples, plus the gradient's all-reduce, as far as it is not hidden behind
backward. With P parameters (4P bytes) in k buckets, a ring all-reduce (Patarasuk & Yuan 2009)
costs per step

    t_comm(R) = k * 2(R-1) * alpha + 2(R-1)/R * 4P / beta

where alpha is the latency of one of the ring's 2(R-1) exchanges and beta the link bandwidth.
The model gives two step times: no overlap, t_c + t_comm (what `--allreduce-bucket 0` does), and
full overlap, max(t_c, t_comm) (the best that buckets started during backward can do).

Inputs, as bench/scaling.sh writes them:
  --steps FILE     bench_networks --benchmark_filter=step_1thread JSON: t_c(b), one thread,
                   b = 1 .. 256 samples (medians when repetitions were run); beyond 256 samples
                   t_c grows at the per-sample time of the largest batch
  --allreduce RATE=FILE   bench_allreduce JSON of 2 processes over a link of that rate:
                   alpha and beta fitted to t(2 processes) = 2 alpha + bytes / beta
  --epochs FILE    CSV net,hosts,link,bucket,epoch_seconds,wait_seconds of one-epoch runs:
                   1 process with link "threads1" or "threads2" (its thread count), and 2 hosts
                   with buckets of 262144 floats and with 0
Prints markdown tables: the measured two-host figures with the scaling efficiency, the model
against them, and the model at 8, 64 and 256 machines with the per-process batch below which
communication takes longer than computation.

    python3 tools/scaling_model.py --steps steps.json --allreduce 1gbit=ar1.json \\
        --allreduce 10gbit=ar10.json --epochs epochs.csv
"""

import argparse
import csv
import json
import math
import re
import sys

TRAIN = 60000        # Fashion-MNIST training images: one epoch
BATCH = 32           # the examples' global batch
BUCKET = 1 << 18     # FitOptions::allreduce_bucket (floats)


def aggregate(bench):
    """'median' rows when the file has aggregates, else the plain rows."""
    rows = [b for b in bench["benchmarks"] if b.get("aggregate_name", "median") == "median"]
    return rows


def read_steps(path):
    """{net: ([(batch, seconds)], parameters)} from bench_networks' step_1thread rows."""
    with open(path) as f:
        data = json.load(f)
    nets = {}
    for b in aggregate(data):
        m = re.match(r"(\w+)/step_1thread/(\d+)", b["name"])
        if not m:
            continue
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        pts, _ = nets.setdefault(m.group(1), ([], int(b["parameters"])))
        pts.append((int(m.group(2)), b["real_time"] * scale))
    for pts, _ in nets.values():
        pts.sort()
    return nets


def compute_time(points, b):
    """t_c(b): linear between the measured batches, per-sample slope of the last beyond them."""
    b = max(b, 1)
    for (b0, t0), (b1, t1) in zip(points, points[1:]):
        if b0 <= b <= b1:
            return t0 + (t1 - t0) * (b - b0) / (b1 - b0)
    bl, tl = points[-1]
    return tl * b / bl


def read_allreduce(path):
    """(alpha, beta) from 2-process all-reduce times: least squares of t = a + bytes / beta over
    the sizes from 64 KiB to 1 MiB (a bucket's size), and alpha = half the time of the smallest
    size."""
    with open(path) as f:
        text = f.read()
    data = json.loads(text[text.index("{"):])
    pts = []
    for b in aggregate(data):
        if not b["name"].startswith("allreduce/"):
            continue
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        pts.append((b["bytes"], b["real_time"] * scale))
    pts.sort()
    big = [(x, y) for x, y in pts if 65536 <= x <= 1 << 20]
    n = len(big)
    mx = sum(x for x, _ in big) / n
    my = sum(y for _, y in big) / n
    slope = sum((x - mx) * (y - my) for x, y in big) / sum((x - mx) ** 2 for x, _ in big)
    return pts[0][1] / 2, 1 / slope, pts


def comm_time(alpha, beta, R, parameters):
    if R == 1:
        return 0.0
    buckets = max(1, math.ceil(parameters / BUCKET))
    return buckets * 2 * (R - 1) * alpha + 2 * (R - 1) / R * 4 * parameters / beta


def link_rate(rate):
    """Bytes per second of a tc rate such as 1gbit or 10gbit."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)bit", rate.lower())
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)] / 8


def rig_comm_time(alpha, beta, beta_cpu, rate, parameters, idle):
    """The all-reduce of 2 test hosts (tools/netns_hosts.sh) after `idle` seconds of
    computation: tbf's bucket refills at the link rate while the link is idle, up to 5 ms of
    traffic, and lets that much through unlimited; only the bytes beyond it wait for the rate.
    The rest goes at the speed the two cores move data through the kernel (beta_cpu, the
    fastest link measured)."""
    total = 4 * parameters
    buckets = max(1, math.ceil(parameters / BUCKET))
    burst = (link_rate(rate) or 0) * min(idle, 0.005)
    return buckets * 2 * alpha + max(total / beta_cpu, (total - burst) / beta)


def per_process_limit(points, alpha, beta, R, parameters):
    """The smallest per-process batch whose computation lasts as long as the all-reduce."""
    t = comm_time(alpha, beta, R, parameters)
    b = 1
    while compute_time(points, b) < t:
        b += 1
        if b > 1 << 20:
            return math.inf
    return b


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", required=True)
    p.add_argument("--allreduce", action="append", default=[], metavar="RATE=FILE")
    p.add_argument("--epochs")
    a = p.parse_args()
    nets = read_steps(a.steps)
    if not nets:
        sys.exit(f"{a.steps}: no step_1thread rows")
    links = {}
    for spec in a.allreduce:
        rate, _, path = spec.partition("=")
        links[rate] = read_allreduce(path)
    steps_per_epoch = math.ceil(TRAIN / BATCH)

    print("### Links (2 processes, bench_allreduce)\n")
    print("| link | alpha (us per exchange) | beta (MB/s) | 4 B | 1 MiB | 4 MiB |")
    print("|---|---|---|---|---|---|")
    for rate, (alpha, beta, pts) in links.items():
        by = dict(pts)
        cell = lambda n: f"{by[n] * 1e3:.2f} ms" if n in by else "-"
        print(f"| {rate} | {alpha * 1e6:.1f} | {beta / 1e6:.0f} | {cell(4)} | {cell(1 << 20)} | "
              f"{cell(1 << 22)} |")

    if a.epochs:
        rows = list(csv.DictReader(open(a.epochs)))
        single = {r["net"]: float(r["epoch_seconds"]) for r in rows
                  if r["hosts"] == "1" and r["link"] == "threads1"}
        shared = {r["net"]: float(r["epoch_seconds"]) / steps_per_epoch for r in rows
                  if r["hosts"] == "1" and r["link"] == "threads2"}
        print("\n### Two hosts, one process of one thread each, global batch 32 (measured vs model)\n")
        print("| network | link | allreduce | step (ms) | waiting (ms/step) | hidden | "
              "scaling efficiency | model, idle cores: no overlap / full overlap (ms) | "
              "model, shared cores and the test link (ms) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            if r["hosts"] != "2":
                continue
            net, rate, bucket = r["net"], r["link"], int(r["bucket"])
            step = float(r["epoch_seconds"]) / steps_per_epoch
            wait = float(r["wait_seconds"] or 0) / steps_per_epoch
            other = next((o for o in rows if o["net"] == net and o["link"] == rate and
                          o["hosts"] == "2" and int(o["bucket"]) == 0), None)
            hidden = "-"
            if bucket and other and float(other["wait_seconds"]) > 0:
                hidden = f"{1 - float(r['wait_seconds']) / float(other['wait_seconds']):.0%}"
            eff = single[net] / (2 * float(r["epoch_seconds"])) if net in single else math.nan
            model = shared_model = "-"
            if net in nets and rate in links:
                pts, params = nets[net]
                alpha, beta, _ = links[rate]
                tc = compute_time(pts, math.ceil(BATCH / 2))
                tm = comm_time(alpha, beta, 2, params)
                model = f"{(tc + tm) * 1e3:.2f} / {max(tc, tm) * 1e3:.2f}"
                if net in shared:
                    ts = shared[net]
                    beta_cpu = max(b for _, b, _ in links.values())
                    tr = rig_comm_time(alpha, beta, beta_cpu, rate, params, ts)
                    shared_model = f"{(ts + tr) * 1e3:.2f} / {max(ts, tr) * 1e3:.2f}"
            kind = f"buckets of {bucket}" if bucket else "one sum after backward"
            print(f"| {net} | {rate} | {kind} | {step * 1e3:.2f} | {wait * 1e3:.2f} | {hidden} | "
                  f"{eff:.2f} | {model} | {shared_model} |")
        print("\nscaling efficiency: one process's epoch time / (2 x the two hosts' epoch time); "
              "one process, one thread, epoch (s): " +
              ", ".join(f"{n} {s:.1f}" for n, s in single.items()) +
              "; model, shared cores and the test link: the computation takes the step time of "
              "one process of two threads (ms: " +
              ", ".join(f"{n} {t * 1e3:.2f}" for n, t in shared.items()) +
              ") and the all-reduce gets tbf's burst (rig_comm_time)")

    for rate, (alpha, beta, _) in links.items():
        print(f"\n### Model at {rate} (alpha {alpha * 1e6:.1f} us, beta {beta / 1e6:.0f} MB/s)\n")
        print("| network | machines | t_comm (ms) | global batch 32: step, no overlap / full "
              "(ms), efficiency | 32 per process: step (ms), efficiency | communication > "
              "computation below (samples per process) |")
        print("|---|---|---|---|---|---|")
        for net, (pts, params) in nets.items():
            for R in (2, 8, 64, 256):
                tm = comm_time(alpha, beta, R, params)
                t1 = compute_time(pts, BATCH)
                tc = compute_time(pts, math.ceil(BATCH / R))
                strong = f"{(tc + tm) * 1e3:.2f} / {max(tc, tm) * 1e3:.2f}, " \
                         f"{t1 / (R * (tc + tm)):.2f}-{t1 / (R * max(tc, tm)):.2f}"
                tw = compute_time(pts, BATCH)
                weak = f"{(tw + tm) * 1e3:.2f}, {tw / (tw + tm):.2f}-{tw / max(tw, tm):.2f}"
                limit = per_process_limit(pts, alpha, beta, R, params)
                print(f"| {net} | {R} | {tm * 1e3:.2f} | {strong} | {weak} | "
                      f"{limit if limit != math.inf else '> 2^20'} |")


if __name__ == "__main__":
    main()
