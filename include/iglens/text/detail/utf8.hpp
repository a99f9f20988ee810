#pragma once
// Strict UTF-8 decoding and encoding of single code points. Decoding accepts
// exactly the well-formed sequences of the Unicode standard and reports any
// other input as an iglens::Error naming the byte offset where it starts.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "iglens/error.hpp"

namespace iglens::detail {

struct DecodedCodePoint {
  char32_t value;
  std::size_t length;  // bytes taken from the text, 1 to 4
};

// Decodes the sequence starting at `offset` (which must be < text.size()).
inline DecodedCodePoint decode_utf8_at(std::string_view text, std::size_t offset) {
  const auto byte_at = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte_at(offset);
  if (lead < 0x80) return {lead, 1};
  if (lead < 0xC0) {
    fail("invalid UTF-8 at byte offset {}: continuation byte 0x{:02X} without a lead byte", offset, lead);
  }
  if (lead >= 0xF8) fail("invalid UTF-8 at byte offset {}: byte 0x{:02X} never occurs in UTF-8", offset, lead);

  const std::size_t length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  char32_t value = lead & (0x7F >> length);
  for (std::size_t i = 1; i < length; ++i) {
    require(offset + i < text.size(),
            "invalid UTF-8 at byte offset {}: {}-byte sequence cut short by the end of the text", offset, length);
    const unsigned char next = byte_at(offset + i);
    require((next & 0xC0) == 0x80,
            "invalid UTF-8 at byte offset {}: byte {} of a {}-byte sequence is 0x{:02X}, not a "
            "continuation byte",
            offset, i + 1, length, next);
    value = (value << 6) | (next & 0x3F);
  }

  // The shortest encoding is the only valid one, so each length has a floor.
  constexpr char32_t smallest_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
  require(value >= smallest_for_length[length],
          "invalid UTF-8 at byte offset {}: overlong {}-byte encoding of U+{:04X}", offset, length,
          static_cast<std::uint32_t>(value));
  require(value < 0xD800 || value > 0xDFFF,
          "invalid UTF-8 at byte offset {}: encodes the surrogate U+{:04X}, which is not a character", offset,
          static_cast<std::uint32_t>(value));
  require(value <= 0x10FFFF, "invalid UTF-8 at byte offset {}: U+{:X} is beyond U+10FFFF", offset,
          static_cast<std::uint32_t>(value));
  return {value, length};
}

// Throws, naming the byte offset in `text`, unless text[begin, end) is valid UTF-8.
inline void require_utf8(std::string_view text, std::size_t begin, std::size_t end) {
  for (std::size_t offset = begin; offset < end;) offset += decode_utf8_at(text, offset).length;
}

// Appends the UTF-8 encoding of a valid code point (not a surrogate, <= U+10FFFF).
inline void append_utf8(std::string& out, char32_t cp) {
  const auto put = [&](char32_t byte) { out.push_back(static_cast<char>(byte)); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0 | (cp >> 6));
    put(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    put(0xE0 | (cp >> 12));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  } else {
    put(0xF0 | (cp >> 18));
    put(0x80 | ((cp >> 12) & 0x3F));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  }
}

}  // namespace iglens::detail
