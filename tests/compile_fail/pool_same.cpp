// Must not compile: TensorFlow's Same is not a padding of the pooling layers.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<8, 8, 1>, ctnn::AvgPool2D<2, 2, ctnn::Same>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
