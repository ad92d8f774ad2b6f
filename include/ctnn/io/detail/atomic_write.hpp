// ctnn/io/detail/atomic_write.hpp — how every writer of ctnn replaces a file: a temporary file
// beside it, written, fsync'ed and renamed over it, so that a reader never sees half a file.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "../../attributes.hpp"
#include "../../error.hpp"
#include "regular_file.hpp"

namespace ctnn::io::detail {

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
CTNN_COLD inline SaveTarget save_target(const std::string& path, std::string& why) {
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
CTNN_COLD inline void remove_stale_temporary_files(const std::string& path) {
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
CTNN_COLD inline void write_file_atomically(const std::string& path,
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

}  // namespace ctnn::io::detail
