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
#include <utility>
#include <vector>

namespace iglens::detail {

struct MergeRule {
  std::int64_t rank;       // position in the merges list; lower merges first
  std::int64_t merged_id;  // the token the two symbols become
};

// Merge rules by the ids of their two sides: open addressing in one array,
// looked up for every adjacent pair of every piece encoded.
class MergeTable {
 public:
  // Adds the rule for (left_id, right_id) and returns null; where that pair
  // has a rule already, it stays and is returned.
  const MergeRule* insert(std::int64_t left_id, std::int64_t right_id, MergeRule rule) {
    if (2 * (size_ + 1) > slots_.size()) rehash(2 * (size_ + 1));
    const std::uint64_t key = pair_key(left_id, right_id);
    for (std::size_t at = home(key);; at = (at + 1) & mask_) {
      Slot& slot = slots_[at];
      if (slot.key == kEmpty) {
        slot = {key, rule};
        ++size_;
        return nullptr;
      }
      if (slot.key == key) return &slot.rule;
    }
  }

  const MergeRule* find(std::int64_t left_id, std::int64_t right_id) const {
    if (slots_.empty()) return nullptr;
    const std::uint64_t key = pair_key(left_id, right_id);
    for (std::size_t at = home(key);; at = (at + 1) & mask_) {
      const Slot& slot = slots_[at];
      if (slot.key == kEmpty) return nullptr;
      if (slot.key == key) return &slot.rule;
    }
  }

  void reserve(std::size_t count) {
    if (2 * count > slots_.size()) rehash(2 * count);
  }

 private:
  struct Slot {
    std::uint64_t key;
    MergeRule rule;
  };
  // Vocabulary ids are below 2^31 (the vocabularies check it), so two fit in
  // one key and no pair's key is all ones.
  static constexpr std::uint64_t kEmpty = UINT64_MAX;
  static std::uint64_t pair_key(std::int64_t left_id, std::int64_t right_id) {
    return (static_cast<std::uint64_t>(left_id) << 32) | static_cast<std::uint32_t>(right_id);
  }
  // Fibonacci hashing: the product's high bits depend on every bit of the key.
  std::size_t home(std::uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - bits_));
  }

  // At least `count` slots, a power of two; every rule is placed again.
  void rehash(std::size_t count) {
    std::vector<Slot> old(std::move(slots_));
    bits_ = 4;
    while ((std::size_t{1} << bits_) < count) ++bits_;
    slots_.assign(std::size_t{1} << bits_, Slot{kEmpty, {}});
    mask_ = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.key == kEmpty) continue;
      std::size_t at = home(slot.key);
      while (slots_[at].key != kEmpty) at = (at + 1) & mask_;
      slots_[at] = slot;
    }
  }

  std::vector<Slot> slots_;  // at most half full
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  unsigned bits_ = 0;
};

class BpeMerges {
 public:
  BpeMerges(std::array<std::int64_t, 256> byte_ids, MergeTable rules) : byte_ids_(byte_ids), rules_(std::move(rules)) {}

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

  const MergeRule* find(std::int64_t left_id, std::int64_t right_id) const { return rules_.find(left_id, right_id); }

  std::array<std::int64_t, 256> byte_ids_;
  MergeTable rules_;
};

}  // namespace iglens::detail
