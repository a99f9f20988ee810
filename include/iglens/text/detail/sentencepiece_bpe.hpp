#pragma once
// SentencePiece's BPE encoding, as llama.cpp applies it to the vocabularies
// of GGUF tokenizer model "llama" (Gemma's, Llama 2's): the text's spaces
// become U+2581, each UTF-8 character starts as a symbol, and the adjacent
// pair whose concatenation is the highest-scoring piece merges first (the
// leftmost among equals) until no pair forms a piece. A symbol that is no
// piece (only an unknown character can be one) is written as its bytes'
// "<0xXX>" pieces.
//
// Debian's libsentencepiece would do this from a serialized model, but it
// exports its own copy of protobuf, whose symbols collide with the
// libprotobuf that LibTorch loads: a program linking both crashes at start.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iglens/text/detail/token_index.hpp"
#include "iglens/text/detail/utf8.hpp"

namespace iglens::detail {

// "▁": how SentencePiece writes a space.
inline constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";

// The byte a "<0xXX>" piece stands for.
inline std::optional<unsigned> byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return std::nullopt;
  unsigned value = 0;
  for (const char c : piece.substr(3, 2)) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return std::nullopt;
    value = value * 16 + static_cast<unsigned>(digit);
  }
  return value;
}

// The text a piece stands for: each U+2581 back to a space.
inline std::string spaces_of_piece(std::string_view piece) {
  std::string text;
  for (std::size_t i = 0; i < piece.size();) {
    if (piece.substr(i, kSpaceMarker.size()) == kSpaceMarker) {
      text.push_back(' ');
      i += kSpaceMarker.size();
    } else {
      text.push_back(piece[i++]);
    }
  }
  return text;
}

// `raw` with each space written as U+2581, after one more U+2581 where `prefix`.
inline std::string with_space_markers(std::string_view raw, bool prefix) {
  std::string text = prefix ? std::string(kSpaceMarker) : std::string();
  for (const char c : raw) {
    if (c == ' ') {
      text += kSpaceMarker;
    } else {
      text.push_back(c);
    }
  }
  return text;
}

class SentencePieceBpe {
 public:
  // By id: `mergeable`, whether a merge may form the piece; `scores`, its
  // score. `byte_ids`: the "<0xXX>" piece of every byte.
  SentencePieceBpe(std::vector<bool> mergeable, std::vector<float> scores, std::array<std::int64_t, 256> byte_ids,
                   bool add_space_prefix)
      : mergeable_(std::move(mergeable)),
        scores_(std::move(scores)),
        byte_ids_(byte_ids),
        add_space_prefix_(add_space_prefix) {}

  // Appends the ids of one stretch of valid UTF-8 text that holds no special
  // token (a prefix space is added to each stretch, as llama.cpp adds it,
  // unless `may_prefix` is false: a stretch that continues earlier text).
  // `id_by_piece` is every vocabulary entry (the tokenizer's own table, not
  // copied here), pieces spelt with U+2581 for spaces.
  void encode(std::string_view raw, const TokenIndex& id_by_piece, std::vector<std::int64_t>& ids,
              bool may_prefix = true) const {
    // The id of a piece that merges may form.
    const auto mergeable_id = [&](std::string_view piece) -> std::optional<std::int64_t> {
      const auto id = id_by_piece.find(piece);
      if (id && mergeable_[static_cast<std::size_t>(*id)]) return id;
      return std::nullopt;
    };
    const std::string text = with_space_markers(raw, add_space_prefix_ && may_prefix);
    // A doubly linked list of symbols over `text`; a merged-away symbol has length 0.
    struct Symbol {
      std::size_t begin, length;
      std::ptrdiff_t previous, next;
    };
    std::vector<Symbol> symbols;
    for (std::size_t offset = 0; offset < text.size();) {
      const auto length = decode_utf8_at(text, offset).length;
      const auto index = static_cast<std::ptrdiff_t>(symbols.size());
      symbols.push_back({offset, length, index - 1, index + 1});
      offset += length;
    }
    if (symbols.empty()) return;
    symbols.back().next = -1;

    struct Pair {
      float score;
      std::ptrdiff_t left;
      std::size_t length;  // of both symbols together when the pair was seen
    };
    const auto comes_later = [](const Pair& a, const Pair& b) {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Pair, std::vector<Pair>, decltype(comes_later)> pairs(comes_later);
    const auto view = [&](const Symbol& s) { return std::string_view(text).substr(s.begin, s.length); };
    const auto consider = [&](std::ptrdiff_t left, std::ptrdiff_t right) {
      if (left < 0 || right < 0) return;
      const auto& a = symbols[static_cast<std::size_t>(left)];
      const auto& b = symbols[static_cast<std::size_t>(right)];
      const auto joined = std::string_view(text).substr(a.begin, a.length + b.length);
      const auto id = mergeable_id(joined);
      if (!id) return;
      pairs.push({scores_[static_cast<std::size_t>(*id)], left, joined.size()});
    };
    for (std::size_t i = 1; i < symbols.size(); ++i) {
      consider(static_cast<std::ptrdiff_t>(i) - 1, static_cast<std::ptrdiff_t>(i));
    }
    while (!pairs.empty()) {
      const auto pair = pairs.top();
      pairs.pop();
      auto& left = symbols[static_cast<std::size_t>(pair.left)];
      if (left.length == 0 || left.next < 0) continue;
      auto& right = symbols[static_cast<std::size_t>(left.next)];
      if (left.length + right.length != pair.length) continue;  // one side has merged since
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].previous = pair.left;
      consider(left.previous, pair.left);
      consider(pair.left, left.next);
    }
    // Merges form pieces only: what is left unmerged and is no piece is one
    // character, spelt in bytes (a space as the space's byte, where a
    // vocabulary lacks the U+2581 piece, so that it decodes as a space).
    for (std::ptrdiff_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
      const auto symbol = view(symbols[static_cast<std::size_t>(i)]);
      if (const auto id = mergeable_id(symbol)) {
        ids.push_back(*id);
      } else if (symbol == kSpaceMarker) {
        ids.push_back(byte_ids_[' ']);
      } else {
        for (const char byte : symbol) ids.push_back(byte_ids_[static_cast<unsigned char>(byte)]);
      }
    }
  }

 private:
  std::vector<bool> mergeable_;
  std::vector<float> scores_;
  std::array<std::int64_t, 256> byte_ids_;
  bool add_space_prefix_;
};

}  // namespace iglens::detail
