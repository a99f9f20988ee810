#pragma once
// Small byte-level BPE files for tests: the 256 byte tokens (id = byte value),
// "<|endoftext|>" = 256, then any extra tokens. The byte-to-symbol table is
// written here again, independently of the library's, from GPT-2's definition.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes keep their code point,
// the rest take U+0100 onwards in byte order. All are below U+0800, so their
// UTF-8 is one or two bytes.
inline std::vector<std::string> gpt2_byte_symbols() {
  std::vector<std::string> symbols;
  int next_substitute = 256;
  for (int byte = 0; byte < 256; ++byte) {
    const bool printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || byte >= 174;
    const int code_point = printable ? byte : next_substitute++;
    if (code_point < 0x80) {
      symbols.push_back(std::string(1, static_cast<char>(code_point)));
    } else {
      symbols.push_back({static_cast<char>(0xC0 | (code_point >> 6)), static_cast<char>(0x80 | (code_point & 0x3F))});
    }
  }
  return symbols;
}

// Token strings in the byte-level alphabet, e.g. symbols_of(" a") == "Ġa".
inline std::string symbols_of(const std::string& bytes) {
  static const std::vector<std::string> symbols = gpt2_byte_symbols();
  std::string text;
  for (const char byte : bytes) text += symbols[static_cast<unsigned char>(byte)];
  return text;
}

inline nlohmann::json byte_level_vocab(const std::vector<std::string>& extra_tokens = {}) {
  nlohmann::json vocab = nlohmann::json::object();
  const std::vector<std::string> symbols = gpt2_byte_symbols();
  for (int byte = 0; byte < 256; ++byte) vocab[symbols[byte]] = byte;
  vocab["<|endoftext|>"] = 256;
  for (const std::string& token : extra_tokens) vocab[token] = vocab.size();
  return vocab;
}
