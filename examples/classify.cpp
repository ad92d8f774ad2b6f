// Classifies image files with a model saved by the examples (image_folder_train,
// fashion_mnist_cnn, fashion_mnist_lstm, fashion_mnist_crnn, fashion_mnist_resnet, custom_layer)
// and prints the most probable classes of each. The network, the class names and the
// preprocessing of the images come from the model file.
//
//   classify --model PATH [--top-k K] [--invert | --no-invert] [--classes A,B,...] IMAGE...
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ctnn/model.hpp>
#include <ctnn/predict.hpp>
#include <exception>
#include <iomanip>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "common.hpp"
#include "folder_networks.hpp"

namespace {

// Every network the examples train: a model file of any of them classifies.
using Networks = decltype(std::tuple_cat(std::declval<examples::FashionNetworks>(),
                                         std::declval<examples::FolderNetworks>()));

template <class... Nets>
ctnn::Model load_model(const std::string& path, std::tuple<Nets...>*) {
  return ctnn::load_any<Nets...>(path);
}

void usage(const char* prog, std::ostream& os) {
  os << "usage: " << prog << " --model PATH [options] IMAGE...\n"
     << "Classifies image files (PNG, JPEG, BMP, GIF, TGA) with a model saved by\n"
     << "image_folder_train or a Fashion-MNIST example (--save). The network, its class names\n"
     << "and how an image is prepared for it (grey or RGB, size, scaling, inversion) are read\n"
     << "from the model file; for each image the path and the K most probable classes are\n"
     << "printed. Files saved before models held class names and preprocessing are read too:\n"
     << "their images are scaled to [0, 1] at the network's input size, and their classes are\n"
     << "Fashion-MNIST's for the Fashion-MNIST examples' networks, else numbered.\n\n"
     << "  --model PATH       the model file (required)\n"
     << "  --top-k K          classes to print per image (default 3)\n"
     << "  --invert           invert the images first (1 - value): for dark objects on a light\n"
     << "                     background, as in most photos, with a network trained on light\n"
     << "                     objects on black (Fashion-MNIST's); default: as the model says\n"
     << "  --no-invert        do not invert the images, whatever the model says\n"
     << "  --classes A,B,...  names of the network's outputs 0, 1, ..., instead of the model's;\n"
     << "                     only the outputs named are used; \\, is a comma and \\\\ a\n"
     << "                     backslash inside a name\n"
     << "  --help             this text\n"
     << "Exit status: 0 when every image was classified, 1 when the model or an image could not\n"
     << "be read or the network's outputs for an image are not finite, 2 for a bad option.\n";
}

// The names of --classes: split at the commas that no backslash escapes (\, is a comma and \\ a
// backslash inside a name). Nothing for another backslash, or one at the end.
std::optional<std::vector<std::string>> split_classes(const std::string& s) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ',') {
      out.emplace_back();
    } else if (s[i] == '\\') {
      if (i + 1 == s.size() || (s[i + 1] != ',' && s[i + 1] != '\\')) return std::nullopt;
      out.back() += s[++i];
    } else {
      out.back() += s[i];
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path;
  std::size_t top_k = 3;
  std::optional<bool> invert;
  std::optional<std::vector<std::string>> classes;
  std::vector<std::string> images;
  auto fail = [&](const std::string& msg) {
    std::cerr << argv[0] << ": " << msg << "\n";
    usage(argv[0], std::cerr);
    std::exit(2);
  };
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (options_done || a.empty() || a[0] != '-') {
      images.emplace_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
    } else if (a == "--help" || a == "-h") {
      usage(argv[0], std::cout);
      return 0;
    } else if (a == "--invert" || a == "--no-invert") {
      invert = a == "--invert";
    } else if (a == "--model" || a == "--top-k" || a == "--classes") {
      if (i + 1 >= argc) fail("missing value for " + std::string(a));
      const std::string v = argv[++i];
      if (a == "--model") {
        model_path = v;
      } else if (a == "--top-k") {
        const std::optional<std::uint64_t> k = examples::parse_count(v.c_str(), false);
        if (!k) fail("invalid value for --top-k: '" + v + "' (a whole number >= 1)");
        top_k = static_cast<std::size_t>(*k);
      } else {
        classes = split_classes(v);
        if (!classes)
          fail("invalid value for --classes: '" + v +
               "' (a backslash must be followed by a comma or a backslash)");
        if (std::any_of(classes->begin(), classes->end(), [](auto& c) { return c.empty(); }))
          fail("--classes has an empty name: '" + v + "'");
      }
    } else {
      fail("unknown option: " + std::string(a));
    }
  }
  if (model_path.empty()) fail("--model is required");
  if (images.empty()) fail("no image files given");

  std::optional<ctnn::Model> model;
  try {
    model = load_model(model_path, static_cast<Networks*>(nullptr));
  } catch (const std::exception& e) {
    std::cerr << "classify: error: cannot use the model: " << e.what() << "\n";
    return 1;
  }
  const ctnn::Metadata& saved = model->metadata();
  const std::vector<std::size_t> in = model->input_shape().dims;
  const std::size_t outputs = model->output_shape().dims.back();
  if (in.size() != 3) {
    std::cerr << "classify: error: " << model_path << ": the network's input is not an image\n";
    return 1;
  }

  // How an image becomes the network's input: as the file says, else byte / 255 at the input's
  // size (as the Fashion-MNIST examples and image_folder_train trained before files said it).
  ctnn::Preprocessing prep;
  if (saved.preprocessing) {
    prep = *saved.preprocessing;
    if (prep.height != in[0] || prep.width != in[1] || prep.channels != in[2]) {
      std::cerr << "classify: error: " << model_path << ": its preprocessing makes " << prep.height
                << " x " << prep.width << " x " << prep.channels << " images, the network takes "
                << in[0] << " x " << in[1] << " x " << in[2] << "\n";
      return 1;
    }
  } else {
    prep.height = in[0], prep.width = in[1], prep.channels = in[2];
    std::cerr << "classify: note: " << model_path
              << " does not say how its images were prepared (saved without metadata): each "
                 "image becomes "
              << in[0] << " x " << in[1] << (in[2] == 1 ? " grey" : " RGB")
              << " pixels scaled to [0, 1]"
              << (invert.value_or(false) ? ", inverted\n" : " (--invert inverts them)\n");
  }
  if (invert) prep.invert = *invert;

  // The names of the outputs used: --classes, else the file's, else Fashion-MNIST's for its
  // examples' networks, else the outputs' numbers.
  std::vector<std::string> names;
  if (classes) {
    names = *classes;
  } else if (!saved.class_names.empty()) {
    names = saved.class_names;
  } else if (examples::signature_in(model->signature(),
                                    static_cast<examples::FashionNetworks*>(nullptr))) {
    names = examples::fashion_classes;
    std::cerr << "classify: note: " << model_path
              << " holds no class names (saved without metadata); its network is a "
                 "Fashion-MNIST example's, so the classes are Fashion-MNIST's\n";
  } else {
    std::cerr << "classify: note: " << model_path
              << " holds no class names (saved without metadata): classes are numbered\n";
  }
  if (names.size() > outputs) {
    std::cerr << "classify: error: "
              << (classes ? std::string("--classes") : model_path + ": the file") << " names "
              << names.size() << " classes; the network has " << outputs << " outputs\n";
    return classes ? 2 : 1;
  }
  ctnn::Metadata shown;
  shown.class_names = names;
  const std::size_t n = names.empty() ? outputs : names.size();

  bool failed = false;
  for (const std::string& path : images) {
    std::vector<float> logits;
    try {
      logits = model->predict(ctnn::data::load_image(path, prep), 1);
    } catch (const std::exception& e) {
      std::cerr << "classify: error: " << e.what() << "\n";
      failed = true;
      continue;
    }
    // Finite parameters (loading checks them) can still overflow: no NaN probabilities.
    const std::span<const float> used(logits.data(), n);
    if (!std::all_of(used.begin(), used.end(), [](float v) { return std::isfinite(v); })) {
      std::cerr << "classify: error: " << path
                << ": the network's outputs are not finite (its weights are too large)\n";
      failed = true;
      continue;
    }
    const std::vector<float> p = ctnn::softmax(used);
    std::cout << path << "\n";
    for (const auto& c : ctnn::top_k(p, top_k))
      std::cout << "  " << std::fixed << std::setprecision(4) << c.score << "  "
                << ctnn::class_name(shown, c.index) << "\n";
  }
  return failed ? 1 : 0;
}
