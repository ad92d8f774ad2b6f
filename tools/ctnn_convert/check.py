"""--check: compiles a small program against a converted header, runs the sample's inputs
through ctnn and compares its outputs with the source's."""

import os
import shutil
import subprocess
import tempfile

import numpy as np

PROGRAM = r"""// Runs the sample's inputs through the converted network: argv weights, inputs, count, outputs.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <vector>

#include "{header}"

int main(int argc, char** argv) {{
  if (argc != 5) return 64;
  using Net = {qualified};
  auto net = std::make_unique<Net>(ctnn::uninitialized);
  try {{
    ctnn::load_safetensors(*net, argv[1]);
  }} catch (const std::exception& e) {{
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }}
  const std::size_t n = std::strtoul(argv[3], nullptr, 10);
  std::vector<float> in(n * Net::input_shape::size), out(n * Net::output_shape::size);
  std::ifstream(argv[2], std::ios::binary)
      .read(reinterpret_cast<char*>(in.data()), std::streamsize(in.size() * sizeof(float)));
  ctnn::Workspace<Net> ws(n, ctnn::inference_only);
  net->predict(in.data(), out.data(), n, ws);
  std::ofstream(argv[4], std::ios::binary)
      .write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size() * sizeof(float)));
  std::printf("%zu %zu\n", std::size_t(Net::input_shape::size), std::size_t(Net::output_shape::size));
  return 0;
}}
"""


def repo_include():
    """The headers --check compiles against: this repository's include/, or $CTNN_INCLUDE."""
    return os.environ.get("CTNN_INCLUDE") or os.path.normpath(
        os.path.join(os.path.dirname(__file__), "..", "..", "include"))


def compile_program(source_text, exe, include_dirs):
    cxx = os.environ.get("CXX", "g++")
    src = exe + ".cpp"
    with open(src, "w") as f:
        f.write(source_text)
    cmd = [cxx, "-std=c++20", "-O1", "-march=native"]
    for d in include_dirs:
        cmd += ["-I", d]
    cmd += [src, "-o", exe, "-lstb", "-lz", "-pthread"]
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("the check program does not compile:\n" +
                           r.stderr.decode(errors="replace")[-4000:])


def tolerance(expected):
    """max |ctnn - source| allowed: 1e-4, relative to the outputs' size when they exceed 1."""
    return 1e-4 * max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)


def run_check(out_dir, name, namespace, inputs, outputs, include=None):
    """Compiles, runs and compares; returns (max difference, tolerance)."""
    qualified = f"{namespace}::{name}" if namespace else name
    work = tempfile.mkdtemp(prefix="ctnn-check-")
    try:
        exe = os.path.join(work, "check")
        compile_program(PROGRAM.format(header=os.path.abspath(os.path.join(out_dir, f"{name}.hpp")),
                                       qualified=qualified), exe,
                        [os.path.abspath(out_dir), include or repo_include()])
        x = os.path.join(work, "inputs.bin")
        y = os.path.join(work, "outputs.bin")
        np.ascontiguousarray(inputs, dtype="<f4").tofile(x)
        r = subprocess.run([exe, os.path.join(out_dir, f"{name}.safetensors"), x,
                            str(inputs.shape[0]), y], capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("the check program failed: " + r.stderr.decode(errors="replace"))
        got = np.fromfile(y, dtype="<f4").astype(np.float64)
        want = outputs.reshape(-1)
        if got.size != want.size:
            raise RuntimeError(f"ctnn gives {got.size} output values, the source {want.size}")
        return float(np.max(np.abs(got - want))), tolerance(want)
    finally:
        shutil.rmtree(work, ignore_errors=True)
