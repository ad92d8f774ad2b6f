// The reference networks of the examples and benchmarks, as types.
#pragma once

#include <ctnn/ctnn.hpp>

namespace examples {

/// The classic Keras image classifier on 28x28 grey images: 261,962 parameters.
using FashionCnn = ctnn::Sequential<ctnn::Input<28, 28, 1>,          //
                                    ctnn::Conv2D<32, 3>, ctnn::ReLU,  //
                                    ctnn::Conv2D<64, 3>, ctnn::ReLU,  //
                                    ctnn::MaxPool2D<2>,               //
                                    ctnn::Conv2D<64, 3>, ctnn::ReLU,  //
                                    ctnn::MaxPool2D<2>,               //
                                    ctnn::Dense<128>, ctnn::ReLU,     //
                                    ctnn::Dense<10>>;
static_assert(FashionCnn::parameter_count == 261962);

/// Rows of the image as 28 steps of 28 features, one LSTM layer: 82,186 parameters.
using FashionLstm = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::LSTM<128>, ctnn::Dense<10>>;
static_assert(FashionLstm::parameter_count == 4 * 128 * (28 + 128 + 2) + 128 * 10 + 10);

/// The same with a GRU.
using FashionGru = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::GRU<128>, ctnn::Dense<10>>;

/// The headline network: Conv2D<32,3> -> MaxPool2D<2> -> LSTM<256> -> Dense<10>. The LSTM reads
/// the 13x13x32 feature map as 13 steps of 13*32 = 416 features.
using FashionCrnn = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::Conv2D<32, 3>, ctnn::ReLU,
                                     ctnn::MaxPool2D<2>, ctnn::LSTM<256>, ctnn::Dense<10>>;
static_assert(FashionCrnn::parameter_count == 320 + 4 * 256 * (416 + 256 + 2) + 2570);

}  // namespace examples
