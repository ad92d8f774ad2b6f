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
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <mutex>
#include <new>
#include <numeric>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../parallel.hpp"
#include "../random.hpp"
#include "../shape.hpp"
#include "dataset.hpp"
#include "image.hpp"
#include "stream.hpp"

namespace ctnn::data {

/// How far load_image_folder() is: image files decoded (or skipped) so far, of all.
struct LoadProgress {
  std::size_t done = 0;
  std::size_t total = 0;
};

/// The progress line load_image_folder() shows by default (ImageFolderOptions::progress):
/// "\rloading images: D/T" after every chunk of files, erased (40 spaces between carriage
/// returns) once all are done; every write flushed.
class LoadingLine {
 public:
  /// On std::cerr when the standard error is a terminal (POSIX isatty), otherwise nowhere.
  LoadingLine() : out_(::isatty(2) == 1 ? &std::cerr : nullptr) {}
  /// On `out`, which must outlive the callback, terminal or not.
  explicit LoadingLine(std::ostream& out) : out_(&out) {}

  void operator()(const LoadProgress& p) const {
    if (!out_) return;
    *out_ << "\rloading images: " << p.done << '/' << p.total;
    if (p.done == p.total) *out_ << '\r' << std::string(40, ' ') << '\r';
    *out_ << std::flush;
  }
  /// Ends the line when loading stops by an error, so that the message starts on its own line.
  void interrupted() const {
    if (out_) *out_ << '\n' << std::flush;
  }

