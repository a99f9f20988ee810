#pragma once
// Calls into user models and LibTorch whose own errors (c10::Error) become
// iglens::Error, naming what was being done, without LibTorch's backtrace.

#include <string>
#include <string_view>

#include <torch/torch.h>

#include "iglens/error.hpp"

namespace iglens::detail {

inline std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The TorchScript interpreter puts its traceback first and the reason last.
inline std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of(" \n");
  if (end == std::string::npos) return text;
  auto begin = text.rfind('\n', end);
  return text.substr(begin == std::string::npos ? 0 : begin + 1,
                     end + 1 - (begin == std::string::npos ? 0 : begin + 1));
}

template <class Call>
auto guarded_call(std::string_view what, Call&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    fail("{} failed: {}", what, first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    fail("{} failed: {}", what, last_line(e.what()));
  }
}

}  // namespace iglens::detail
