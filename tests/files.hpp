// Temporary directories and whole-file reads and writes for the tests of the file readers.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctnn/error.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ctnn_test {

/// A fresh directory under the system temporary directory, removed with its contents at scope
/// exit. The name joins `prefix`, the time, a random number and a counter, so that concurrent
/// test processes never share one.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "ctnn-test") {
    static std::atomic<unsigned> counter{0};
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    path = std::filesystem::temp_directory_path() /
           (prefix + "-" + std::to_string(now) + "-" + std::to_string(std::random_device{}()) +
            "-" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

/// The bytes of a file (char or std::uint8_t); empty when it cannot be read.
template <class Byte = char>
std::vector<Byte> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<Byte>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// Replaces the file's contents with `bytes` (any contiguous container of 1-byte values).
template <class Bytes>
void write_all(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

/// Writes `head` at the start of a new file and extends it to `size` bytes with a hole (no disk
/// blocks), so that a test can hand a reader a file of gigabytes at no cost.
template <class Bytes>
void write_sparse(const std::string& path, const Bytes& head, std::uint64_t size) {
  write_all(path, head);
  REQUIRE(::truncate(path.c_str(), static_cast<::off_t>(size)) == 0);
}

/// The bytes this thread has read from files so far (rchar of /proc/thread-self/io: every byte
/// read() and pread() returned, page cache or not); nullopt where the kernel does not report it.
inline std::optional<std::uint64_t> bytes_read_so_far() {
  for (const char* p : {"/proc/thread-self/io", "/proc/self/io"}) {
    std::ifstream f(p);
    std::string key;
    std::uint64_t value = 0;
    while (f >> key >> value)
      if (key == "rchar:") return value;
  }
  return std::nullopt;
}

/// The permission bits of a file.
inline unsigned mode_of(const std::string& path) {
  struct ::stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777u;
}

/// Sets the process's umask for the scope and restores the previous one at exit.
struct UmaskScope {
  ::mode_t previous;
  explicit UmaskScope(::mode_t mask) : previous(::umask(mask)) {}
  UmaskScope(const UmaskScope&) = delete;
  UmaskScope& operator=(const UmaskScope&) = delete;
  ~UmaskScope() { ::umask(previous); }
};

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

/// Lowers the process's address-space limit (RLIMIT_AS) to its current size plus `headroom`
/// bytes for the scope, so that a larger allocation fails with std::bad_alloc; restores the limit
/// at exit. `active` is false where that cannot be done: under AddressSanitizer, which reserves
/// terabytes of address space, or without /proc/self/status.
class AddressSpaceLimit {
 public:
  explicit AddressSpaceLimit(std::uint64_t headroom) {
    if (kAddressSanitizer) return;
    std::ifstream f("/proc/self/status");
    std::uint64_t kib = 0;
    for (std::string line; std::getline(f, line);)
      if (line.rfind("VmSize:", 0) == 0) kib = std::stoull(line.substr(7));
    if (kib == 0 || ::getrlimit(RLIMIT_AS, &previous_) != 0) return;
    ::rlimit lowered = previous_;
    lowered.rlim_cur = kib * 1024 + headroom;
    if (previous_.rlim_cur != RLIM_INFINITY && previous_.rlim_cur < lowered.rlim_cur) return;
    active_ = ::setrlimit(RLIMIT_AS, &lowered) == 0;
  }
  AddressSpaceLimit(const AddressSpaceLimit&) = delete;
  AddressSpaceLimit& operator=(const AddressSpaceLimit&) = delete;
  ~AddressSpaceLimit() {
    if (active_) ::setrlimit(RLIMIT_AS, &previous_);
  }
  bool active() const noexcept { return active_; }

 private:
  ::rlimit previous_{};
  bool active_ = false;
};

/// Checks what every atomic writer (save, save_safetensors) must do when `path` inside `dir` is
/// a directory: a FileError naming the path and saying it is a directory (never "Success"), and
/// the directory left alone with nothing beside it. `save(path)` writes a file.
template <class Save>
void check_save_onto_directory(const TempDir& dir, const std::string& name, Save save) {
  namespace fs = std::filesystem;
  const std::string path = dir.file(name);
  fs::create_directory(path);
  try {
    save(path);
    FAIL("the save replaced a directory");
  } catch (const ctnn::FileError& e) {
    const std::string m = e.what();
    INFO("message: ", m);
    CHECK(e.path() == path);
    CHECK(m.find("it is a directory, not a regular file") != std::string::npos);
    CHECK(m.find("Success") == std::string::npos);
  }
  CHECK(fs::is_directory(path));
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

/// Checks that `save(path)` gives a new file the mode open(2) would (0666 less the umask) and
/// that a replaced file keeps its mode. `name` and `other` are file names inside `dir`.
template <class Save>
void check_save_modes(const TempDir& dir, const std::string& name, const std::string& other,
                      Save save) {
  const std::string path = dir.file(name);
  {
    UmaskScope mask(027);
    save(path);
    CHECK(mode_of(path) == 0640);
  }
  UmaskScope mask(022);
  save(dir.file(other));
  CHECK(mode_of(dir.file(other)) == 0644);
  for (unsigned mode : {0600u, 0664u, 0640u}) {
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    save(path);
    CHECK(mode_of(path) == mode);
  }
}

// What a call run by finishes_within() did: finished (false: still running at the time limit),
// and the FileError it threw, if any.
struct Outcome {
  bool finished = false, file_error = false;
  std::string path, message;
};

// Runs f on a thread of its own and waits at most `limit` for it. A call that does not finish is
// left running on its detached thread (the process ends it at exit), so a reader that loops or
// blocks forever fails the test instead of hanging the suite. f must own what it uses (capture
// by value).
template <class F>
Outcome finishes_within(std::chrono::seconds limit, F f) {
  auto promise = std::make_shared<std::promise<Outcome>>();
  std::future<Outcome> done = promise->get_future();
  std::thread([promise, f]() mutable {
    Outcome o;
    o.finished = true;
    try {
      f();
    } catch (const ctnn::FileError& e) {
      o.file_error = true;
      o.path = e.path();
      o.message = e.what();
    } catch (const std::exception& e) {
      o.message = e.what();
    }
    promise->set_value(std::move(o));
  }).detach();
  if (done.wait_for(limit) != std::future_status::ready) return {};
  return done.get();
}

/// Checks that `read(path)` refuses, within a second and with a FileError naming the path and
/// saying what it is, what is not a regular file: a FIFO without a writer (opening it for
/// reading blocks until a writer comes), /dev/zero and /dev/urandom (they never end) and a
/// directory. `read` must own what it uses (capture by value).
template <class Read>
void check_refuses_special_files(Read read) {
  TempDir dir("ctnn-special");
  const std::string fifo = dir.file("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string folder = dir.file("folder");
  std::filesystem::create_directory(folder);
  struct Case {
    std::string path, what;
  };
  for (const Case& c : {Case{fifo, "it is a FIFO (named pipe), not a regular file"},
                        Case{"/dev/zero", "it is a character device, not a regular file"},
                        Case{"/dev/urandom", "it is a character device, not a regular file"},
                        Case{folder, std::strerror(EISDIR)}}) {
    CAPTURE(c.path);
    const auto start = std::chrono::steady_clock::now();
    const Outcome o =
        finishes_within(std::chrono::seconds(5), [read, path = c.path] { read(path); });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    REQUIRE_MESSAGE(o.finished, "the reader was still blocked or reading after 5 s");
    CAPTURE(o.message);
    CHECK(o.file_error);
    CHECK(o.path == c.path);
    CHECK(o.message.find(c.what) != std::string::npos);
    CHECK(seconds < 1.0);
  }
}

/// The message of the ctnn::FileError that `f` throws ("" when it throws none).
template <class F>
std::string file_error(F f) {
  try {
    f();
  } catch (const ctnn::FileError& e) {
    return e.what();
  }
  return "";
}

}  // namespace ctnn_test
