#pragma once
// The "smollm" pre-tokenisation of SmolLM2 and other Llama-family models
// (Hugging Face's Sequence[Digits(individual_digits=true), ByteLevel]): every
// number code point (\p{N}) becomes a piece of its own, and GPT-2's regex
// splits each stretch of text between them as if it were a whole text.

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

}  // namespace iglens::detail
