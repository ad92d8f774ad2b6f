// Must not compile: LSTM<64, true> returns a Sequence, which Dense does not take.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::LSTM<64, true>, ctnn::Dense<10>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
