// Classifies image files with a saved Fashion-MNIST CNN (examples::FashionCnn) and prints the
// most probable classes of each.
//
//   classify --model PATH [--top-k K] [--invert] [--classes A,B,...] IMAGE...
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <ctnn/data/image.hpp>
#include <ctnn/kernels/softmax.hpp>
#include <exception>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "networks.hpp"

namespace {

using Net = examples::FashionCnn;
constexpr std::size_t kOutputs = Net::output_shape::size;

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                  "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                  "Bag",         "Ankle boot"};

void usage(const char* prog, std::ostream& os) {
  os << "usage: " << prog << " --model PATH [options] IMAGE...\n"
     << "Classifies image files (PNG, JPEG, BMP, GIF, TGA) with a Fashion-MNIST CNN saved by\n"
     << "fashion_mnist_cnn or image_folder_train (--save). Each image is converted to grey and\n"
     << "resized to 28 x 28; for each, the path and the K most probable classes are printed.\n\n"
     << "  --model PATH       the model file (required)\n"
     << "  --top-k K          classes to print per image (default 3)\n"
     << "  --invert           invert the images first: for dark objects on a light background,\n"
     << "                     as in most photos (Fashion-MNIST's are light on black)\n"
     << "  --classes A,B,...  names of the network's outputs 0, 1, ... (default: Fashion-MNIST's\n"
     << "                     10 classes); with fewer than 10 names only those outputs are used;\n"
     << "                     \\, is a comma and \\\\ a backslash inside a name\n"
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
  std::string model;
  std::size_t top_k = 3;
  bool invert = false;
  std::vector<std::string> classes = kFashionClasses;
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
    } else if (a == "--invert") {
      invert = true;
    } else if (a == "--model" || a == "--top-k" || a == "--classes") {
      if (i + 1 >= argc) fail("missing value for " + std::string(a));
      const std::string v = argv[++i];
      if (a == "--model") {
        model = v;
      } else if (a == "--top-k") {
        const std::optional<std::uint64_t> k = examples::parse_count(v.c_str(), false);
        if (!k) fail("invalid value for --top-k: '" + v + "' (a whole number >= 1)");
        top_k = static_cast<std::size_t>(*k);
      } else {
        const auto names = split_classes(v);
        if (!names)
          fail("invalid value for --classes: '" + v +
               "' (a backslash must be followed by a comma or a backslash)");
        classes = *names;
        if (classes.size() > kOutputs)
          fail("--classes names " + std::to_string(classes.size()) + " classes; the network has " +
               std::to_string(kOutputs) + " outputs");
        if (std::any_of(classes.begin(), classes.end(), [](auto& c) { return c.empty(); }))
          fail("--classes has an empty name: '" + v + "'");
      }
    } else {
      fail("unknown option: " + std::string(a));
    }
  }
  if (model.empty()) fail("--model is required");
  if (images.empty()) fail("no image files given");
  const std::size_t n = classes.size();
  top_k = std::min(top_k, n);

  auto net = std::make_unique<Net>(ctnn::uninitialized);
  try {
    ctnn::load(*net, model);
  } catch (const std::exception& e) {
    std::cerr << "classify: error: cannot use the model: " << e.what() << "\n";
    return 1;
  }

  ctnn::data::ImageOptions io;
  io.invert = invert;
  ctnn::Workspace<Net> ws(1, ctnn::inference_only);
  std::array<float, kOutputs> logits;
  bool failed = false;
  for (const std::string& path : images) {
    std::vector<float> x;
    try {
      x = ctnn::data::load_image<Net::input_shape>(path, io);
    } catch (const std::exception& e) {
      std::cerr << "classify: error: " << e.what() << "\n";
      failed = true;
      continue;
    }
    net->predict(x.data(), logits.data(), 1, ws);
    // Finite parameters (load() checks them) can still overflow: no NaN probabilities.
    if (!std::all_of(logits.begin(), logits.begin() + n,
                     [](float v) { return std::isfinite(v); })) {
      std::cerr << "classify: error: " << path
                << ": the network's outputs are not finite (its weights are too large)\n";
      failed = true;
      continue;
    }
    // Softmax over the named outputs, shifted by the largest logit so exp cannot overflow.
    std::vector<double> p(n);
    const double sum = ctnn::kernels::exp_shifted(logits.data(), p.data(), n).sum;
    for (double& v : p) v /= sum;
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
    std::cout << path << "\n";
    for (std::size_t r = 0; r < top_k; ++r)
      std::cout << "  " << std::fixed << std::setprecision(4) << p[order[r]] << "  "
                << classes[order[r]] << "\n";
  }
  return failed ? 1 : 0;
}
