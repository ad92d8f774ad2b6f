// ctnn/io/model_file.hpp — save() and load(): a network's parameters in a ctnn model file.
//
// The format is documented byte by byte in docs/model-format.md. In short, all integers
// little-endian, format 3:
//   "CTNNMODL" | u32 version (3) | u32 L | L bytes signature | u64 FNV-1a-64 of the signature |
//   u64 parameter count P | u64 state count S | u32 tensor count T |
//   T records (u32 name length, name, u32 kind, u32 rank, u64 dims[rank]) |
//   the tensors' values (f32), one tensor after the other, each row-major over its shape |
//   u32 CRC-32 (zlib) of every byte before it
// The signature is Net::signature(): one line per layer with its name and shapes. The tensors
// are every layer's parameters and state in PyTorch's layout (detail/model_tensors.hpp), so the
// file does not depend on the layout the kernels keep in memory: load() permutes them into it.
// A layer without tensors() (one defined outside the library) is stored as its raw slices, in
// its own layout. Formats 2 and 1 (the flat arrays parameters() and state() as they were in
// memory, without the table) are still read: see read_model_image().
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../hash.hpp"
#include "../layers/layer.hpp"
#include "detail/model_tensors.hpp"
#include "detail/regular_file.hpp"

namespace ctnn {

namespace io::detail {

inline constexpr char magic[8] = {'C', 'T', 'N', 'N', 'M', 'O', 'D', 'L'};
/// The format written. Version 3 stores each tensor in PyTorch's layout, with a table of the
/// tensors; version 2 stored parameters() and state() as they are in memory, recurrent layers'
/// W_h in column panels (layers/recurrent.hpp), and is still read; version 1 stored W_h
/// row-major and is still read for networks without recurrent layers, whose layout did not
/// change.
inline constexpr std::uint32_t version = 3;

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
inline std::string first_difference(std::string_view file, std::string_view net) {
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

/// Creates a new file named `path` + ".tmp-" + six random letters and digits, like mkstemp, but
/// with open(2)'s mode 0666 so that the umask (and a default ACL) apply as to any new file.
/// Returns its descriptor and sets `tmp` to its name; -1 with errno set on failure.
inline int create_temporary_file(const std::string& path, std::string& tmp) {
  static constexpr char letters[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (static_cast<std::uint64_t>(::getpid()) << 32) ^ reinterpret_cast<std::uintptr_t>(&tmp);
  for (int attempt = 0; attempt < 100; ++attempt) {
    x += 0x9e3779b97f4a7c15ULL * (counter.fetch_add(1, std::memory_order_relaxed) + 1);
    std::uint64_t r = x;  // splitmix64
    r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ULL;
    r = (r ^ (r >> 27)) * 0x94d049bb133111ebULL;
    r ^= r >> 31;
    tmp = path + ".tmp-";
    for (int i = 0; i < 6; ++i, r /= 62) tmp += letters[r % 62];
    int fd;
    do fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;  // errno is EEXIST
}

/// What a save replaces: `path` itself or, when `path` is a symbolic link, the file the link
/// leads to (every link resolved, as realpath(3) does), and whether that file exists.
struct SaveTarget {
  std::string path;
  bool exists = false;
  struct ::stat st {};
};

/// The file a save to `path` replaces (SaveTarget). A symbolic link is followed: the file it
/// leads to is replaced and the link stays. Sets `why` (empty when the save can go ahead) to the
/// reason it cannot: "it is a FIFO, not a regular file" (a directory, a character or block
/// device, a socket), "it is a symbolic link to 'T', which is a FIFO, not a regular file", "it
/// is a symbolic link to 'T', which does not exist" (a dangling link is not followed to create
/// a file wherever it points), or why the link cannot be resolved (a loop). Any other failure to
/// look `path` up (a missing directory, no permission) is left to the creation of the temporary
/// file, which reports it. Does not throw but std::bad_alloc.
inline SaveTarget save_target(const std::string& path, std::string& why) {
  SaveTarget t{path, false, {}};
  why.clear();
  struct ::stat st {};
  if (::lstat(path.c_str(), &st) != 0) return t;
  std::string via;
  if (S_ISLNK(st.st_mode)) {
    std::string link(4096, '\0');
    const ssize_t n = ::readlink(path.c_str(), link.data(), link.size());
    link.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr) {
      const int error = errno;
      why = error == ENOENT ? "it is a symbolic link to '" + link + "', which does not exist"
                            : "it is a symbolic link to '" + link +
                                  "' that cannot be resolved: " + std::strerror(error);
      return t;
    }
    t.path = real;
    ::free(real);
    if (::stat(t.path.c_str(), &st) != 0) {
      why =
          "it is a symbolic link to '" + link + "', which cannot be read: " + std::strerror(errno);
      return t;
    }
    via = "it is a symbolic link to '" + t.path + "', which is ";
  }
  if (!S_ISREG(st.st_mode)) {
    why = (via.empty() ? std::string("it is ") : via) + file_type_name(st.st_mode) +
          ", not a regular file";
    return t;
  }
  t.exists = true;
  t.st = st;
  return t;
}

/// How long a temporary file of a save (`<path>.tmp-XXXXXX`) must have gone unmodified before
/// the next save of the same path takes it for the remains of a process killed while saving and
/// removes it. A save in progress writes its temporary file continuously; one held up for longer
/// (a stopped process) finds it gone and throws FileError when it renames, leaving `path` as it
/// was.
inline constexpr std::time_t stale_temporary_seconds = 3600;

/// Removes the temporary files that saves of `path` left behind when killed: regular files in
/// its directory named `path` + ".tmp-" + six letters and digits, owned by this process's user,
/// not modified for stale_temporary_seconds. Best effort: failures are ignored.
inline void remove_stale_temporary_files(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp-";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const std::time_t now = std::time(nullptr);
  const ::uid_t me = ::geteuid();
  while (const ::dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name.size() != prefix.size() + 6 || name.substr(0, prefix.size()) != prefix) continue;
    const bool random = std::all_of(name.begin() + prefix.size(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    });
    struct ::stat st {};
    if (!random || ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode) && st.st_uid == me && now - st.st_mtime >= stale_temporary_seconds)
      ::unlinkat(::dirfd(d), e->d_name, 0);
  }
  ::closedir(d);
}

/// Writes `bytes` to `path` atomically: a uniquely named temporary file in the same directory is
/// written, fsync'ed and renamed over `path`, so an existing file is replaced only by a complete
/// one. A new file gets the mode open(2) gives (0666 less the umask); a file that is replaced
/// keeps its mode. Only a regular file is replaced: when `path` is a symbolic link, the file it
/// leads to is replaced (the temporary file is made beside that file) and the link stays; a
/// directory, device, FIFO or socket, a dangling link or a link to one of them is refused before
/// anything is written (save_target), and checked again just before the rename. After the rename,
/// stale temporary files of earlier, killed saves of the same file are removed
/// (remove_stale_temporary_files). Throws FileError naming `path`, with the reason (errno of the
/// call that failed, or the kind of file found), on any failure (the temporary file is removed).
inline void write_file_atomically(const std::string& path,
                                  const std::vector<unsigned char>& bytes) {
  std::string why;
  const SaveTarget target = save_target(path, why);
  if (!why.empty()) throw FileError(path, why);
  const std::string& file = target.path;
  std::string tmp;
  const int fd = create_temporary_file(file, tmp);
  if (fd < 0)
    throw FileError(path, std::string("cannot create a temporary file: ") + std::strerror(errno));
  std::size_t done = 0;
  int error = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      error = w < 0 ? errno : EIO;
      break;
    }
    done += static_cast<std::size_t>(w);
  }
  if (!error && target.exists && ::fchmod(fd, target.st.st_mode & 07777) != 0) error = errno;
  if (!error && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && !error) error = errno;
  if (error) {
    ::unlink(tmp.c_str());
    throw FileError(path, std::string("write failed: ") + std::strerror(error));
  }
  // Whatever took the file's place while it was written is refused too.
  struct ::stat now {};
  if (::lstat(file.c_str(), &now) == 0 && !S_ISREG(now.st_mode)) {
    ::unlink(tmp.c_str());
    throw FileError(path, (file == path ? std::string("it is ")
                                        : "it is a symbolic link to '" + file + "', which is ") +
                              file_type_name(now.st_mode) + ", not a regular file");
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int rename_error = errno;  // before unlink can change it
    ::unlink(tmp.c_str());
    throw FileError(path, std::string("cannot replace the file: ") + std::strerror(rename_error));
  }
  remove_stale_temporary_files(file);
}

