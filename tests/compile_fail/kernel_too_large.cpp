// Must not compile: a 3x3 kernel does not fit a 2x2 image.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<2, 2, 1>, ctnn::Conv2D<4, 3>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
