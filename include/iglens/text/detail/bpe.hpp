#pragma once
// Byte-pair encoding of one pre-tokenised piece. GPT-2's rule: among all
// adjacent symbol pairs, find the pair with the lowest merge rank, merge each
// of its non-overlapping occurrences from left to right, and repeat until no
// adjacent pair has a rank. A heap of candidate pairs, checked when taken out,
// does the same in O(n log n) instead of rescanning the word after each merge.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace iglens::detail {

struct MergeRule {
  std::int64_t rank;       // position in the merges list; lower merges first
  std::int64_t merged_id;  // the token the two symbols become
};

class BpeMerges {
 public:
  BpeMerges(std::array<std::int64_t, 256> byte_ids, std::unordered_map<std::uint64_t, MergeRule> rules)
      : byte_ids_(byte_ids), rules_(std::move(rules)) {}

  // Vocabulary ids are dense and far below 2^32, so two fit in one key.
  static std::uint64_t pair_key(std::int64_t left_id, std::int64_t right_id) {
    return (static_cast<std::uint64_t>(left_id) << 32) | static_cast<std::uint32_t>(right_id);
  }

  // Appends the token ids of `piece` (raw bytes) to `ids`.
  void encode_piece(std::string_view piece, std::vector<std::int64_t>& ids) const {
    if (piece.size() == 1) {
      ids.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
      return;
    }
    std::vector<Symbol> symbols;
    symbols.reserve(piece.size());
    for (std::size_t i = 0; i < piece.size(); ++i) {
      symbols.push_back({byte_ids_[static_cast<unsigned char>(piece[i])], i == 0 ? kNone : i - 1,
                         i + 1 < piece.size() ? i + 1 : kNone});
    }

    std::vector<Candidate> heap;
    const auto push_candidate = [&](std::size_t left) {
      if (left == kNone || symbols[left].next == kNone) return;
      if (const MergeRule* rule = find(symbols[left].id, symbols[symbols[left].next].id)) {
        heap.push_back({rule->rank, left});
        std::push_heap(heap.begin(), heap.end(), std::greater<>());
      }
    };
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) push_candidate(i);

    std::vector<std::size_t> lefts_of_rank;
    while (!heap.empty()) {
      // Take every occurrence of the lowest-ranked pair, leftmost first, before
      // any pair that merging them creates (even one of lower rank).
      const std::int64_t rank = heap.front().rank;
      lefts_of_rank.clear();
      while (!heap.empty() && heap.front().rank == rank) {
        std::pop_heap(heap.begin(), heap.end(), std::greater<>());
        lefts_of_rank.push_back(heap.back().left);
        heap.pop_back();
      }
      for (const std::size_t left : lefts_of_rank) {
        // Skip occurrences that an earlier merge consumed or changed.
        Symbol& symbol = symbols[left];
        if (symbol.id == kMerged || symbol.next == kNone) continue;
        const MergeRule* rule = find(symbol.id, symbols[symbol.next].id);
        if (rule == nullptr || rule->rank != rank) continue;

        Symbol& right = symbols[symbol.next];
        symbol.id = rule->merged_id;
        symbol.next = right.next;
        if (right.next != kNone) symbols[right.next].prev = left;
        right.id = kMerged;
        push_candidate(symbol.prev);
        push_candidate(left);
      }
    }

    for (std::size_t i = 0; i != kNone; i = symbols[i].next) ids.push_back(symbols[i].id);
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  static constexpr std::int64_t kMerged = -1;

  // A node of the doubly linked list of the piece's current symbols; merging
  // keeps the left node and unlinks the right one.
  struct Symbol {
    std::int64_t id;
    std::size_t prev;
    std::size_t next;
  };

  // An adjacent pair that had a merge rule when it was formed.
  struct Candidate {
    std::int64_t rank;
    std::size_t left;  // index of the pair's left symbol; orders equal ranks left to right
    bool operator>(const Candidate& other) const { return std::tie(rank, left) > std::tie(other.rank, other.left); }
  };

  const MergeRule* find(std::int64_t left_id, std::int64_t right_id) const {
    const auto found = rules_.find(pair_key(left_id, right_id));
    return found == rules_.end() ? nullptr : &found->second;
  }

  std::array<std::int64_t, 256> byte_ids_;
  std::unordered_map<std::uint64_t, MergeRule> rules_;
};

}  // namespace iglens::detail
