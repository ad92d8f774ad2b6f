// ctnn/data/idx.hpp — reading IDX files (the format of MNIST and Fashion-MNIST), raw or gzipped.
//
// An IDX file is: two zero bytes, a type byte, a dimension-count byte, each dimension as a
// big-endian uint32, then the elements in row-major order. Only the unsigned-byte type (0x08) is
// read here, which is what MNIST-style image and label files use.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "../error.hpp"
#include "../io/detail/regular_file.hpp"
#include "dataset.hpp"

namespace ctnn::data {

/// The contents of an IDX file of unsigned bytes.
///
/// `dims` lists the dimensions outermost first (for an image file: count, rows, columns);
/// `data` holds the product of `dims` bytes in row-major order.
struct IdxArray {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> data;
};

/// Which half of a data set to load.
enum class Split { train, test };

namespace detail {

/// The largest amount of element data read_idx accepts (16 GiB).
inline constexpr std::uint64_t kIdxMaxDataBytes =
    std::min<std::uint64_t>(std::uint64_t{1} << 34, std::numeric_limits<std::size_t>::max());

inline std::string idx_hex_byte(std::uint8_t b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string{kDigits[b >> 4], kDigits[b & 0xF]};
}

inline std::string idx_type_name(std::uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "short";
    case 0x0C:
      return "int";
    case 0x0D:
      return "float";
    case 0x0E:
      return "double";
    default:
      return "not an IDX type";
  }
}

/// The bytes of a file, decompressed on the fly if it starts with the gzip magic 1f 8b.
/// `read` returns fewer bytes than asked only at the end of the (decompressed) data; read errors
/// and corrupt or cut-off gzip streams throw FileError.
class IdxByteSource {
 public:
  explicit IdxByteSource(const std::string& path) : path_(path), file_(path) {
    prefix_size_ = read_file(prefix_, 2);
    if (prefix_size_ == 2 && prefix_[0] == 0x1F && prefix_[1] == 0x8B) {
      gzip_ = true;
      in_.resize(kChunk);
      in_[0] = prefix_[0];
      in_[1] = prefix_[1];
      prefix_size_ = 0;
      stream_.next_in = in_.data();
      stream_.avail_in = 2;
      fed_ = 2;
      // 15 + 32: a 32 KiB window, and accept a gzip (or zlib) header.
      if (inflateInit2(&stream_, 15 + 32) != Z_OK) {
        throw FileError(path_, "cannot start gzip decompression (zlib out of memory)");
      }
      stream_ready_ = true;
    }
  }

  IdxByteSource(const IdxByteSource&) = delete;
  IdxByteSource& operator=(const IdxByteSource&) = delete;

  ~IdxByteSource() {
    if (stream_ready_) inflateEnd(&stream_);
  }

  bool gzip() const noexcept { return gzip_; }

  std::size_t read(std::uint8_t* dst, std::size_t n) {
    return gzip_ ? inflate_to(dst, n) : raw(dst, n);
  }

 private:
  static constexpr std::size_t kChunk = std::size_t{1} << 16;

  // Reads up to n bytes from the file itself; short only at end of file.
  std::size_t read_file(std::uint8_t* dst, std::size_t n) { return file_.read(dst, n); }

  std::size_t raw(std::uint8_t* dst, std::size_t n) {
    std::size_t done = 0;
    while (done < n && prefix_pos_ < prefix_size_) dst[done++] = prefix_[prefix_pos_++];
    if (done < n) done += read_file(dst + done, n - done);
    return done;
  }

  // Offset in the compressed file of the next byte zlib has not consumed.
  std::uint64_t compressed_offset() const noexcept { return fed_ - stream_.avail_in; }

  // Moves the unconsumed input to the front of in_ and appends file data after it.
  void refill() {
    const std::size_t keep = stream_.avail_in;
    if (keep > 0 && stream_.next_in != in_.data()) {
      std::copy(stream_.next_in, stream_.next_in + keep, in_.data());
    }
    const std::size_t got = read_file(in_.data() + keep, in_.size() - keep);
    fed_ += got;
    stream_.next_in = in_.data();
    stream_.avail_in = static_cast<uInt>(keep + got);
  }

