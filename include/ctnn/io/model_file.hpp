// ctnn/io/model_file.hpp — save() and load(): a network's parameters in a ctnn model file;
// read_metadata(): what a model file (or a safetensors file) says about itself.
//
// The format is documented byte by byte in docs/model-format.md. In short, all integers
// little-endian, format 4:
//   "CTNNMODL" | u32 version (4) | u32 L | L bytes signature | u64 FNV-1a-64 of the signature |
//   u64 parameter count P | u64 state count S | u32 tensor count T |
//   T records (u32 name length, name, u32 kind, u32 rank, u64 dims[rank]) |
//   the tensors' values (f32), one tensor after the other, each row-major over its shape |
//   u32 M | M bytes of metadata, JSON in UTF-8 (none when M = 0: an empty Metadata) |
//   u32 CRC-32 (zlib) of every byte before it
// The signature is Net::signature(): one line per layer with its name and shapes. The tensors
// are every layer's parameters and state in PyTorch's layout (detail/model_tensors.hpp), so the
// file does not depend on the layout the kernels keep in memory: load() permutes them into it.
// A layer without tensors() (one defined outside the library) is stored as its raw slices, in
// its own layout. Format 3 is format 4 without M and the metadata; formats 2 and 1 (the flat
// arrays parameters() and state() as they were in memory, without the table) are still read:
// see read_model_image(). Files of formats 1 to 3 have an empty Metadata.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../attributes.hpp"
#include "../error.hpp"
#include "../hash.hpp"
#include "../layers/layer.hpp"
#include "../metadata.hpp"
#include "detail/atomic_write.hpp"
#include "detail/metadata_io.hpp"
#include "detail/model_tensors.hpp"
#include "detail/regular_file.hpp"

namespace ctnn {

namespace io::detail {

inline constexpr char magic[8] = {'C', 'T', 'N', 'N', 'M', 'O', 'D', 'L'};
/// The format written. Version 4 is version 3 with a metadata section before the checksum;
/// version 3 stores each tensor in PyTorch's layout, with a table of the tensors; version 2 stored
/// parameters() and state() as they are in memory, recurrent layers' W_h in column panels
/// (layers/recurrent.hpp), and is still read; version 1 stored W_h row-major and is still read for
/// networks without recurrent layers, whose layout did not change.
inline constexpr std::uint32_t version = 4;

template <class Net>
constexpr bool has_recurrent_layer() {
  return []<std::size_t... I>(std::index_sequence<I...>) {
    constexpr auto recurrent = [](LayerKind k) {
      return k == LayerKind::lstm || k == LayerKind::gru || k == LayerKind::simple_rnn ||
             k == LayerKind::bidirectional;
    };
    return (recurrent(kind_of<typename Net::template layer<I>>()) || ...);
  }
  (std::make_index_sequence<Net::layer_count>{});
}

using ctnn::detail::fnv1a64;  // hash.hpp

inline void append(std::vector<unsigned char>& out, const void* p, std::size_t n) {
  const std::size_t at = out.size();
  out.resize(at + n);
  if (n > 0) std::memcpy(out.data() + at, p, n);
}

template <class T>
void put(std::vector<unsigned char>& out, T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  unsigned char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) std::reverse(b, b + sizeof(T));
  append(out, b, sizeof(T));
}

template <class T>
T get(const unsigned char* p) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) std::reverse(b, b + sizeof(T));
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

inline std::uint32_t crc32_of(const unsigned char* p, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

/// A file opened for reading by load(), load_safetensors() and load_checkpoint(): a regular file
/// (RegularFile; a FIFO, a device or a directory is refused when opened), read with pread, only
/// the byte ranges asked for. Every failure throws a FileError naming the file: it cannot be
/// opened or is not a regular file, a read fails, the file ends early (it shrank after it was
/// opened), or memory runs out.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : file_(path) {}

  /// The file's size in bytes.
  std::uint64_t size() const noexcept { return file_.size(); }

  /// Reads the bytes [offset, offset + n) into dst. The caller has checked them against size().
  void read(std::uint64_t offset, unsigned char* dst, std::size_t n) const {
    const std::size_t got = file_.read_at(offset, dst, n);
    if (got < n)
      throw FileError(file_.path(),
                      "truncated: the file ended at offset " + std::to_string(offset + got) + ", " +
                          std::to_string(n - got) + " bytes short, while it was read (it had " +
                          std::to_string(size()) + " bytes when opened)");
  }

  /// The bytes [offset, offset + n) in a new vector; `what` names them if memory runs out.
  std::vector<unsigned char> bytes(std::uint64_t offset, std::size_t n,
                                   const std::string& what) const {
    std::vector<unsigned char> b;
    try {
      b.resize(n);
    } catch (const std::bad_alloc&) {
      throw FileError(file_.path(),
                      "out of memory: cannot allocate " + std::to_string(n) + " bytes for " + what);
    }
    read(offset, b.data(), n);
    return b;
  }

 private:
  RegularFile file_;
};

