#pragma once
// Shared inputs for the engine tests: a tiny model, a prompt and its
// teacher-forced targets.

#include <vector>

#include <torch/torch.h>

#include "iglens/iglens.hpp"
#include "tiny_gpt2.hpp"

namespace iglens::testing {

inline std::vector<std::int64_t> prompt_ids(std::int64_t length = 10, std::int64_t vocab = 50,
                                            std::int64_t offset = 0) {
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < length; ++i) ids.push_back((7 * i + 3 + offset) % vocab);
  return ids;
}

inline torch::Tensor as_tensor(const std::vector<std::int64_t>& ids) { return torch::tensor(ids, torch::kLong); }

// Residual stream [L+1, S, d] of one prompt.
inline torch::Tensor residual_of(TinyGpt2& net, const std::vector<std::int64_t>& ids) {
  torch::NoGradGuard no_grad;
  return net->residual_stream(as_tensor(ids).unsqueeze(0)).squeeze(1);
}

// Foils for prob-diff: a token other than each target.
inline Targets with_foils(Targets targets, std::int64_t vocab) {
  for (auto id : targets.ids) targets.foils.push_back((id + 1) % vocab);
  return targets;
}

// A norm + head of seeded random parameters: d 64, V 1000, float32.
inline NormHead random_norm_head(NormKind kind, double eps) {
  torch::manual_seed(3);
  NormHead head;
  head.kind = kind;
  head.weight = 1 + 0.1 * torch::randn({64});
  if (kind == NormKind::layer_norm) head.bias = 0.1 * torch::randn({64});
  head.unembedding = 0.3 * torch::randn({1000, 64});
  head.eps = eps;
  return head;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

}  // namespace iglens::testing
