// What every file writer (save, save_safetensors, save_checkpoint, HistoryCsv and the confusion
// matrix's write_text_atomically) does when its target is not a plain regular file: a FIFO, a
// character device, a directory, a symbolic link (to a file, dangling, to a FIFO, a loop), and
// the temporary files that killed saves leave behind.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <ctnn/callbacks.hpp>
#include <ctnn/ctnn.hpp>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "files.hpp"

using namespace ctnn;
namespace fs = std::filesystem;

namespace {

using ctnn_test::read_all;
using ctnn_test::TempDir;

using FileNet = Sequential<Input<6, 6, 1>, Conv2D<2, 3>, BatchNorm, ReLU, Dense<3>>;

using Writer = std::function<void(const std::string&)>;

/// Every writer of the library, each writing the same bytes whenever it is called.
std::vector<std::pair<std::string, Writer>> writers() {
  static const FileNet net(3);
  static const Adam adam;
  EpochReport r;
  r.epoch = 1;
  r.loss = 0.5;
  return {
      {"save", [](const std::string& p) { save(net, p); }},
      {"save_safetensors", [](const std::string& p) { save_safetensors(net, p); }},
      {"save_checkpoint",
       [](const std::string& p) { save_checkpoint(p, net, adam, TrainingState{}); }},
      {"HistoryCsv",
       [r](const std::string& p) {
         TrainingControl c;
         HistoryCsv history(p);
         history(r, c);
       }},
      {"write_text_atomically",
       [](const std::string& p) { ctnn::detail::write_text_atomically(p, "a,b\n1,2\n"); }},
  };
}

/// lstat's file type of `path`; 0 when there is nothing there.
::mode_t type_of(const std::string& path) {
  struct ::stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & S_IFMT : 0;
}

std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

/// Checks that `write(path)` throws a FileError naming `path` whose message holds `reason`.
void check_refused(const Writer& write, const std::string& path, const std::string& reason) {
  try {
    write(path);
    FAIL_CHECK("the writer replaced ", path);
  } catch (const FileError& e) {
    INFO("message: ", e.what());
    CHECK(e.path() == path);
    CHECK(std::string(e.what()).find(reason) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("every writer refuses a FIFO and leaves it a FIFO, with nothing beside it") {
  for (const auto& [name, write] : writers()) {
    INFO("writer: ", name);
    TempDir dir;
    const std::string fifo = dir.file("pipe");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    check_refused(write, fifo, "it is a FIFO, not a regular file");
    CHECK(type_of(fifo) == S_IFIFO);
    CHECK(entries(dir.path) == 1);
  }
}

TEST_CASE("every writer refuses a character device and leaves it a device") {
  TempDir dir;
  // A device node of our own (/dev/null's numbers) where the process may make one, that is, as
  // root: a writer that replaced it would replace only the copy. Otherwise /dev/null itself,
  // which this user cannot replace anyway.
  std::string device = dir.file("null");
  if (::mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    if (::geteuid() == 0) {
      MESSAGE("skipped: no device node can be made here");
      return;
    }
    device = "/dev/null";
  }
  for (const auto& [name, write] : writers()) {
    INFO("writer: ", name);
    check_refused(write, device, "it is a character device, not a regular file");
    CHECK(type_of(device) == S_IFCHR);
  }
  CHECK(entries(dir.path) == (device == "/dev/null" ? 0u : 1u));
}

TEST_CASE("every writer refuses a directory and leaves it alone") {
  for (const auto& [name, write] : writers()) {
    INFO("writer: ", name);
    TempDir dir;
    ctnn_test::check_save_onto_directory(dir, "a-directory", write);
  }
}

TEST_CASE("a symbolic link to a regular file: the file it leads to is replaced, the link stays") {
  for (const auto& [name, write] : writers()) {
    INFO("writer: ", name);
    TempDir links, files, plain;
    write(plain.file("expected"));
    const auto expected = read_all(plain.file("expected"));
    REQUIRE(!expected.empty());

    // A relative link into another directory: the temporary file goes beside the target.
    const std::string target = files.file("model");
    ctnn_test::write_all(target, std::string("old contents"));
    REQUIRE(::chmod(target.c_str(), 0600) == 0);
    const std::string link = links.file("link");
    const std::string relative = fs::relative(target, links.path).string();
    fs::create_symlink(relative, link);

    write(link);
    CHECK(type_of(link) == S_IFLNK);
    CHECK(fs::read_symlink(link).string() == relative);
    CHECK(type_of(target) == S_IFREG);
    CHECK(read_all(target) == expected);
    CHECK(ctnn_test::mode_of(target) == 0600);
    CHECK(entries(links.path) == 1);
    CHECK(entries(files.path) == 1);

    // A link to a link to the file: the same.
    fs::create_symlink(link, links.file("link2"));
    ctnn_test::write_all(target, std::string("old again"));
    write(links.file("link2"));
    CHECK(type_of(links.file("link2")) == S_IFLNK);
    CHECK(read_all(target) == expected);
    CHECK(entries(files.path) == 1);
  }
}

TEST_CASE("every writer refuses a dangling link, a link to a FIFO and a loop of links") {
  for (const auto& [name, write] : writers()) {
    INFO("writer: ", name);
    TempDir dir;
    const std::string dangling = dir.file("dangling");
    fs::create_symlink("nowhere/model", dangling);
    check_refused(write, dangling,
                  "it is a symbolic link to 'nowhere/model', which does not exist");
    CHECK(type_of(dangling) == S_IFLNK);
    CHECK(!fs::exists(dir.path / "nowhere"));

    const std::string fifo = dir.file("pipe"), to_fifo = dir.file("to-pipe");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    fs::create_symlink("pipe", to_fifo);
    check_refused(write, to_fifo, "which is a FIFO, not a regular file");
    CHECK(type_of(fifo) == S_IFIFO);
    CHECK(type_of(to_fifo) == S_IFLNK);

    const std::string loop = dir.file("loop");
    fs::create_symlink("loop", loop);
    check_refused(write, loop, std::strerror(ELOOP));
    CHECK(type_of(loop) == S_IFLNK);
    CHECK(entries(dir.path) == 4);
  }
}

TEST_CASE("a save removes the stale temporary files of earlier saves of the same file only") {
  for (const auto& [name, write] : writers()) {
    INFO("writer: ", name);
    TempDir dir;
    const auto old = fs::file_time_type::clock::now() - std::chrono::hours(2);
    auto make = [&](const std::string& file, bool stale) {
      ctnn_test::write_all(dir.file(file), std::string("partial"));
      if (stale) fs::last_write_time(dir.path / file, old);
    };
    make("m.tmp-Ab3dE9", true);      // a killed save of m: removed
    make("m.tmp-xY7kQ2", false);     // a save of m that may be going on: kept
    make("m.tmp-Ab3dE", true);       // not a name a save makes: kept
    make("m.tmp-Ab3dE9.bak", true);  // kept
    make("m.tmp-Ab-dE9", true);      // kept
    make("other.tmp-Ab3dE9", true);  // another file's: kept
    fs::create_symlink("m.tmp-xY7kQ2", dir.path / "m.tmp-Link12");  // not a regular file: kept
    write(dir.file("m"));
    CHECK(!fs::exists(dir.path / "m.tmp-Ab3dE9"));
    for (const char* kept : {"m.tmp-xY7kQ2", "m.tmp-Ab3dE", "m.tmp-Ab3dE9.bak", "m.tmp-Ab-dE9",
                             "other.tmp-Ab3dE9", "m.tmp-Link12"})
      CHECK_MESSAGE(fs::exists(fs::symlink_status(dir.path / kept)), kept);
    CHECK(entries(dir.path) == 7);
  }
}
