#pragma once
// A one-line progress bar on stderr, drawn only when stderr is a terminal so
// that logs and pipes stay clean.

#include <cstdint>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <unistd.h>

namespace iglens::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, std::int64_t total)
      : label_(std::move(label)), total_(total), visible_(::isatty(STDERR_FILENO) == 1 && total > 0) {
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
    fmt::print(stderr, "\r{} [{}{}] {}/{}", label_, std::string(filled, '#'), std::string(width - filled, '.'), done,
               total_);
    std::fflush(stderr);
  }

 private:
  std::string label_;
  std::int64_t total_;
  bool visible_;
};

}  // namespace iglens::cli
