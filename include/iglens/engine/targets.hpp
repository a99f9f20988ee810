#pragma once
// Which positions of a sequence are attributed, and to which token.

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "iglens/error.hpp"

namespace iglens {

struct Targets {
  std::vector<std::int64_t> positions;  // position i whose next-token prediction is read
  std::vector<std::int64_t> ids;        // target token y at each position
  std::vector<std::int64_t> foils;      // foil token per position (prob-diff only)

  std::size_t size() const { return positions.size(); }

  // Teacher forcing over a whole id sequence: position i predicts ids[i + 1],
  // for every i from `first` to the second-to-last position.
  static Targets next_tokens(const std::vector<std::int64_t>& token_ids, std::int64_t first = 0) {
    require(token_ids.size() >= 2, "next-token targets need at least 2 tokens, got {}", token_ids.size());
    require(first >= 0 && first + 1 < static_cast<std::int64_t>(token_ids.size()),
            "next-token targets: first position {} is out of range [0, {}]", first, token_ids.size() - 2);
    Targets t;
    for (std::int64_t i = first; i + 1 < static_cast<std::int64_t>(token_ids.size()); ++i) {
      t.positions.push_back(i);
      t.ids.push_back(token_ids[i + 1]);
    }
    return t;
  }
};

}  // namespace iglens
