// Must not compile: the main path halves the image and doubles the channels, the identity
// shortcut keeps the input's shape; the two cannot be added.
#include <ctnn/ctnn.hpp>

using Bad =
    ctnn::Sequential<ctnn::Input<8, 8, 4>,
                     ctnn::Residual<ctnn::Chain<ctnn::Conv2D<8, 3, 2, ctnn::Same>, ctnn::ReLU>>,
                     ctnn::GlobalAvgPool2D, ctnn::Dense<2>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
