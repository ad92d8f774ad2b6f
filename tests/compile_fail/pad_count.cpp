// Must not compile: Pad takes one, two or four values, not three.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<8, 8, 1>, ctnn::Conv2D<4, 3, 1, ctnn::Pad<1, 1, 1>>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
