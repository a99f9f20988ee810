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
// moves to the top of the wider mantissa), as numpy and F16C do. All three
// cases are computed and one is picked by masks, with no branch, so that
// loops over a tensor vectorise (GCC kept the branching version scalar:
// 1.14 ns a value on weight-like halves against 0.44 here, one core).
inline float half_to_float(std::uint16_t half) {
  const std::uint32_t sign = std::uint32_t(half & 0x8000u) << 16;
  const std::uint32_t magnitude = half & 0x7FFFu;
  const std::uint32_t exponent = magnitude >> 10;
  // Normal: the exponent's bias moves from 15 to 127.
  const std::uint32_t normal = (magnitude << 13) + ((127u - 15u) << 23);
  const std::uint32_t inf_nan = (magnitude << 13) | 0x7F800000u;
  // Zero or subnormal: mantissa * 2^-24, exact in binary32 and never subnormal there.
  const std::uint32_t small = bits_of(static_cast<float>(static_cast<std::int32_t>(magnitude)) * 0x1p-24f);
  const std::uint32_t is_inf_nan = 0u - static_cast<std::uint32_t>(exponent == 0x1Fu);
  const std::uint32_t is_small = 0u - static_cast<std::uint32_t>(exponent == 0);
  return float_from_bits(sign | (normal & ~(is_inf_nan | is_small)) | (inf_nan & is_inf_nan) | (small & is_small));
}

// bfloat16 is the top half of a binary32.
inline float bf16_to_float(std::uint16_t bits) { return float_from_bits(std::uint32_t(bits) << 16); }

}  // namespace iglens::detail
