// Output files appear whole or not at all, and unwritable paths are refused
// up front.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "output_file.hpp"

namespace fs = std::filesystem;
using namespace iglens::cli;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

struct ScratchFolder {
  fs::path path = fs::temp_directory_path() / ("iglens-output-test-" + std::to_string(::getpid()));
  ScratchFolder() { fs::create_directories(path); }
  ~ScratchFolder() {
    fs::permissions(path, fs::perms::owner_all);
    fs::remove_all(path);
  }
};

}  // namespace

TEST_CASE("a file is replaced whole and no temporary file stays", "[cli][output]") {
  ScratchFolder folder;
  const auto target = (folder.path / "map.json").string();
  write_file_atomically(target, "old");
  write_file_atomically(target, std::string(1 << 20, 'x'));
  CHECK(read_all(target) == std::string(1 << 20, 'x'));
  CHECK(std::distance(fs::directory_iterator(folder.path), fs::directory_iterator()) == 1);
}

TEST_CASE("paths that cannot be written are refused before any work", "[cli][output]") {
  ScratchFolder folder;
  CHECK_THROWS_WITH(check_writable((folder.path / "missing" / "map.json").string(), "--out"),
                    Catch::Contains("--out") && Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(check_writable(folder.path.string(), "--svg"), Catch::Contains("is a folder"));
  CHECK_THROWS_WITH(check_writable("", "--out"), Catch::Contains("empty"));
  CHECK_NOTHROW(check_writable((folder.path / "new.svg").string(), "--svg"));
  CHECK_NOTHROW(check_writable("relative-name.json", "--out"));
  if (::geteuid() != 0) {  // root may write anywhere
    fs::permissions(folder.path, fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THROWS_WITH(check_writable((folder.path / "map.json").string(), "--out"), Catch::Contains("not writable"));
  }
}

TEST_CASE("a failed write keeps the existing file and leaves no temporary", "[cli][output]") {
  ScratchFolder folder;
  const auto target = folder.path / "map.json";
  write_file_atomically(target.string(), "kept");
  fs::create_directory(folder.path / "blocker");
  // Renaming a file over a folder fails after the contents were written.
  CHECK_THROWS_WITH(write_file_atomically((folder.path / "blocker").string(), "new"),
                    Catch::Contains("cannot write") && Catch::Contains("rename"));
  CHECK(read_all(target) == "kept");
  CHECK(std::distance(fs::directory_iterator(folder.path), fs::directory_iterator()) == 2);
}
