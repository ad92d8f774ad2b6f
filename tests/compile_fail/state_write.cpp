// Must not compile: a layer's forward writes its state through Pass::state, which is read-only;
// training updates state only through Pass::state_update.
#include <ctnn/ctnn.hpp>

void update(const ctnn::Pass& p) { p.state[0] = 1.0f; }
