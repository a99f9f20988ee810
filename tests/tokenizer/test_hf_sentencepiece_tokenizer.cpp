// iglens::Tokenizer on Hugging Face tokenizer.json files of SentencePiece-style
// BPE with byte fallback, as transformers' own converters write them for
// Llama 2 (legacy and not), Mistral and Gemma folders, against Hugging Face
// `tokenizers` on the same files: ids with special tokens as text, with them
// recognised, with the post-processor's BOS, and the decoded text. Needs the
// reference data of write_sentencepiece_reference.py, hence the hidden tag.

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/text/tokenizer.hpp"

namespace {

std::string reference_path(const std::string& name) {
  return std::string(IGLENS_TEST_SENTENCEPIECE_REFERENCE_DIR) + "/" + name;
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  REQUIRE(file.good());
  std::ostringstream contents;
  contents << file.rdbuf();
  return std::move(contents).str();
}

const nlohmann::json& cases() {
  static const nlohmann::json all = nlohmann::json::parse(read_file(reference_path("sentencepiece_cases.json")));
  return all;
}

iglens::Tokenizer folder_tokenizer(const std::string& folder) {
  return iglens::Tokenizer::from_hf_tokenizer_json(read_file(reference_path(folder + "/tokenizer.json")), folder);
}

// `tokenizers`' decoders end with Strip(" ", 1) where the text gets a space put first.
std::string strip_one_space(std::string text) {
  if (!text.empty() && text.front() == ' ') text.erase(0, 1);
  return text;
}

std::string spaces_for_markers(const std::string& text) {
  std::string spaced;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
      spaced.push_back(' ');
      i += 2;
    } else {
      spaced.push_back(text[i]);
    }
  }
  return spaced;
}

}  // namespace

TEST_CASE("SentencePiece-style tokenizer.json files encode as `tokenizers` encodes them", "[.hf_sentencepiece]") {
  const std::string folder = GENERATE("llama_legacy", "llama", "gemma", "metaspace_split");
  const bool strips_space = folder != "gemma";
  const auto tokenizer = folder_tokenizer(folder);
  CHECK(tokenizer.pre_tokenizer() == iglens::PreTokenizer::sentencepiece);
  CHECK(tokenizer.adds_bos());
  const auto& folder_cases = cases().at(folder);
  REQUIRE(folder_cases.size() >= 1000);
  std::size_t mismatches = 0;
  for (const auto& entry : folder_cases) {
    const auto text = entry.at("text").get<std::string>();
    const auto plain = tokenizer.encode(text);
    const auto special = tokenizer.encode(text, {true, false});
    const auto with_bos = tokenizer.encode(text, {true, true});
    const bool same = plain == entry.at("ids").get<std::vector<std::int64_t>>() &&
                      special == entry.at("ids_special").get<std::vector<std::int64_t>>() &&
                      with_bos == entry.at("ids_bos").get<std::vector<std::int64_t>>();
    const auto decoded = tokenizer.decode(plain);
    const bool decodes = (strips_space ? strip_one_space(decoded) : decoded) == entry.at("decoded").get<std::string>();
    if (!same || !decodes) {
      ++mismatches;
      if (mismatches <= 5) {
        INFO(folder << ": " << entry.dump());
        CHECK(plain == entry.at("ids").get<std::vector<std::int64_t>>());
        CHECK(special == entry.at("ids_special").get<std::vector<std::int64_t>>());
        CHECK(with_bos == entry.at("ids_bos").get<std::vector<std::int64_t>>());
        CHECK(decoded == entry.at("decoded").get<std::string>());
      }
    }
    // Without a space put first, nothing is added or lost (a "\u2581" in
    // the text is a space to SentencePiece, and comes back as one).
    if (!strips_space) CHECK(decoded == spaces_for_markers(text));
  }
  CHECK(mismatches == 0);
}

TEST_CASE("A SentencePiece-style tokenizer.json spells unknown characters in bytes", "[.hf_sentencepiece]") {
  const auto tokenizer = folder_tokenizer("gemma");
  // U+1F917 is in no training text: four byte pieces, decoded back to the character.
  const auto ids = tokenizer.encode("\xF0\x9F\xA4\x97");
  REQUIRE(ids.size() == 4);
  CHECK(tokenizer.token_text(ids[0]) == "\xF0");
  CHECK(tokenizer.decode(ids) == "\xF0\x9F\xA4\x97");
  // User-defined pieces are whole in any text; special ones only where asked.
  CHECK(tokenizer.encode("\n\n").size() == 1);
  CHECK(tokenizer.encode("<start_of_turn>", {true, false}).size() == 1);
  CHECK(tokenizer.encode("<start_of_turn>").size() > 1);
}

