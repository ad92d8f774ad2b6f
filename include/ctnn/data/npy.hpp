// ctnn/data/npy.hpp — reading NumPy .npy arrays and .npz archives of them into Tables and
// Datasets.
//
// A .npy file (NumPy's NEP 1, "A Simple File Format for NumPy Arrays", numpy/lib/format.py) is:
// the magic "\x93NUMPY", a major and a minor version byte (1.0, 2.0 or 3.0 here), the header's
// length (a little-endian uint16 in version 1, uint32 in 2 and 3), the header — a Python dict
// literal {'descr': DTYPE, 'fortran_order': BOOL, 'shape': (D0, D1, ...)} in ASCII (UTF-8 in
// version 3) padded with spaces and a newline — then the D0 x D1 x ... elements, in C (row-major)
// or Fortran (column-major) order. Read here: the dtypes '<f4' '<f8' (float32, float64), '<i1'
// .. '<i8' and '<u1' .. '<u8' (integers; '|i1' '|u1' as NumPy writes single bytes) and '|b1'
// (bool), every element converted to float (integers beyond 2^24 round to the nearest float);
// big-endian ('>'), object, string, structured and other dtypes are refused. A .npz file is a zip
// archive (stored or deflated, as numpy.savez and numpy.savez_compressed write it) of .npy files,
// read with libzip (Debian's libzip-dev).
//
// Every read checks what the file says against what it holds: the element count's product and
// byte size must not overflow and must equal the bytes after the header (a truncated file, or a
// header that lies about the size, is refused), every element must be finite, and a file is read
// only when it is a regular file (not a FIFO) no larger than the `max_bytes` given.
#pragma once

#include <zip.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../io/detail/regular_file.hpp"
#include "dataset.hpp"
#include "table.hpp"

namespace ctnn::data {

/// An array read from a .npy file, its elements converted to float in C (row-major) order.
struct NpyArray {
  std::vector<std::size_t> shape;  ///< dimensions, outermost first; empty for a scalar
  std::vector<float> values;       ///< the product of shape floats, row-major
  std::string dtype;               ///< the file's descr, e.g. "<f8"
  bool fortran_order = false;      ///< whether the file stored it column-major
  std::string name;                ///< the file (or "archive.npz:entry.npy") it was read from
};

/// The largest file (or .npz entry, decompressed) read by default: 4 GiB.
inline constexpr std::uint64_t npy_default_max_bytes = std::uint64_t{1} << 32;

namespace detail {

/// The header dict of a .npy file, parsed from its Python literal.
class NpyHeader {
 public:
  NpyHeader(const std::string& name, std::string text) : name_(name), s_(std::move(text)) {
    skip();
    expect('{');
    for (;;) {
      skip();
      if (peek() == '}') break;
      const std::string key = string_literal();
      skip();
      expect(':');
      skip();
      if (key == "descr") {
        if (peek() == '[') fail("structured dtypes (a list of fields as descr) are not read");
        descr = string_literal();
        has_descr_ = true;
      } else if (key == "fortran_order") {
        fortran_order = boolean();
        has_order_ = true;
      } else if (key == "shape") {
        shape = tuple();
        has_shape_ = true;
      } else {
        fail("unknown key '" + key + "' in the header");
      }
      skip();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip();
      if (peek() != '}') fail("expected ',' or '}' in the header");
    }
    if (!has_descr_ || !has_order_ || !has_shape_)
      fail("the header lacks one of 'descr', 'fortran_order' and 'shape'");
  }

  std::string descr;
  bool fortran_order = false;
  std::vector<std::size_t> shape;

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FileError(name_, "malformed .npy header (" + what + ")");
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const std::size_t end = s_.find(q, pos_ + 1);
    if (end == std::string::npos) fail("a string is not closed");
    std::string v = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return v;
  }
  bool boolean() {
    if (s_.compare(pos_, 4, "True") == 0) return pos_ += 4, true;
    if (s_.compare(pos_, 5, "False") == 0) return pos_ += 5, false;
    fail("fortran_order is neither True nor False");
  }
  std::vector<std::size_t> tuple() {
    expect('(');
    std::vector<std::size_t> dims;
    for (;;) {
      skip();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("a dimension of the shape is not a number >= 0");
      std::uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const std::uint64_t d = std::uint64_t(peek() - '0');
        if (v > (std::numeric_limits<std::size_t>::max() - d) / 10)
          fail("a dimension of the shape is too large");
        v = v * 10 + d;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2's long literal
      dims.push_back(static_cast<std::size_t>(v));
      if (dims.size() > 32) fail("more than 32 dimensions");
      skip();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in the shape");
    }
    ++pos_;
    return dims;
  }

