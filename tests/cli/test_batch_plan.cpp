// Which prompts share a forward pass: one group per batch, lengths close
// enough that little is padded, and never over the sequence count or the
// memory budget.
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "batch_plan.hpp"

using namespace iglens::cli;

namespace {

BatchLimits limits(std::int64_t max_sequences, std::int64_t budget_tokens) {
  BatchLimits l;
  l.max_sequences = max_sequences;
  l.budget_bytes = budget_tokens;
  l.batch_bytes = [](std::int64_t sequences, std::int64_t length) { return sequences * length; };  // a byte a token
  return l;
}

using Batches = std::vector<std::vector<std::size_t>>;

}  // namespace

TEST_CASE("prompts are sorted by length and padded by at most a quarter (8 tokens for short ones)", "[batch]") {
  const std::vector<BatchItem> items{{0, 40}, {0, 10}, {0, 45}, {0, 17}, {0, 19}, {0, 51}};
  // 10 and 17 (10 + 8 = 18 allowed), then 19, 40 and 45 (19 + 8 = 27 < 40, so 40 starts its own), 51 (40 + 10 = 50).
  CHECK(plan_batches(items, limits(64, 1 << 20)) == Batches{{1, 3}, {4}, {0, 2}, {5}});
}

TEST_CASE("a batch holds one group only", "[batch]") {
  const std::vector<BatchItem> items{{2, 10}, {1, 10}, {2, 11}, {1, 12}};
  CHECK(plan_batches(items, limits(64, 1 << 20)) == Batches{{1, 3}, {0, 2}});
}

TEST_CASE("the sequence count and the memory budget cut batches; one prompt is a batch whatever it needs", "[batch]") {
  const std::vector<BatchItem> items(5, BatchItem{0, 10});
  CHECK(plan_batches(items, limits(2, 1 << 20)) == Batches{{0, 1}, {2, 3}, {4}});
  CHECK(plan_batches(items, limits(64, 35)) == Batches{{0, 1, 2}, {3, 4}});  // 3 x 10 tokens fit in 35, 4 x 10 do not
  CHECK(plan_batches(items, limits(64, 5)) == Batches{{0}, {1}, {2}, {3}, {4}});
  CHECK(plan_batches({}, limits(64, 5)).empty());
}
