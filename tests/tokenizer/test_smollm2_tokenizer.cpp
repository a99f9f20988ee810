// iglens::Tokenizer on SmolLM2-135M's real vocabulary (from its GGUF file)
// against Hugging Face `tokenizers`, string by string, in every setting:
// the "smollm" and "gpt2" pre-tokenizers, special tokens recognised or not,
// built from the token list and from a saved tokenizer.json. Needs the
// reference data of write_smollm2_reference.py, hence the hidden tag.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gpt2_test_data.hpp"
#include "smollm2_test_data.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;

namespace {

constexpr std::int64_t kImStart = 1;  // "<|im_start|>", SmolLM2's BOS
constexpr std::int64_t kImEnd = 2;    // "<|im_end|>", its EOS

const iglens::EncodeOptions kSpecials{/*special_tokens=*/true, /*add_bos=*/false};

// Checks one tokenizer against the reference ids of every case.
template <class Expected>
void check_all_cases(const iglens::Tokenizer& tokenizer, const iglens::EncodeOptions& options, Expected expected) {
  for (const Smollm2Case& reference : smollm2_cases()) {
    INFO("text " << quoted(reference.text) << " (left: ours, right: tokenizers')");
    CHECK(tokenizer.encode(reference.text, options) == expected(reference));
  }
}

}  // namespace

TEST_CASE("the SmolLM2 reference covers enough strings", "[.smollm2]") { REQUIRE(smollm2_cases().size() >= 1000); }

TEST_CASE("the GGUF token list gives SmolLM2's tokenizer", "[.smollm2]") {
  const iglens::Tokenizer& tokenizer = smollm2_tokenizer();
  CHECK(tokenizer.vocab_size() == 49152);
  CHECK(tokenizer.pre_tokenizer() == iglens::PreTokenizer::smollm);
  CHECK(tokenizer.bos_id() == kImStart);
  CHECK(tokenizer.eos_id() == kImEnd);
  CHECK_FALSE(tokenizer.adds_bos());
  std::vector<std::int64_t> control_ids;
  for (std::int64_t id = 0; id < 17; ++id) control_ids.push_back(id);
  CHECK(tokenizer.special_token_ids() == control_ids);
  CHECK(tokenizer.token_text(kImStart) == "<|im_start|>");
  CHECK(tokenizer.decode({kImStart, kImEnd}) == "<|im_start|><|im_end|>");
  CHECK(tokenizer.id_of("<|im_end|>") == kImEnd);
  CHECK(tokenizer.encode("<|im_start|>user", kSpecials).front() == kImStart);
  CHECK(tokenizer.encode("<|im_start|>user").front() != kImStart);
}

TEST_CASE("smollm pre-tokenizer, special tokens as text: tokenizers' ids", "[.smollm2]") {
  check_all_cases(smollm2_tokenizer(), {}, [](const Smollm2Case& c) { return c.smollm; });
}

TEST_CASE("smollm pre-tokenizer, special tokens recognised: tokenizers' ids", "[.smollm2]") {
  check_all_cases(smollm2_tokenizer(), kSpecials, [](const Smollm2Case& c) { return c.smollm_special; });
}

TEST_CASE("gpt2 pre-tokenizer on SmolLM2's vocabulary: tokenizers' ids", "[.smollm2]") {
  check_all_cases(smollm2_gpt2_tokenizer(), {}, [](const Smollm2Case& c) { return c.gpt2; });
  check_all_cases(smollm2_gpt2_tokenizer(), kSpecials, [](const Smollm2Case& c) { return c.gpt2_special; });
}

TEST_CASE("the settings change the ids of some strings", "[.smollm2]") {
  // Otherwise the three comparisons above would test one thing three times.
  std::size_t digits_differ = 0;
  std::size_t specials_differ = 0;
  for (const Smollm2Case& reference : smollm2_cases()) {
    digits_differ += reference.smollm != reference.gpt2;
    specials_differ += reference.smollm != reference.smollm_special;
  }
  CHECK(digits_differ >= 50);
  CHECK(specials_differ >= 100);
}

TEST_CASE("tokenizer.json saved by tokenizers gives the same ids", "[.smollm2]") {
  const iglens::Tokenizer smollm = hf_tokenizer("tokenizer.json");
  const iglens::Tokenizer gpt2 = hf_tokenizer("tokenizer_gpt2.json");
  CHECK(smollm.pre_tokenizer() == iglens::PreTokenizer::smollm);
  CHECK(gpt2.pre_tokenizer() == iglens::PreTokenizer::gpt2);
  CHECK(smollm.vocab_size() == 49152);
  CHECK(smollm.special_token_ids() == smollm2_tokenizer().special_token_ids());
  // A ByteLevel post-processor names no BOS and tokenizer.json names no EOS.
  CHECK(smollm.bos_id() == std::nullopt);
  CHECK(smollm.eos_id() == std::nullopt);
  CHECK_FALSE(smollm.adds_bos());
  check_all_cases(smollm, {}, [](const Smollm2Case& c) { return c.smollm; });
  check_all_cases(smollm, kSpecials, [](const Smollm2Case& c) { return c.smollm_special; });
  check_all_cases(gpt2, {}, [](const Smollm2Case& c) { return c.gpt2; });
  check_all_cases(gpt2, kSpecials, [](const Smollm2Case& c) { return c.gpt2_special; });
}

