// A network with a layer defined outside the library (examples/channel_scale.hpp): trains it on
// Fashion-MNIST with the options of the other examples, then saves it as a model file and as
// safetensors, loads both into new networks and checks that they predict exactly what the
// trained one does. The two files go to a new private directory that mkdtemp(3) makes under
// $TMPDIR (or /tmp), removed at the end; nothing that was there before is used or removed.
//
//   custom_layer [--data-dir DIR] [--epochs N] [--batch-size N] [--lr X] [--threads N]
//                [--seed N] [--save PATH] [--schedule S] [--augment LIST] ...
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "folder_networks.hpp"
#include "options.hpp"

using Net = examples::CustomLayerNet;

int main(int argc, char** argv) {
  const examples::Options o = examples::parse(
      argc, argv,
      "Trains Conv2D<16,3>, ChannelScale (a layer defined in examples/channel_scale.hpp), ReLU, "
      "MaxPool2D<2>, Conv2D<32,3>, ChannelScale, ReLU, MaxPool2D<2>, Dense<10> on Fashion-MNIST "
      "with Adam, then saves it as a model file and as safetensors (in a temporary directory) "
      "and checks that both load back exactly.");
  namespace fs = std::filesystem;
  std::string dir;  // made once there is a model to save, removed at the end
  int status = 0;
  try {
    const examples::FashionMnist data = examples::load_fashion(o);
    const ctnn::data::Dataset& test = data.test;
    const auto net = examples::train_and_report<Net>(o, "custom_layer", data.train, test,
                                                     examples::fashion_classes);
    std::string name = (fs::temp_directory_path() / "ctnn-custom-layer-XXXXXX").string();
    if (::mkdtemp(name.data()) == nullptr)
      throw ctnn::FileError(
          name, std::string("cannot create a temporary directory: ") + std::strerror(errno));
    dir = name;
    const std::string base = dir + "/model";
    ctnn::save(*net, base + ".ctnn");
    ctnn::save_safetensors(*net, base + ".safetensors");
    auto from_model = std::make_unique<Net>(ctnn::uninitialized);
    auto from_st = std::make_unique<Net>(ctnn::uninitialized);
    ctnn::load(*from_model, base + ".ctnn");
    ctnn::load_safetensors(*from_st, base + ".safetensors");
    std::cout << "saved and loaded a model file and a safetensors file (ChannelScale's tensors: "
                 "1.weight, 1.bias, 5.weight, 5.bias)\n";

    ctnn::Predictor<Net> a(*net, 64, 1), b(*from_model, 64, 1), c(*from_st, 64, 1);
    std::vector<float> ya(64 * 10), yb(64 * 10), yc(64 * 10);
    std::size_t differing = 0;
    for (std::size_t i = 0; i < test.size(); i += 64) {
      const std::size_t n = std::min<std::size_t>(64, test.size() - i);
      a.predict(test.sample(i), ya.data(), n);
      b.predict(test.sample(i), yb.data(), n);
      c.predict(test.sample(i), yc.data(), n);
      for (std::size_t k = 0; k < n * 10; ++k) differing += ya[k] != yb[k] || ya[k] != yc[k];
    }
    if (differing != 0) {
      std::cerr << "custom_layer: " << differing << " outputs differ after loading\n";
      status = 1;
    } else {
      std::cout << "the loaded networks predict exactly what the trained one does\n";
    }
  } catch (const std::exception& e) {
    status = examples::report_error("custom_layer", e);
  }
  std::error_code ec;
  if (!dir.empty()) fs::remove_all(dir, ec);
  return status;
}
