// Must not compile: Dense does not take a Sequence.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<5, 3>, ctnn::Dense<4>>;
static_assert(Bad::parameter_count > 0);
