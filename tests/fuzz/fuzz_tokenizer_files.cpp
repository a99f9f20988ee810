// libFuzzer target: the tokenizer's file parsers (vocab.json and
// merges.txt) on arbitrary bytes, split at the first NUL byte into the two
// files. Loading must succeed or throw an iglens::Error; a tokenizer that
// loads must round-trip a fixed text or refuse it with an iglens::Error.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "iglens/text/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find('\0');
  const auto vocab_json = input.substr(0, split);
  const auto merges_txt = split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
  try {
    const auto tokenizer = iglens::Tokenizer::from_strings(vocab_json, merges_txt);
    const std::string_view text = "Hello, world! It's 2026 \xC3\xA9t\xC3\xA9  \n";
    if (tokenizer.decode(tokenizer.encode(text)) != text) std::abort();
  } catch (const iglens::Error&) {
    return 0;
  }
  return 0;
}
