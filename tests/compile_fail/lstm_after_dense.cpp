// Must not compile: a recurrent layer needs a Sequence or an Image, Dense<16> gives a Vector.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<4, 4, 1>, ctnn::Dense<16>, ctnn::LSTM<8>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
