#pragma once
// Runs a piece of untrusted work (a chat template found in a model file) in a
// child process with CPU-time, memory and output limits. A Jinja template is a
// program: it can recurse until the stack runs out, loop for hours or build a
// string of gigabytes, and the engine has no limits of its own. In a child,
// each of these ends as an Error that names it, and this process is untouched.
// POSIX (fork, pipes, rlimits).

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <new>
#include <string>
#include <string_view>

#include "iglens/error.hpp"

namespace iglens::detail {

struct IsolationLimits {
  int cpu_seconds = 5;                              // and four times that of wall-clock time
  std::size_t memory_bytes = std::size_t{1} << 30;  // on top of what this process maps already
  std::size_t output_bytes = std::size_t{16} << 20;
};

// AddressSanitizer maps terabytes of shadow memory: an address-space limit
// would stop it, so sanitizer builds run without the memory limit.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSpaceLimit = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kAddressSpaceLimit = false;
#else
inline constexpr bool kAddressSpaceLimit = true;
#endif
#else
inline constexpr bool kAddressSpaceLimit = true;
#endif

inline bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

// The child: limits, the work, then its answer as one status byte ('O' for a
// result, 'E' for an error message) and the text. _exit: no destructors or
// atexit handlers of the parent's objects run twice.
[[noreturn]] inline void run_child(int out_fd, const std::function<std::string()>& work,
                                   const IsolationLimits& limits) {
  // The parent's crash handlers (a test framework's, a sanitizer's) would
  // report the child's crash as their own: a crash here just ends the child.
  for (const int signal : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGXCPU}) std::signal(signal, SIG_DFL);
  const rlimit cpu{static_cast<rlim_t>(limits.cpu_seconds), static_cast<rlim_t>(limits.cpu_seconds)};
  setrlimit(RLIMIT_CPU, &cpu);
  if (kAddressSpaceLimit) {
    long pages = 0;
    if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(statm, "%ld", &pages) != 1) pages = 0;
      std::fclose(statm);
    }
    if (pages > 0) {
      const auto mapped = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE));
      const rlimit memory{mapped + limits.memory_bytes, mapped + limits.memory_bytes};
      setrlimit(RLIMIT_AS, &memory);
    }
  }
  std::string answer;
  try {
    answer = "O" + work();
  } catch (const std::bad_alloc&) {
    answer = "Mneeds more memory than the limit";
  } catch (const std::exception& e) {
    answer = std::string("E") + e.what();
  } catch (...) {
    answer = "Efailed with an unknown exception";
  }
  _exit(write_all(out_fd, answer) ? 0 : 1);
}

// The result of `work()` run in a child process, or an Error that starts with
// `what` and says why there is none.
inline std::string isolated_call(const std::function<std::string()>& work, std::string_view what,
                                 const IsolationLimits& limits = {}) {
  int fds[2];
  require(::pipe(fds) == 0, "{}: cannot create a pipe ({})", what, std::strerror(errno));
  std::fflush(nullptr);  // the child's copies of unwritten output must not be written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    fail("{}: cannot start a child process ({})", what, std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_child(fds[1], work, limits);
  }
  ::close(fds[1]);
  // Read until the child closes its end; stop it at the output or wall-clock limit.
  std::string answer;
  bool too_long = false, too_slow = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4 * limits.cpu_seconds);
  char buffer[65536];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      too_slow = true;
      break;
    }
    pollfd readable{fds[0], POLLIN, 0};
    const int ready = ::poll(&readable, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline is checked above
    const auto got = ::read(fds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(got));
    if (answer.size() > limits.output_bytes + 1) {
      too_long = true;
      break;
    }
  }
  ::close(fds[0]);
  if (too_long || too_slow) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  require(!too_long, "{}: the result is longer than {} MiB", what, limits.output_bytes >> 20);
  require(!too_slow, "{}: took longer than {} s", what, 4 * limits.cpu_seconds);
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    require(signal != SIGXCPU && signal != SIGKILL, "{}: took more than {} s of CPU time", what, limits.cpu_seconds);
    require(signal != SIGSEGV && signal != SIGBUS, "{}: ran out of stack (it nests or recurses too deeply)", what);
    fail("{}: stopped by signal {}", what, signal);
  }
  require(!answer.empty(), "{}: stopped without an answer (exit status {})", what,
          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  require(answer[0] != 'M', "{}: {} ({} MiB)", what, answer.substr(1), limits.memory_bytes >> 20);
  require(answer[0] == 'O', "{}: {}", what, answer.substr(1));
  return answer.substr(1);
}

}  // namespace iglens::detail
