#pragma once
// GPT-2's pre-tokenisation, written out by hand on code points. The original
// splits text with the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and BPE then runs on each piece separately, so merges never cross pieces.

#include <algorithm>
#include <array>
#include <cstddef>
#include <iterator>
#include <string_view>
#include <utility>

#include "iglens/text/detail/unicode_tables.hpp"
#include "iglens/text/detail/utf8.hpp"

namespace iglens::detail {

// The regex sees four disjoint classes: every code point is in exactly one.
enum class CharClass : unsigned char { kLetter, kNumber, kWhiteSpace, kOther };

template <std::size_t N>
bool in_ranges(const CodePointRange (&ranges)[N], char32_t cp) {
  const auto after = std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                                      [](char32_t value, const CodePointRange& range) { return value < range.first; });
  return after != std::begin(ranges) && cp <= std::prev(after)->last;
}

inline CharClass classify(char32_t cp) {
  if (in_ranges(kLetterRanges, cp)) return CharClass::kLetter;
  if (in_ranges(kNumberRanges, cp)) return CharClass::kNumber;
  if (in_ranges(kWhiteSpaceRanges, cp)) return CharClass::kWhiteSpace;
  return CharClass::kOther;
}

// The class of every code point below 0x80, so that ASCII skips the searches.
inline const std::array<CharClass, 128>& ascii_classes() {
  static const std::array<CharClass, 128> classes = [] {
    std::array<CharClass, 128> table{};
    for (char32_t cp = 0; cp < 128; ++cp) table[cp] = classify(cp);
    return table;
  }();
  return classes;
}

// Which code points the regex's "\s" matches, apart from the table above.
// JavaScript's /u regexes (the GPT-2 tests' oracle) count U+FEFF and not
// U+0085; the Unicode White_Space property, used by Python's `regex` (GPT-2's
// own encoder) and by Hugging Face `tokenizers`, counts U+0085 and not U+FEFF.
enum class WhiteSpaceRule : unsigned char { kJavaScript, kUnicode };

// Decodes and classifies code points of one text by byte offset. The splitter
// below decodes the text in order, so invalid UTF-8 is reported at its first
// bad byte.
class ClassifiedText {
 public:
  explicit ClassifiedText(std::string_view text, WhiteSpaceRule white_space = WhiteSpaceRule::kJavaScript)
      : text_(text), white_space_(white_space) {}

  std::size_t size() const { return text_.size(); }
  char byte(std::size_t offset) const { return text_[offset]; }

  // The class of the code point at `offset` (< size()), and where the next starts.
  std::pair<CharClass, std::size_t> at(std::size_t offset) const {
    const DecodedCodePoint decoded = decode_utf8_at(text_, offset);
    return {classify_code_point(decoded.value), offset + decoded.length};
  }

 private:
  CharClass classify_code_point(char32_t cp) const {
    if (cp < 128) return ascii_classes()[cp];
    if (white_space_ == WhiteSpaceRule::kUnicode) {
      // U+0085 is a control and U+FEFF a format character: neither is a letter or number.
      if (cp == 0x85) return CharClass::kWhiteSpace;
      if (cp == 0xFEFF) return CharClass::kOther;
    }
    return classify(cp);
  }

  std::string_view text_;
  WhiteSpaceRule white_space_;
};

// Length in bytes of the contraction ('s 't 're 've 'm 'll 'd) at `offset`,
// or 0 if there is none: lower case only, as in GPT-2, or of any case, as in
// Llama 3's regex. All are ASCII, and ASCII bytes never occur inside a
// multi-byte character.
inline std::size_t contraction_length(const ClassifiedText& text, std::size_t offset, bool any_case = false) {
  const auto byte_is = [&](std::size_t i, char lower) {
    if (offset + i >= text.size()) return false;
    const char c = text.byte(offset + i);
    return c == lower || (any_case && c == lower - ('a' - 'A'));
  };
  if (offset >= text.size() || text.byte(offset) != '\'') return 0;
  if (byte_is(1, 's') || byte_is(1, 't') || byte_is(1, 'm') || byte_is(1, 'd')) return 2;
  if ((byte_is(1, 'r') && byte_is(2, 'e')) || (byte_is(1, 'v') && byte_is(2, 'e')) ||
      (byte_is(1, 'l') && byte_is(2, 'l'))) {
    return 3;
  }
  return 0;
}

// Calls on_piece(std::string_view) for each piece of the bytes [begin, end) of
// `utf8_text`, in order, as if they were the whole text; the pieces are views
// into `utf8_text` and together cover the range exactly. Errors give offsets
// from the start of `utf8_text`.
template <class OnPiece>
void split_gpt2_pretokens(std::string_view utf8_text, std::size_t begin, std::size_t end, WhiteSpaceRule white_space,
                          OnPiece&& on_piece) {
  const ClassifiedText text(utf8_text.substr(0, end), white_space);

  struct Run {
    std::size_t last;  // offset of the run's last code point
    std::size_t end;   // offset just after the run
  };
  // The run of code points of class `char_class` from `offset` onwards, given
  // that the code point at `offset` has that class and ends at `next`.
  const auto run_of = [&](CharClass char_class, std::size_t offset, std::size_t next) {
    Run run{offset, next};
    while (run.end < text.size()) {
      const auto [following_class, following_end] = text.at(run.end);
      if (following_class != char_class) break;
      run = {run.end, following_end};
    }
    return run;
  };

  for (std::size_t start = begin; start < text.size();) {
    const auto [first_class, second] = text.at(start);
    std::size_t stop;
    if (const std::size_t length = contraction_length(text, start); length > 0) {
      stop = start + length;
    } else if (first_class != CharClass::kWhiteSpace) {
      stop = run_of(first_class, start, second).end;
    } else if (text.byte(start) == ' ' && second < text.size() && text.at(second).first != CharClass::kWhiteSpace) {
      // " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+" take one leading space.
      const auto [second_class, third] = text.at(second);
      stop = run_of(second_class, second, third).end;
    } else {
      // "\s+(?!\S)" leaves the last white space of a run for the next piece,
      // where a space joins the word after it; a single white space before a
      // non-space, or a run at the end of the text, matches "\s+" whole.
      const Run run = run_of(CharClass::kWhiteSpace, start, second);
      stop = run.end < text.size() && run.last > start ? run.last : run.end;
    }
    on_piece(utf8_text.substr(start, stop - start));
    start = stop;
  }
}

// The whole text, with the JavaScript oracle's white space.
template <class OnPiece>
void split_gpt2_pretokens(std::string_view utf8_text, OnPiece&& on_piece) {
  split_gpt2_pretokens(utf8_text, 0, utf8_text.size(), WhiteSpaceRule::kJavaScript, std::forward<OnPiece>(on_piece));
}

}  // namespace iglens::detail
