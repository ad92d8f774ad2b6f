// Writes the files that ctnn 0.2.0 saves, with that version's outputs, for
// tests/test_files_0_2.cpp: for each network below, a model file (ctnn::save, format 2), a
// safetensors file (ctnn::save_safetensors, ctnn_tensor_order 2) and a checkpoint
// (ctnn::save_checkpoint, a fresh SGD), so that later versions prove they still load them and give
// the same outputs.
//
// It must be built against the headers of ctnn 0.2.0 (commit a44aff4), not against today's: from
// the repository root,
//
//   mkdir -p /tmp/ctnn-0.2.0 && git archive a44aff4 include | tar -x -C /tmp/ctnn-0.2.0
//   g++ -std=c++20 -O1 -I/tmp/ctnn-0.2.0/include -o /tmp/make_file_fixtures
//       tools/make_file_fixtures.cpp -lz   (one command)
//   /tmp/make_file_fixtures tests/data/files
//
// For each network (tools/fixture_files.hpp) it sets parameter j
// (in the flat order of net.parameters()) to 0.5 sin(1.3 j + 0.1) and state j to
// 0.75 + 0.5 sin(0.9 j + 0.2) (positive, as a running variance must be), saves
// <out>/<net>.ctnn, <out>/<net>.safetensors and <out>/<net>.ckpt, and writes
// <out>/<net>_outputs.txt: the input `x` [3, ...] (x[i] = sin(0.7 i + 0.3)) and the network's
// output `y` in inference, one tensor per line, "name dim0 dim1 ... : v0 v1 ..." ('%.9g'), as
// tests/fixtures.hpp reads them. The output is the same on every run.
//
// Built against today's headers instead (which have ctnn/metadata.hpp), with the same command and
// -Iinclude, it writes only the format-4 files, each with metadata (class names "class i" and
// two free-form values): <out>/<net>_v4.ctnn (ctnn::save) and <out>/<net>_v4.safetensors, of the
// same values, hence the outputs of <net>_outputs.txt. tests/test_files_0_2.cpp loads them too.
#include <cmath>
#include <cstdio>
#include <ctnn/ctnn.hpp>
#include <ctnn/io/checkpoint.hpp>
#include <ctnn/io/safetensors.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#if __has_include(<ctnn/metadata.hpp>)
#define FIXTURES_FORMAT_4 1
#else
#define FIXTURES_FORMAT_4 0
#endif

#include "fixture_files.hpp"

using namespace ctnn;

using namespace ctnn_fixtures;

namespace {

template <class Net>
void write(const std::string& out, const std::string& name, const char* type) {
  Net net(uninitialized);
  set_file_values(net);
  const std::string base = out + "/" + name;
#if FIXTURES_FORMAT_4
  Metadata m;
  for (std::size_t i = 0; i < Net::output_shape::size; ++i)
    m.class_names.push_back("class " + std::to_string(i) + (i == 0 ? " \u00e9t\u00e9" : ""));
  m.values = {{"fixture", name}, {"written by", "tools/make_file_fixtures.cpp"}};
  save(net, base + "_v4.ctnn", m);
  save_safetensors(net, base + "_v4.safetensors", m);
  std::printf("%s_v4: format 4 with metadata (%s)\n", base.c_str(), type);
  return;
#endif
  save(net, base + ".ctnn");
  save_safetensors(net, base + ".safetensors");
  TrainingState training;
  training.seed = 7;
  training.batch_size = 4;
  training.threads = 1;
  save_checkpoint(base + ".ckpt", net, SGD(0.05f), training);

  constexpr std::size_t batch = 3;
  const std::vector<float> x = inputs(batch * Net::input_shape::size);
  std::vector<float> y(batch * Net::output_shape::size);
  Workspace<Net> ws(batch);
  net.predict(x.data(), y.data(), batch, ws);

  std::FILE* f = std::fopen((base + "_outputs.txt").c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + base + "_outputs.txt");
  std::fprintf(f,
               "# ctnn 0.2.0 (a44aff4); %s in tests/test_files_0_2.cpp; parameter j = "
               "0.5 sin(1.3 j + 0.1), state j = 0.75 + 0.5 sin(0.9 j + 0.2); "
               "x[i] = sin(0.7 i + 0.3)\n",
               type);
  write_tensor(f, "x", {batch, Net::input_shape::size}, x);
  write_tensor(f, "y", {batch, Net::output_shape::size}, y);
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + base + "_outputs.txt");
  std::printf("%s: %zu parameters, %zu state values\n", base.c_str(), Net::parameter_count,
              Net::state_count);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  try {
    write<FileCnn>(argv[1], "cnn", "FileCnn");
    write<FileRnn>(argv[1], "rnn", "FileRnn");
    write<FileResNet>(argv[1], "resnet", "FileResNet");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
