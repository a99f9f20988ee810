// iglens::Tokenizer on Gemma 3's real SentencePiece vocabulary (262,144
// pieces, from the Gemma 3 270M GGUF file) against llama.cpp's own
// tokenizer, string by string, control tokens recognised. Needs the
// reference data of write_gemma3_reference.py, hence the hidden tag.

#include <cstdio>
#include <fstream>
#include <optional>
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

namespace {

// A small SentencePiece vocabulary: <unk>, the 256 byte pieces, then `extra` (normal pieces, scores falling).
struct SmallVocabulary {
  std::vector<std::string> pieces{"<unk>"};
  std::vector<float> scores{0.0f};
  std::vector<std::int32_t> types{2};

  explicit SmallVocabulary(const std::vector<std::string>& extra) {
    for (int byte = 0; byte < 256; ++byte) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", byte);
      add(name, 0.0f, 6);
    }
    float score = -1.0f;
    for (const auto& piece : extra) add(piece, score--, 1);
  }
  void add(const std::string& piece, float score, std::int32_t type) {
    pieces.push_back(piece);
    scores.push_back(score);
    types.push_back(type);
  }
  iglens::Tokenizer load(bool space_prefix = false) const {
    return iglens::Tokenizer::from_sentencepiece_list(pieces, scores, types, std::nullopt, space_prefix, {}, "test");
  }
};

}  // namespace

TEST_CASE("SentencePiece BPE: the highest-scoring merge first, bytes for what no piece spells", "[tokenizer]") {
  // "ab" outscores "bc": "abc" is ab + c; with "bc" first it would be a + bc.
  SmallVocabulary vocabulary({"\xE2\x96\x81", "a", "b", "c", "ab", "bc",
                              "\xE2\x96\x81"
                              "ab"});
  const auto tokenizer = vocabulary.load();
  const auto id = [&](const char* piece) { return *tokenizer.id_of(piece); };
  CHECK(tokenizer.encode("abc") == std::vector<std::int64_t>{id("ab"), id("c")});
  CHECK(tokenizer.encode(" abc") == std::vector<std::int64_t>{id("\xE2\x96\x81"
                                                                 "ab"),
                                                              id("c")});
  // "é" has no piece: its two bytes.
  CHECK(tokenizer.encode("\xC3\xA9") == std::vector<std::int64_t>{id("<0xC3>"), id("<0xA9>")});
  CHECK(tokenizer.decode(tokenizer.encode(" abc \xC3\xA9")) == " abc \xC3\xA9");
  // A space prefix (Llama 2's files) is a U+2581 before the text; text that continues earlier text (a
  // teacher-forced target) gets none: " ab" after a prompt is "▁ab", as within "prompt ab".
  const auto prefixing = vocabulary.load(true);
  CHECK(prefixing.encode("ab") == std::vector<std::int64_t>{id("\xE2\x96\x81"
                                                               "ab")});
  CHECK(prefixing.encode(" ab") == std::vector<std::int64_t>{id("\xE2\x96\x81"), id("\xE2\x96\x81"
                                                                                    "ab")});
  iglens::EncodeOptions continuation;
  continuation.continuation = true;
  CHECK(prefixing.encode(" ab", continuation) == std::vector<std::int64_t>{id("\xE2\x96\x81"
                                                                              "ab")});
  CHECK(prefixing.encode("ab", continuation) == std::vector<std::int64_t>{id("ab")});
}

TEST_CASE("SentencePiece vocabularies: bad inputs are one-line errors", "[tokenizer]") {
  SmallVocabulary no_bytes({"a"});
  no_bytes.pieces.erase(no_bytes.pieces.begin() + 1 + 0x41);  // <0x41>
  no_bytes.scores.erase(no_bytes.scores.begin() + 1 + 0x41);
  no_bytes.types.erase(no_bytes.types.begin() + 1 + 0x41);
  CHECK_THROWS_WITH(no_bytes.load(), Contains("has no byte token <0x41>"));
  SmallVocabulary no_unknown({"a"});
  no_unknown.types[0] = 3;
  CHECK_THROWS_WITH(no_unknown.load(), Contains("needs one unknown token, found 0"));
  SmallVocabulary bad_byte({"a"});
  bad_byte.pieces[1] = "<0xZZ>";
  CHECK_THROWS_WITH(bad_byte.load(), Contains("byte token 1 is \"<0xZZ>\", not <0xXX>"));
  SmallVocabulary twice({"a", "a"});
  CHECK_THROWS_WITH(twice.load(), Contains("are both \"a\""));
  SmallVocabulary short_scores({"a"});
  short_scores.scores.pop_back();
  CHECK_THROWS_WITH(short_scores.load(), Contains("258 pieces, 257 scores and 258 token types"));
}
