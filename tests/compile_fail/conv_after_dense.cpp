// Must not compile: Conv2D needs an image, and Dense<10> produces a vector.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::Dense<10>, ctnn::Conv2D<32, 3>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
