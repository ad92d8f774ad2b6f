// Builds a small network from the installed headers, trains it a few steps and round-trips it
// through a model file, then loads an installed reference network's file through load_any;
// exits non-zero if anything is off.
#include <cstdio>
#include <cstring>
#include <ctnn/ctnn.hpp>
#include <ctnn/zoo/fashion.hpp>
#include <filesystem>
#include <vector>

using Net = ctnn::Sequential<ctnn::Input<6, 6, 1>, ctnn::Conv2D<4, 3>, ctnn::ReLU,
                             ctnn::MaxPool2D<2>, ctnn::Dense<3>>;

int main() {
  if (std::strcmp(CTNN_VERSION_STRING, CTNN_PACKAGE_VERSION) != 0) {
    std::printf("consumer: the headers say %s, the CMake package %s\n", CTNN_VERSION_STRING,
                CTNN_PACKAGE_VERSION);
    return 1;
  }
  ctnn::data::Dataset d;
  d.sample_size = 36;
  d.classes = 3;
  for (int i = 0; i < 30; ++i) {
    for (int j = 0; j < 36; ++j) d.inputs.push_back(float((i * 7 + j) % 5) / 4.0f);
    d.labels.push_back(i % 3);
  }
  Net net(1);
  ctnn::Adam adam;
  ctnn::FitOptions o;
  o.epochs = 2;
  o.batch_size = 5;
  o.threads = 1;
  ctnn::fit(net, adam, d, o);
  const auto path = (std::filesystem::temp_directory_path() / "ctnn-consumer.ctnn").string();
  ctnn::save(net, path);
  Net back;
  ctnn::load(back, path);
  std::filesystem::remove(path);
  const auto a = net.predict(d.sample(0)), b = back.predict(d.sample(0));
  if (a != b) return 1;

  // The examples' reference networks are installed: a file of one loads by its signature.
  ctnn::Metadata m;
  m.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  ctnn::save(ctnn::zoo::FashionLstm(3), path, m);
  const ctnn::Model model =
      ctnn::load_any<Net, ctnn::zoo::FashionCnn, ctnn::zoo::FashionLstm>(path);
  std::filesystem::remove(path);
  if (model.signature() != ctnn::zoo::FashionLstm::signature() || model.metadata() != m) return 1;
  std::printf("consumer: %zu parameters, round trip ok\n", Net::parameter_count);
  return 0;
}