  // At the end of a gzip member: stop if the file ends, continue with a following member
  // (concatenated gzip files are one stream), reject anything else.
  void after_member() {
    while (stream_.avail_in < 2) {
      const std::size_t before = stream_.avail_in;
      refill();
      if (stream_.avail_in == before) break;  // end of file
    }
    if (stream_.avail_in == 0) {
      ended_ = true;
      return;
    }
    if (stream_.avail_in >= 2 && stream_.next_in[0] == 0x1F && stream_.next_in[1] == 0x8B) {
      if (inflateReset(&stream_) != Z_OK)
        throw FileError(path_, "cannot restart gzip decompression");
      return;
    }
    throw FileError(path_, "corrupt gzip file: unexpected bytes at compressed offset " +
                               std::to_string(compressed_offset()) +
                               " after the end of the gzip stream");
  }

  std::size_t inflate_to(std::uint8_t* dst, std::size_t n) {
    std::size_t done = 0;
    while (done < n && !ended_) {
      if (stream_.avail_in == 0) {
        refill();
        if (stream_.avail_in == 0) {
          throw FileError(path_, "corrupt gzip file: the gzip stream is cut off after " +
                                     std::to_string(fed_) + " compressed bytes");
        }
      }
      const std::size_t want = std::min<std::size_t>(n - done, std::numeric_limits<uInt>::max());
      stream_.next_out = dst + done;
      stream_.avail_out = static_cast<uInt>(want);
      const int ret = ::inflate(&stream_, Z_NO_FLUSH);
      done += want - stream_.avail_out;
      if (ret == Z_STREAM_END) {
        after_member();
      } else if (ret == Z_BUF_ERROR && stream_.avail_in == 0) {
        continue;  // needs more input
      } else if (ret != Z_OK) {
        throw FileError(path_,
                        "corrupt gzip stream at compressed offset " +
                            std::to_string(compressed_offset()) + ": " +
                            (stream_.msg ? stream_.msg : "zlib error " + std::to_string(ret)));
      }
    }
    return done;
  }

  std::string path_;
  io::detail::RegularFile file_;
  std::uint8_t prefix_[2] = {0, 0};
  std::size_t prefix_size_ = 0;
  std::size_t prefix_pos_ = 0;
  bool gzip_ = false;
  z_stream stream_{};
  bool stream_ready_ = false;
  bool ended_ = false;
  std::vector<std::uint8_t> in_;
  std::uint64_t fed_ = 0;  // compressed bytes handed to zlib so far
};

/// Sets v's capacity to at least n elements, or throws FileError naming `path` and saying what
/// the memory was for when it runs out.
template <class T>
void idx_reserve(std::vector<T>& v, std::size_t n, const std::string& path,
                 const std::string& what) {
  try {
    v.reserve(n);
  } catch (const std::bad_alloc&) {
    throw FileError(path, "out of memory: cannot allocate " + std::to_string(n * sizeof(T)) +
                              " bytes for " + what);
  }
}

inline std::string idx_dims_text(const std::vector<std::size_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) s += " x ";
    s += std::to_string(dims[i]);
  }
  return s;
}

}  // namespace detail

