#pragma once
// Decoding the little-endian element types of a safetensors data section.
// Loads are assembled byte by byte: tensor data need not be aligned (the
// header has any length) and the host need not be little-endian.

#include <cmath>
#include <cstdint>
#include <cstring>

namespace iglens::detail {

inline std::uint16_t load_le16(const unsigned char* bytes) {
  return static_cast<std::uint16_t>(bytes[0] | (bytes[1] << 8));
}

inline std::uint32_t load_le32(const unsigned char* bytes) {
  return std::uint32_t(bytes[0]) | (std::uint32_t(bytes[1]) << 8) | (std::uint32_t(bytes[2]) << 16) |
         (std::uint32_t(bytes[3]) << 24);
}

inline std::uint64_t load_le64(const unsigned char* bytes) {
  return std::uint64_t(load_le32(bytes)) | (std::uint64_t(load_le32(bytes + 4)) << 32);
}

inline float float_from_bits(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline double double_from_bits(std::uint64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// IEEE binary16 to binary32, exact for every input. Inf and NaN keep their
// sign and payload (the payload moves to the top of the wider mantissa), as
// numpy and the F16C instructions do.
inline float half_to_float(std::uint16_t half) {
  const std::uint32_t sign = std::uint32_t(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1Fu;
  const std::uint32_t mantissa = half & 0x3FFu;
  if (exponent == 0x1Fu) return float_from_bits(sign | 0x7F800000u | (mantissa << 13));
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in binary32.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return float_from_bits(sign | bits_of(magnitude));
  }
  return float_from_bits(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

// bfloat16 is the top half of a binary32.
inline float bfloat16_to_float(std::uint16_t bits) { return float_from_bits(std::uint32_t(bits) << 16); }

}  // namespace iglens::detail
