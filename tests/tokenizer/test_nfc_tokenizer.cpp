// iglens::Tokenizer on a byte-level tokenizer.json with an NFC normalizer
// and non-special added tokens, the shape of GPT-NeoX-20B's (Pythia's),
// against Hugging Face `tokenizers` on the same file: ids with special tokens
// as text and recognised, on 1200+ strings of which hundreds change under
// NFC; and the same strings through a GGUF tokenizer of that shape, as
// llama.cpp's converter writes GPT-NeoX-20B's (pre-tokenizer "olmo",
// user-defined tokens, no NFC), against llama.cpp's own tokenizer. Needs the
// reference data of write_nfc_reference.py and write_olmo_gguf_reference.py,
// hence the hidden tags.

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/models/gguf_tokenizer.hpp"
#include "iglens/text/tokenizer.hpp"

namespace {

std::string read_reference(const std::string& name) {
  std::ifstream file(std::string(IGLENS_TEST_NFC_REFERENCE_DIR) + "/" + name, std::ios::binary);
  INFO(name);
  REQUIRE(file.good());
  std::ostringstream contents;
  contents << file.rdbuf();
  return std::move(contents).str();
}

iglens::Tokenizer nfc_tokenizer() {
  return iglens::Tokenizer::from_hf_tokenizer_json(read_reference("tokenizer.json"), "nfc/tokenizer.json");
}

}  // namespace

TEST_CASE("An NFC byte-level tokenizer.json encodes as `tokenizers` encodes it", "[.nfc]") {
  const auto tokenizer = nfc_tokenizer();
  const auto cases = nlohmann::json::parse(read_reference("nfc_cases.json"));
  REQUIRE(cases.size() >= 1000);
  std::size_t mismatches = 0, normalised = 0;
  for (const auto& entry : cases) {
    const auto text = entry.at("text").get<std::string>();
    const auto nfc = entry.at("nfc").get<std::string>();
    normalised += nfc != text;
    const auto plain = tokenizer.encode(text);
    const auto special = tokenizer.encode(text, {true, false});
    // The ids spell the normalised text, added tokens included, byte for byte.
    const auto decoded = tokenizer.decode(plain);
    if (plain != entry.at("ids").get<std::vector<std::int64_t>>() ||
        special != entry.at("ids_special").get<std::vector<std::int64_t>>() || decoded != nfc) {
      ++mismatches;
      if (mismatches <= 5) {
        INFO(entry.dump());
        CHECK(plain == entry.at("ids").get<std::vector<std::int64_t>>());
        CHECK(special == entry.at("ids_special").get<std::vector<std::int64_t>>());
        CHECK(decoded == nfc);
      }
    }
  }
  CHECK(normalised >= 100);
  CHECK(mismatches == 0);
}

TEST_CASE("NFC: normalized added tokens are found after the normaliser, the others before", "[.nfc]") {
  const auto tokenizer = nfc_tokenizer();
  // "café" (normalized = true) from its decomposed spelling too; "Ång"
  // (normalized = false) only as written; "  " wherever it occurs.
  CHECK(tokenizer.encode("cafe\xCC\x81") == std::vector<std::int64_t>{50258});
  CHECK(tokenizer.encode("caf\xC3\xA9") == std::vector<std::int64_t>{50258});
  CHECK(tokenizer.encode("\xC3\x85ng") == std::vector<std::int64_t>{50259});
  CHECK(tokenizer.encode("A\xCC\x8Ang").size() > 1);
  CHECK(tokenizer.encode("a    b") == std::vector<std::int64_t>{64, 50257, 50257, 65});
  // Invalid UTF-8 is named at its offset in the text as given.
  CHECK_THROWS_WITH(tokenizer.encode("ok \xC3"), Catch::Matchers::Contains("byte offset 3"));
}

TEST_CASE("A GGUF tokenizer with pre-tokenizer olmo encodes as llama.cpp encodes it", "[.olmo_gguf]") {
  const auto tokenizer =
      iglens::gguf_tokenizer(iglens::GgufFile::open(std::string(IGLENS_TEST_NFC_REFERENCE_DIR) + "/olmo.gguf"));
  CHECK(tokenizer.pre_tokenizer() == iglens::PreTokenizer::gpt2);
  const auto cases = nlohmann::json::parse(read_reference("olmo_cases.json"));
  REQUIRE(cases.size() >= 1000);
  std::size_t mismatches = 0;
  for (const auto& entry : cases) {
    const auto text = entry.at("text").get<std::string>();
    const auto plain = tokenizer.encode(text);
    const auto special = tokenizer.encode(text, {true, false});
    // User-defined tokens ("  ") are cut out either way; nothing is normalised.
    if (plain != entry.at("ids").get<std::vector<std::int64_t>>() ||
        special != entry.at("ids_special").get<std::vector<std::int64_t>>() || tokenizer.decode(plain) != text) {
      ++mismatches;
      if (mismatches <= 5) {
        INFO(entry.dump());
        CHECK(plain == entry.at("ids").get<std::vector<std::int64_t>>());
        CHECK(special == entry.at("ids_special").get<std::vector<std::int64_t>>());
        CHECK(tokenizer.decode(plain) == text);
      }
    }
  }
  CHECK(mismatches == 0);
}
