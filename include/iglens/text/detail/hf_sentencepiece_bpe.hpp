#pragma once
// SentencePiece-style BPE as Hugging Face `tokenizers` runs it from a
// tokenizer.json with byte_fallback (the files of Llama 2, Mistral and Gemma
// folders): spaces become U+2581 (by a Replace normalizer or the Metaspace
// pre-tokenizer), a U+2581 may be put first, each character starts as its
// piece or, where the vocabulary has none, as its bytes' "<0xXX>" pieces, and
// the adjacent pair with the lowest rank in the merges list merges first (the
// leftmost among equals), one merge at a time. Unlike llama.cpp's encoder of
// the same vocabularies (sentencepiece_bpe.hpp), the order is the merges
// list's, not the pieces' scores, and only listed pairs merge.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iglens/text/detail/bpe.hpp"
#include "iglens/text/detail/sentencepiece_bpe.hpp"
#include "iglens/text/detail/token_index.hpp"
#include "iglens/text/detail/utf8.hpp"

namespace iglens::detail {

// Where a U+2581 is put before a stretch of text (between special tokens).
enum class SpacePrefix {
  none,
  every_stretch,               // the Prepend normalizer: always, even before a space
  every_stretch_unless_space,  // Metaspace prepend_scheme "always": unless the stretch starts with one
  text_start_unless_space,     // Metaspace "first": only the stretch at the start of the text
};

struct HfSentencePieceRules {
  SpacePrefix prefix = SpacePrefix::none;
  bool split_at_spaces = false;  // Metaspace split=true: every U+2581 starts a new word
  bool ignore_merges = false;    // a word that is a piece is that piece
};

class HfSentencePieceBpe {
 public:
  // `merges`: by the ids of their two sides.
  HfSentencePieceBpe(std::array<std::int64_t, 256> byte_ids, MergeTable merges, HfSentencePieceRules rules)
      : byte_ids_(byte_ids), merges_(std::move(merges)), rules_(rules) {}

  // Appends the ids of one stretch of valid UTF-8 text that holds no added
  // token; `at_text_start` says whether it begins the whole text, `may_prefix`
  // false that it continues earlier text (no space marker is added).
  // `id_by_piece` is every vocabulary entry (the tokenizer's own table, not
  // copied here), pieces spelt with U+2581 for spaces.
  void encode(std::string_view raw, bool at_text_start, const TokenIndex& id_by_piece, std::vector<std::int64_t>& ids,
              bool may_prefix = true) const {
    if (raw.empty()) return;
    const bool starts_with_space = raw.front() == ' ' || raw.substr(0, kSpaceMarker.size()) == kSpaceMarker;
    const bool prefix =
        may_prefix && (rules_.prefix == SpacePrefix::every_stretch ||
                       (rules_.prefix == SpacePrefix::every_stretch_unless_space && !starts_with_space) ||
                       (rules_.prefix == SpacePrefix::text_start_unless_space && at_text_start && !starts_with_space));
    const std::string text = with_space_markers(raw, prefix);
    if (!rules_.split_at_spaces) {
      encode_word(text, id_by_piece, ids);
      return;
    }
    std::size_t word_begin = 0;
    for (std::size_t offset = kSpaceMarker.size(); offset < text.size();) {
      if (std::string_view(text).substr(offset, kSpaceMarker.size()) == kSpaceMarker) {
        encode_word(std::string_view(text).substr(word_begin, offset - word_begin), id_by_piece, ids);
        word_begin = offset;
      }
      offset += decode_utf8_at(text, offset).length;
    }
    encode_word(std::string_view(text).substr(word_begin), id_by_piece, ids);
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

  struct Symbol {
    std::int64_t id;
    std::size_t previous, next;
    bool merged_away;
  };

  struct Candidate {
    std::int64_t rank;
    std::size_t left;
    std::int64_t merged_id;
    // Lowest rank first, then leftmost: the heap's top is its greatest.
    bool operator<(const Candidate& other) const { return rank != other.rank ? rank > other.rank : left > other.left; }
  };

  void encode_word(std::string_view word, const TokenIndex& id_by_piece, std::vector<std::int64_t>& ids) const {
    if (word.empty()) return;
    if (rules_.ignore_merges) {
      if (const auto whole = id_by_piece.find(word)) {
        ids.push_back(*whole);
        return;
      }
    }
    std::vector<Symbol> symbols;
    const auto add = [&](std::int64_t id) {
      const std::size_t index = symbols.size();
      symbols.push_back({id, index == 0 ? kNone : index - 1, kNone, false});
      if (index > 0) symbols[index - 1].next = index;
    };
    for (std::size_t offset = 0; offset < word.size();) {
      const auto length = decode_utf8_at(word, offset).length;
      const auto character = word.substr(offset, length);
      if (const auto found = id_by_piece.find(character)) {
        add(*found);
      } else {
        for (const char byte : character) add(byte_ids_[static_cast<unsigned char>(byte)]);
      }
      offset += length;
    }

    std::vector<Candidate> heap;
    const auto consider = [&](std::size_t left) {
      if (left == kNone || symbols[left].next == kNone) return;
      const MergeRule* rule = merges_.find(symbols[left].id, symbols[symbols[left].next].id);
      if (rule == nullptr) return;
      heap.push_back({rule->rank, left, rule->merged_id});
      std::push_heap(heap.begin(), heap.end());
    };
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) consider(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end());
      const Candidate candidate = heap.back();
      heap.pop_back();
      Symbol& left = symbols[candidate.left];
      if (left.merged_away || left.next == kNone) continue;
      // The pair may have changed since it was queued: merge only what it still is.
      const MergeRule* rule = merges_.find(left.id, symbols[left.next].id);
      if (rule == nullptr || rule->merged_id != candidate.merged_id) continue;
      Symbol& right = symbols[left.next];
      left.id = candidate.merged_id;
      left.next = right.next;
      if (right.next != kNone) symbols[right.next].previous = candidate.left;
      right.merged_away = true;
      consider(left.previous);
      consider(candidate.left);
    }
    for (std::size_t i = 0; i != kNone; i = symbols[i].next) ids.push_back(symbols[i].id);
  }

  std::array<std::int64_t, 256> byte_ids_;
  MergeTable merges_;
  HfSentencePieceRules rules_;
};

}  // namespace iglens::detail
