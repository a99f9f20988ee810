// encode() accepts exactly well-formed UTF-8 and names the byte offset of
// anything else.

#include <string>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "gpt2_test_data.hpp"

namespace {

struct InvalidText {
  std::string bytes;
  std::size_t offset;   // where the bad sequence starts
  std::string problem;  // part of the expected message
};

}  // namespace

TEST_CASE("invalid UTF-8 is an error naming the byte offset", "[tokenizer][utf8]") {
  using Catch::Matchers::Contains;
  const InvalidText cases[] = {
      {"\x80", 0, "continuation byte 0x80 without a lead byte"},
      {"ab\xBF", 2, "continuation byte 0xBF without a lead byte"},
      {"\xC3\xA9\xA9", 2, "continuation byte 0xA9 without a lead byte"},
      {"a\xC3", 1, "2-byte sequence cut short"},
      {"\xE2\x82", 0, "3-byte sequence cut short"},
      {"xyz\xF0\x9F\x98", 3, "4-byte sequence cut short"},
      {"\xC3"
       "A",
       0, "byte 2 of a 2-byte sequence is 0x41, not a continuation byte"},
      {"\xE2\x82 ", 0, "byte 3 of a 3-byte sequence is 0x20"},
      {"\xF0\x9F\xC3\xA9", 0, "byte 3 of a 4-byte sequence is 0xC3"},
      {"\xC0\xAF", 0, "overlong 2-byte encoding of U+002F"},
      {"\xC1\xBF", 0, "overlong 2-byte encoding of U+007F"},
      {"\xE0\x80\xAF", 0, "overlong 3-byte encoding of U+002F"},
      {"\xE0\x9F\xBF", 0, "overlong 3-byte encoding of U+07FF"},
      {"\xF0\x82\x82\xAC", 0, "overlong 4-byte encoding of U+20AC"},
      {"\xF0\x8F\xBF\xBF", 0, "overlong 4-byte encoding of U+FFFF"},
      {"ok \xED\xA0\x80", 3, "surrogate U+D800"},
      {"\xED\xBF\xBF", 0, "surrogate U+DFFF"},
      {"\xED\xA0\xBD\xED\xB8\x80", 0, "surrogate U+D83D"},  // CESU-8 style pair
      {"\xF4\x90\x80\x80", 0, "U+110000 is beyond U+10FFFF"},
      {"\xF7\xBF\xBF\xBF", 0, "U+1FFFFF is beyond U+10FFFF"},
      {"\xF8\x88\x80\x80\x80", 0, "byte 0xF8 never occurs in UTF-8"},
      {"caf\xC3\xA9 \xFE", 6, "byte 0xFE never occurs in UTF-8"},
      {"\xFF", 0, "byte 0xFF never occurs in UTF-8"},
  };
  for (const InvalidText& text : cases) {
    INFO("bytes " << quoted(text.bytes));
    CHECK_THROWS_AS(gpt2_tokenizer().encode(text.bytes), iglens::Error);
    CHECK_THROWS_WITH(
        gpt2_tokenizer().encode(text.bytes),
        Contains(fmt::format("invalid UTF-8 at byte offset {}: ", text.offset)) && Contains(text.problem));
  }
}

TEST_CASE("the edges of well-formed UTF-8 are accepted", "[tokenizer][utf8]") {
  const std::string edges[] = {
      std::string("\x00", 1),  // U+0000
      "\x7F",                  // U+007F
      "\xC2\x80",              // U+0080
      "\xDF\xBF",              // U+07FF
      "\xE0\xA0\x80",          // U+0800
      "\xED\x9F\xBF",          // U+D7FF, just below the surrogates
      "\xEE\x80\x80",          // U+E000, just above them
      "\xEF\xBF\xBF",          // U+FFFF
      "\xF0\x90\x80\x80",      // U+10000
      "\xF4\x8F\xBF\xBF",      // U+10FFFF
  };
  for (const std::string& text : edges) {
    INFO("bytes " << quoted(text));
    CHECK(gpt2_tokenizer().decode(gpt2_tokenizer().encode(text)) == text);
  }
}