  const std::string& name_;
  std::string s_;
  std::size_t pos_ = 0;
  bool has_descr_ = false, has_order_ = false, has_shape_ = false;
};

/// Little-endian value of `n` bytes at p, as an unsigned integer.
inline std::uint64_t npy_le(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(p[i]) << (8 * i);
  return v;
}

/// The float of one element of the given kind ('f', 'i', 'u', 'b') and byte size.
inline double npy_element(const unsigned char* p, char kind, std::size_t size) {
  const std::uint64_t u = npy_le(p, size);
  switch (kind) {
    case 'f':
      return size == 4 ? double(std::bit_cast<float>(static_cast<std::uint32_t>(u)))
                       : std::bit_cast<double>(u);
    case 'i': {
      const unsigned shift = unsigned(64 - 8 * size);  // sign-extend
      return double(static_cast<std::int64_t>(u << shift) >> shift);
    }
    case 'b':
      return u != 0 ? 1.0 : 0.0;
    default:
      return double(u);
  }
}

/// A whole regular file's bytes, at most max_bytes (FileError otherwise, or for a FIFO).
inline std::vector<unsigned char> read_whole_file(const std::string& path,
                                                  std::uint64_t max_bytes) {
  io::detail::RegularFile f(path);
  if (f.size() > max_bytes)
    throw FileError(path, "the file has " + std::to_string(f.size()) +
                              " bytes, more than the limit of " + std::to_string(max_bytes));
  std::vector<unsigned char> bytes(static_cast<std::size_t>(f.size()));
  const std::size_t got = f.read(bytes.data(), bytes.size());
  if (got != bytes.size())
    throw FileError(path, "the file shrank while it was read (" + std::to_string(got) + " of " +
                              std::to_string(bytes.size()) + " bytes)");
  return bytes;
}

}  // namespace detail

/// Parses the .npy bytes `data[0..size)`; `name` names them in messages. Throws FileError
/// naming `name`: not a .npy file (magic), an unknown version, a malformed or cut header, a dtype
/// not read here (big-endian, object, structured, ...; the message gives the descr), a shape
/// whose element count or byte size overflows, a byte count after the header other than the
/// shape's (truncated, or a header that lies), or an element that is NaN or infinite (or a
/// float64 beyond float's range), naming its index.
inline NpyArray parse_npy(const unsigned char* data, std::size_t size, const std::string& name) {
  static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(data, magic, 6) != 0)
    throw FileError(name, "not a .npy file (it does not begin with \"\\x93NUMPY\")");
  const unsigned major = data[6], minor = data[7];
  if (major < 1 || major > 3 || minor != 0)
    throw FileError(name, "unsupported .npy format version " + std::to_string(major) + "." +
                              std::to_string(minor) + " (1.0, 2.0 and 3.0 are read)");
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  if (size < 8 + len_bytes) throw FileError(name, "the .npy file is cut off in its preamble");
  const std::uint64_t header_len = detail::npy_le(data + 8, len_bytes);
  const std::uint64_t data_start = 8 + len_bytes + header_len;
  if (data_start > size)
    throw FileError(name, "the .npy header claims " + std::to_string(header_len) +
                              " bytes, the file has " + std::to_string(size) + " in all");
  const detail::NpyHeader h(
      name, std::string(reinterpret_cast<const char*>(data) + 8 + len_bytes, header_len));
  const std::string& d = h.descr;
  const bool known = d.size() == 3 && (d[0] == '<' || d[0] == '|') &&
                     ((d[1] == 'f' && (d[2] == '4' || d[2] == '8')) ||
                      ((d[1] == 'i' || d[1] == 'u') &&
                       (d[2] == '1' || d[2] == '2' || d[2] == '4' || d[2] == '8')) ||
                      (d[1] == 'b' && d[2] == '1')) &&
                     (d[0] == '<' || d[2] == '1');
  if (!known)
    throw FileError(name,
                    "dtype '" + d + "' is not read (little-endian float32/64, integers of 1 to 8 " +
                        "bytes and bool are; big-endian, object and structured arrays are not)");
  const char kind = d[1];
  const std::size_t item = static_cast<std::size_t>(d[2] - '0');
  std::size_t count = 1, bytes = 0;
  for (std::size_t dim : h.shape)
    if (__builtin_mul_overflow(count, dim, &count))
      throw FileError(name, "the shape's element count overflows");
  if (__builtin_mul_overflow(count, item, &bytes) ||
      count > std::numeric_limits<std::size_t>::max() / sizeof(float))
    throw FileError(name, "the shape's byte size overflows");
  if (bytes != size - data_start)
    throw FileError(name, "the header's shape and dtype '" + d + "' make " + std::to_string(bytes) +
                              " bytes of data, the file holds " +
                              std::to_string(size - data_start) + " after the header");
  NpyArray a;
  a.shape = h.shape;
  a.dtype = d;
  a.fortran_order = h.fortran_order;
  a.name = name;
  a.values.resize(count);
  const unsigned char* p = data + data_start;
  // C order: element i is the file's i-th. Fortran order: the file's j-th element has the index
  // whose first dimension varies fastest; walk the C-order index and keep its Fortran offset.
  const std::size_t R = a.shape.size();
  std::array<std::size_t, 32> idx{}, fstride{};  // the header allows at most 32 dimensions
  if (R > 0) fstride[0] = 1;
  for (std::size_t k = 1; k < R; ++k) fstride[k] = fstride[k - 1] * a.shape[k - 1];
  std::size_t off = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t src = h.fortran_order ? off : i;
    const double v = detail::npy_element(p + src * item, kind, item);
    if (!std::isfinite(v) || std::abs(v) > double(std::numeric_limits<float>::max()))
      throw FileError(name, "element " + std::to_string(i) + " (in C order) is " +
                                (std::isnan(v)   ? "NaN"
                                 : std::isinf(v) ? "infinite"
                                                 : "beyond float's range") +
                                "; the values must be finite numbers");
    a.values[i] = static_cast<float>(v);
    if (h.fortran_order)
      for (std::size_t k = R; k-- > 0;) {  // next C-order index, last dimension fastest
        off += fstride[k];
        if (++idx[k] < a.shape[k]) break;
        off -= fstride[k] * a.shape[k];
        idx[k] = 0;
      }
  }
  return a;
}