 private:
  std::ostream* out_;
};

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
  /// Threads that decode images (0: one per hardware thread), at most one per image (and 256).
  /// The result does not depend on it.
  std::size_t threads = 0;
  /// A progress line on stderr while the images load: only when stderr is a terminal (a
  /// LoadingLine, unless on_progress is set).
  bool progress = true;
  /// Called on the calling thread after every chunk of files (up to 256) with how far loading
  /// is; when set, it replaces the progress line (`progress` is then ignored).
  std::function<void(const LoadProgress&)> on_progress;
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

/// Which of a class's n images go to the test set: std::llround(test_fraction * n) of them,
/// the first ones after a Fisher-Yates shuffle of 0 .. n-1 driven by Rng(derive_seed(seed, k)).
inline std::vector<bool> test_mask(std::size_t n, double test_fraction, std::uint64_t seed,
                                   std::size_t k) {
  const std::size_t n_test =
      std::min<std::size_t>(n, static_cast<std::size_t>(std::llround(test_fraction * double(n))));
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  Rng rng(derive_seed(seed, k));
  ctnn::shuffle(order, rng);
  std::vector<bool> in_test(n, false);
  for (std::size_t i = 0; i < n_test; ++i) in_test[order[i]] = true;
  return in_test;
}

/// The classes of an image folder and the image files of each, sorted; throws as
/// load_image_folder() does for a folder it cannot use.
struct FolderFiles {
  std::vector<std::string> classes;
  std::vector<std::vector<std::string>> files;  // per class
};

inline FolderFiles scan_image_folder(const std::string& root, const ImageFolderOptions& options,
                                     std::size_t channels, const char* what) {
  namespace fs = std::filesystem;
  if (!(options.test_fraction >= 0.0 && options.test_fraction <= 1.0))
    throw InvalidArgument(std::string(what) + ": test_fraction is " +
                          std::to_string(options.test_fraction) + "; it must be in [0, 1]");
  check_image_options(options.image, channels);
  const fs::path root_path(root);
  std::error_code ec;
  if (!fs::is_directory(root_path, ec)) {
    if (ec && ec != std::errc::no_such_file_or_directory)
      throw FileError(root, "cannot read: " + ec.message());
    throw FileError(root, fs::exists(root_path, ec) ? "is not a directory" : "no such directory");
  }
  FolderFiles f;
  f.classes = sorted_entries(root_path, [](const fs::directory_entry& e) {
    std::error_code ec2;
    return e.is_directory(ec2);
  });
  if (f.classes.empty())
    throw FileError(root, "no class sub-directories; expected root/<class name>/<image files>");
  f.files.resize(f.classes.size());
  for (std::size_t k = 0; k < f.classes.size(); ++k) {
    const fs::path dir = root_path / f.classes[k];
    f.files[k] = sorted_entries(dir, [](const fs::directory_entry& e) {
      std::error_code ec2;
      return e.is_regular_file(ec2) && has_image_extension(e.path());
    });
    if (f.files[k].empty())
      throw FileError(dir.string(), "class '" + f.classes[k] +
                                        "' has no image files (.png, .jpg, .jpeg, .bmp, .gif, "
                                        ".tga)");
  }
  return f;
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
  detail::FolderFiles folder =
      detail::scan_image_folder(root, options, Shape::channels, "load_image_folder");
  const fs::path root_path(root);
  const std::vector<std::vector<std::string>>& class_files = folder.files;
  std::size_t total = 0;  // for the progress line
  for (const auto& files : class_files) total += files.size();
  ImageFolderData<Shape> d;
  d.classes = std::move(folder.classes);
  for (Dataset* s : {&d.train, &d.test}) {
    s->sample_size = Shape::size;
    s->classes = d.classes.size();
  }

  constexpr std::size_t chunk = 256;  // files decoded at a time
  ThreadPool pool(ctnn::detail::useful_threads(options.threads, std::min(total, chunk)));
  std::optional<LoadingLine> line;  // the default progress line
  if (!options.on_progress && options.progress) line.emplace();
  std::size_t seen = 0;    // files decoded (or skipped) so far, for the progress line
  std::size_t loaded = 0;  // images held in memory so far, for out-of-memory messages
  for (std::size_t k = 0; k < d.classes.size(); ++k) {
    const fs::path dir = root_path / d.classes[k];
    const std::vector<std::string>& files = class_files[k];

    // Decoded in chunks on all threads; what each file gave is then taken in file order, so
    // that the error thrown, the warnings and the samples do not depend on the threads.
    std::vector<std::string> paths;
    std::vector<float> samples;
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
              if (line) line->interrupted();
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
      if (options.on_progress) options.on_progress(LoadProgress{seen, total});
      if (line) (*line)(LoadProgress{seen, total});
    }
    const std::size_t n = paths.size();
    if (n == 0)
      throw FileError(dir.string(), "class '" + d.classes[k] + "' has no readable images (" +
                                        std::to_string(files.size()) + " skipped)");

    const std::vector<bool> in_test = detail::test_mask(n, options.test_fraction, options.seed, k);

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

/// The files of an image folder, their labels and the train/test split, without their pixels:
/// what index_image_folder() returns, to be read by ImageFileStream.
struct ImageFolderIndex {
  std::vector<std::string> classes;                  ///< class names, sorted; label i is classes[i]
  std::vector<std::string> train_files, test_files;  ///< as root/<class>/<file>
  std::vector<std::int32_t> train_labels, test_labels;
};

/// Lists `root/<class name>/<image file>` as load_image_folder() reads it (the same classes,
/// files, order and split), without decoding any image: every image file counts as readable,
/// so the split equals load_image_folder()'s whenever all files decode. Memory: the file names.
/// Throws what load_image_folder() throws for the folder and the options (the check of
/// `options.image` uses `channels`, 1 or 3), and InvalidArgument with
/// `options.skip_unreadable`, which needs every image decoded before the split.
inline ImageFolderIndex index_image_folder(const std::string& root,
                                           const ImageFolderOptions& options = {},
                                           std::size_t channels = 1) {
  if (options.skip_unreadable)
    throw InvalidArgument(
        "index_image_folder: skip_unreadable needs every image decoded before the split; use "
        "load_image_folder");
  detail::FolderFiles folder =
      detail::scan_image_folder(root, options, channels, "index_image_folder");
  ImageFolderIndex x;
  x.classes = std::move(folder.classes);
  for (std::size_t k = 0; k < x.classes.size(); ++k) {
    const std::vector<std::string>& files = folder.files[k];
    const std::vector<bool> in_test =
        detail::test_mask(files.size(), options.test_fraction, options.seed, k);
    const std::filesystem::path dir = std::filesystem::path(root) / x.classes[k];
    for (std::size_t i = 0; i < files.size(); ++i) {
      (in_test[i] ? x.test_files : x.train_files).push_back((dir / files[i]).string());
      (in_test[i] ? x.test_labels : x.train_labels).push_back(static_cast<std::int32_t>(k));
    }
  }
  return x;
}

/// Options of ImageFileStream.
struct ImageStreamOptions {
  /// Threads that decode images ahead of the reader (0: one per hardware thread), at most
  /// `prefetch` and the number of files (more would have nothing to decode). They sleep while
  /// `prefetch` decoded images wait to be read.
  std::size_t threads = 2;
  /// At most this many decoded images are held (read ahead of the reader, or being copied out):
  /// memory min(prefetch, samples planned) * Shape::size floats, plus one image per thread being
  /// decoded. At least 1; a few batches' worth keeps the decoding ahead of training.
  std::size_t prefetch = 512;
};

/// Image files read as a SampleStream of `Shape` = Image<H, W, C> samples, each decoded by
/// load_image() with `image` when it is about to be read: in memory are only the file names,
/// their labels and at most `prefetch` decoded images, whatever the number of files. After
/// start(), `threads` threads decode the planned files in plan order, up to `prefetch` ahead of
/// read(); read() copies them out in order, so the samples, and fit()'s results, are those of a
/// Dataset holding the same images (load_image_folder), bit for bit.
///
/// A file that cannot be decoded is found when it is read: read() throws the FileError
/// load_image() threw for it (naming the file), and fit() stops there. Construct from
/// index_image_folder()'s lists:
///
///   auto x = ctnn::data::index_image_folder("photos", {}, Net::input_shape::channels);
///   ctnn::data::ImageFileStream<Net::input_shape> train(x.train_files, x.train_labels,
///                                                        x.classes.size());
///   ctnn::fit(net, optimizer, train, options);
template <class Shape>
class ImageFileStream final : public SampleStream {
  static_assert(is_image_v<Shape>, "ImageFileStream: the shape must be a ctnn::Image<H, W, C>");

 public:
  /// Throws InvalidArgument when files and labels differ in length, a label is outside
  /// [0, classes), `stream.prefetch` is 0 or `image` is invalid (see load_image); ctnn::Error
  /// when the threads cannot be started.
  ImageFileStream(std::vector<std::string> files, std::vector<std::int32_t> labels,
                  std::size_t classes, const ImageOptions& image = {},
                  const ImageStreamOptions& stream = {})
      : files_(std::move(files)),
        labels_(std::move(labels)),
        classes_(classes),
        image_(image),
        prefetch_(stream.prefetch) {
    if (files_.size() != labels_.size())
      throw InvalidArgument("ImageFileStream: " + std::to_string(files_.size()) + " files and " +
                            std::to_string(labels_.size()) + " labels");
    for (std::size_t i = 0; i < labels_.size(); ++i)
      if (labels_[i] < 0 || static_cast<std::size_t>(labels_[i]) >= classes_)
        throw InvalidArgument("ImageFileStream: label " + std::to_string(labels_[i]) + " of " +
                              files_[i] + " is outside [0, " + std::to_string(classes_) + ")");
    if (stream.prefetch == 0) throw InvalidArgument("ImageFileStream: prefetch must be at least 1");
    detail::check_image_options(image_, Shape::channels);
    // The slots are made by start(), as many as the plan can use.
    std::size_t threads = stream.threads;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    threads = std::max<std::size_t>(1, std::min({threads, prefetch_, files_.size()}));
    try {
      for (std::size_t t = 0; t < threads; ++t) decoders_.emplace_back([this] { decode(); });
    } catch (const std::system_error& e) {
      stop();
      throw Error(std::string("ImageFileStream: cannot start the decoding threads: ") + e.what());
    }
  }
  ImageFileStream(const ImageFileStream&) = delete;
  ImageFileStream& operator=(const ImageFileStream&) = delete;
  ~ImageFileStream() override { stop(); }

  std::size_t size() const override { return files_.size(); }
  std::size_t sample_size() const override { return Shape::size; }
  std::size_t classes() const override { return classes_; }
  std::int32_t label(std::size_t i) const override { return labels_[i]; }
  /// The file of sample i.
  const std::string& file(std::size_t i) const { return files_[i]; }
  /// The threads decoding: ImageStreamOptions::threads (0: one per hardware thread), at most
  /// its prefetch and the number of files.
  std::size_t threads() const noexcept { return decoders_.size(); }

  void start(std::vector<std::size_t> indices) override {
    for (std::size_t i : indices)
      if (i >= files_.size())
        throw InvalidArgument("ImageFileStream::start: sample " + std::to_string(i) +
                              " of a stream of " + std::to_string(files_.size()));
    {
      std::lock_guard lock(mutex_);
      plan_ = std::move(indices);
      claimed_ = read_ = 0;
      ++generation_;
      // No more slots than planned samples: a prefetch beyond them would hold nothing.
      slots_.resize(std::max<std::size_t>(1, std::min(prefetch_, plan_.size())));
      for (Slot& s : slots_) {
        s.position = none;
        s.pixels.clear();
        s.error = nullptr;
      }
    }
    wake_decoders_.notify_all();
  }

  void read(std::size_t n, float* inputs, std::int32_t* labels) override {
    std::unique_lock lock(mutex_);
    if (plan_.size() - read_ < n)
      throw InvalidArgument("ImageFileStream::read: " + std::to_string(n) + " samples asked, " +
                            std::to_string(plan_.size() - read_) + " left of the plan");
    for (std::size_t i = 0; i < n; ++i) {
      Slot& s = slots_[read_ % slots_.size()];
      const std::size_t position = read_;
      wake_reader_.wait(lock, [&] { return s.position == position; });
      if (s.error) std::rethrow_exception(s.error);
      std::copy(s.pixels.begin(), s.pixels.end(), inputs + i * Shape::size);
      labels[i] = labels_[plan_[read_]];
      s.position = none;
      ++read_;
      wake_decoders_.notify_one();
    }
  }

 private:
  static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  struct Slot {
    std::size_t position = none;  // the plan position it holds, or none
    std::vector<float> pixels;
    std::exception_ptr error;
  };

  // A decoding thread: takes the next planned position while fewer than slots_.size() are
  // ahead of the reader, decodes it without the lock and files it in its slot, unless start()
  // made a new plan meanwhile.
  void decode() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_decoders_.wait(lock, [&] {
        return stopping_ || (claimed_ < plan_.size() && claimed_ < read_ + slots_.size());
      });
      if (stopping_) return;
      const std::size_t position = claimed_++;
      const std::uint64_t generation = generation_;
      const std::string& path = files_[plan_[position]];
      lock.unlock();
      std::vector<float> pixels;
      std::exception_ptr error;
      try {
        pixels = load_image<Shape>(path, image_);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      if (generation != generation_) continue;
      Slot& s = slots_[position % slots_.size()];
      s.position = position;
      s.pixels = std::move(pixels);
      s.error = error;
      wake_reader_.notify_one();
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_decoders_.notify_all();
    for (std::thread& t : decoders_)
      if (t.joinable()) t.join();
  }

  const std::vector<std::string> files_;
  const std::vector<std::int32_t> labels_;
  const std::size_t classes_;
  const ImageOptions image_;
  const std::size_t prefetch_;
  std::mutex mutex_;
  std::condition_variable wake_decoders_, wake_reader_;
  std::vector<std::size_t> plan_;
  std::size_t claimed_ = 0, read_ = 0;  // plan positions taken by decoders, given to the reader
  std::uint64_t generation_ = 0;        // counts start() calls
  std::vector<Slot> slots_;             // position p in slots_[p % slots_.size()]
  bool stopping_ = false;
  std::vector<std::thread> decoders_;
};

}  // namespace ctnn::data
