// Must not compile, with one error: the Residual's own mistake (a Conv2D after a Dense inside
// it); the Conv2D after the block must not add a second error.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<
    ctnn::Input<8, 8, 4>, ctnn::Residual<ctnn::Chain<ctnn::Dense<16>, ctnn::Conv2D<4, 3>>>,
    ctnn::Conv2D<4, 3>, ctnn::Concat<ctnn::Dense<3>, ctnn::Conv2D<2, 1>>, ctnn::Dense<2>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
