// A vocabulary of bare bytes (no merges) maps every byte to its own value,
// small merges lists check the order in which BPE applies merges, and the
// tables that hold a vocabulary and its merges find what was put in.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "byte_level_vocabulary.hpp"
#include "iglens/text/detail/bpe.hpp"
#include "iglens/text/detail/token_index.hpp"
#include "iglens/text/tokenizer.hpp"

namespace {

std::vector<std::int64_t> byte_values(const std::string& bytes) {
  std::vector<std::int64_t> values;
  for (const char byte : bytes) values.push_back(static_cast<unsigned char>(byte));
  return values;
}

// Every byte that occurs in well-formed UTF-8 (all but 0xC0, 0xC1, 0xF5..0xFF).
std::string text_with_every_utf8_byte() {
  std::string text;
  for (int byte = 0; byte < 0x80; ++byte) text += static_cast<char>(byte);
  for (int continuation = 0x80; continuation < 0xC0; ++continuation) {
    text += {'\xC2', static_cast<char>(continuation)};
  }
  for (int lead = 0xC2; lead < 0xE0; ++lead) text += {static_cast<char>(lead), '\x80'};
  for (int lead = 0xE1; lead < 0xF0; ++lead) text += {static_cast<char>(lead), '\x80', '\x80'};
  for (int lead = 0xF1; lead < 0xF5; ++lead) text += {static_cast<char>(lead), '\x80', '\x80', '\x80'};
  return text + "\xE0\xA0\x80\xF0\x90\x80\x80";  // the leads with a raised floor
}

}  // namespace

TEST_CASE("without merges every byte is its own token", "[tokenizer][byte-level]") {
  const std::string vocab = byte_level_vocab().dump();
  for (const std::string merges : {"#version: 0.2", "#version: 0.2\n", ""}) {
    INFO("merges.txt " << merges);
    const auto tokenizer = iglens::Tokenizer::from_strings(vocab, merges);
    CHECK(tokenizer.vocab_size() == 257);
    CHECK(tokenizer.id_of("<|endoftext|>") == 256);
    CHECK(tokenizer.token_text(256) == "<|endoftext|>");

    std::string all_bytes;
    std::vector<std::int64_t> all_ids;
    for (int byte = 0; byte < 256; ++byte) {
      CHECK(tokenizer.token_text(byte) == std::string(1, static_cast<char>(byte)));
      all_bytes += static_cast<char>(byte);
      all_ids.push_back(byte);
    }
    CHECK(tokenizer.decode(all_ids) == all_bytes);

    const std::string text = text_with_every_utf8_byte();
    CHECK(tokenizer.encode(text) == byte_values(text));
    CHECK(tokenizer.encode("<|endoftext|>") == byte_values("<|endoftext|>"));
    CHECK(tokenizer.encode("It's  a\ttest \xE2\x9C\x93\n") == byte_values("It's  a\ttest \xE2\x9C\x93\n"));
  }
}

TEST_CASE("the lowest-ranked merge applies first", "[tokenizer][byte-level]") {
  // ids: a=97, b=98, c=99, "bc"=257, "ab"=258
  const std::string vocab = byte_level_vocab({"bc", "ab"}).dump();
  const auto bc_first = iglens::Tokenizer::from_strings(vocab, "b c\na b\n");
  const auto ab_first = iglens::Tokenizer::from_strings(vocab, "a b\nb c\n");
  CHECK(bc_first.encode("abc") == std::vector<std::int64_t>{97, 257});
  CHECK(ab_first.encode("abc") == std::vector<std::int64_t>{258, 99});
}

TEST_CASE("a merge joins non-overlapping pairs from the left", "[tokenizer][byte-level]") {
  // ids: "aa"=257, "aaa"=258
  const auto tokenizer = iglens::Tokenizer::from_strings(byte_level_vocab({"aa", "aaa"}).dump(), "a a\naa a\n");
  CHECK(tokenizer.encode("aa") == std::vector<std::int64_t>{257});
  CHECK(tokenizer.encode("aaaa") == std::vector<std::int64_t>{257, 257});
  CHECK(tokenizer.encode("aaaaa") == std::vector<std::int64_t>{257, 258});
}

TEST_CASE("all occurrences of a merge apply before the pairs they form", "[tokenizer][byte-level]") {
  // "aa a" ranks above "a a" but can only form after it. GPT-2 merges every
  // "a a" in "aaaa" first, giving "aa aa", rather than going on to "aaa a".
  const auto tokenizer = iglens::Tokenizer::from_strings(byte_level_vocab({"aa", "aaa"}).dump(), "aa a\na a\n");
  CHECK(tokenizer.encode("aaaa") == std::vector<std::int64_t>{257, 257});
  CHECK(tokenizer.encode("aaa") == std::vector<std::int64_t>{258});
}

TEST_CASE("merges never cross pre-tokenisation pieces", "[tokenizer][byte-level]") {
  // ids: "Ġb"=257, "ab"=258; " b" joins as one piece, "a" and " b" do not.
  const auto tokenizer =
      iglens::Tokenizer::from_strings(byte_level_vocab({symbols_of(" b"), "ab"}).dump(), symbols_of(" ") + " b\na b\n");
  CHECK(tokenizer.encode("a b") == std::vector<std::int64_t>{97, 257});
  CHECK(tokenizer.encode("ab") == std::vector<std::int64_t>{258});
  CHECK(tokenizer.encode("a1b") == std::vector<std::int64_t>{97, 49, 98});
}

TEST_CASE("the token and merge tables find every entry after growing, and keep the first of two equal keys",
          "[tokenizer]") {
  iglens::detail::TokenIndex tokens;  // no reserve: grows from empty
  iglens::detail::MergeTable merges;
  const int n = 5000;
  for (int i = 0; i < n; ++i) {
    // Texts that share long prefixes and differ in length, ids out of order.
    const std::string text = std::string(static_cast<std::size_t>(i % 7), 'a') + std::to_string(i);
    CHECK_FALSE(tokens.insert(text, 3 * i + 1).has_value());
    CHECK(merges.insert(i, n + i, {i, 2 * i}) == nullptr);
  }
  CHECK(tokens.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const std::string text = std::string(static_cast<std::size_t>(i % 7), 'a') + std::to_string(i);
    CHECK(tokens.find(text) == 3 * i + 1);
    const auto* rule = merges.find(i, n + i);
    REQUIRE(rule != nullptr);
    CHECK((rule->rank == i && rule->merged_id == 2 * i));
    CHECK(merges.find(n + i, i) == nullptr);  // the pair's order matters
  }
  CHECK_FALSE(tokens.find("a").has_value());
  CHECK_FALSE(tokens.find("").has_value());
  CHECK(tokens.insert("aa2", 99) == 3 * 2 + 1);  // "aa2" is entry 2's text: it stays
  CHECK(tokens.find("aa2") == 7);
  const auto* first = merges.insert(3, n + 3, {77, 78});
  REQUIRE(first != nullptr);
  CHECK((first->rank == 3 && first->merged_id == 6));
  CHECK(iglens::detail::TokenIndex().find("x") == std::nullopt);
  CHECK(iglens::detail::MergeTable().find(0, 0) == nullptr);
}
