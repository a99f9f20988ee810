#pragma once
// GPT-2's byte-level alphabet (bytes_to_unicode in the original encoder): every
// byte is shown as one printable code point so that BPE tokens are printable
// strings. Bytes that are printable Latin-1 characters ('!'..'~', U+00A1..U+00AC,
// U+00AE..U+00FF) stand for themselves; the other 68 bytes take U+0100, U+0101,
// ... in increasing byte order.

#include <array>
#include <cstdint>
#include <optional>

namespace iglens::detail {

inline constexpr bool is_printable_latin1(unsigned byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE);
}

inline constexpr std::array<char32_t, 256> make_byte_to_symbol() {
  std::array<char32_t, 256> symbols{};
  char32_t next_substitute = 0x100;
  for (unsigned byte = 0; byte < 256; ++byte) {
    symbols[byte] = is_printable_latin1(byte) ? byte : next_substitute++;
  }
  return symbols;
}

inline constexpr std::array<char32_t, 256> kByteToSymbol = make_byte_to_symbol();

// The largest symbol is U+0143 (256 + 68 - 1).
inline constexpr char32_t kSymbolLimit = 0x100 + 68;

inline constexpr std::array<std::int16_t, kSymbolLimit> make_symbol_to_byte() {
  std::array<std::int16_t, kSymbolLimit> bytes{};
  for (auto& byte : bytes) byte = -1;
  for (unsigned byte = 0; byte < 256; ++byte) bytes[kByteToSymbol[byte]] = static_cast<std::int16_t>(byte);
  return bytes;
}

inline constexpr std::array<std::int16_t, kSymbolLimit> kSymbolToByte = make_symbol_to_byte();

// The byte a symbol stands for, or nothing if the code point is not a symbol.
inline std::optional<unsigned char> byte_of_symbol(char32_t symbol) {
  if (symbol >= kSymbolLimit || kSymbolToByte[symbol] < 0) return std::nullopt;
  return static_cast<unsigned char>(kSymbolToByte[symbol]);
}

}  // namespace iglens::detail
