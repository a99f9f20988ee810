#pragma once
// Which prompts share one forward pass. Sequences of a batch are padded on
// the right to the longest; a causal decoder's position i never reads a later
// one, so the padding changes nothing that is read. Prompts are sorted by
// length so that little is padded, and a batch stops growing at the most
// sequences allowed, at the memory budget, or where the next sequence would
// pad the shortest by more than a quarter (at least 8 tokens).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

namespace iglens::cli {

struct BatchLimits {
  std::int64_t max_sequences = 64;
  std::int64_t budget_bytes = std::int64_t{1} << 30;
  // Bytes one padded batch of `sequences` sequences of `length` tokens needs.
  std::function<std::int64_t(std::int64_t sequences, std::int64_t length)> batch_bytes;
};

struct BatchItem {
  std::int64_t group = 0;   // only items of one group share a batch
  std::int64_t length = 0;  // tokens, before padding
};

// Batches of indices into `items`: within a batch one group, lengths
// ascending. A single item always forms a batch, whatever its size.
inline std::vector<std::vector<std::size_t>> plan_batches(const std::vector<BatchItem>& items,
                                                          const BatchLimits& limits) {
  std::vector<std::size_t> order(items.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return items[a].group != items[b].group ? items[a].group < items[b].group : items[a].length < items[b].length;
  });
  std::vector<std::vector<std::size_t>> batches;
  for (const auto index : order) {
    const auto& item = items[index];
    if (!batches.empty()) {
      auto& batch = batches.back();
      const auto& shortest = items[batch.front()];
      const auto sequences = static_cast<std::int64_t>(batch.size()) + 1;
      const bool fits = shortest.group == item.group && sequences <= limits.max_sequences &&
                        item.length <= shortest.length + std::max<std::int64_t>(8, shortest.length / 4) &&
                        limits.batch_bytes(sequences, item.length) <= limits.budget_bytes;
      if (fits) {
        batch.push_back(index);
        continue;
      }
    }
    batches.push_back({index});
  }
  return batches;
}

}  // namespace iglens::cli
