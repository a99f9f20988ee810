#pragma once
// Unicode Normalization Form C, as a tokenizer.json's NFC normalizer asks
// (GPT-NeoX-20B's, which Pythia uses): the composition tables come from
// utf8proc rather than from tables of our own.

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <utf8proc.h>

#include "iglens/error.hpp"

namespace iglens::detail {

// The NFC form of valid UTF-8 `text` (NUL bytes included).
inline std::string nfc(std::string_view text) {
  // ASCII is its own NFC form, and most prompts are ASCII.
  bool ascii = true;
  for (const char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);
  utf8proc_uint8_t* normalized = nullptr;
  const auto length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                   &normalized, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(normalized, &std::free);
  require(length >= 0, "cannot normalise the text to NFC: {}", utf8proc_errmsg(length));
  return std::string(reinterpret_cast<const char*>(normalized), static_cast<std::size_t>(length));
}

}  // namespace iglens::detail