/// The bytes of tensor t's record in the table of a format-3 image: u32 length of the name, the
/// name, u32 kind (TensorKind), u32 rank, u64 dims.
inline void put_record(std::vector<unsigned char>& out, const ModelTensor& t) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(t.name.size()));
  append(out, t.name.data(), t.name.size());
  put<std::uint32_t>(out, static_cast<std::uint32_t>(t.kind));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(t.shape.size()));
  for (std::uint64_t d : t.shape) put<std::uint64_t>(out, d);
}

/// The bytes save() writes for `net`: a whole model file image of format 3.
template <class Net>
std::vector<unsigned char> model_image(const Net& net) {
  const std::string sig = Net::signature();
  const std::vector<ModelTensor> tensors = model_tensors<Net>();
  std::vector<unsigned char> bytes;
  bytes.reserve(48 + sig.size() + 64 * tensors.size() +
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
  put<std::uint32_t>(bytes, crc32_of(bytes.data(), bytes.size()));
  return bytes;
}

/// A shape as "[d0, d1, ...]".
inline std::string dims_text(const unsigned char* dims, std::size_t rank) {
  std::string s = "[";
  for (std::size_t i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(get<std::uint64_t>(dims + 8 * i));
  return s + "]";
}

/// How the record at `at` of `file`, the table of a format-3 image (at offset table_at of the
/// file), differs from tensor k (of `count`), t, of the network, whose record differs from it.
inline std::string table_difference(const std::vector<unsigned char>& file, std::size_t at,
                                    const ModelTensor& t, std::size_t k, std::size_t count,
                                    std::size_t table_at) {
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
/// Returns the parameters followed by the state, in the network's own layout.
template <class Net, class Read>
std::vector<float> read_model_image(std::uint64_t n, Read read, const std::string& path,
                                    const std::string& where = "") {
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
  if (ver != version && ver != 2 && !(ver == 1 && !has_recurrent_layer<Net>()))
    throw fail("format version " + std::to_string(ver) +
               " at offset 8; this build reads versions 2 and 3" +
               (ver == 1 ? " for networks with recurrent layers (version 1 stored their W_h "
                           "row-major)"
                         : " (and 1 for networks without recurrent layers)"));
  const std::size_t L = get<std::uint32_t>(b.data() + 12);
  // Format 3 adds the tensor count to the block.
  const std::size_t block = 16 + L + 24 + (ver == 3 ? 4 : 0);
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
  if (ver == 3) {
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
  const std::size_t total = data_at + 4 * (Net::parameter_count + Net::state_count) + 4;
  need(total, "the block of parameters and checksum");
  if (n > total) throw fail(std::to_string(n - total) + " unexpected bytes after the checksum");
  b = read(0, total, "the parameters");
  const auto crc = get<std::uint32_t>(b.data() + total - 4);
  if (crc != crc32_of(b.data(), total - 4))
    throw fail("corrupt: CRC-32 mismatch (the file was damaged after it was written)");
  std::vector<float> values(Net::parameter_count + Net::state_count);
  if (ver == 3) {
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

}  // namespace io::detail

/// Writes the network's signature, parameters and state to `path`. Atomic: the bytes go to a
/// uniquely named temporary file in the same directory, which is written, fsync'ed and then
/// renamed over `path`, so an existing model is replaced only by a complete one. A new file gets
/// mode 0666 less the umask, as open(2) gives; a replaced file keeps its mode. Only a regular
/// file is replaced: when `path` is a symbolic link, the file it leads to gets the new contents
/// and the link stays. Throws FileError on any I/O failure (the temporary file is removed), and,
/// before anything is written, when `path` is a directory, a device, a FIFO, a socket, a link to
/// one of them, a dangling link or a loop of links ("<path>: it is a FIFO, not a regular file").
template <class Net>
void save(const Net& net, const std::string& path) {
  io::detail::write_file_atomically(path, io::detail::model_image(net));
}

/// Reads a model written by save() into `net`: all or nothing. Throws SignatureMismatch when the
/// file was written for another network type (the message names the first differing layer),
/// FileError when the file cannot be read or is not a regular file (a directory, a FIFO or a
/// device is refused when opened, without waiting for a FIFO's writer or reading), has the wrong
/// magic or version, is truncated or longer than its header says, or fails its CRC-32, and when a
/// parameter or state value is not finite (NaN or infinite, as a network that diverged in
/// training is saved) or a BatchNorm's running variance is negative: the message names the
/// layer, the index and the value. On any
/// error `net` is unchanged.
template <class Net>
void load(Net& net, const std::string& path) {
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
