#pragma once
// Pre-tokenisations besides GPT-2's own (gpt2_pretokenizer.hpp):
//  - "smollm", SmolLM2's (Hugging Face's Sequence[Digits(individual_digits=
//    true), ByteLevel]): every number code point (\p{N}) becomes a piece of
//    its own, and GPT-2's regex splits each stretch of text between them as
//    if it were a whole text;
//  - "llama3" (llama.cpp's llama-bpe) and "qwen2": the regex of Llama 3's
//    tiktoken-style tokenizer, Qwen2's differing only in taking numbers one
//    code point at a time instead of up to three (llama3_pretokenizer_regex).

#include <cstddef>
#include <string_view>

#include "iglens/text/detail/gpt2_pretokenizer.hpp"

namespace iglens::detail {

// Calls on_piece(std::string_view) for each piece of the bytes [begin, end) of
// `utf8_text`, in order; errors give offsets from the start of `utf8_text`.
template <class OnPiece>
void split_smollm_pretokens(std::string_view utf8_text, std::size_t begin, std::size_t end, OnPiece&& on_piece) {
  const ClassifiedText text(utf8_text.substr(0, end), WhiteSpaceRule::kUnicode);
  std::size_t stretch_start = begin;  // where the text since the last digit starts
  for (std::size_t offset = begin; offset < end;) {
    const auto [char_class, next] = text.at(offset);
    if (char_class == CharClass::kNumber) {
      if (stretch_start < offset) {
        split_gpt2_pretokens(utf8_text, stretch_start, offset, WhiteSpaceRule::kUnicode, on_piece);
      }
      on_piece(utf8_text.substr(offset, next - offset));
      stretch_start = next;
    }
    offset = next;
  }
  if (stretch_start < end) {
    split_gpt2_pretokens(utf8_text, stretch_start, end, WhiteSpaceRule::kUnicode, on_piece);
  }
}

// The regexes of Hugging Face's Split pre-tokenizer that the splitter below
// implements, as Llama 3's and Qwen2's tokenizer.json write them.
inline constexpr std::string_view llama3_pretokenizer_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view qwen2_pretokenizer_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Calls on_piece(std::string_view) for each piece of the bytes [begin, end)
// of `utf8_text` as Llama 3's regex splits them (Qwen2's with
// `digits_per_piece` 1): the first of its alternatives that matches at a
// position takes the piece. "\s" is Unicode White_Space, as in `tokenizers`.
template <class OnPiece>
void split_llama3_pretokens(std::string_view utf8_text, std::size_t begin, std::size_t end,
                            std::size_t digits_per_piece, OnPiece&& on_piece) {
  const ClassifiedText text(utf8_text.substr(0, end), WhiteSpaceRule::kUnicode);
  const auto is_line_break = [&](std::size_t offset) {
    return offset < text.size() && (text.byte(offset) == '\r' || text.byte(offset) == '\n');
  };
  const auto class_at = [&](std::size_t offset) { return offset < text.size() ? text.at(offset).first : CharClass{}; };
  // Where the run of code points of `char_class` from `offset` (which has it) ends.
  const auto run_end = [&](CharClass char_class, std::size_t offset) {
    while (offset < text.size()) {
      const auto [next_class, next] = text.at(offset);
      if (next_class != char_class) break;
      offset = next;
    }
    return offset;
  };
  for (std::size_t start = begin; start < text.size();) {
    const auto [first_class, second] = text.at(start);
    const bool more = second < text.size();
    std::size_t stop = 0;
    if (const std::size_t length = contraction_length(text, start, /*any_case=*/true); length > 0) {
      stop = start + length;  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    } else if (first_class == CharClass::kLetter) {
      stop = run_end(CharClass::kLetter, second);  // \p{L}+
    } else if (first_class != CharClass::kNumber && !is_line_break(start) && more &&
               class_at(second) == CharClass::kLetter) {
      stop = run_end(CharClass::kLetter, second);  // [^\r\n\p{L}\p{N}]\p{L}+
    } else if (first_class == CharClass::kNumber) {
      stop = second;  // \p{N}{1,3}, or Qwen2's \p{N}
      for (std::size_t count = 1; count < digits_per_piece && stop < text.size(); ++count) {
        const auto [next_class, next] = text.at(stop);
        if (next_class != CharClass::kNumber) break;
        stop = next;
      }
    } else if (first_class == CharClass::kOther ||
               (text.byte(start) == ' ' && more && class_at(second) == CharClass::kOther)) {
      // " ?[^\s\p{L}\p{N}]+[\r\n]*"
      stop = run_end(CharClass::kOther, first_class == CharClass::kOther ? start : second);
      while (is_line_break(stop)) ++stop;
    } else {
      // White space: "\s*[\r\n]+" up to its last line break, else "\s+(?!\S)" (all but the last of a run
      // that a non-space follows), else "\s+".
      const std::size_t run_stop = run_end(CharClass::kWhiteSpace, start);
      std::size_t last_break = 0, last_start = start;
      for (std::size_t offset = start; offset < run_stop;) {
        const auto next = text.at(offset).second;
        if (is_line_break(offset)) last_break = next;
        if (next == run_stop) last_start = offset;
        offset = next;
      }
      if (last_break > 0) {
        stop = last_break;
      } else if (run_stop == text.size() || last_start == start) {
        stop = run_stop;
      } else {
        stop = last_start;
      }
    }
    on_piece(utf8_text.substr(start, stop - start));
    start = stop;
  }
}

}  // namespace iglens::detail
