// Adam's decoupled flag is gone: AdamW is a type of its own, and the old spelling says so.
#include <ctnn/optim/adam.hpp>

ctnn::Adam adamw_the_old_way(float weight_decay) {
  ctnn::Adam adam(1e-3f);
  adam.decoupled = true;
  adam.weight_decay = weight_decay;
  return adam;
}
