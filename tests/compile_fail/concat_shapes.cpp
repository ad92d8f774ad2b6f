// Must not compile: Concat joins images of the same height and width only.
#include <ctnn/ctnn.hpp>

using Bad =
    ctnn::Sequential<ctnn::Input<8, 8, 4>, ctnn::Concat<ctnn::Conv2D<4, 3>, ctnn::Conv2D<4, 1>>,
                     ctnn::GlobalAvgPool2D, ctnn::Dense<2>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