/// The most characters of a file's content that an error message quotes.
inline constexpr std::size_t max_quoted = 200;

/// `s` as an error message quotes it: whole if it has at most max_quoted characters, else its
/// first max_quoted (fewer if that would split a UTF-8 character) followed by "...".
inline std::string excerpt(std::string_view s) {
  if (s.size() <= max_quoted) return std::string(s);
  std::size_t cut = max_quoted;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

/// Where two signatures first differ: "layer N differs: the file has 'a', this network has 'b'"
/// (or "the input differs" for the Input line). The file's line is quoted as excerpt() does.
CTNN_COLD inline std::string first_difference(std::string_view file, std::string_view net) {
  std::size_t line = 1;
  while (true) {
    const auto fe = file.find('\n'), ne = net.find('\n');
    const std::string_view fl = file.substr(0, fe), nl = net.substr(0, ne);
    if (fl != nl || (fe == std::string_view::npos) != (ne == std::string_view::npos) ||
        fe == std::string_view::npos) {
      auto show = [](std::string_view s) {
        return s.empty() ? std::string("(nothing)") : "'" + std::string(s) + "'";
      };
      const std::string where = line == 1 ? "the input" : "layer " + std::to_string(line - 1);
      return where + " differs: the file has " + show(excerpt(fl)) + ", this network has " +
             show(nl);
    }
    file.remove_prefix(fe + 1);
    net.remove_prefix(ne + 1);
    ++line;
  }
}

/// The bytes of tensor t's record in the table of a format-3 image: u32 length of the name, the
/// name, u32 kind (TensorKind), u32 rank, u64 dims.
CTNN_COLD inline void put_record(std::vector<unsigned char>& out, const ModelTensor& t) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(t.name.size()));
  append(out, t.name.data(), t.name.size());
  put<std::uint32_t>(out, static_cast<std::uint32_t>(t.kind));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(t.shape.size()));
  for (std::uint64_t d : t.shape) put<std::uint64_t>(out, d);
}

/// The bytes save() writes for `net` and `metadata`: a whole model file image of format 4.
/// Throws InvalidArgument when the metadata cannot be stored (metadata_json()) or does not fit
/// the network (metadata_fit_problem()).
template <class Net>
CTNN_COLD std::vector<unsigned char> model_image(const Net& net, const Metadata& metadata = {}) {
  if (const std::string why = metadata_fit_problem<Net>(metadata); !why.empty())
    throw InvalidArgument("save: the metadata does not fit the network: " + why);
  const std::string meta = metadata.empty() ? std::string() : metadata_json(metadata);
  const std::string sig = Net::signature();
  const std::vector<ModelTensor> tensors = model_tensors<Net>();
  std::vector<unsigned char> bytes;
  bytes.reserve(52 + sig.size() + 64 * tensors.size() + meta.size() +
                4 * (Net::parameter_count + Net::state_count));
  append(bytes, magic, 8);
  put<std::uint32_t>(bytes, version);
  put<std::uint32_t>(bytes, static_cast<std::uint32_t>(sig.size()));
  append(bytes, sig.data(), sig.size());
  put<std::uint64_t>(bytes, fnv1a64(sig));
  put<std::uint64_t>(bytes, Net::parameter_count);
  put<std::uint64_t>(bytes, Net::state_count);
  put<std::uint32_t>(bytes, static_cast<std::uint32_t>(tensors.size()));
  for (const ModelTensor& t : tensors) put_record(bytes, t);
  const auto params = net.parameters();
  const auto state = net.state();
  for (const ModelTensor& t : tensors)
    for (std::size_t e = 0, n = t.elements(); e < n; ++e) {
      const std::size_t i = t.at(e);
      put<float>(bytes, i < params.size() ? params[i] : state[i - params.size()]);
    }
  put<std::uint32_t>(bytes, static_cast<std::uint32_t>(meta.size()));
  append(bytes, meta.data(), meta.size());
  put<std::uint32_t>(bytes, crc32_of(bytes.data(), bytes.size()));
  return bytes;
}

