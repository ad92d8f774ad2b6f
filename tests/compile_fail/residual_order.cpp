// Must not compile: after Flatten of an image, the identity shortcut passes the flattened image
// on (ctnn's (h, w, c) order, PyTorch's (c, h, w)), while Main's Dense gives its units in the
// same order in both libraries; the sum PyTorch computes has no counterpart in a safetensors
// file of this network. (The network itself is fine: only saving or loading it that way fails.)
#include <ctnn/ctnn.hpp>

using Bad = ctnn::Sequential<ctnn::Input<2, 2, 2>, ctnn::Flatten, ctnn::Residual<ctnn::Dense<8>>,
                             ctnn::Dense<2>>;
// What a program does with a network: load PyTorch's weights into it.
void load(Bad& net) {
  ctnn::load_safetensors(net, "weights.safetensors");
}
