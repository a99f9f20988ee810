// libFuzzer target: a Hugging Face tokenizer.json (byte-level BPE or
// SentencePiece-style with byte fallback) on arbitrary bytes. Loading must
// succeed or throw an iglens::Error; a tokenizer that loads must encode a
// fixed text, with and without special tokens, into ids that decode back to
// the text or, behind an NFC normalizer, its NFC form (up to the spaces a
// SentencePiece prefix adds), or refuse it with an iglens::Error.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "iglens/text/tokenizer.hpp"

namespace {

std::string without_spaces(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    const auto tokenizer = iglens::Tokenizer::from_hf_tokenizer_json(input, "tokenizer.json");
    // "e" + U+0301 and "A" + U+030A are composed by NFC.
    const std::string text = "Hello, world! It's 2026 \xC3\xA9t\xC3\xA9 cafe\xCC\x81  A\xCC\x8Ang\n<s>ab</s>";
    const auto spellings = {without_spaces(text), without_spaces(iglens::detail::nfc(text))};
    for (const bool special : {false, true}) {
      const auto decoded = without_spaces(tokenizer.decode(tokenizer.encode(text, {special, false})));
      if (std::find(spellings.begin(), spellings.end(), decoded) == spellings.end()) std::abort();
    }
  } catch (const iglens::Error&) {
    return 0;
  }
  return 0;
}
