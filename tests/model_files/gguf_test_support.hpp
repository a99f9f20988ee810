#pragma once
// Shared by the GGUF tests: where the fixture files are, reading expected
// float32 files, and comparing dequantized values with them.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

inline std::string fixture_path(const std::string& name) { return std::string(IGLENS_TEST_GGUF_DIR) + "/" + name; }

inline std::vector<float> read_floats(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  REQUIRE(file.good());
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() % sizeof(float) == 0);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

inline std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// Bit for bit, so that NaN payloads, infinities and -0 count too. Reports the
// first mismatch only, to keep a failure readable.
inline void require_same_bits(const float* actual, const std::vector<float>& expected) {
  std::size_t mismatches = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (bits_of(actual[i]) != bits_of(expected[i]) && mismatches++ == 0) first = i;
  }
  INFO("first mismatch at " << first << ": " << actual[first] << " vs " << expected[first]);
  REQUIRE(mismatches == 0);
}

// |actual - expected| <= 1e-6 * max(1, |expected|): gguf-py computes in
// float32 in the same order (d * q, then + m or - d_min), so the values agree
// to the last bit unless a compiler fuses a multiply-add; the tolerance
// leaves room for that one rounding.
inline void require_close(const float* actual, const std::vector<float>& expected) {
  std::size_t mismatches = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double tolerance = 1e-6 * std::max(1.0, std::fabs(static_cast<double>(expected[i])));
    const bool close = std::fabs(static_cast<double>(actual[i]) - expected[i]) <= tolerance;
    if (!close && mismatches++ == 0) first = i;
  }
  INFO("first mismatch at " << first << ": " << actual[first] << " vs " << expected[first]);
  REQUIRE(mismatches == 0);
}
