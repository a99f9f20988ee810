#pragma once
// Greedy continuations of a batch of prompts: at every step each sequence's
// most probable next token. A model with a key/value cache (the native
// decoders) feeds every prompt once and then one position per step; any
// other model (a TorchScript bundle) re-runs the whole sequence each step.
//
//   auto answers = iglens::greedy_answers(model, {prompt_ids}, {.max_new_tokens = 20, .stop_ids = {eos}});
//
// Prompts of different lengths share the batch without padding between
// prompt and answer: position t of every sequence is computed in the same
// step, as its prompt's token where the prompt is that long, else as the
// greedy choice after position t - 1.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/error.hpp"
#include "iglens/models/kv_cache.hpp"

namespace iglens {

struct GreedyOptions {
  std::int64_t max_new_tokens = 8;
  std::set<std::int64_t> stop_ids;  // a sequence ends at the first of these; the stop token is not in its answer
  torch::Device device = torch::kCPU;
  std::function<void(std::int64_t done, std::int64_t total)> on_step;  // progress, optional
  bool use_cache = true;  // false: re-run the whole sequence each step, as for a model without a cache
};

struct GreedyAnswer {
  std::vector<std::int64_t> ids;           // at most max_new_tokens, without the stop token
  std::vector<std::int64_t> runners_up;    // per answer token, the most likely other token there
  std::optional<std::int64_t> stop_id;     // the end token that stopped it, if one did
  std::optional<std::int64_t> non_finite;  // the position whose logits were NaN or Inf, if any (the answer ends there)
};

namespace detail {

template <class Model, class = void>
struct has_kv_cache : std::false_type {};
template <class Model>
struct has_kv_cache<Model, std::void_t<decltype(std::declval<Model&>().start_cache(1, 1))>> : std::true_type {};

}  // namespace detail

// Sequences as ids [B, length], padded on the right with id 0: a causal
// model's positions before the padding never read it.
inline torch::Tensor padded_ids(const std::vector<std::vector<std::int64_t>>& sequences, std::int64_t length) {
  auto ids = torch::zeros({static_cast<std::int64_t>(sequences.size()), length}, torch::kLong);
  for (std::size_t b = 0; b < sequences.size(); ++b) {
    const auto& sequence = sequences[b];
    require(static_cast<std::int64_t>(sequence.size()) <= length, "padded ids: a sequence of {} ids is longer than {}",
            sequence.size(), length);
    ids[static_cast<std::int64_t>(b)]
        .narrow(0, 0, static_cast<std::int64_t>(sequence.size()))
        .copy_(torch::tensor(sequence, torch::kLong));
  }
  return ids;
}

template <class Model>
std::vector<GreedyAnswer> greedy_answers(Model& model, const std::vector<std::vector<std::int64_t>>& prompts,
                                         const GreedyOptions& options) {
  require(!prompts.empty(), "greedy generation: no prompts");
  require(options.max_new_tokens >= 1, "greedy generation: at least one new token, got {}", options.max_new_tokens);
  torch::NoGradGuard no_grad;
  const auto B = static_cast<std::int64_t>(prompts.size()), N = options.max_new_tokens;
  std::vector<std::int64_t> lengths;
  for (const auto& prompt : prompts) {
    require(!prompt.empty(), "greedy generation: an empty prompt");
    lengths.push_back(static_cast<std::int64_t>(prompt.size()));
  }
  const auto shortest = *std::min_element(lengths.begin(), lengths.end());
  const auto end = *std::max_element(lengths.begin(), lengths.end()) + N;  // columns computed
  const auto ids = padded_ids(prompts, end).to(options.device);

  std::vector<GreedyAnswer> answers(prompts.size());
  std::vector<bool> done(prompts.size(), false);
  std::optional<KvCache> cache;
  if constexpr (detail::has_kv_cache<Model>::value) {
    if (options.use_cache) cache = model.start_cache(B, end);
  }
  // Logits [B, V] at column t - 1, the prediction of column t: from the
  // cache's length on where there is one, else of the whole sequence.
  auto logits_before = [&](std::int64_t t) -> torch::Tensor {
    if constexpr (detail::has_kv_cache<Model>::value) {
      if (cache) {
        const auto from = cache->length;
        return model.logits(ids.narrow(1, from, t - from), *cache).select(1, t - 1 - from);
      }
    }
    return model.logits(ids.narrow(1, 0, t)).select(1, t - 1);
  };
  for (std::int64_t t = shortest; t < end; ++t) {
    const torch::Tensor logits = logits_before(t);
    const torch::Tensor chosen = logits.argmax(-1).to(torch::kCPU);
    const torch::Tensor top_two = std::get<1>(logits.topk(2, -1)).to(torch::kCPU);
    const torch::Tensor finite = torch::isfinite(logits).all(-1).to(torch::kCPU);
    auto column = ids.select(1, t);
    bool all_done = true;
    for (std::int64_t b = 0; b < B; ++b) {
      const auto i = static_cast<std::size_t>(b);
      const auto answered = t - lengths[i];  // answer tokens before column t
      if (answered < 0 || answered >= N || done[i]) {
        all_done = all_done && (done[i] || answered >= N);
        continue;
      }
      auto& answer = answers[i];
      const auto id = chosen[b].item<std::int64_t>();
      if (!finite[b].item<bool>()) {
        answer.non_finite = t - 1;
        done[i] = true;
      } else if (options.stop_ids.count(id) != 0) {
        answer.stop_id = id;
        done[i] = true;
      } else {
        answer.ids.push_back(id);
        const auto first = top_two[b][0].item<std::int64_t>();
        answer.runners_up.push_back(first != id ? first : top_two[b][1].item<std::int64_t>());
        column[b].fill_(id);
        done[i] = answered + 1 >= N;
      }
      all_done = all_done && done[i];
    }
    if (options.on_step) options.on_step(t - shortest + 1, end - shortest);
    if (all_done) break;
  }
  return answers;
}

}  // namespace iglens