TEST_CASE("Llama 3's and Qwen2's pre-tokenizers on SmolLM2's vocabulary: tokenizers' ids", "[.smollm2]") {
  // tokenizer.json with Split(regex) + ByteLevel(use_regex=false), Llama 3's with ignore_merges, as
  // those models' tokenizer.json have them; the same settings from a token list, as a GGUF gives them
  // (llama-bpe, qwen2).
  const auto cases = nlohmann::json::parse(read_reference_file("pretokenizer_cases.json"));
  REQUIRE(cases.size() >= 1000);
  const iglens::Tokenizer llama3 = hf_tokenizer("tokenizer_llama3.json");
  const iglens::Tokenizer qwen2 = hf_tokenizer("tokenizer_qwen2.json");
  CHECK(llama3.pre_tokenizer() == iglens::PreTokenizer::llama3);
  CHECK(qwen2.pre_tokenizer() == iglens::PreTokenizer::qwen2);
  const auto& vocabulary = smollm2_vocabulary();
  const auto from_list = [&](const char* pre) {
    iglens::TokenizerSettings settings;
    settings.pre_tokenizer = iglens::parse_pre_tokenizer(pre);
    settings.ignore_merges = settings.pre_tokenizer == iglens::PreTokenizer::llama3;
    return iglens::Tokenizer::from_token_list(vocabulary.tokens, vocabulary.merges, vocabulary.token_types, settings,
                                              pre);
  };
  const auto llama_bpe = from_list("llama-bpe"), qwen2_list = from_list("qwen2");
  std::size_t differ_from_smollm = 0, digits_differ = 0;
  const auto pieces_of = [](const std::string& text, std::size_t digits_per_piece) {
    std::vector<std::string> pieces;
    iglens::detail::split_llama3_pretokens(text, 0, text.size(), digits_per_piece,
                                           [&](std::string_view piece) { pieces.emplace_back(piece); });
    return pieces;
  };
  for (const auto& c : cases) {
    const auto text = c.at("text").get<std::string>();
    const auto llama3_pieces = c.at("llama3_pieces").get<std::vector<std::string>>();
    const auto qwen2_pieces = c.at("qwen2_pieces").get<std::vector<std::string>>();
    const auto expected_llama3 = c.at("llama3").get<std::vector<std::int64_t>>();
    const auto expected_qwen2 = c.at("qwen2").get<std::vector<std::int64_t>>();
    INFO("text " << quoted(text) << " (left: ours, right: tokenizers')");
    // Special tokens are text here: the regex sees the whole string, as tokenizers' Split alone does.
    CHECK(pieces_of(text, 3) == llama3_pieces);
    CHECK(pieces_of(text, 1) == qwen2_pieces);
    CHECK(llama3.encode(text) == expected_llama3);
    CHECK(llama_bpe.encode(text) == expected_llama3);
    CHECK(qwen2.encode(text) == expected_qwen2);
    CHECK(qwen2_list.encode(text) == expected_qwen2);
    differ_from_smollm += expected_llama3 != smollm2_tokenizer().encode(text);
    digits_differ += llama3_pieces != qwen2_pieces;
  }
  // Otherwise these would test the smollm rules again, or one regex twice (SmolLM2's vocabulary has no
  // token of two digits, so the two differ in pieces only).
  CHECK(differ_from_smollm >= 100);
  CHECK(digits_differ >= 50);
}

TEST_CASE("tokenizer.json merges may be written \"left right\" as well as pairs", "[.smollm2]") {
  auto json = nlohmann::json::parse(read_reference_file("tokenizer.json"));
  auto& merges = json.at("model").at("merges");
  REQUIRE(merges.at(0).is_array());  // what tokenizers 0.20 writes
  for (auto& merge : merges) merge = merge[0].get<std::string>() + " " + merge[1].get<std::string>();
  const auto tokenizer = iglens::Tokenizer::from_hf_tokenizer_json(json.dump(), "string merges");
  check_all_cases(tokenizer, kSpecials, [](const Smollm2Case& c) { return c.smollm_special; });
}

