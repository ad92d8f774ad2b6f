// Must compile: every parameter of BatchNorm has a default, so it is written without <>, like ReLU.
#include <ctnn/ctnn.hpp>

using Good = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::Conv2D<8, 3>, ctnn::BatchNorm,
                              ctnn::ReLU, ctnn::Dense<10>>;
static_assert(Good::state_count == 2 * 8);
float first_output(const float* x) {
  return Good(1).predict(x)[0];
}
