// Must not compile: Dense does not take a Sequence.
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<5, 3>, ctnn::Dense<4>>;
// What a program does with a network: build it and run it.
float first_output(const float* x) {
  return Bad(1).predict(x)[0];
}