TEST_CASE("decode(encode(text)) gives back every SmolLM2 test string", "[.smollm2]") {
  for (const Smollm2Case& reference : smollm2_cases()) {
    INFO("text " << quoted(reference.text));
    for (const iglens::Tokenizer* tokenizer : {&smollm2_tokenizer(), &smollm2_gpt2_tokenizer()}) {
      CHECK(tokenizer->decode(tokenizer->encode(reference.text)) == reference.text);
      CHECK(tokenizer->decode(tokenizer->encode(reference.text, kSpecials)) == reference.text);
    }
  }
}

TEST_CASE("BOS is put first only when asked", "[.smollm2]") {
  const iglens::Tokenizer& tokenizer = smollm2_tokenizer();
  const iglens::EncodeOptions with_bos{/*special_tokens=*/true, /*add_bos=*/true};
  // tokenizer_bos.json's TemplateProcessing puts <|im_start|> first, as the
  // reference did when it checked its own ids.
  const iglens::Tokenizer templated = hf_tokenizer("tokenizer_bos.json");
  CHECK(templated.bos_id() == kImStart);
  CHECK(templated.adds_bos());
  for (const Smollm2Case& reference : smollm2_cases()) {
    INFO("text " << quoted(reference.text));
    std::vector<std::int64_t> expected{kImStart};
    expected.insert(expected.end(), reference.smollm_special.begin(), reference.smollm_special.end());
    CHECK(tokenizer.encode(reference.text, with_bos) == expected);
    CHECK(templated.encode(reference.text, with_bos) == expected);
    CHECK(templated.encode(reference.text, kSpecials) == reference.smollm_special);
  }
}

TEST_CASE("bad SmolLM2 tokenizer inputs are errors that name the problem", "[.smollm2]") {
  const Smollm2Vocabulary& vocabulary = smollm2_vocabulary();
  const auto build = [&](std::vector<std::string> merges, std::vector<std::int32_t> types,
                         iglens::TokenizerSettings settings) {
    return iglens::Tokenizer::from_token_list(vocabulary.tokens, std::move(merges), std::move(types), settings,
                                              "SmolLM2 GGUF");
  };

  SECTION("a merge naming an unknown token, by its rank") {
    auto merges = vocabulary.merges;
    merges.push_back("\xC4\xA0t zzzz-not-a-token");
    CHECK_THROWS_WITH(build(merges, vocabulary.token_types, vocabulary.settings),
                      Contains("merge 48900") && Contains("\"zzzz-not-a-token\" is not in the vocabulary"));
  }
  SECTION("a token type list of the wrong length") {
    auto types = vocabulary.token_types;
    types.pop_back();
    CHECK_THROWS_WITH(build(vocabulary.merges, types, vocabulary.settings),
                      Contains("token type list has 49151 entries for 49152 tokens"));
  }
  SECTION("add_bos without a BOS id") {
    iglens::TokenizerSettings settings = vocabulary.settings;
    settings.bos_id.reset();
    settings.add_bos = true;
    CHECK_THROWS_WITH(build(vocabulary.merges, vocabulary.token_types, settings),
                      Contains("adds BOS to prompts but names no BOS id"));
    settings.add_bos = false;
    const iglens::Tokenizer without_bos = build(vocabulary.merges, vocabulary.token_types, settings);
    CHECK_THROWS_WITH(without_bos.encode("Hi", {false, true}), Contains("has no BOS token"));
  }
  SECTION("a BOS id outside the vocabulary") {
    iglens::TokenizerSettings settings = vocabulary.settings;
    settings.bos_id = 49152;
    CHECK_THROWS_WITH(build(vocabulary.merges, vocabulary.token_types, settings),
                      Contains("BOS id 49152 is out of range"));
  }
  SECTION("special tokens are not byte-level strings when they are not special") {
    // Without types every token must be byte-level; SmolLM2's specials are
    // ASCII, so they still load, as ordinary tokens that text never matches.
    const iglens::Tokenizer plain = build(vocabulary.merges, {}, vocabulary.settings);
    CHECK(plain.special_token_ids().empty());
    CHECK(plain.encode("<|im_end|>", kSpecials).size() > 1);
    auto tokens = vocabulary.tokens;
    tokens[3] = "<｜special｜>";  // full-width bars are not byte-level symbols
    CHECK_NOTHROW(iglens::Tokenizer::from_token_list(tokens, vocabulary.merges, vocabulary.token_types,
                                                     vocabulary.settings, "SmolLM2 GGUF"));
    CHECK_THROWS_WITH(
        iglens::Tokenizer::from_token_list(tokens, vocabulary.merges, {}, vocabulary.settings, "SmolLM2 GGUF"),
        Contains("token \"<｜special｜>\" (id 3) contains U+FF5C"));
  }
}