/// A shape as "[d0, d1, ...]".
CTNN_COLD inline std::string dims_text(const unsigned char* dims, std::size_t rank) {
  std::string s = "[";
  for (std::size_t i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(get<std::uint64_t>(dims + 8 * i));
  return s + "]";
}

/// How the record at `at` of `file`, the table of a format-3 image (at offset table_at of the
/// file), differs from tensor k (of `count`), t, of the network, whose record differs from it.
CTNN_COLD inline std::string table_difference(const std::vector<unsigned char>& file,
                                              std::size_t at, const ModelTensor& t, std::size_t k,
                                              std::size_t count, std::size_t table_at) {
  const std::string which = std::to_string(k + 1) + " of " + std::to_string(count),
                    offset = "at offset " + std::to_string(table_at + at);
  const unsigned char* p = file.data() + at;
  const std::size_t left = file.size() - at, length = get<std::uint32_t>(p);
  const std::string_view name(reinterpret_cast<const char*>(p + 4), std::min(length, left - 4));
  if (name != t.name) {
    // Control characters (a NUL would end what()) are shown as \xNN.
    std::string shown;
    for (char c : excerpt(name)) {
      const auto u = static_cast<unsigned char>(c);
      static constexpr char hex[] = "0123456789abcdef";
      if (u < 0x20 || u == 0x7f)
        shown += std::string("\\x") + hex[u >> 4] + hex[u & 15];
      else
        shown += c;
    }
    return "tensor " + which + " (" + offset + ") is '" + shown +
           (name.size() < length ? "...'" : "'") + " in the file, '" + t.name + "' in this network";
  }
  // The name agrees, so the kind, rank and dims lie where the network's record has them.
  const std::string named = "tensor '" + t.name + "' (" + which + ", " + offset + "): ";
  p += 4 + length;
  const auto kind = get<std::uint32_t>(p);
  if (kind != static_cast<std::uint32_t>(t.kind))
    return named + kind_text(kind) + " (kind " + std::to_string(kind) + ") in the file, " +
           kind_text(static_cast<std::uint32_t>(t.kind)) + " in this network";
  std::vector<unsigned char> mine;
  for (std::uint64_t d : t.shape) put<std::uint64_t>(mine, d);
  const auto rank = get<std::uint32_t>(p + 4);
  if (rank != t.shape.size())
    return named + "a shape of rank " + std::to_string(rank) + " in the file, " +
           dims_text(mine.data(), t.shape.size()) + " in this network";
  return named + "shape " + dims_text(p + 8, rank) + " in the file, " +
         dims_text(mine.data(), rank) + " in this network";
}

/// Reads a model image of `n` bytes for Net through read(offset, count) -> the bytes [offset,
/// offset + count) of the image, asking only for what each check needs: 16 bytes of header, then
/// the signature block, then (format 3) the tensor table, then, once sizes agree with the
/// network, the whole image. Reads formats 3, 2 and (without recurrent layers) 1. Every failure
/// throws FileError (SignatureMismatch for another network type) naming `path`; `where` prefixes
/// the messages' subject ("" for a model file, "the model in the checkpoint: " inside one).
/// Returns the parameters followed by the state, in the network's own layout. Format 4's
/// metadata is read and checked (metadata_from_json(), metadata_fit_problem()) and, when
/// `metadata` is given, stored there; formats 1 to 3 give an empty one.
template <class Net, class Read>
CTNN_COLD std::vector<float> read_model_image(std::uint64_t n, Read read, const std::string& path,
                                              const std::string& where = "",
                                              Metadata* metadata = nullptr) {
  auto fail = [&](const std::string& what) -> FileError { return FileError(path, where + what); };
  auto need = [&](std::uint64_t end, const char* what) {
    if (n < end)
      throw fail(std::string("truncated: ") + what + " needs " + std::to_string(end) +
                 " bytes, the file has " + std::to_string(n));
  };
  need(8, "the magic");
  std::vector<unsigned char> b =
      read(0, static_cast<std::size_t>(std::min<std::uint64_t>(n, 16)), "the header");
  if (std::memcmp(b.data(), magic, 8) != 0)
    throw fail("not a ctnn model file (bad magic at offset 0; expected \"CTNNMODL\")");
  need(16, "the header");
  const auto ver = get<std::uint32_t>(b.data() + 8);
  if (ver != version && ver != 3 && ver != 2 && !(ver == 1 && !has_recurrent_layer<Net>()))
    throw fail("format version " + std::to_string(ver) +
               " at offset 8; this build reads versions 2 to 4" +
               (ver == 1 ? " for networks with recurrent layers (version 1 stored their W_h "
                           "row-major)"
                         : " (and 1 for networks without recurrent layers)"));
  const std::size_t L = get<std::uint32_t>(b.data() + 12);
  // Format 3 adds the tensor count to the block.
  const bool table = ver >= 3;
  const std::size_t block = 16 + L + 24 + (table ? 4 : 0);
  need(block, "the block of signature and counts");
  b = read(0, block, "the signature");
  const std::string_view file_sig(reinterpret_cast<const char*>(b.data() + 16), L);
  const std::string sig = Net::signature();
  const auto hash = get<std::uint64_t>(b.data() + 16 + L);
  if (hash != fnv1a64(file_sig))
    throw fail("corrupt: the signature hash at offset " + std::to_string(16 + L) +
               " does not match the signature");
  if (file_sig != sig)
    throw SignatureMismatch(
        path, where + "written for another network type: " + first_difference(file_sig, sig));
  const auto pc = get<std::uint64_t>(b.data() + 24 + L);
  const auto sc = get<std::uint64_t>(b.data() + 32 + L);
  if (pc != Net::parameter_count || sc != Net::state_count)
    throw fail("corrupt: the file declares " + std::to_string(pc) + " parameters and " +
               std::to_string(sc) + " state values; the network has " +
               std::to_string(Net::parameter_count) + " and " + std::to_string(Net::state_count));
  std::size_t data_at = 40 + L;
  std::vector<ModelTensor> tensors;
  if (table) {
    tensors = model_tensors<Net>();
    const auto count = get<std::uint32_t>(b.data() + 40 + L);
    if (count != tensors.size())
      throw fail("the tensor table does not fit this network: the file declares " +
                 std::to_string(count) + " tensors at offset " + std::to_string(40 + L) +
                 ", this network has " + std::to_string(tensors.size()));
    std::vector<unsigned char> mine;
    for (const ModelTensor& t : tensors) put_record(mine, t);
    const std::size_t table_at = 44 + L;
    need(table_at + mine.size(), "the tensor table");
    const std::vector<unsigned char> table = read(table_at, mine.size(), "the tensor table");
    for (std::size_t k = 0, at = 0; k < tensors.size(); ++k) {
      const std::size_t size = 12 + tensors[k].name.size() + 8 * tensors[k].shape.size();
      if (std::memcmp(table.data() + at, mine.data() + at, size) != 0)
        throw fail("the tensor table does not fit this network: " +
                   table_difference(table, at, tensors[k], k, tensors.size(), table_at));
      at += size;
    }
    data_at = table_at + mine.size();
  }
  const std::size_t data_end = data_at + 4 * (Net::parameter_count + Net::state_count);
  std::size_t meta_size = 0;  // format 4: the metadata section's length
  if (ver == 4) {
    need(data_end + 4, "the length of the metadata section");
    meta_size = get<std::uint32_t>(read(data_end, 4, "the length of the metadata").data());
    if (meta_size > max_metadata_bytes)
      throw fail("the metadata section at offset " + std::to_string(data_end) + " declares " +
                 std::to_string(meta_size) + " bytes, more than the " +
                 std::to_string(max_metadata_bytes) + " accepted");
  }
  const std::size_t meta_at = data_end + (ver == 4 ? 4 : 0);
  const std::size_t total = meta_at + meta_size + 4;
  need(total, ver == 4 ? "the block of parameters, metadata and checksum"
                       : "the block of parameters and checksum");
  if (n > total) throw fail(std::to_string(n - total) + " unexpected bytes after the checksum");
  b = read(0, total, "the parameters");
  const auto crc = get<std::uint32_t>(b.data() + total - 4);
  if (crc != crc32_of(b.data(), total - 4))
    throw fail("corrupt: CRC-32 mismatch (the file was damaged after it was written)");
  Metadata meta;
  if (meta_size > 0) {
    meta = metadata_from_json(
        path, std::vector<unsigned char>(b.begin() + meta_at, b.begin() + meta_at + meta_size));
    if (const std::string why = metadata_fit_problem<Net>(meta); !why.empty())
      throw fail("the metadata does not fit this network: " + why);
  }
  std::vector<float> values(Net::parameter_count + Net::state_count);
  if (table) {
    const unsigned char* p = b.data() + data_at;
    for (const ModelTensor& t : tensors)
      for (std::size_t e = 0, count = t.elements(); e < count; ++e, p += 4)
        values[t.at(e)] = get<float>(p);
  } else {
    for (std::size_t i = 0; i < values.size(); ++i)
      values[i] = get<float>(b.data() + data_at + 4 * i);
  }
  // The CRC only proves that the file is as written: a diverged network is saved with NaNs.
  check_values<Net>(values, path, where);
  if (metadata) *metadata = std::move(meta);
  return values;
}

/// Copies what read_model_image() returned into `net`. Does not throw.
template <class Net>
void assign_model(Net& net, const std::vector<float>& values) noexcept {
  auto params = net.parameters();
  auto state = net.state();
  std::copy_n(values.begin(), params.size(), params.begin());
  std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(params.size()), state.size(),
              state.begin());
}

