// iglens::Tokenizer on GPT-2's files against the gpt-3-encoder JavaScript
// encoder, string by string.

#include <catch2/catch.hpp>

#include "gpt2_test_data.hpp"

TEST_CASE("the oracle data covers the committed test strings", "[tokenizer][gpt2]") {
  REQUIRE(oracle_cases().size() >= 200);
}

TEST_CASE("encode gives the oracle's ids for every test string", "[tokenizer][gpt2]") {
  for (const OracleCase& oracle : oracle_cases()) {
    INFO("text " << quoted(oracle.text) << " (left: ours, right: the oracle's)");
    CHECK(gpt2_tokenizer().encode(oracle.text) == oracle.ids);
  }
}

TEST_CASE("decode(encode(text)) gives back every test string", "[tokenizer][gpt2]") {
  for (const OracleCase& oracle : oracle_cases()) {
    INFO("text " << quoted(oracle.text));
    CHECK(gpt2_tokenizer().decode(gpt2_tokenizer().encode(oracle.text)) == oracle.text);
  }
}

TEST_CASE("decoding the oracle's ids gives back every test string", "[tokenizer][gpt2]") {
  for (const OracleCase& oracle : oracle_cases()) {
    INFO("text " << quoted(oracle.text));
    CHECK(gpt2_tokenizer().decode(oracle.ids) == oracle.text);
  }
}

TEST_CASE("GPT-2's vocabulary is looked up by key and by id", "[tokenizer][gpt2]") {
  const iglens::Tokenizer& tokenizer = gpt2_tokenizer();
  CHECK(tokenizer.vocab_size() == 50257);
  CHECK(tokenizer.id_of("<|endoftext|>") == 50256);
  CHECK(tokenizer.id_of("\xC4\xA0the") == 262);    // "Ġthe"
  CHECK(tokenizer.id_of(" the") == std::nullopt);  // keys are in the byte-level alphabet
  CHECK(tokenizer.token_text(262) == " the");
  CHECK(tokenizer.token_text(50256) == "<|endoftext|>");
  // Special tokens are not recognised in text unless asked for.
  CHECK(tokenizer.encode("<|endoftext|>") != std::vector<std::int64_t>{50256});
}

TEST_CASE("GPT-2's <|endoftext|> is its BOS, EOS and special token, used only when asked", "[tokenizer][gpt2]") {
  const iglens::Tokenizer& tokenizer = gpt2_tokenizer();
  CHECK(tokenizer.bos_id() == 50256);
  CHECK(tokenizer.eos_id() == 50256);
  CHECK_FALSE(tokenizer.adds_bos());
  CHECK(tokenizer.special_token_ids() == std::vector<std::int64_t>{50256});
  const auto text = tokenizer.encode(" text");
  CHECK(tokenizer.encode(" text", {false, true}) == std::vector<std::int64_t>{50256, text[0]});
  const auto special = tokenizer.encode("a<|endoftext|>b", {true, false});
  CHECK(special == std::vector<std::int64_t>{tokenizer.encode("a")[0], 50256, tokenizer.encode("b")[0]});
}

TEST_CASE("decode returns exact bytes even when ids split a character", "[tokenizer][gpt2]") {
  const iglens::Tokenizer& tokenizer = gpt2_tokenizer();
  const std::vector<std::int64_t> ids = tokenizer.encode("\xF0\x9F\x98\x80");  // U+1F600
  REQUIRE(ids.size() == 2);
  CHECK(tokenizer.decode({ids[0]}) + tokenizer.decode({ids[1]}) == "\xF0\x9F\x98\x80");
  CHECK(tokenizer.token_text(ids[0]) == tokenizer.decode({ids[0]}));
}

TEST_CASE("unknown ids are errors that name the id", "[tokenizer][gpt2]") {
  using Catch::Matchers::Contains;
  const iglens::Tokenizer& tokenizer = gpt2_tokenizer();
  CHECK_THROWS_WITH(tokenizer.decode({15496, 50257}),
                    Contains("token id 50257 at position 1") && Contains("0 to 50256"));
  CHECK_THROWS_WITH(tokenizer.decode({-1}), Contains("token id -1 at position 0"));
  CHECK_THROWS_WITH(tokenizer.token_text(50257), Contains("token id 50257"));
  CHECK_THROWS_AS(tokenizer.token_text(-3), iglens::Error);
}
