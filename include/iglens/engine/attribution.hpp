#pragma once
// The token-by-layer attribution map and everything needed to read it.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <Eigen/Core>

#include "iglens/detail/tensor_text.hpp"
#include "iglens/engine/estimator.hpp"
#include "iglens/engine/objective.hpp"
#include "iglens/error.hpp"

namespace iglens {

// Shapes: T attributed tokens and K chosen layers; a batched run has a
// leading sequence dimension B on every per-token tensor.
struct Attribution {
  torch::Tensor ig;                  // [T, K] credit of each chosen layer; rows sum to delta
  torch::Tensor lens;                // [T, K] f at each chosen layer (the logit lens of f)
  torch::Tensor f_baseline;          // [T]
  torch::Tensor f_final;             // [T] f at the last layer: the model's own answer
  torch::Tensor delta;               // [T] f_final - f_baseline
  torch::Tensor convergence_delta;   // [T] sum(ig) - delta (quadrature error of gradient estimators)
  torch::Tensor onset_layer;         // [T] int64; -1 where the row carries no |IG| mass
  torch::Tensor per_step;            // [T, K, nodes] with Options::keep_per_step, else undefined
  torch::Tensor positions;           // [T] int64
  torch::Tensor target_ids;          // [T] int64
  torch::Tensor foil_ids;            // [T] int64 (prob-diff only)
  std::vector<std::int64_t> layers;  // the K chosen layers, ascending
  double completeness_error = 0.0;   // max over rows of |sum(ig) - delta|

  Estimator estimator = Estimator::observed_delta;
  std::int64_t steps = 0;
  std::string baseline;
  Objective objective = Objective::probability;
  double onset_fraction = 0.5;

  // Sequence b of a batched map, shaped as an unbatched run gives it.
  Attribution sequence(std::int64_t b) const {
    require(ig.dim() == 3, "sequence: needs a batched [B, T, K] map, got {}", detail::shape_string(ig));
    require(b >= 0 && b < ig.size(0), "sequence {} of a batch of {}", b, ig.size(0));
    Attribution one = *this;
    for (auto* t : {&one.ig, &one.lens, &one.f_baseline, &one.f_final, &one.delta, &one.convergence_delta,
                    &one.onset_layer, &one.per_step, &one.positions, &one.target_ids, &one.foil_ids}) {
      if (t->defined()) *t = t->select(0, b).contiguous();
    }
    // As the engine computes it, so a batch of one gives the same number.
    one.completeness_error =
        (one.ig.to(torch::kDouble).sum(-1) - one.delta.to(torch::kDouble)).abs().max().item<double>();
    return one;
  }

  // Zero-copy row-major view of the [T, K] map for Eigen users. Scalar must
  // match the run's dtype (float or double).
  template <class Scalar>
  Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> ig_matrix() const {
    require(ig.dim() == 2, "ig_matrix: needs an unbatched [T, K] map, got {}", detail::shape_string(ig));
    require(ig.device().is_cpu() && ig.is_contiguous(), "ig_matrix: the map must be a contiguous CPU tensor");
    require(ig.scalar_type() == c10::CppTypeToScalarType<Scalar>::value, "ig_matrix: requested {} but the map is {}",
            detail::dtype_name(c10::CppTypeToScalarType<Scalar>::value), detail::dtype_name(ig.scalar_type()));
    return {ig.data_ptr<Scalar>(), ig.size(0), ig.size(1)};
  }
};

namespace detail {

// Earliest chosen layer where cumulative |IG| reaches `fraction` of the row's
// |IG| mass; cum is non-decreasing, so the index is the count of layers below
// the threshold.
inline torch::Tensor onset_layers(const torch::Tensor& ig, const std::vector<std::int64_t>& layers, double fraction) {
  auto cumulative = ig.abs().to(torch::kDouble).cumsum(-1);
  auto total = cumulative.select(-1, -1);
  auto below = (cumulative < (total * fraction).unsqueeze(-1)).sum(-1);
  auto last = static_cast<std::int64_t>(layers.size()) - 1;
  auto layer_ids = torch::tensor(layers, torch::kLong).to(ig.device());
  auto onset = layer_ids.index_select(0, below.clamp_max(last).flatten()).view(below.sizes());
  return torch::where(total > 0, onset, torch::full_like(onset, -1));
}

}  // namespace detail
}  // namespace iglens
