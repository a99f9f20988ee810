#pragma once
// The 16-bit float formats that model files store (IEEE binary16 and
// bfloat16), widened to float exactly. GGUF and safetensors share these.

#include <cstdint>
#include <cstring>

namespace iglens::detail {

inline float float_from_bits(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// IEEE binary16 to binary32, exact for every input: subnormal halves become
// normal floats, and Inf and NaN keep their sign and payload (the payload
// moves to the top of the wider mantissa), as numpy and F16C do.
inline float half_to_float(std::uint16_t half) {
  const std::uint32_t sign = std::uint32_t(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1Fu;
  const std::uint32_t mantissa = half & 0x3FFu;
  if (exponent == 0x1Fu) return float_from_bits(sign | 0x7F800000u | (mantissa << 13));
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in binary32.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return float_from_bits(sign | bits_of(magnitude));
  }
  return float_from_bits(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

// bfloat16 is the top half of a binary32.
inline float bf16_to_float(std::uint16_t bits) { return float_from_bits(std::uint32_t(bits) << 16); }

}  // namespace iglens::detail
