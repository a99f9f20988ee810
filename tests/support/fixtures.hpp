#pragma once
// Shared inputs for the engine tests: a tiny model, a prompt and its
// teacher-forced targets.

#include <algorithm>
#include <cmath>
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

// The unit roundoff of a floating dtype: 2^-24 for float32, 2^-53 for float64.
inline double unit_roundoff(torch::ScalarType dtype) {
  return dtype == torch::kFloat32 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -53);
}

// What two computations of one sum of `terms` values, each of magnitude up to
// `scale`, may differ by in `dtype` whatever the CPU, its BLAS kernels and the
// order of their additions: the classic bound terms * u * sum|x| on each, so
// twice that between two, with a factor 2 for the rounding of each term
// itself. Any real error (a term lost or counted twice) is about `scale`.
inline double rounding_tolerance(torch::ScalarType dtype, double terms, double scale) {
  return 4.0 * terms * unit_roundoff(dtype) * std::max(1.0, scale);
}

inline double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

}  // namespace iglens::testing
