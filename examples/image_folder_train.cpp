// Trains a convolutional network on a folder of image files laid out as
// ROOT/<class name>/<image files>, holding out part of each class for testing, prints its test
// accuracy and saves it with the class names and the preprocessing of its images, so that
// `classify --model PATH IMAGE...` needs nothing else.
//
//   image_folder_train --root DIR [--size 28|32|64] [--channels 1|3] [--test-fraction X]
//                      [--invert] [--skip-unreadable] [--stream] [--prefetch N]
//                      [--decode-threads N] [--epochs N] [--batch-size N] [--lr X] [--threads N]
//                      [--seed N] [--save PATH]
//
// The network is chosen when the program runs among the six compiled in (examples::FolderCnn:
// 28 x 28, 32 x 32 or 64 x 64 pixels, grey or RGB), each with 100 outputs: a folder of 2 to 100
// classes uses the first outputs, and the others are switched off (folder_networks.hpp).
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
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "folder_networks.hpp"
#include "options.hpp"

namespace {

// `s` for a POSIX shell: in single quotes, each ' written as '\''.
std::string shell_quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// `s` with its control characters as \n, \t or \xNN, and with `bytes` its bytes from 0x80 as \xNN.
std::string visible(const std::string& s, bool bytes = false) {
  std::string v;
  for (unsigned char c : s) {
    if (c == '\n')
      v += "\\n";
    else if (c == '\t')
      v += "\\t";
    else if (is_control(c) || (bytes && c >= 0x80)) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      v += hex;
    } else
      v += static_cast<char>(c);
  }
  return v;
}

// What the command line asks for besides the common options.
struct Request {
  std::string root;
  std::size_t size = 32, channels = 3;
  ctnn::data::ImageFolderOptions folder;
  bool stream = false;
  ctnn::data::ImageStreamOptions stream_options;
};

// Refuses classes the network or the reports cannot take, and prints them.
void check_classes(const Request& r, const std::vector<std::string>& classes) {
  for (const std::string& c : classes) {
    // The report and classify print one class name per line.
    if (std::any_of(c.begin(), c.end(), is_control))
      throw ctnn::InvalidArgument(r.root + ": the class directory '" + visible(c) +
                                  "' has a control character in its name (a newline, a tab, "
                                  "...), which the reports cannot show; rename it");
    if (!examples::is_utf8(c))
      throw ctnn::InvalidArgument(r.root + ": the class directory '" + visible(c, true) +
                                  "' has a name that is not UTF-8, which the model file cannot "
                                  "record; rename it");
  }
  std::cout << "classes:";
  for (std::size_t k = 0; k < classes.size(); ++k)
    std::cout << (k ? ", " : " ") << k << " \"" << classes[k] << '"';
  std::cout << "\n";
  if (classes.size() > examples::kFolderOutputs || classes.size() < 2)
    throw ctnn::InvalidArgument(r.root + " has " + std::to_string(classes.size()) +
                                (classes.size() == 1 ? " class" : " classes") +
                                "; image_folder_train trains from 2 to " +
                                std::to_string(examples::kFolderOutputs) + " classes");
}

void check_split(std::size_t train, std::size_t test) {
  if (train == 0 || test == 0)
    throw ctnn::InvalidArgument("the split left " + std::to_string(train) + " training and " +
                                std::to_string(test) + " test images; both need at least one");
}

