#pragma once
// Decoding the little-endian element types of a safetensors data section.
// Loads are assembled byte by byte: tensor data need not be aligned (the
// header has any length) and the host need not be little-endian.

#include <cstdint>
#include <cstring>

#include "iglens/model_files/detail/half_float.hpp"

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

inline double double_from_bits(std::uint64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace iglens::detail
