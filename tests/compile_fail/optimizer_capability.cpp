// An optimizer that declares begin_step without update: without the check it would silently lose
// the capability (its step() would run on one thread); the check names the form it needs.
#include <ctnn/ctnn.hpp>
#include <span>

struct HalfRanges {
  float learning_rate = 0.01f;
  void step(std::span<float> params, std::span<const float> grads) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i] -= learning_rate * grads[i];
  }
  void begin_step(std::size_t) {}  // and no update(offset, params, grads)
};

using Net = ctnn::Sequential<ctnn::Input<4>, ctnn::Dense<2>>;

void train(Net& net, const ctnn::data::Dataset& data) {
  HalfRanges optimizer;
  ctnn::fit(net, optimizer, data);
}
