// Must not compile: pooling needs an image, and Dense<8> produces a vector.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<6, 6, 2>, ctnn::Dense<8>, ctnn::MaxPool2D<2>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