/// Reads an IDX file of unsigned bytes (type 0x08), raw or gzip-compressed (recognised by the
/// gzip magic 1f 8b, not by the file name).
///
/// Returns the dimensions (outermost first) and the element bytes in file order. Accepts 1 to 4
/// dimensions, each at least 1, with at most 2^34 bytes of data. Offsets in messages about the
/// header or data count from the start of the IDX content (after decompression); messages about
/// the gzip stream give compressed offsets.
///
/// Throws ctnn::FileError (the message starts with `path`) if the file cannot be opened or read, is
/// not a regular file (a directory, a FIFO, a device: refused when opened, without blocking or
/// reading), the gzip stream is corrupt or cut off, the magic is not 00 00, the type byte is not
/// 0x08, the dimension count or a dimension is out of range, the data is shorter ("truncated") or
/// longer ("trailing bytes") than the dimensions say, or memory runs out ("out of memory", saying
/// for what). The buffer grows with the data read, never beyond what the header declares.
inline IdxArray read_idx(const std::string& path) try {
  detail::IdxByteSource src(path);

  std::uint8_t head[4];
  const std::size_t head_got = src.read(head, 4);
  if (head_got < 4) {
    throw FileError(path,
                    "truncated: the IDX header (magic, type, dimension count) needs 4 bytes, "
                    "file has " +
                        std::to_string(head_got));
  }
  if (head[0] != 0 || head[1] != 0) {
    throw FileError(path, "not an IDX file: magic at bytes 0-1 is " +
                              detail::idx_hex_byte(head[0]) + " " + detail::idx_hex_byte(head[1]) +
                              ", expected 00 00");
  }
  if (head[2] != 0x08) {
    throw FileError(path, "type byte at offset 2 is 0x" + detail::idx_hex_byte(head[2]) + " (" +
                              detail::idx_type_name(head[2]) +
                              "); only 0x08 (unsigned byte) is supported");
  }
  const std::size_t ndims = head[3];
  if (ndims < 1 || ndims > 4) {
    throw FileError(
        path, "dimension count at offset 3 is " + std::to_string(ndims) + "; expected 1 to 4");
  }

  std::uint8_t dim_bytes[16];
  const std::size_t dim_got = src.read(dim_bytes, 4 * ndims);
  if (dim_got < 4 * ndims) {
    throw FileError(path, "truncated: the header declares " + std::to_string(ndims) +
                              " dimensions, which need bytes 4-" + std::to_string(3 + 4 * ndims) +
                              ", file has " + std::to_string(4 + dim_got) + " bytes");
  }

  IdxArray out;
  out.dims.resize(ndims);
  for (std::size_t i = 0; i < ndims; ++i) {
    const std::uint8_t* b = dim_bytes + 4 * i;
    out.dims[i] = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                  (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
  }
  std::uint64_t total = 1;
  for (std::size_t i = 0; i < ndims; ++i) {
    const std::uint64_t d = out.dims[i];
    if (d == 0) {
      throw FileError(path, "dimension " + std::to_string(i) + " (bytes " +
                                std::to_string(4 + 4 * i) + "-" + std::to_string(7 + 4 * i) +
                                ") is 0; every dimension must be at least 1");
    }
    if (d > detail::kIdxMaxDataBytes / total) {  // total * d would exceed the limit
      throw FileError(path, "dimensions " + detail::idx_dims_text(out.dims) + " (bytes 4-" +
                                std::to_string(3 + 4 * ndims) + ") describe more than " +
                                std::to_string(detail::kIdxMaxDataBytes) +
                                " bytes of data, the most read_idx accepts");
    }
    total *= d;
  }

  // Grow the buffer as data actually arrives, at most doubling what has been read and never
  // beyond what the header declares, so a header claiming more than the file holds never causes
  // a large allocation.
  const std::size_t header_size = 4 + 4 * ndims;
  const std::size_t expected = static_cast<std::size_t>(total);
  std::size_t have = 0;
  while (have < expected) {
    const std::size_t step = std::min(
        expected - have, std::clamp<std::size_t>(have, std::size_t{1} << 16, std::size_t{1} << 26));
    if (have + step > out.data.capacity()) {
      detail::idx_reserve(out.data, std::min(expected, std::max(have + step, 2 * have)), path,
                          "the data (" + std::to_string(have) + " of the " +
                              std::to_string(expected) + " bytes the header declares read)");
    }
    out.data.resize(have + step);
    const std::size_t got = src.read(out.data.data() + have, step);
    have += got;
    if (got < step) {
      throw FileError(path, "truncated: header says " + std::to_string(expected) +
                                " bytes of data, file has " + std::to_string(have) +
                                " (dimensions " + detail::idx_dims_text(out.dims) +
                                ", data from offset " + std::to_string(header_size) + ")");
    }
  }

  // Look a bounded distance past the data: enough to report the usual small excess exactly
  // without decompressing an arbitrarily long tail.
  std::vector<std::uint8_t> scratch(std::size_t{1} << 16);
  const std::size_t extra = src.read(scratch.data(), scratch.size());
  if (extra > 0) {
    throw FileError(path, (extra == scratch.size() ? "at least " : std::string{}) +
                              std::to_string(extra) +
                              (extra == 1 ? " trailing byte" : " trailing bytes") +
                              " after the data (header says " + std::to_string(expected) +
                              " bytes of data ending at offset " +
                              std::to_string(header_size + expected) + ")");
  }
  return out;
} catch (const std::bad_alloc&) {
  throw FileError(path, "out of memory while reading the file");
}

/// Loads an image file and a label file in IDX format (raw or gzipped) as a Dataset.
///
/// The image file must have 3 dimensions (count, rows, columns) or 4 (count, rows, columns,
/// channels); the label file 1 dimension (count), with the same count. Pixels become floats in
/// [0, 1] (byte / 255); each sample holds rows * columns * channels floats, channels-last.
/// Labels must be below `classes`.
///
/// Throws ctnn::InvalidArgument if `classes` is 0, and ctnn::FileError for anything read_idx
/// rejects, a wrong number of dimensions, differing counts, a label >= `classes`, or when memory
/// for the labels or the floats runs out (naming the file, "out of memory").
inline Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                std::size_t classes = 10);

