#pragma once
// Output files appear whole or not at all. Each is written under a temporary
// name in its own folder and renamed over the target, which is atomic on one
// file system, so an existing file is either kept or replaced, never cut.
// An interrupt (SIGINT, SIGTERM) removes the temporary file being written and
// exits at once with 128 + the signal number (130 for Ctrl-C).

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iglens/error.hpp"

namespace iglens::cli {
namespace detail {

// The temporary file being written, for the signal handler (async-signal-safe
// access only: a fixed buffer, unlink, write, _exit).
inline char pending_temporary[4096] = {};

inline void remove_pending_and_exit(int signal_number) {
  if (pending_temporary[0] != '\0') ::unlink(pending_temporary);
  constexpr char message[] = "iglens: interrupted\n";
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
  ::_exit(128 + signal_number);
}

inline std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace detail

inline void install_interrupt_handler() {
  std::signal(SIGINT, detail::remove_pending_and_exit);
  std::signal(SIGTERM, detail::remove_pending_and_exit);
}

// Checks before any computation that `path` can be written: its folder exists
// and is writable, and the path is not a folder. `what` names the option.
inline void check_writable(const std::string& path, std::string_view what) {
  iglens::require(!path.empty(), "{}: the output path is empty", what);
  const auto folder = detail::folder_of(path);
  struct stat info {};
  iglens::require(::stat(folder.c_str(), &info) == 0 && S_ISDIR(info.st_mode), "{} '{}': folder '{}' does not exist",
                  what, path, folder);
  iglens::require(::access(folder.c_str(), W_OK) == 0, "{} '{}': folder '{}' is not writable", what, path, folder);
  if (::stat(path.c_str(), &info) == 0) {
    iglens::require(!S_ISDIR(info.st_mode), "{} '{}' is a folder, not a file", what, path);
    iglens::require(::access(path.c_str(), W_OK) == 0, "{} '{}' exists and is not writable", what, path);
  }
}

inline void write_file_atomically(const std::string& path, std::string_view contents) {
  const std::string temporary = path + ".iglens-" + std::to_string(::getpid()) + ".tmp";
  iglens::require(temporary.size() < sizeof detail::pending_temporary, "output path '{}' is too long", path);
  // Block interrupts while the handler's buffer changes, so it never sees half a name.
  sigset_t interrupts, previous;
  sigemptyset(&interrupts);
  sigaddset(&interrupts, SIGINT);
  sigaddset(&interrupts, SIGTERM);
  auto set_pending = [&](const char* name) {
    sigprocmask(SIG_BLOCK, &interrupts, &previous);
    std::strcpy(detail::pending_temporary, name);
    sigprocmask(SIG_SETMASK, &previous, nullptr);
  };
  auto fail = [&](const char* step) {
    const int error = errno;
    ::unlink(temporary.c_str());
    set_pending("");
    iglens::fail("cannot write '{}' ({} failed: {})", path, step, std::strerror(error));
  };
  set_pending(temporary.c_str());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("creating a temporary file");
  for (std::size_t done = 0; done < contents.size();) {
    const auto n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("fsync");
  }
  if (::close(fd) != 0) fail("close");
  if (std::rename(temporary.c_str(), path.c_str()) != 0) fail("rename");
  set_pending("");
}

}  // namespace iglens::cli