/// What a model file says of itself without a network type: its format version, signature and
/// metadata.
struct ModelFileInfo {
  std::uint32_t version = 0;
  std::string signature;
  Metadata metadata;
};

/// Reads the model file `f` (named `path`) without a network type: checks the magic, the
/// version (1 to 4), the signature's hash, the sizes (the tensor table of formats 3 and 4 record
/// by record, the values P + S floats) against the file's size and, reading the whole file, its
/// CRC-32; then parses the metadata section. Throws FileError naming `path` as
/// read_model_image() does. The values themselves are not checked: load() does that.
inline ModelFileInfo read_model_info(const InputFile& f, const std::string& path) {
  const std::uint64_t n = f.size();
  auto fail = [&](const std::string& what) -> FileError { return FileError(path, what); };
  auto need = [&](std::uint64_t end, const char* what) {
    if (n < end)
      throw fail(std::string("truncated: ") + what + " needs " + std::to_string(end) +
                 " bytes, the file has " + std::to_string(n));
  };
  need(8, "the magic");
  std::vector<unsigned char> b =
      f.bytes(0, static_cast<std::size_t>(std::min<std::uint64_t>(n, 16)), "the header");
  if (std::memcmp(b.data(), magic, 8) != 0)
    throw fail("not a ctnn model file (bad magic at offset 0; expected \"CTNNMODL\")");
  need(16, "the header");
  ModelFileInfo info;
  info.version = get<std::uint32_t>(b.data() + 8);
  if (info.version < 1 || info.version > version)
    throw fail("format version " + std::to_string(info.version) +
               " at offset 8; this build reads versions 1 to 4");
  const std::uint64_t L = get<std::uint32_t>(b.data() + 12);
  const bool table = info.version >= 3;
  need(16 + L + 24 + (table ? 4 : 0), "the block of signature and counts");
  // The whole file: its CRC-32 covers every byte.
  b = f.bytes(0, static_cast<std::size_t>(n), "the model file");
  info.signature.assign(reinterpret_cast<const char*>(b.data() + 16), L);
  if (get<std::uint64_t>(b.data() + 16 + L) != fnv1a64(info.signature))
    throw fail("corrupt: the signature hash at offset " + std::to_string(16 + L) +
               " does not match the signature");
  const std::uint64_t P = get<std::uint64_t>(b.data() + 24 + L),
                      S = get<std::uint64_t>(b.data() + 32 + L);
  if (P > n / 4 || S > n / 4)
    throw fail("truncated: the file declares " + std::to_string(P) + " parameters and " +
               std::to_string(S) + " state values, more than its " + std::to_string(n) +
               " bytes hold");
  const std::uint64_t values = P + S;
  std::uint64_t at = 40 + L;
  if (table) {
    const std::uint32_t count = get<std::uint32_t>(b.data() + 40 + L);
    at += 4;
    for (std::uint32_t k = 0; k < count; ++k) {
      need(at + 4, "the tensor table");
      const std::uint64_t length = get<std::uint32_t>(b.data() + at);
      need(at + 12 + length, "the tensor table");
      const std::uint64_t rank = get<std::uint32_t>(b.data() + at + 8 + length);
      at += 12 + length + 8 * rank;
      need(at, "the tensor table");
    }
  }
  at += 4 * values;
  std::uint64_t meta_size = 0;
  if (info.version == 4) {
    need(at + 4, "the length of the metadata section");
    meta_size = get<std::uint32_t>(b.data() + at);
    if (meta_size > max_metadata_bytes)
      throw fail("the metadata section at offset " + std::to_string(at) + " declares " +
                 std::to_string(meta_size) + " bytes, more than the " +
                 std::to_string(max_metadata_bytes) + " accepted");
    at += 4;
  }
  const std::uint64_t total = at + meta_size + 4;
  need(total, "the block of parameters, metadata and checksum");
  if (n > total) throw fail(std::to_string(n - total) + " unexpected bytes after the checksum");
  if (get<std::uint32_t>(b.data() + total - 4) != crc32_of(b.data(), total - 4))
    throw fail("corrupt: CRC-32 mismatch (the file was damaged after it was written)");
  if (meta_size > 0)
    info.metadata = metadata_from_json(
        path, std::vector<unsigned char>(b.begin() + static_cast<std::ptrdiff_t>(at),
                                         b.begin() + static_cast<std::ptrdiff_t>(at + meta_size)));
  return info;
}

}  // namespace io::detail

