// ctnn/io/detail/regular_file.hpp — how every reader of ctnn opens a file: only regular files.
//
// What is not a regular file cannot be read safely by a reader that expects one: open(2) of a
// FIFO without a writer blocks until a writer comes (possibly never, a thread asleep at 0% CPU),
// and a character device such as /dev/zero or /dev/urandom never ends. So every file the library
// reads (images, IDX files, model files, safetensors files, checkpoints) is opened here, with
// O_NONBLOCK so that opening a FIFO returns at once, then checked with fstat(2) on the
// descriptor (no race with a rename), and refused unless it is a regular file. The size is the
// one fstat(2) gave when the file was opened; readers read no more than that.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "../../error.hpp"

namespace ctnn::io::detail {

/// What a file of mode `mode` that is not a regular file is, for messages: "a directory", "a
/// character device", "a block device", "a FIFO", "a socket", "a symbolic link" (lstat(2)'s
/// modes), else "a special file". With `explain_fifo` a FIFO is "a FIFO (named pipe)", as the
/// readers say; the writers say "a FIFO".
inline std::string file_type_name(::mode_t mode, bool explain_fifo = false) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return explain_fifo ? "a FIFO (named pipe)" : "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "a special file";
}

/// A regular file open for reading; the descriptor is closed on destruction.
class RegularFile {
 public:
  /// Opens `path` with O_RDONLY | O_NONBLOCK | O_CLOEXEC and checks with fstat(2) that it is a
  /// regular file; then clears O_NONBLOCK. Throws FileError naming `path`: "cannot open: " and the
  /// reason (errno; "Is a directory" for a directory), or, for a FIFO, a device or a socket,
  /// "cannot open: it is a FIFO (named pipe), not a regular file". Never blocks on a FIFO.
  explicit RegularFile(const std::string& path) : path_(path) {
    do fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) fail(errno);
    struct ::stat st {};
    if (::fstat(fd_, &st) != 0) fail(errno);
    if (S_ISDIR(st.st_mode)) fail(EISDIR);
    if (!S_ISREG(st.st_mode)) {
      const std::string type = file_type_name(st.st_mode, true);
      close_fd();
      throw FileError(path_, "cannot open: it is " + type + ", not a regular file");
    }
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK) != 0) fail(errno);
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  ~RegularFile() { close_fd(); }

  const std::string& path() const noexcept { return path_; }
  /// The file's size in bytes when it was opened.
  std::uint64_t size() const noexcept { return size_; }

  /// Reads up to n bytes at `offset` into dst (pread(2)); fewer only where the file ends. Throws
  /// FileError naming the file and the offset when a read fails.
  std::size_t read_at(std::uint64_t offset, void* dst, std::size_t n) const {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t done = 0;
    while (done < n) {
      const std::size_t chunk = std::min<std::size_t>(n - done, std::size_t{1} << 30);
      const ::ssize_t r = ::pread(fd_, out + done, chunk, static_cast<::off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0)
        throw FileError(path_, "read failed at offset " + std::to_string(offset + done) + ": " +
                                   std::strerror(errno));
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    return done;
  }

  /// Reads up to n bytes from where the last read() ended (the start at first); fewer only where
  /// the file ends. Throws as read_at().
  std::size_t read(void* dst, std::size_t n) {
    const std::size_t got = read_at(position_, dst, n);
    position_ += got;
    return got;
  }

 private:
  [[noreturn]] void fail(int err) {
    close_fd();
    throw FileError(path_, std::string("cannot open: ") + std::strerror(err));
  }
  void close_fd() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0, position_ = 0;
};

}  // namespace ctnn::io::detail
