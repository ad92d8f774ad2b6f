// The reference networks of the examples and benchmarks, as types.
#pragma once

#include <cstddef>
#include <ctnn/ctnn.hpp>
#include <type_traits>

namespace examples {

/// The classic Keras image classifier on 28x28 grey images: 261,962 parameters.
using FashionCnn = ctnn::Sequential<ctnn::Input<28, 28, 1>,           //
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

/// A basic residual block (He et al. 2016, Fig. 2): two 3x3 convolutions with BatchNorm, the
/// input added back, then ReLU. Stride 2 halves the image and, with a change of width, uses a
/// projection shortcut (1x1 convolution, stride 2, BatchNorm).
template <std::size_t Filters, std::size_t Stride = 1>
using BasicBlock = ctnn::Residual<
    ctnn::Chain<ctnn::Conv2D<Filters, 3, Stride, ctnn::Same>, ctnn::BatchNorm, ctnn::ReLU,
                ctnn::Conv2D<Filters, 3, 1, ctnn::Same>, ctnn::BatchNorm>,
    std::conditional_t<Stride == 1, ctnn::Identity,
                       ctnn::Chain<ctnn::Conv2D<Filters, 1, Stride>, ctnn::BatchNorm>>>;

/// A small ResNet for 28x28 grey images: a 3x3 convolution stem of 16 filters, three stages of
/// two basic blocks (16, 32 and 64 filters; the second and third start with stride 2: 28x28,
/// 14x14, 7x7), global average pooling and Dense<10>.
using FashionResNet =
    ctnn::Sequential<ctnn::Input<28, 28, 1>,                                           //
                     ctnn::Conv2D<16, 3, 1, ctnn::Same>, ctnn::BatchNorm, ctnn::ReLU,  //
                     BasicBlock<16>, ctnn::ReLU, BasicBlock<16>, ctnn::ReLU,           //
                     BasicBlock<32, 2>, ctnn::ReLU, BasicBlock<32>, ctnn::ReLU,        //
                     BasicBlock<64, 2>, ctnn::ReLU, BasicBlock<64>, ctnn::ReLU,        //
                     ctnn::GlobalAvgPool2D, ctnn::Dense<10>>;

}  // namespace examples
