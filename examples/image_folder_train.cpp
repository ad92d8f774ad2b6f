// Trains the Fashion-MNIST CNN (examples::FashionCnn) on a folder of image files laid out as
// ROOT/<class name>/<image files>, holding out part of each class for testing, and prints its
// test accuracy.
//
//   image_folder_train --root DIR [--test-fraction X] [--invert] [--skip-unreadable]
//                      [--stream] [--prefetch N] [--decode-threads N]
//                      [--epochs N] [--batch-size N] [--lr X] [--threads N] [--seed N]
//                      [--save PATH]
//
// By default every image is decoded into memory first; with --stream only the file names are
// listed, and the images of each batch are decoded as training reaches them, on their own
// threads, at most --prefetch images ahead (data::ImageFileStream): memory no longer grows with
// the folder, and with --distributed each process decodes only its share of every batch.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctnn/data/image_folder.hpp>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "networks.hpp"
#include "options.hpp"

namespace {

// `s` for a POSIX shell: in single quotes, each ' written as '\''.
std::string shell_quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// classify's --classes argument for these names: joined by commas, with each comma and backslash
// inside a name escaped by a backslash.
std::string classes_argument(const std::vector<std::string>& classes) {
  std::string a;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    if (k) a += ',';
    for (char c : classes[k]) {
      if (c == ',' || c == '\\') a += '\\';
      a += c;
    }
  }
  return a;
}

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// `s` with its control characters as \n, \t or \xNN.
std::string visible(const std::string& s) {
  std::string v;
  for (unsigned char c : s) {
    if (c == '\n')
      v += "\\n";
    else if (c == '\t')
      v += "\\t";
    else if (is_control(c)) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      v += hex;
    } else
      v += static_cast<char>(c);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  using Net = examples::FashionCnn;
  std::string root;
  ctnn::data::ImageFolderOptions fo;
  bool stream = false;
  ctnn::data::ImageStreamOptions so;
  std::string stream_only;  // "--prefetch N": the last flag given that needs --stream
  const auto positive = [&](const char* flag, const char* v, std::size_t& out) {  // 1 to 2^24
    const std::optional<std::uint64_t> n = examples::parse_count(v, false);
    if (!n || *n > (std::uint64_t{1} << 24)) return false;
    out = static_cast<std::size_t>(*n);
    stream_only = std::string(flag) + " " + v;
    return true;
  };
  const std::vector<examples::ExtraFlag> extra = {
      {"--root", "DIR", "the image folder: DIR/<class name>/<image files> (required)",
       [&](const char* v) {
         root = v;
         return !root.empty();
       }},
      {"--test-fraction", "X", "share of each class held out for testing (default 0.2)",
       [&](const char* v) {
         const std::optional<double> x = examples::parse_real(v);
         fo.test_fraction = x.value_or(0.0);
         return fo.test_fraction > 0.0 && fo.test_fraction < 1.0;
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
      {"--stream", "", "decode each batch's images as training reaches them (bounded memory)",
       [&](const char*) {
         stream = true;
         return true;
       }},
      {"--prefetch", "N", "with --stream: images decoded ahead at most (default 512)",
       [&](const char* v) { return positive("--prefetch", v, so.prefetch); }},
      {"--decode-threads", "N", "with --stream: threads decoding images (default 2)",
       [&](const char* v) { return positive("--decode-threads", v, so.threads); }},
  };
  const char* what =
      "Trains a convolutional network (Conv2D 32-64-64, Dense 128; at most 10 classes) on a\n"
      "folder of images with Adam. Images (PNG, JPEG, BMP, GIF, TGA) are converted to grey and\n"
      "resized to 28 x 28; classes are the sub-directories, in name order.";
  const examples::Options o = examples::parse(argc, argv, what, extra, false);
  const auto misuse = [&](const std::string& message) {
    std::cerr << argv[0] << ": " << message << "\n";
    examples::usage(argv[0], what, std::cerr, extra, false);
    return 2;
  };
  if (root.empty()) return misuse("--root is required");
  if (!stream && !stream_only.empty()) return misuse(stream_only + ": only with --stream");
  fo.seed = o.seed;
  fo.threads = o.threads;

  // The classes, and whether the split left something on both sides.
  const auto check = [&](const std::vector<std::string>& classes, std::size_t train,
                         std::size_t test) {
    // The report and classify print one class name per line.
    for (const std::string& c : classes)
      if (std::any_of(c.begin(), c.end(), is_control))
        throw ctnn::InvalidArgument(root + ": the class directory '" + visible(c) +
                                    "' has a control character in its name (a newline, a tab, "
                                    "...), which the reports cannot show; rename it");
    std::cout << "classes:";
    for (std::size_t k = 0; k < classes.size(); ++k)
      std::cout << (k ? ", " : " ") << k << " \"" << classes[k] << '"';
    std::cout << "\n";
    constexpr std::size_t outputs = Net::output_shape::size;
    if (classes.size() > outputs)
      throw ctnn::InvalidArgument(root + " has " + std::to_string(classes.size()) +
                                  " classes; the network has " + std::to_string(outputs) +
                                  " outputs");
    if (train == 0 || test == 0)
      throw ctnn::InvalidArgument("the split left " + std::to_string(train) + " training and " +
                                  std::to_string(test) + " test images; both need at least one");
    if (!o.save.empty())
      std::cout << "the saved model classifies with: classify --model " << shell_quoted(o.save)
                << " --classes " << shell_quoted(classes_argument(classes))
                << (fo.image.invert ? " --invert" : "") << " IMAGE...\n";
  };
  try {
    if (stream) {
      if (fo.skip_unreadable)
        throw ctnn::InvalidArgument(
            "--skip-unreadable decodes every image before the split; leave out --stream");
      auto x = ctnn::data::index_image_folder(root, fo, Net::input_shape::channels);
      check(x.classes, x.train_files.size(), x.test_files.size());
      ctnn::data::ImageFileStream<Net::input_shape> train(
          std::move(x.train_files), std::move(x.train_labels), x.classes.size(), fo.image, so);
      ctnn::data::ImageFileStream<Net::input_shape> test(
          std::move(x.test_files), std::move(x.test_labels), x.classes.size(), fo.image, so);
      examples::train_and_report<Net>(o, "image_folder_train", train, test, x.classes);
    } else {
      const auto d = ctnn::data::load_image_folder<Net::input_shape>(root, fo);
      check(d.classes, d.train.size(), d.test.size());
      examples::train_and_report<Net>(o, "image_folder_train", d.train, d.test, d.classes);
    }
  } catch (const std::exception& e) {
    return examples::report_error("image_folder_train", e);
  }
  return 0;
}
