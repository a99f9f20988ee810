#pragma once
// Well-formed UTF-8 by the Unicode standard's table of byte sequences
// (Table 3-7), written apart from the library's decoder so that the
// fuzzer checks one against the other.

#include <cstddef>
#include <string_view>

namespace fuzz {

inline bool is_well_formed_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char first = byte(i);
    if (first <= 0x7F) {
      ++i;
      continue;
    }
    // Length of the sequence and the allowed range of its second byte.
    std::size_t length = 0;
    unsigned char second_low = 0x80, second_high = 0xBF;
    if (first >= 0xC2 && first <= 0xDF) {
      length = 2;
    } else if (first == 0xE0) {
      length = 3, second_low = 0xA0;
    } else if ((first >= 0xE1 && first <= 0xEC) || first == 0xEE || first == 0xEF) {
      length = 3;
    } else if (first == 0xED) {
      length = 3, second_high = 0x9F;
    } else if (first == 0xF0) {
      length = 4, second_low = 0x90;
    } else if (first >= 0xF1 && first <= 0xF3) {
      length = 4;
    } else if (first == 0xF4) {
      length = 4, second_high = 0x8F;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    if (byte(i + 1) < second_low || byte(i + 1) > second_high) return false;
    for (std::size_t k = 2; k < length; ++k) {
      if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

}  // namespace fuzz
