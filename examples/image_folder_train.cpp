// Trains the Fashion-MNIST CNN (examples::FashionCnn) on a folder of image files laid out as
// ROOT/<class name>/<image files>, holding out part of each class for testing, and prints its
// test accuracy.
//
//   image_folder_train --root DIR [--test-fraction X] [--invert] [--skip-unreadable]
//                      [--epochs N] [--batch-size N] [--lr X] [--threads N] [--seed N]
//                      [--save PATH]
#include <ctnn/data/image_folder.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "networks.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
  using Net = examples::FashionCnn;
  std::string root;
  ctnn::data::ImageFolderOptions fo;
  const std::vector<examples::ExtraFlag> extra = {
      {"--root", "DIR", "the image folder: DIR/<class name>/<image files> (required)",
       [&](const char* v) {
         root = v;
         return !root.empty();
       }},
      {"--test-fraction", "X", "share of each class held out for testing (default 0.2)",
       [&](const char* v) {
         char* end = nullptr;
         fo.test_fraction = std::strtod(v, &end);
         return end != v && !*end && fo.test_fraction > 0.0 && fo.test_fraction < 1.0;
       }},
      {"--invert", "", "invert the images (for dark objects on a light background)",
       [&](const char*) {
         fo.image.invert = true;
         return true;
       }},
      {"--skip-unreadable", "", "leave out files that cannot be decoded, with a warning",
       [&](const char*) {
         fo.skip_unreadable = true;
         return true;
       }},
  };
  const char* what =
      "Trains a convolutional network (Conv2D 32-64-64, Dense 128; at most 10 classes) on a\n"
      "folder of images with Adam. Images (PNG, JPEG, BMP, GIF, TGA) are converted to grey and\n"
      "resized to 28 x 28; classes are the sub-directories, in name order.";
  const examples::Options o = examples::parse(argc, argv, what, extra, false);
  if (root.empty()) {
    std::cerr << argv[0] << ": --root is required\n";
    examples::usage(argv[0], what, std::cerr, extra, false);
    return 2;
  }
  fo.seed = o.seed;
  fo.threads = o.threads;

  try {
    const auto d = ctnn::data::load_image_folder<Net::input_shape>(root, fo);
    std::cout << "classes:";
    for (std::size_t k = 0; k < d.classes.size(); ++k)
      std::cout << (k ? ", " : " ") << k << " \"" << d.classes[k] << '"';
    std::cout << "\n";
    constexpr std::size_t outputs = Net::output_shape::size;
    if (d.classes.size() > outputs)
      throw ctnn::InvalidArgument(root + " has " + std::to_string(d.classes.size()) +
                                  " classes; the network has " + std::to_string(outputs) +
                                  " outputs");
    if (d.train.size() == 0 || d.test.size() == 0)
      throw ctnn::InvalidArgument("the split left " + std::to_string(d.train.size()) +
                                  " training and " + std::to_string(d.test.size()) +
                                  " test images; both need at least one");
    if (!o.save.empty()) {
      std::cout << "the saved model classifies with: classify --model " << o.save << " --classes '";
      for (std::size_t k = 0; k < d.classes.size(); ++k)
        std::cout << (k ? "," : "") << d.classes[k];
      std::cout << "'" << (fo.image.invert ? " --invert" : "") << " IMAGE...\n";
    }
    examples::train_and_report<Net>(o, "image_folder_train", d.train, d.test, d.classes);
  } catch (const std::exception& e) {
    return examples::report_error("image_folder_train", e);
  }
  return 0;
}
