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

}  // namespace examples
