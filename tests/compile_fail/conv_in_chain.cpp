// Must not compile: inside a residual block, a Conv2D after a Dense gets a Vector.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<8, 8, 4>,
                             ctnn::Residual<ctnn::Chain<ctnn::Dense<16>, ctnn::Conv2D<4, 3>>>,
                             ctnn::Dense<2>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
