// Must not compile, with one error that says why: Input<1, 28, 28> is an image of one row of 28
// pixels with 28 channels, and the pooling has no second row to take.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<1, 28, 28>, ctnn::Conv2D<32, 3, 1, ctnn::Same>, ctnn::ReLU,
                             ctnn::MaxPool2D<2>, ctnn::Dense<10>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
