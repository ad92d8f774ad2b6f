// Must not compile, with one error: a Sequential begins with its Input.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Conv2D<32, 3>, ctnn::ReLU, ctnn::MaxPool2D<2>, ctnn::Dense<10>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