// Lists the folder, trains Net on it, reports and saves it with its metadata.
template <class Net>
void train(const examples::Options& o, const Request& r) {
  using Shape = typename Net::input_shape;
  auto x = ctnn::data::index_image_folder(r.root, r.folder, Shape::channels);
  check_classes(r, x.classes);
  const std::size_t n = x.classes.size();
  std::cout << "network: " << Shape::height << " x " << Shape::width << " pixels, "
            << (Shape::channels == 1 ? "grey" : "RGB") << ", outputs 0 to " << n - 1 << " of "
            << examples::kFolderOutputs << " used\n";

  ctnn::Metadata metadata;
  metadata.class_names = x.classes;
  ctnn::Preprocessing& p = metadata.preprocessing.emplace();
  p.channels = Shape::channels;
  p.height = Shape::height;
  p.width = Shape::width;
  p.scale = r.folder.image.scale;
  p.mean = r.folder.image.mean;
  p.std = r.folder.image.std;
  p.invert = r.folder.image.invert;
  metadata.values["trained by"] = "image_folder_train";
  const std::function<void(Net&)> prepare = [n](Net& net) {
    examples::disable_unused_outputs(net, n);
  };
  const auto suggest = [&] {
    if (!o.save.empty())
      std::cout << "the saved model classifies with: classify --model " << shell_quoted(o.save)
                << " IMAGE...\n";
  };
  const char* name = "image_folder_train";
  if (r.stream) {
    check_split(x.train_files.size(), x.test_files.size());
    suggest();
    ctnn::data::ImageFileStream<Shape> train(std::move(x.train_files), std::move(x.train_labels), n,
                                             r.folder.image, r.stream_options);
    ctnn::data::ImageFileStream<Shape> test(std::move(x.test_files), std::move(x.test_labels), n,
                                            r.folder.image, r.stream_options);
    examples::train_and_report<Net>(o, name, train, test, x.classes, metadata, prepare);
  } else {
    const auto d = ctnn::data::load_image_folder<Shape>(r.root, r.folder);
    check_split(d.train.size(), d.test.size());
    suggest();
    examples::train_and_report<Net>(o, name, d.train, d.test, d.classes, metadata, prepare);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Request r;
  ctnn::data::ImageFolderOptions& fo = r.folder;
  ctnn::data::ImageStreamOptions& so = r.stream_options;
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
         r.root = v;
         return !r.root.empty();
       }},
      {"--size", "S", "the network's images: S x S pixels, S = 28, 32 or 64 (default 32)",
       [&](const char* v) {
         const std::optional<std::uint64_t> s = examples::parse_count(v, false);
         r.size = static_cast<std::size_t>(s.value_or(0));
         return r.size == 28 || r.size == 32 || r.size == 64;
       }},
      {"--channels", "C", "1 (grey) or 3 (RGB) (default 3); images are converted to it",
       [&](const char* v) {
         const std::optional<std::uint64_t> c = examples::parse_count(v, false);
         r.channels = static_cast<std::size_t>(c.value_or(0));
         return r.channels == 1 || r.channels == 3;
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
         r.stream = true;
         return true;
       }},
      {"--prefetch", "N", "with --stream: images decoded ahead at most (default 512)",
       [&](const char* v) { return positive("--prefetch", v, so.prefetch); }},
      {"--decode-threads", "N", "with --stream: threads decoding images (default 2)",
       [&](const char* v) { return positive("--decode-threads", v, so.threads); }},
  };
  const char* what =
      "Trains a convolutional network (Conv2D 32-64-64, Dense 128, 100 outputs) on a folder of\n"
      "2 to 100 classes of images with Adam. Images (PNG, JPEG, BMP, GIF, TGA) are converted to\n"
      "--channels and resized to --size; classes are the sub-directories, in name order. The\n"
      "saved model holds the class names and the preprocessing: classify needs only --model.";
  const examples::Options o = examples::parse(argc, argv, what, extra, false);
  const auto misuse = [&](const std::string& message) {
    std::cerr << argv[0] << ": " << message << "\n";
    examples::usage(argv[0], what, std::cerr, extra, false);
    return 2;
  };
  if (r.root.empty()) return misuse("--root is required");
  if (!r.stream && !stream_only.empty()) return misuse(stream_only + ": only with --stream");
  fo.seed = o.seed;
  fo.threads = o.threads;
  try {
    if (r.stream && fo.skip_unreadable)
      throw ctnn::InvalidArgument(
          "--skip-unreadable decodes every image before the split; leave out --stream");
    using examples::FolderCnn;
    const std::size_t key = r.size * 10 + r.channels;
    if (key == 281) train<FolderCnn<28, 1>>(o, r);
    if (key == 283) train<FolderCnn<28, 3>>(o, r);
    if (key == 321) train<FolderCnn<32, 1>>(o, r);
    if (key == 323) train<FolderCnn<32, 3>>(o, r);
    if (key == 641) train<FolderCnn<64, 1>>(o, r);
    if (key == 643) train<FolderCnn<64, 3>>(o, r);
  } catch (const std::exception& e) {
    return examples::report_error("image_folder_train", e);
  }
  return 0;
}
