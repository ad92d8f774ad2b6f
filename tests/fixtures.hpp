// Reads the golden-output fixtures under tests/data/ (written by tools/make_rnn_fixtures.py):
// one tensor per line, "name dim0 dim1 ... : v0 v1 ...", '#' lines are comments.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef CTNN_TEST_DATA_DIR
#define CTNN_TEST_DATA_DIR "tests/data"
#endif

namespace ctnn_test {

struct Tensor {
  std::vector<std::size_t> dims;
  std::vector<float> values;
};

inline std::map<std::string, Tensor> read_fixture(const std::string& name) {
  const std::string path = std::string(CTNN_TEST_DATA_DIR) + "/" + name;
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open fixture " + path);
  std::map<std::string, Tensor> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string key, tok;
    is >> key;
    Tensor t;
    while (is >> tok && tok != ":") t.dims.push_back(std::stoul(tok));
    std::size_t n = 1;
    for (auto d : t.dims) n *= d;
    t.values.reserve(n);
    float v;
    while (is >> v) t.values.push_back(v);
    if (t.values.size() != n) throw std::runtime_error("fixture " + path + ": bad tensor " + key);
    out[key] = std::move(t);
  }
  return out;
}

}  // namespace ctnn_test
