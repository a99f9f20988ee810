// libFuzzer target: GPT-2's tokenizer on arbitrary bytes. Valid UTF-8 must
// encode to ids in the vocabulary that decode back to exactly the input;
// anything else must be refused with an iglens::Error. Any other exception,
// crash or sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "iglens/text/tokenizer.hpp"
#include "utf8_oracle.hpp"

namespace {

const iglens::Tokenizer& gpt2_tokenizer() {
  static const auto tokenizer = iglens::Tokenizer::from_files(IGLENS_FUZZ_GPT2_VOCAB, IGLENS_FUZZ_GPT2_MERGES);
  return tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto& tokenizer = gpt2_tokenizer();
  if (!fuzz::is_well_formed_utf8(text)) {
    try {
      tokenizer.encode(text);
    } catch (const iglens::Error&) {
      return 0;
    }
    std::abort();  // ill-formed UTF-8 was accepted
  }
  const auto ids = tokenizer.encode(text);
  for (const auto id : ids) {
    if (id < 0 || id >= tokenizer.vocab_size()) std::abort();
  }
  if (tokenizer.decode(ids) != text) std::abort();  // the round trip lost or changed bytes
  return 0;
}
