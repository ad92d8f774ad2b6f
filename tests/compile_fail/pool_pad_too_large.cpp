// Must not compile: a pooling pad larger than half the window (PyTorch refuses it too).
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<8, 8, 1>, ctnn::MaxPool2D<2, 2, ctnn::Pad<2>>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