/// Reads a .npy file (see the header comment). Throws FileError naming the file: it cannot be
/// opened, is not a regular file (a FIFO, a directory), is larger than max_bytes, and as
/// parse_npy.
inline NpyArray read_npy(const std::string& path, std::uint64_t max_bytes = npy_default_max_bytes) {
  const auto bytes = detail::read_whole_file(path, max_bytes);
  return parse_npy(bytes.data(), bytes.size(), path);
}

namespace detail {

/// A .npz archive held in memory, open with libzip (read-only).
class NpzArchive {
 public:
  NpzArchive(const std::string& path, std::uint64_t max_bytes)
      : path_(path), bytes_(read_whole_file(path, max_bytes)), max_bytes_(max_bytes) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(bytes_.data(), bytes_.size(), 0, &err);
    if (src) {
      zip_ = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
      if (!zip_) zip_source_free(src);
    }
    if (!zip_) {
      const std::string why = zip_error_strerror(&err);
      zip_error_fini(&err);
      throw FileError(path, "not a readable .npz (zip) archive: " + why);
    }
    zip_error_fini(&err);
  }
  NpzArchive(const NpzArchive&) = delete;
  NpzArchive& operator=(const NpzArchive&) = delete;
  ~NpzArchive() {
    if (zip_) zip_discard(zip_);
  }

  /// The names of the archive's entries.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    const zip_int64_t n = zip_get_num_entries(zip_, 0);
    for (zip_int64_t i = 0; i < n; ++i)
      if (const char* s = zip_get_name(zip_, zip_uint64_t(i), 0)) out.emplace_back(s);
    return out;
  }

  /// The decompressed bytes of entry `entry` (FileError when missing, too large, or corrupt:
  /// libzip checks the CRC when the entry has been read to its end).
  std::vector<unsigned char> read(const std::string& entry) const {
    const zip_int64_t i = zip_name_locate(zip_, entry.c_str(), 0);
    if (i < 0) {
      std::string all;
      for (const auto& n : names()) all += (all.empty() ? "" : ", ") + n;
      throw FileError(path_, "no entry " + entry + " in the archive (it holds: " + all + ")");
    }
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip_, zip_uint64_t(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
      throw FileError(path_, entry + ": cannot read its size: " + zip_strerror(zip_));
    if (st.size > max_bytes_)
      throw FileError(path_, entry + ": " + std::to_string(st.size) +
                                 " bytes decompressed, more than the limit of " +
                                 std::to_string(max_bytes_));
    std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> f(zip_fopen_index(zip_, zip_uint64_t(i), 0),
                                                        zip_fclose);
    if (!f) throw FileError(path_, entry + ": cannot open: " + zip_strerror(zip_));
    std::vector<unsigned char> out(static_cast<std::size_t>(st.size) + 1);
    std::size_t got = 0;
    for (;;) {  // read past the stated size, so that libzip reaches the end and checks the CRC
      const zip_int64_t r = zip_fread(f.get(), out.data() + got, out.size() - got);
      if (r < 0) throw FileError(path_, entry + ": corrupt entry: " + zip_file_strerror(f.get()));
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
      if (got == out.size())
        throw FileError(
            path_, entry + ": holds more bytes than its stated size " + std::to_string(st.size));
    }
    if (got != st.size)
      throw FileError(path_, entry + ": holds " + std::to_string(got) +
                                 " bytes, its stated size is " + std::to_string(st.size));
    out.resize(got);
    return out;
  }

 private:
  std::string path_;
  std::vector<unsigned char> bytes_;
  std::uint64_t max_bytes_;
  zip_t* zip_ = nullptr;
};

}  // namespace detail