/// Writes the network's signature, parameters and state to `path`. Atomic: the bytes go to a
/// uniquely named temporary file in the same directory, which is written, fsync'ed and then
/// renamed over `path`, so an existing model is replaced only by a complete one. A new file gets
/// mode 0666 less the umask, as open(2) gives; a replaced file keeps its mode. Only a regular
/// file is replaced: when `path` is a symbolic link, the file it leads to gets the new contents
/// and the link stays. Throws FileError on any I/O failure (the temporary file is removed), and,
/// before anything is written, when `path` is a directory, a device, a FIFO, a socket, a link to
/// one of them, a dangling link or a loop of links ("<path>: it is a FIFO, not a regular file").
/// The file holds `metadata` (class names, preprocessing, free-form values; read_metadata()
/// gives it back); InvalidArgument, before anything is written, when it cannot be stored (see
/// io::detail::metadata_problem: an empty or control-character class name, channels other than
/// 1 or 3, a scale, mean or std that is not finite, a std that is not positive, a reserved key,
/// a string that is not UTF-8, more than 1 MiB of JSON) or does not fit the network (class names
/// not one per output, a preprocessing whose size and channels are not the input's).
template <class Net>
CTNN_COLD void save(const Net& net, const std::string& path, const Metadata& metadata = {}) {
  io::detail::write_file_atomically(path, io::detail::model_image(net, metadata));
}

/// Reads a model written by save() into `net`: all or nothing. Throws SignatureMismatch when the
/// file was written for another network type (the message names the first differing layer),
/// FileError when the file cannot be read or is not a regular file (a directory, a FIFO or a
/// device is refused when opened, without waiting for a FIFO's writer or reading), has the wrong
/// magic or version, is truncated or longer than its header says, or fails its CRC-32, and when a
/// parameter or state value is not finite (NaN or infinite, as a network that diverged in
/// training is saved) or a BatchNorm's running variance is negative: the message names the
/// layer, the index and the value, and when the file's metadata (format 4) is malformed or does
/// not fit the network (see save()). On any error `net` is unchanged. The metadata is not
/// returned: read_metadata() reads it.
template <class Net>
CTNN_COLD void load(Net& net, const std::string& path) {
  // Each check reads only the bytes it needs, and sizes are checked against the file's size
  // before they are read: a large file that is not a model is refused after 16 bytes.
  const io::detail::InputFile f(path);
  const auto values = io::detail::read_model_image<Net>(
      f.size(),
      [&](std::uint64_t offset, std::size_t n, const char* what) {
        return f.bytes(offset, n, what);
      },
      path);
  io::detail::assign_model(net, values);
}

}  // namespace ctnn
