// Must compile with the same command as the other files here: shows that their failure comes
// from the shape error, not from the command.
#include <ctnn/ctnn.hpp>

using Good =
    ctnn::Sequential<ctnn::Input<6, 6, 2>, ctnn::Conv2D<4, 3>, ctnn::MaxPool2D<2>, ctnn::Dense<8>>;
static_assert(Good::parameter_count == 4 * 9 * 2 + 4 + 16 * 8 + 8);
float first_output(const float* x) {
  return Good(1).predict(x)[0];
}