/// The names of the arrays of a .npz file (its entries without ".npy"). Throws FileError as
/// read_npz.
inline std::vector<std::string> npz_names(const std::string& path,
                                          std::uint64_t max_bytes = npy_default_max_bytes) {
  std::vector<std::string> out;
  for (std::string n : detail::NpzArchive(path, max_bytes).names()) {
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".npy") == 0) n.resize(n.size() - 4);
    out.push_back(std::move(n));
  }
  return out;
}

/// Reads the array `name` (the keyword given to numpy.savez; its entry is name + ".npy") of a
/// .npz file. Throws FileError naming the file: it cannot be opened, is not a regular file, is
/// larger than max_bytes (or the entry is, decompressed), is not a zip archive, lacks the array
/// (the message lists those it has), the entry is corrupt (CRC) or its size is not the stated
/// one, and as parse_npy (naming "path:name.npy").
inline NpyArray read_npz(const std::string& path, const std::string& name,
                         std::uint64_t max_bytes = npy_default_max_bytes) {
  const detail::NpzArchive zip(path, max_bytes);
  const auto bytes = zip.read(name + ".npy");
  return parse_npy(bytes.data(), bytes.size(), path + ":" + name + ".npy");
}

/// The Table of an array: one row per index of its first dimension, each row the array's other
/// dimensions flattened in C order (sample_shape keeps them); a 1-D array is a column. Throws
/// InvalidArgument for a scalar (0-D) array.
inline Table to_table(const NpyArray& a) {
  if (a.shape.empty())
    throw InvalidArgument(a.name + ": a scalar, not an array of samples (one row per sample)");
  Table t;
  t.path = a.name;
  t.rows = a.shape[0];
  t.sample_shape.assign(a.shape.begin() + 1, a.shape.end());
  if (t.sample_shape.empty()) t.sample_shape = {1};
  t.columns = 1;
  for (std::size_t d : t.sample_shape) t.columns *= d;
  t.values = a.values;
  return t;
}

/// The Dataset of two .npy files: the features `x` (one sample per index of its first
/// dimension, the others flattened: shape (n, 28, 28) gives samples of 784 floats) and the
/// labels or targets `y` (shape (n) or (n, k)): class indices for Task::classification, target
/// values for Task::regression. With a network input shape S (load_npy<Image<28, 28, 1>>(...)),
/// x's sample shape is checked against it (check_sample_shape). Throws as read_npy, to_table,
/// to_dataset and check_sample_shape.
template <class S = void>
Dataset load_npy(const std::string& x, const std::string& y, Task task = Task::classification,
                 std::uint64_t max_bytes = npy_default_max_bytes) {
  const Table features = to_table(read_npy(x, max_bytes));
  if constexpr (!std::is_void_v<S>) check_sample_shape<S>(features);
  return to_dataset(features, to_table(read_npy(y, max_bytes)), task);
}

/// load_npy on the arrays `x` and `y` of one .npz file (numpy.savez(path, x=..., y=...)).
template <class S = void>
Dataset load_npz(const std::string& path, Task task = Task::classification,
                 const std::string& x = "x", const std::string& y = "y",
                 std::uint64_t max_bytes = npy_default_max_bytes) {
  const Table features = to_table(read_npz(path, x, max_bytes));
  if constexpr (!std::is_void_v<S>) check_sample_shape<S>(features);
  return to_dataset(features, to_table(read_npz(path, y, max_bytes)), task);
}

}  // namespace ctnn::data
