#pragma once
// What the program prints when it stops on an error: one line, whatever the
// message held (LibTorch's carry stack traces), and for out of memory the
// settings that shrink the work.

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace iglens::cli {

inline constexpr std::string_view out_of_memory_advice =
    "out of memory: lower --steps, the number of tokens (--generate or --target), or use --dtype float32";

// LibTorch's CPU allocator says "can't allocate memory", its CUDA one "out of memory".
inline bool is_out_of_memory(std::string_view message) {
  return message.find("can't allocate memory") != std::string_view::npos ||
         message.find("out of memory") != std::string_view::npos;
}

inline std::string error_line(std::string_view message) {
  const auto first_line = message.substr(0, message.find('\n'));
  if (is_out_of_memory(first_line)) return fmt::format("iglens: error: {} ({})", out_of_memory_advice, first_line);
  return fmt::format("iglens: error: {}", first_line);
}

}  // namespace iglens::cli
