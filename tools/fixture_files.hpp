// What the fixture writers (tools/make_file_fixtures.cpp,
// tools/make_order1_safetensors_fixtures.cpp) and the tests that read their files share: the
// inputs, the text form of a tensor, the networks of the 0.2.0 files and the values they were
// given. It uses only what every ctnn version since 0.1.0 has, since each writer is built against
// the headers of the version whose files it writes.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <ctnn/ctnn.hpp>
#include <vector>

namespace ctnn_fixtures {

/// The fixtures' inputs: x[i] = sin(0.7 i + 0.3), n floats.
inline std::vector<float> inputs(std::size_t n) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i)
    x[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i) + 0.3));
  return x;
}

/// One tensor as a line "name dim0 dim1 ... : v0 v1 ..." ('%.9g'), as tests/fixtures.hpp reads.
inline void write_tensor(std::FILE* f, const char* name, const std::vector<std::size_t>& dims,
                         const std::vector<float>& values) {
  std::fprintf(f, "%s", name);
  for (std::size_t d : dims) std::fprintf(f, " %zu", d);
  std::fprintf(f, " :");
  for (float v : values) std::fprintf(f, " %.9g", static_cast<double>(v));
  std::fprintf(f, "\n");
}

/// The networks of the files ctnn 0.2.0 saved (tests/data/files/): every kind of layer.
using FileCnn =
    ctnn::Sequential<ctnn::Input<8, 8, 2>, ctnn::Conv2D<4, 3>, ctnn::BatchNorm, ctnn::ReLU,
                     ctnn::MaxPool2D<2>, ctnn::Conv2D<6, 3, 1, ctnn::Same>, ctnn::Tanh,
                     ctnn::AvgPool2D<3>, ctnn::Flatten, ctnn::Dropout<0.25f>, ctnn::Dense<8>,
                     ctnn::Sigmoid, ctnn::BatchNorm, ctnn::Dense<5>, ctnn::Softmax>;
using FileRnn = ctnn::Sequential<ctnn::Input<5, 3>, ctnn::LSTM<4, true>,
                                 ctnn::Bidirectional<ctnn::GRU<3, true>>, ctnn::SimpleRNN<4, true>,
                                 ctnn::Bidirectional<ctnn::LSTM<2>>, ctnn::Dense<3>>;
using FileResNet =
    ctnn::Sequential<ctnn::Input<6, 6, 2>, ctnn::Conv2D<4, 3, 1, ctnn::Same>, ctnn::BatchNorm,
                     ctnn::ReLU,
                     ctnn::Residual<ctnn::Chain<ctnn::Conv2D<4, 3, 1, ctnn::Same>, ctnn::BatchNorm,
                                                ctnn::ReLU, ctnn::Conv2D<4, 3, 1, ctnn::Same>>>,
                     ctnn::Residual<ctnn::Chain<ctnn::Conv2D<6, 3, 2, ctnn::Same>, ctnn::BatchNorm>,
                                    ctnn::Chain<ctnn::Conv2D<6, 1, 2>>>,
                     ctnn::Concat<ctnn::Chain<ctnn::Conv2D<3, 1>, ctnn::ReLU>, ctnn::Identity>,
                     ctnn::GlobalAvgPool2D, ctnn::Dense<4>>;

/// The values of the 0.2.0 files: parameter j (flat order of parameters()) 0.5 sin(1.3 j + 0.1),
/// state j 0.75 + 0.5 sin(0.9 j + 0.2) (positive, as a running variance must be).
template <class Net>
void set_file_values(Net& net) {
  for (std::size_t j = 0; j < Net::parameter_count; ++j)
    net.parameters()[j] = static_cast<float>(0.5 * std::sin(1.3 * static_cast<double>(j) + 0.1));
  for (std::size_t j = 0; j < Net::state_count; ++j)
    net.state()[j] = static_cast<float>(0.75 + 0.5 * std::sin(0.9 * static_cast<double>(j) + 0.2));
}

}  // namespace ctnn_fixtures
