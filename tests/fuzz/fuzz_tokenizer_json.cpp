// libFuzzer target: a Hugging Face tokenizer.json (byte-level BPE or
// SentencePiece-style with byte fallback) on arbitrary bytes. Loading must
// succeed or throw an iglens::Error; a tokenizer that loads must encode a
// fixed text, with and without special tokens, into ids that decode back to
// the text (up to the spaces a SentencePiece prefix adds), or refuse it with
// an iglens::Error.

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
    const std::string_view text = "Hello, world! It's 2026 \xC3\xA9t\xC3\xA9  \n<s>ab</s>";
    for (const bool special : {false, true}) {
      const auto decoded = tokenizer.decode(tokenizer.encode(text, {special, false}));
      if (without_spaces(decoded) != without_spaces(std::string(text))) std::abort();
    }
  } catch (const iglens::Error&) {
    return 0;
  }
  return 0;
}
