#pragma once
// The keys and values a native decoder computed for the positions it has
// seen, per layer, so that greedy generation runs one new position per step
// instead of re-running the whole sequence (DecoderModel::start_cache and
// DecoderModel::logits(ids, cache)).

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace iglens {

struct KvCache {
  std::vector<torch::Tensor> keys, values;  // per layer [B, n_kv_head, capacity, head_dim]; keys after RoPE
  std::int64_t length = 0;                  // positions filled, the same for every sequence

  std::int64_t capacity() const { return keys.empty() ? 0 : keys.front().size(2); }
  std::int64_t batch_size() const { return keys.empty() ? 0 : keys.front().size(0); }
};

}  // namespace iglens
