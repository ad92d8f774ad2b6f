// Must not compile: pooling needs an image, and Dense<8> produces a vector.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<6, 6, 2>, ctnn::Dense<8>, ctnn::MaxPool2D<2>>;
static_assert(Bad::parameter_count > 0);
