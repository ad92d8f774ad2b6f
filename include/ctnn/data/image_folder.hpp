// ctnn/data/image_folder.hpp — a labelled data set from a directory of image files, one
// sub-directory per class (the layout of torchvision.datasets.ImageFolder):
//
//   root/Coat/0001.png
//   root/Coat/0002.jpg
//   root/Sandal/a.bmp
//   ...
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <new>
#include <numeric>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../parallel.hpp"
#include "../random.hpp"
#include "../shape.hpp"
#include "dataset.hpp"
#include "image.hpp"

namespace ctnn::data {

/// Options of load_image_folder().
struct ImageFolderOptions {
  /// How every image becomes floats (see load_image).
  ImageOptions image;
  /// Share of each class's images that goes to the test set, in [0, 1].
  double test_fraction = 0.2;
  /// Seed of the train/test split.
  std::uint64_t seed = 1;
  /// false: a file that cannot be decoded throws. true: it is left out, and a line naming it is
  /// written to `warnings`.
  bool skip_unreadable = false;
  /// Where the lines about skipped files go (nullptr: nowhere).
  std::ostream* warnings = &std::cerr;
  /// Threads that decode images (0: one per hardware thread). The result does not depend on it.
  std::size_t threads = 0;
  /// A progress line on stderr while the images load: only when stderr is a terminal.
  bool progress = true;
};

/// What load_image_folder() returns. `train` and `test` hold samples of `Shape` (channels-last,
/// `Shape::size` floats each) with labels indexing `classes`; `train_files[i]` is the file of
/// `train` sample i and `test_files[i]` that of `test` sample i, as `root/<class>/<file>`.
template <class Shape>
struct ImageFolderData {
  using shape = Shape;
  std::vector<std::string> classes;  ///< class names, sorted; label i is classes[i]
  Dataset train, test;
  std::vector<std::string> train_files, test_files;
};

namespace detail {

/// The FileError of an allocation that failed while loading a folder: which file, what was
/// being done, and how much the images already loaded hold.
inline FileError folder_out_of_memory(const std::string& path, const char* doing,
                                      std::size_t loaded, std::size_t floats_per_image) {
  return FileError(path, std::string("out of memory ") + doing + " (" + std::to_string(loaded) +
                             " images already loaded hold " +
                             std::to_string(loaded * floats_per_image * sizeof(float) >> 20) +
                             " MiB); load fewer or smaller images");
}

/// True when the file name ends in .png, .jpg, .jpeg, .bmp, .gif or .tga, in any letter case.
inline bool has_image_extension(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".gif" ||
         ext == ".tga";
}

/// Names of the entries of `dir` that `keep(entry)` accepts, sorted by byte value.
template <class Keep>
std::vector<std::string> sorted_entries(const std::filesystem::path& dir, Keep keep) {
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec))
    if (keep(*it)) names.push_back(it->path().filename().string());
  if (ec) throw FileError(dir.string(), "cannot read the directory: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace detail

/// Reads `root/<class name>/<image file>` as a training and a test set of `Shape` =
/// `ctnn::Image<H, W, C>` samples (C = 1 or 3), each image read by load_image() with
/// `options.image`.
///
/// - Classes are the sub-directories of `root` (symbolic links followed), sorted by name, byte by
///   byte; class i gets label i. Files directly in `root` are ignored.
/// - In a class directory, the files whose names end in .png, .jpg, .jpeg, .bmp, .gif or .tga (in
///   any letter case) are read, sorted by name; other files are ignored.
/// - The split is stratified: of a class's n readable images, std::llround(test_fraction * n) go
///   to the test set, the rest to the training set. Which ones is decided by a Fisher-Yates
///   shuffle (Durstenfeld's form, Knuth TAOCP vol. 2, algorithm 3.4.2 P) of the indices 0 .. n-1
///   driven by ctnn::Rng(ctnn::derive_seed(seed, class index)); the first ones after the shuffle
///   are the test images. The split depends only on the seed, the class's index and its sorted
///   readable files, not on the machine.
/// - Within each set, samples are in class order, then file-name order.
///
/// Throws ctnn::InvalidArgument if `test_fraction` is not in [0, 1] or `options.image` is invalid
/// (see load_image). Throws ctnn::FileError if `root` or a class directory cannot be read, `root`
/// has no sub-directories, a class directory has no image files (or, with skip_unreadable, none
/// that can be decoded), or, without skip_unreadable, an image cannot be decoded (the error names
/// the file, as load_image reports it).
template <class Shape>
ImageFolderData<Shape> load_image_folder(const std::string& root,
                                         const ImageFolderOptions& options = {}) {
  static_assert(is_image_v<Shape>, "load_image_folder: the shape must be a ctnn::Image<H, W, C>");
  namespace fs = std::filesystem;
  if (!(options.test_fraction >= 0.0 && options.test_fraction <= 1.0))
    throw InvalidArgument("load_image_folder: test_fraction is " +
                          std::to_string(options.test_fraction) + "; it must be in [0, 1]");
  detail::check_image_options(options.image, Shape::channels);

  const fs::path root_path(root);
  std::error_code ec;
  if (!fs::is_directory(root_path, ec)) {
    if (ec && ec != std::errc::no_such_file_or_directory)
      throw FileError(root, "cannot read: " + ec.message());
    throw FileError(root, fs::exists(root_path, ec) ? "is not a directory" : "no such directory");
  }

  ImageFolderData<Shape> d;
  d.classes = detail::sorted_entries(root_path, [](const fs::directory_entry& e) {
    std::error_code ec2;
    return e.is_directory(ec2);
  });
  if (d.classes.empty())
    throw FileError(root, "no class sub-directories; expected root/<class name>/<image files>");
  for (Dataset* s : {&d.train, &d.test}) {
    s->sample_size = Shape::size;
    s->classes = d.classes.size();
  }

  // The files of every class first, so that the progress line knows the total.
  std::vector<std::vector<std::string>> class_files(d.classes.size());
  std::size_t total = 0;
  for (std::size_t k = 0; k < d.classes.size(); ++k) {
    const fs::path dir = root_path / d.classes[k];
    class_files[k] = detail::sorted_entries(dir, [](const fs::directory_entry& e) {
      std::error_code ec2;
      return e.is_regular_file(ec2) && detail::has_image_extension(e.path());
    });
    if (class_files[k].empty())
      throw FileError(dir.string(), "class '" + d.classes[k] +
                                        "' has no image files (.png, .jpg, .jpeg, .bmp, .gif, "
                                        ".tga)");
    total += class_files[k].size();
  }

  ThreadPool pool(options.threads);
  const bool progress = options.progress && ::isatty(2) == 1;
  std::size_t seen = 0;    // files decoded (or skipped) so far, for the progress line
  std::size_t loaded = 0;  // images held in memory so far, for out-of-memory messages
  for (std::size_t k = 0; k < d.classes.size(); ++k) {
    const fs::path dir = root_path / d.classes[k];
    const std::vector<std::string>& files = class_files[k];

    // Decoded in chunks on all threads; what each file gave is then taken in file order, so
    // that the error thrown, the warnings and the samples do not depend on the threads.
    std::vector<std::string> paths;
    std::vector<float> samples;
    constexpr std::size_t chunk = 256;
    std::vector<std::vector<float>> decoded(chunk);
    std::vector<std::exception_ptr> failed(chunk);
    for (std::size_t c0 = 0; c0 < files.size(); c0 += chunk) {
      const std::size_t cn = std::min(chunk, files.size() - c0);
      pool.run([&](std::size_t t) {
        for (std::size_t i = t; i < cn; i += pool.size()) {
          failed[i] = nullptr;
          decoded[i].clear();
          try {
            decoded[i] = load_image<Shape>((dir / files[c0 + i]).string(), options.image);
          } catch (...) {
            failed[i] = std::current_exception();
          }
        }
      });
      for (std::size_t i = 0; i < cn; ++i) {
        const std::string path = (dir / files[c0 + i]).string();
        if (failed[i]) {
          try {
            std::rethrow_exception(failed[i]);
          } catch (const FileError& e) {
            if (!options.skip_unreadable) {
              if (progress) std::fprintf(stderr, "\n");
              throw;
            }
            if (options.warnings)
              *options.warnings << "load_image_folder: skipped " << e.what() << "\n";
            continue;
          } catch (const std::bad_alloc&) {
            throw detail::folder_out_of_memory(path, "decoding it", loaded, Shape::size);
          }
        }
        try {
          paths.push_back(path);
          samples.insert(samples.end(), decoded[i].begin(), decoded[i].end());
        } catch (const std::bad_alloc&) {
          throw detail::folder_out_of_memory(path, "keeping its pixels", loaded, Shape::size);
        }
        ++loaded;
      }
      seen += cn;
      if (progress) {
        std::fprintf(stderr, "\rloading images: %zu/%zu", seen, total);
        if (seen == total) std::fprintf(stderr, "\r%*s\r", 40, "");
        std::fflush(stderr);
      }
    }
    const std::size_t n = paths.size();
    if (n == 0)
      throw FileError(dir.string(), "class '" + d.classes[k] + "' has no readable images (" +
                                        std::to_string(files.size()) + " skipped)");

    const std::size_t n_test = std::min<std::size_t>(
        n, static_cast<std::size_t>(std::llround(options.test_fraction * double(n))));
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    Rng rng(derive_seed(options.seed, k));
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
    std::vector<bool> in_test(n, false);
    for (std::size_t i = 0; i < n_test; ++i) in_test[order[i]] = true;

    try {
      for (std::size_t i = 0; i < n; ++i) {
        Dataset& s = in_test[i] ? d.test : d.train;
        const float* x = samples.data() + i * Shape::size;
        s.inputs.insert(s.inputs.end(), x, x + Shape::size);
        s.labels.push_back(static_cast<std::int32_t>(k));
        (in_test[i] ? d.test_files : d.train_files).push_back(paths[i]);
      }
    } catch (const std::bad_alloc&) {
      throw detail::folder_out_of_memory(dir.string(), "splitting the class", loaded, Shape::size);
    }
  }
  return d;
}

}  // namespace ctnn::data
