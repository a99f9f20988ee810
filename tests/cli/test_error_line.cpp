// The program's errors: one line each, and out of memory says what to lower.
#include <string>

#include <catch2/catch.hpp>

#include "error_line.hpp"

using namespace iglens::cli;

TEST_CASE("an error is one line, and out of memory names what to lower", "[cli][format]") {
  CHECK(error_line("layer 9 is out of range [0, 4]") == "iglens: error: layer 9 is out of range [0, 4]");
  // LibTorch's CPU allocator, as c10::Error::what() gives it: a message, then a stack trace.
  const std::string libtorch =
      "[enforce fail at alloc_cpu.cpp:75] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
      "allocate 1099511627776 bytes. Error code 12 (Cannot allocate memory)\nframe #0: c10::ThrowEnforceNotMet\n";
  const auto line = error_line(libtorch);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.rfind("iglens: error: out of memory: lower --steps, the number of tokens (--generate or --target), "
                   "or use --dtype float32 ([enforce fail",
                   0) == 0);
  CHECK(error_line("CUDA out of memory. Tried to allocate 2.00 GiB").find("lower --steps") != std::string::npos);
}