namespace detail {

/// load_idx_dataset(); with `side` > 0 the images must also be side x side pixels with one
/// channel, as MNIST's and Fashion-MNIST's are.
inline Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                std::size_t classes, std::size_t side) {
  if (classes == 0) throw InvalidArgument("load_idx_dataset: classes must be at least 1");

  IdxArray images = read_idx(images_path);
  if (images.dims.size() != 3 && images.dims.size() != 4) {
    throw FileError(images_path,
                    "an image file needs 3 dimensions (count, rows, columns) or 4 "
                    "(count, rows, columns, channels); this one has " +
                        std::to_string(images.dims.size()) + " (" +
                        detail::idx_dims_text(images.dims) + ")");
  }
  if (side > 0 && (images.dims[1] != side || images.dims[2] != side ||
                   (images.dims.size() == 4 && images.dims[3] != 1))) {
    const std::vector<std::size_t> sample(images.dims.begin() + 1, images.dims.end());
    throw FileError(images_path, "the images must be " + std::to_string(side) + " x " +
                                     std::to_string(side) + " with one channel; this file's are " +
                                     detail::idx_dims_text(sample) + " (dimensions " +
                                     detail::idx_dims_text(images.dims) + ", bytes 4-" +
                                     std::to_string(3 + 4 * images.dims.size()) + ")");
  }
  IdxArray labels = read_idx(labels_path);
  if (labels.dims.size() != 1) {
    throw FileError(labels_path, "a label file needs 1 dimension (count); this one has " +
                                     std::to_string(labels.dims.size()) + " (" +
                                     detail::idx_dims_text(labels.dims) + ")");
  }
  const std::size_t count = images.dims[0];
  if (labels.dims[0] != count) {
    throw FileError(labels_path, "holds " + std::to_string(labels.dims[0]) + " labels, but " +
                                     images_path + " holds " + std::to_string(count) + " images");
  }

  const std::size_t header_size = 4 + 4 * labels.dims.size();
  Dataset ds;
  ds.classes = classes;
  detail::idx_reserve(ds.labels, count, labels_path, std::to_string(count) + " labels");
  ds.labels.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint8_t label = labels.data[i];
    if (label >= classes) {
      throw FileError(labels_path, "label " + std::to_string(i) + " (offset " +
                                       std::to_string(header_size + i) + ") is " +
                                       std::to_string(label) + "; expected 0 to " +
                                       std::to_string(classes - 1));
    }
    ds.labels[i] = static_cast<std::int32_t>(label);
  }

  ds.sample_size = images.data.size() / count;  // rows * columns * channels
  detail::idx_reserve(
      ds.inputs, images.data.size(), images_path,
      std::to_string(count) + " images of " + std::to_string(ds.sample_size) + " floats");
  ds.inputs.resize(images.data.size());
  std::transform(images.data.begin(), images.data.end(), ds.inputs.begin(),
                 [](std::uint8_t v) { return static_cast<float>(v) / 255.0f; });
  return ds;
}

}  // namespace detail

inline Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                std::size_t classes) {
  return detail::load_idx_dataset(images_path, labels_path, classes, 0);
}

/// Loads Fashion-MNIST (or MNIST, which uses the same file names) from `dir`:
/// `train-images-idx3-ubyte.gz` and `train-labels-idx1-ubyte.gz` for Split::train (60000
/// samples), `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz` for Split::test (10000).
/// Where a .gz file is missing but the uncompressed file of the same name without .gz exists, that
/// one is read. Each sample is 784 floats in [0, 1] (28 x 28, one channel); 10 classes.
///
/// Throws ctnn::FileError as load_idx_dataset does, and when the images are not 28 x 28 with one
/// channel (dimensions count x 28 x 28, or count x 28 x 28 x 1); a missing file is named with its
/// .gz name.
inline Dataset load_fashion_mnist(const std::string& dir, Split split) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  auto resolve = [&dir](const std::string& name) {
    const std::filesystem::path gz = std::filesystem::path(dir) / (name + ".gz");
    const std::filesystem::path raw = std::filesystem::path(dir) / name;
    std::error_code ec;
    if (!std::filesystem::exists(gz, ec) && std::filesystem::exists(raw, ec)) return raw.string();
    return gz.string();
  };
  return detail::load_idx_dataset(resolve(prefix + "-images-idx3-ubyte"),
                                  resolve(prefix + "-labels-idx1-ubyte"), 10, 28);
}

}  // namespace ctnn::data
