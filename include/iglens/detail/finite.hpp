#pragma once
// Whether a tensor holds only finite numbers, in one reduction that
// allocates nothing of the tensor's size: min and max propagate NaN and show
// +-Inf. (isfinite(t).all() builds a mask first: 115 ms against 5 ms for
// GPT-2's unembedding matrix.)

#include <cmath>

#include <torch/torch.h>

namespace iglens::detail {

inline bool all_finite(const torch::Tensor& t) {
  if (!t.is_floating_point() || t.numel() == 0) return true;
  const auto [low, high] = torch::aminmax(t);
  return std::isfinite(low.item<double>()) && std::isfinite(high.item<double>());
}

}  // namespace iglens::detail
