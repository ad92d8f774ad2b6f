// Must not compile: Conv2D needs an image, and Dense<10> produces a vector.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::Dense<10>, ctnn::Conv2D<32, 3>>;
static_assert(Bad::parameter_count > 0);