TEST_CASE("text bytes that SmolLM2 has no token for are errors, not dropped", "[.smollm2]") {
  // tokenizers drops them silently: "a\x04b" would decode as "ab".
  const iglens::Tokenizer& tokenizer = smollm2_tokenizer();
  CHECK_THROWS_WITH(tokenizer.encode("a\x04"
                                     "b"),
                    Contains("byte 0x04 at byte offset 1 of the text has no token"));
  CHECK_THROWS_WITH(tokenizer.encode("<|im_end|>x\x1D", kSpecials), Contains("byte 0x1D at byte offset 11"));
  CHECK(tokenizer.decode(tokenizer.encode("a\x05"
                                          "b")) ==
        "a\x05"
        "b");
}

TEST_CASE("a special token that is not a byte-level string decodes to its text", "[.smollm2]") {
  const Smollm2Vocabulary& vocabulary = smollm2_vocabulary();
  auto tokens = vocabulary.tokens;
  tokens[3] = "<｜special｜>";
  const auto tokenizer = iglens::Tokenizer::from_token_list(tokens, vocabulary.merges, vocabulary.token_types,
                                                            vocabulary.settings, "SmolLM2 GGUF");
  const std::string text = "a<｜special｜>b";
  const auto ids = tokenizer.encode(text, kSpecials);
  REQUIRE(ids.size() == 3);
  CHECK(ids[1] == 3);
  CHECK(tokenizer.token_text(3) == "<｜special｜>");
  CHECK(tokenizer.decode(ids) == text);
}

TEST_CASE("unsupported pre-tokenizers and models are named in the error", "[tokenizer][smollm]") {
  CHECK(iglens::parse_pre_tokenizer("gpt2") == iglens::PreTokenizer::gpt2);
  CHECK(iglens::parse_pre_tokenizer("smollm") == iglens::PreTokenizer::smollm);
  // GPT-NeoX-20B's tokenizer in GGUF files (Pythia's, OLMo 1's, MPT's): llama.cpp splits it as GPT-2's.
  CHECK(iglens::parse_pre_tokenizer("olmo") == iglens::PreTokenizer::gpt2);
  CHECK(iglens::parse_pre_tokenizer("mpt") == iglens::PreTokenizer::gpt2);
  CHECK_THROWS_WITH(
      iglens::parse_pre_tokenizer("xyz"),
      Equals("tokenizer pre-tokenizer 'xyz' is not supported (supported: gpt2, olmo, mpt, smollm, llama-bpe, qwen2)"));
  CHECK_THROWS_WITH(iglens::Tokenizer::from_hf_tokenizer_json(
                        R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "normalizer": {"type": "NFKC"},
              "pre_tokenizer": {"type": "ByteLevel"}})",
                        "nfkc.json"),
                    Equals("nfkc.json: normalizer NFKC is not supported without model.byte_fallback (supported: NFC)"));
  // `tokenizers` gives an added token its vocabulary entry's id, or the next
  // one: a file that says otherwise would encode two ways.
  CHECK_THROWS_WITH(iglens::Tokenizer::from_hf_tokenizer_json(
                        R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
              "pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": [
                {"id": 2, "content": "x", "special": true}, {"id": 3, "content": "b", "special": false}]})",
                        "ids.json"),
                    Equals("ids.json: added token \"b\" has id 3, but `tokenizers` gives it id 1 (its vocabulary "
                           "entry's, or the next after the vocabulary and the tokens added before it)"));
  CHECK_THROWS_WITH(
      iglens::Tokenizer::from_hf_tokenizer_json(R"({"model": {"type": "WordPiece", "vocab": {}}})", "bert.json"),
      Equals("bert.json: model type 'WordPiece' is not supported (supported: BPE)"));
  CHECK_THROWS_WITH(iglens::Tokenizer::from_hf_tokenizer_json(
                        R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
              "pre_tokenizer": {"type": "Metaspace", "replacement": "_"}})",
                        "llama.json"),
                    Contains("llama.json: pre_tokenizer Metaspace") && Contains("not supported"));
  CHECK_THROWS_WITH(iglens::Tokenizer::from_hf_tokenizer_json(
                        R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
              "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "x"}}, {"type": "ByteLevel"}]}})",
                        "llama3.json"),
                    Contains("pre_tokenizer Sequence[Split, ByteLevel]"));
  CHECK_THROWS_WITH(iglens::Tokenizer::from_hf_tokenizer_json("{\"model\": ", "cut.json"),
                    Contains("cut.json: not valid JSON"));
  CHECK_THROWS_WITH(iglens::Tokenizer::from_hf_tokenizer_json(
                        R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 4000000000}, "merges": []},
              "pre_tokenizer": {"type": "ByteLevel"}})",
                        "gap.json"),
                    Contains("gap.json: token \"b\" has id 4000000000"));
}
