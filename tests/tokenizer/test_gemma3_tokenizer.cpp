// iglens::Tokenizer on Gemma 3's real SentencePiece vocabulary (262,144
// pieces, from the Gemma 3 270M GGUF file) against llama.cpp's own
// tokenizer, string by string, control tokens recognised. Needs the
// reference data of write_gemma3_reference.py, hence the hidden tag.

#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/models/gguf_tokenizer.hpp"

using Catch::Matchers::Contains;

namespace {

struct Gemma3Case {
  std::string text;
  std::vector<std::int64_t> ids;
};

const std::vector<Gemma3Case>& gemma3_cases() {
  static const std::vector<Gemma3Case> cases = [] {
    std::ifstream in(std::string(IGLENS_TEST_GEMMA3_REFERENCE_DIR) + "/gemma3_cases.json");
    REQUIRE(in.good());
    std::vector<Gemma3Case> out;
    for (const auto& entry : nlohmann::json::parse(in)) {
      out.push_back({entry.at("text").get<std::string>(), entry.at("ids").get<std::vector<std::int64_t>>()});
    }
    return out;
  }();
  return cases;
}

const iglens::Tokenizer& gemma3_tokenizer() {
  static const iglens::Tokenizer tokenizer = iglens::gguf_tokenizer(iglens::GgufFile::open(IGLENS_TEST_GEMMA3_GGUF));
  return tokenizer;
}

}  // namespace

TEST_CASE("Gemma 3's GGUF gives its SentencePiece tokenizer", "[.gemma3]") {
  const auto& tokenizer = gemma3_tokenizer();
  CHECK(tokenizer.vocab_size() == 262144);
  CHECK(tokenizer.pre_tokenizer() == iglens::PreTokenizer::sentencepiece);
  CHECK((tokenizer.bos_id() == 2 && tokenizer.eos_id() == 1 && tokenizer.adds_bos()));
  // The example, from llama-tokenize.
  CHECK(tokenizer.encode("The capital of France is", {false, true}) ==
        std::vector<std::int64_t>{2, 818, 5279, 529, 7001, 563});
  CHECK(tokenizer.token_text(5279) == " capital");
  CHECK(tokenizer.decode({105, 2364, 107}) == "<start_of_turn>user\n");
  // Control tokens only where asked; user-defined ones ("\n\n") always whole.
  CHECK(tokenizer.encode("<end_of_turn>", {true, false}) == std::vector<std::int64_t>{106});
  CHECK(tokenizer.encode("<end_of_turn>").size() > 1);
  CHECK(tokenizer.encode("\n\n") == std::vector<std::int64_t>{108});
  CHECK_THROWS_WITH(tokenizer.encode("ab\xC3"), Contains("invalid UTF-8 at byte offset 2"));
}

TEST_CASE("Gemma 3's tokenizer gives llama.cpp's ids on 1,000+ strings, and decodes them back", "[.gemma3]") {
  REQUIRE(gemma3_cases().size() >= 1000);
  const auto& tokenizer = gemma3_tokenizer();
  for (const auto& reference : gemma3_cases()) {
    INFO("text " << nlohmann::json(reference.text).dump() << " (left: ours, right: llama.cpp's)");
    const auto ids = tokenizer.encode(reference.text, {true, false});
    CHECK(ids == reference.ids);
    CHECK(tokenizer.decode(ids) == reference.text);
  }
}
