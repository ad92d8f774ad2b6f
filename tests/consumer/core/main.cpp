// Trains a small network with nothing but ctnn::core (no model files, no image files) on a
// problem it can learn, and checks that training lowered the loss and that predict() picks the
// right class; exits non-zero if anything is off.
#include <algorithm>
#include <cstdio>
#include <ctnn/core.hpp>

using Net = ctnn::Sequential<ctnn::Input<6, 6, 1>, ctnn::Conv2D<4, 3>, ctnn::ReLU,
                             ctnn::MaxPool2D<2>, ctnn::Dense<3>>;

int main() {
  // Class k: a bright row k (of the top three rows) on a dim background.
  ctnn::data::Dataset d;
  d.sample_size = 36;
  d.classes = 3;
  for (int i = 0; i < 60; ++i) {
    const int k = i % 3;
    for (int j = 0; j < 36; ++j) d.inputs.push_back(j / 6 == k ? 1.0f : float(j % 5) / 20.0f);
    d.labels.push_back(k);
  }
  Net net(1);
  const double before = ctnn::evaluate(net, d, 1).loss;
  ctnn::Adam adam(0.02f);
  ctnn::FitOptions o;
  o.epochs = 30;
  o.batch_size = 6;
  o.threads = 1;
  ctnn::fit(net, adam, d, o);
  const ctnn::Evaluation after = ctnn::evaluate(net, d, 1);
  const auto logits = net.predict(d.sample(1));  // a sample of class 1
  const auto predicted = std::max_element(logits.begin(), logits.end()) - logits.begin();
  std::printf("core consumer: loss %.4f -> %.4f, accuracy %.3f, %zu parameters\n", before,
              after.loss, after.accuracy, Net::parameter_count);
  if (!(after.loss < before) || after.accuracy < 0.9 || predicted != 1) return 1;
  return 0;
}
