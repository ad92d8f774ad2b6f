// ctnn/zoo/fashion.hpp — the reference networks of the examples and benchmarks, as named types,
// so that a program built against an installed ctnn can load the files the examples write
// (fashion_mnist_cnn, _lstm, _crnn, _resnet, image_folder_train's default network):
//
//   ctnn::zoo::FashionCnn net(ctnn::uninitialized);
//   ctnn::load(net, "fashion_cnn.ctnn");
//
// or, not knowing which of them wrote a file, ctnn::load_any<ctnn::zoo::FashionCnn,
// ctnn::zoo::FashionLstm, ...>(path) (model.hpp). All take 28x28 grey images (Image<28, 28, 1>,
// values in [0, 1] as data::load_fashion_mnist gives them) and give 10 logits.
#pragma once

#include <cstddef>
#include <type_traits>

#include "../layers/activation.hpp"
#include "../layers/batchnorm.hpp"
#include "../layers/composite.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/dense.hpp"
#include "../layers/pooling.hpp"
#include "../layers/recurrent.hpp"
#include "../network.hpp"

namespace ctnn::zoo {

/// The classic Keras image classifier on 28x28 grey images: 261,962 parameters.
using FashionCnn = Sequential<Input<28, 28, 1>,     //
                              Conv2D<32, 3>, ReLU,  //
                              Conv2D<64, 3>, ReLU,  //
                              MaxPool2D<2>,         //
                              Conv2D<64, 3>, ReLU,  //
                              MaxPool2D<2>,         //
                              Dense<128>, ReLU,     //
                              Dense<10>>;
static_assert(FashionCnn::parameter_count == 261962);

/// Rows of the image as 28 steps of 28 features, one LSTM layer: 82,186 parameters.
using FashionLstm = Sequential<Input<28, 28, 1>, LSTM<128>, Dense<10>>;
static_assert(FashionLstm::parameter_count == 4 * 128 * (28 + 128 + 2) + 128 * 10 + 10);

/// The same with a GRU.
using FashionGru = Sequential<Input<28, 28, 1>, GRU<128>, Dense<10>>;

/// Conv2D<32,3> -> MaxPool2D<2> -> LSTM<256> -> Dense<10>. The LSTM reads the 13x13x32 feature
/// map as 13 steps of 13*32 = 416 features.
using FashionCrnn =
    Sequential<Input<28, 28, 1>, Conv2D<32, 3>, ReLU, MaxPool2D<2>, LSTM<256>, Dense<10>>;
static_assert(FashionCrnn::parameter_count == 320 + 4 * 256 * (416 + 256 + 2) + 2570);

/// A basic residual block (He et al. 2016, Fig. 2): two 3x3 convolutions with BatchNorm, the
/// input added back (then a ReLU, outside the block). Stride 2 halves the image and, with a
/// change of width, uses a projection shortcut (1x1 convolution, stride 2, BatchNorm).
template <std::size_t Filters, std::size_t Stride = 1>
using BasicBlock = Residual<
    Chain<Conv2D<Filters, 3, Stride, Same>, BatchNorm, ReLU, Conv2D<Filters, 3, 1, Same>,
          BatchNorm>,
    std::conditional_t<Stride == 1, Identity, Chain<Conv2D<Filters, 1, Stride>, BatchNorm>>>;

/// A small ResNet for 28x28 grey images: a 3x3 convolution stem of 16 filters, three stages of
/// two basic blocks (16, 32 and 64 filters; the second and third start with stride 2: 28x28,
/// 14x14, 7x7), global average pooling and Dense<10>.
using FashionResNet = Sequential<Input<28, 28, 1>,                               //
                                 Conv2D<16, 3, 1, Same>, BatchNorm, ReLU,        //
                                 BasicBlock<16>, ReLU, BasicBlock<16>, ReLU,     //
                                 BasicBlock<32, 2>, ReLU, BasicBlock<32>, ReLU,  //
                                 BasicBlock<64, 2>, ReLU, BasicBlock<64>, ReLU,  //
                                 GlobalAvgPool2D, Dense<10>>;

}  // namespace ctnn::zoo
