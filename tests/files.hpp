// Temporary directories and whole-file reads and writes for the tests of the file readers.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
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

}  // namespace ctnn_test
