// Must not compile: a recurrent layer needs a Sequence or an Image, Dense<16> gives a Vector.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<4, 4, 1>, ctnn::Dense<16>, ctnn::LSTM<8>>;
static_assert(Bad::parameter_count > 0);
