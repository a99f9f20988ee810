// libFuzzer target: SentencePiece vocabularies as GGUF files hold them
// (Tokenizer::from_sentencepiece_list) built from arbitrary bytes, and the
// text they encode. The input is NUL-separated records: the first byte says
// whether a space prefix is added, each middle record is a piece (its first
// byte picks the type, its second the score, the rest is the piece), the
// last is the text. The 256 byte pieces and <unk> are always there, so the
// vocabulary can spell any text. Loading must succeed or throw an
// iglens::Error; encoding must give ids in range, and decoding them must give
// the text back (where no space prefix was added and the text holds no U+2581,
// which SentencePiece reads as a space).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "iglens/text/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool space_prefix = (data[0] & 1) != 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string_view> records;
  for (std::size_t split; (split = input.find('\0')) != std::string_view::npos; input.remove_prefix(split + 1)) {
    records.push_back(input.substr(0, split));
  }
  const std::string_view text = input;
  std::vector<std::string> pieces{"<unk>"};
  std::vector<float> scores{0.0f};
  std::vector<std::int32_t> types{3};  // a control type: the unknown id makes it the unknown piece
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    pieces.emplace_back(name);
    scores.push_back(0.0f);
    types.push_back(6);
  }
  for (const auto record : records) {
    if (record.size() < 3) continue;
    constexpr std::int32_t kinds[] = {1, 1, 1, 4, 3, 5};  // mostly normal pieces
    types.push_back(kinds[static_cast<unsigned char>(record[0]) % 6]);
    scores.push_back(-static_cast<float>(static_cast<unsigned char>(record[1])));
    pieces.emplace_back(record.substr(2));
  }
  try {
    iglens::TokenizerSettings settings;
    const auto tokenizer =
        iglens::Tokenizer::from_sentencepiece_list(pieces, scores, types, 0, space_prefix, settings, "fuzz");
    for (const bool special : {false, true}) {
      const auto ids = tokenizer.encode(text, {special, false});
      for (const auto id : ids) {
        if (id < 0 || id >= tokenizer.vocab_size()) std::abort();
      }
      if (!space_prefix && text.find("\xE2\x96\x81") == std::string_view::npos && tokenizer.decode(ids) != text) {
        std::abort();
      }
    }
  } catch (const iglens::Error&) {
    return 0;
  }
  return 0;
}
