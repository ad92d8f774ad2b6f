// Must not compile: a layer writes its state through Pass::state, which is read-only (even in a
// Pass that is not itself const); training updates state only through Pass::state_update.
#include <ctnn/ctnn.hpp>

void update(ctnn::Pass p) {
  p.state[0] = 1.0f;
}
