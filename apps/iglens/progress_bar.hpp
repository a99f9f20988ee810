#pragma once
// A one-line progress bar on stderr, with the rate and the time left, drawn
// only when stderr is a terminal so that logs and pipes stay clean.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <unistd.h>

namespace iglens::cli {

class ProgressBar {
 public:
  // `enabled` false draws nothing, for a step inside a larger one that has its own bar.
  ProgressBar(std::string label, std::int64_t total, bool enabled = true)
      : label_(std::move(label)), total_(total), visible_(enabled && ::isatty(STDERR_FILENO) == 1 && total > 0) {
    update(0);
  }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() {
    if (visible_) std::fputs("\r\033[K", stderr);  // leave the line clean for what follows
  }

  void update(std::int64_t done) {
    if (!visible_) return;
    constexpr int width = 30;
    const auto filled = static_cast<int>(width * done / total_);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    std::string pace;
    if (done > 0 && elapsed.count() > 0) {
      const double rate = static_cast<double>(done) / elapsed.count();
      pace = fmt::format("  {:.1f}/s  ETA {:.0f} s", rate, static_cast<double>(total_ - done) / rate);
    }
    fmt::print(stderr, "\r{} [{}{}] {}/{}{}\033[K", label_, std::string(filled, '#'), std::string(width - filled, '.'),
               done, total_, pace);
    std::fflush(stderr);
  }

 private:
  std::string label_;
  std::int64_t total_;
  bool visible_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace iglens::cli
