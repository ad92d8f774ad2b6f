// Must not compile: the forward spelling of an earlier version, with a positional bool and null
// pointers, is refused in one error that names the new spelling (Mode and Context).
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<4>, ctnn::Dense<3>, ctnn::ReLU, ctnn::Dense<2>>;

float first_output(const Net& net, const float* x) {
  ctnn::Workspace<Net> ws(1);
  return net.forward(x, 1, ws, true, nullptr, nullptr)[0];
}
