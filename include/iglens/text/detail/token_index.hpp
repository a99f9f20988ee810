#pragma once
// Token text -> id for a whole vocabulary: open addressing over one buffer of
// all the texts. Building a tokenizer looks up three tokens per merge rule;
// with a std::unordered_map node per token those lookups were most of
// loading a model (SmolLM2: 49,152 tokens, 48,900 merges; Gemma 3: 262,144).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iglens::detail {

class TokenIndex {
 public:
  std::size_t size() const { return ids_.size(); }

  void reserve(std::size_t count) {
    if (2 * count > slots_.size()) rehash(2 * count);
    ids_.reserve(count);
    ends_.reserve(count);
  }

  // Adds `text` as `id` and returns nothing; where `text` is there already it
  // stays as it is and its id is returned.
  std::optional<std::int64_t> insert(std::string_view text, std::int64_t id) {
    if (2 * (size() + 1) > slots_.size()) rehash(2 * (size() + 1));
    const std::uint64_t hash = hash_of(text);
    for (std::size_t at = home(hash);; at = (at + 1) & mask_) {
      Slot& slot = slots_[at];
      if (slot.entry == kEmpty) {
        slot = {tag_of(hash), static_cast<std::uint32_t>(size())};
        texts_.append(text);
        ends_.push_back(texts_.size());
        ids_.push_back(id);
        return std::nullopt;
      }
      if (slot.tag == tag_of(hash) && text_of(slot.entry) == text) return ids_[slot.entry];
    }
  }

  std::optional<std::int64_t> find(std::string_view text) const {
    if (slots_.empty()) return std::nullopt;
    const std::uint64_t hash = hash_of(text);
    for (std::size_t at = home(hash);; at = (at + 1) & mask_) {
      const Slot& slot = slots_[at];
      if (slot.entry == kEmpty) return std::nullopt;
      if (slot.tag == tag_of(hash) && text_of(slot.entry) == text) return ids_[slot.entry];
    }
  }

 private:
  // Which entry a slot holds, and 32 more bits of its hash, so that a probe
  // compares texts only where the hashes agree.
  struct Slot {
    std::uint32_t tag;
    std::uint32_t entry;
  };
  static constexpr std::uint32_t kEmpty = UINT32_MAX;  // vocabularies stay below 2^31 tokens

  static std::uint64_t hash_of(std::string_view text) { return std::hash<std::string_view>{}(text); }
  static std::uint32_t tag_of(std::uint64_t hash) { return static_cast<std::uint32_t>(hash); }
  // The hash's high bits, spread by Fibonacci hashing, pick the first slot to probe.
  std::size_t home(std::uint64_t hash) const {
    return static_cast<std::size_t>((hash * 0x9E3779B97F4A7C15ull) >> (64 - bits_));
  }

  std::string_view text_of(std::size_t entry) const {
    const std::size_t begin = entry == 0 ? 0 : ends_[entry - 1];
    return std::string_view(texts_).substr(begin, ends_[entry] - begin);
  }

  // At least `count` slots, a power of two; every entry is placed again.
  void rehash(std::size_t count) {
    bits_ = 4;
    while ((std::size_t{1} << bits_) < count) ++bits_;
    slots_.assign(std::size_t{1} << bits_, Slot{0, kEmpty});
    mask_ = slots_.size() - 1;
    for (std::size_t entry = 0; entry < size(); ++entry) {
      const std::uint64_t hash = hash_of(text_of(entry));
      std::size_t at = home(hash);
      while (slots_[at].entry != kEmpty) at = (at + 1) & mask_;
      slots_[at] = {tag_of(hash), static_cast<std::uint32_t>(entry)};
    }
  }

  std::string texts_;              // every entry's text, one after another
  std::vector<std::size_t> ends_;  // where each entry's text ends in texts_
  std::vector<std::int64_t> ids_;  // each entry's id
  std::vector<Slot> slots_;        // at most half full
  std::size_t mask_ = 0;
  unsigned bits_ = 0;
};

}  // namespace iglens::detail