namespace {

// A small SentencePiece-style tokenizer.json: a byte piece for every byte, the
// pieces "▁", "a", "b", "ab", "▁ab" and the merges that form the last two.
nlohmann::json small_sentencepiece_json() {
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}};
  for (int byte = 0; byte < 256; ++byte) vocab[fmt::format("<0x{:02X}>", byte)] = 2 + byte;
  const std::string marker = "\xE2\x96\x81";
  vocab[marker] = 258;
  vocab["a"] = 259;
  vocab["b"] = 260;
  vocab["ab"] = 261;
  vocab[marker + "ab"] = 262;
  return {{"model",
           {{"type", "BPE"},
            {"byte_fallback", true},
            {"unk_token", "<unk>"},
            {"vocab", vocab},
            {"merges", {"a b", marker + " ab"}}}},
          {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", marker}}},
          {"added_tokens",
           {{{"id", 0}, {"content", "<unk>"}, {"special", true}, {"normalized", false}},
            {{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}}}}};
}

iglens::Tokenizer from_json(const nlohmann::json& json) {
  return iglens::Tokenizer::from_hf_tokenizer_json(json.dump(), "tokenizer.json");
}

}  // namespace

TEST_CASE("SentencePiece-style tokenizer.json: listed merges by rank, bytes for the rest", "[tokenizer]") {
  auto json = small_sentencepiece_json();
  const auto tokenizer = from_json(json);
  CHECK(tokenizer.encode(" ab") == std::vector<std::int64_t>{262});
  // "c" has no piece: its byte; no merge lists "▁ a", so "▁" stays alone.
  CHECK(tokenizer.encode(" abc") == std::vector<std::int64_t>{262, 2 + 'c'});
  CHECK(tokenizer.encode(" a") == std::vector<std::int64_t>{258, 259});
  CHECK(tokenizer.decode({262, 2 + 'c'}) == " abc");
  // An ASCII character's own piece may stand in for its byte piece (Gemma's converter writes "\t" for <0x09>).
  auto tab = json;
  tab["model"]["vocab"].erase("<0x09>");
  tab["model"]["vocab"]["\t"] = 2 + 9;
  CHECK(from_json(tab).encode("\t") == std::vector<std::int64_t>{2 + 9});
  // The Prepend normalizer puts "▁" first in every stretch between special tokens.
  json["normalizer"] = {{"type", "Sequence"},
                        {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}}, json["normalizer"]}}};
  const auto prepending = from_json(json);
  CHECK(prepending.encode("ab<s>ab", {true, false}) == std::vector<std::int64_t>{262, 1, 262});
  // A continuation of earlier text gets no "▁" at its start; after a special token it does.
  CHECK(prepending.encode("ab<s>ab", {true, false, true}) == std::vector<std::int64_t>{261, 1, 262});
  // Metaspace's "first" scheme only at the start of the text.
  json.erase("normalizer");
  json["pre_tokenizer"] = {
      {"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", false}};
  const auto first = from_json(json);
  CHECK(first.encode("ab<s>ab", {true, false}) == std::vector<std::int64_t>{262, 1, 261});
  CHECK(first.encode("ab<s>ab", {true, false, true}) == std::vector<std::int64_t>{261, 1, 261});
}

TEST_CASE("SentencePiece-style tokenizer.json: bad inputs are one-line errors", "[tokenizer]") {
  using Catch::Matchers::Contains;
  auto json = small_sentencepiece_json();
  SECTION("a missing byte piece") {
    json["model"]["vocab"].erase("<0xC3>");
    json["model"]["vocab"]["\xC3\xA9"] = 2 + 0xC3;
    CHECK_THROWS_WITH(from_json(json),
                      Contains("tokenizer.json: the SentencePiece vocabulary has no byte token <0xC3>"));
  }
  SECTION("a normalizer that is not the space rule") {
    json["normalizer"] = {{"type", "NFKC"}};
    CHECK_THROWS_WITH(from_json(json), Contains("tokenizer.json: normalizer NFKC is not supported with byte_fallback"));
  }
  SECTION("no rule for spaces at all") {
    json.erase("normalizer");
    CHECK_THROWS_WITH(from_json(json), Contains("this file has neither"));
  }
  SECTION("an unknown Metaspace scheme") {
    json.erase("normalizer");
    json["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "twice"}};
    CHECK_THROWS_WITH(from_json(json), Contains("Metaspace prepend_scheme \"twice\" is not supported"));
  }
  SECTION("an added token matched after normalization") {
    json["added_tokens"].push_back({{"id", 259}, {"content", "a"}, {"special", false}, {"normalized", true}});
    CHECK_THROWS_WITH(from_json(json), Contains("added token \"a\" has normalized = true, which is not supported"));
  }
  SECTION("a merge whose result is no piece") {
    json["model"]["merges"].push_back("b a");
    CHECK_THROWS_WITH(from_json(json), Contains("merge 2 (\"b a\"): the merged token \"ba\" is not in the vocabulary"));
  }
  SECTION("an unsupported decoder") {
    json["decoder"] = {{"type", "WordPiece"}};
    CHECK_THROWS_WITH(from_json(json), Contains("decoder WordPiece is not supported with byte_fallback"));
  }
}
