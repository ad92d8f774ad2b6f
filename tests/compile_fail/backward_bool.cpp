// Must not compile: the backward spelling of an earlier version, with a positional bool for the
// mode, is refused in one error that names the new spelling (Mode).
#include <ctnn/ctnn.hpp>

using Net = ctnn::Sequential<ctnn::Input<4>, ctnn::Dense<3>, ctnn::ReLU, ctnn::Dense<2>>;

void gradient(const Net& net, const float* x, const float* dout, float* grads) {
  ctnn::Workspace<Net> ws(1);
  net.backward(x, dout, grads, 1, ws, false);
}
