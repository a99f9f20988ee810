#pragma once
// The one exception type IG-Lens throws: every bad input or failed check ends
// here, with a message that names the problem.

#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace iglens {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throw an Error with a formatted message; programs built on the library use
// them for their own input checks too.
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
void require(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) fail(format, std::forward<Args>(args)...);
}

}  // namespace iglens
