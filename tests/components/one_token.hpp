#pragma once
// One token's component split through the library's Options, for tests that
// study a single position with an explicit baseline point (zeros when none).

#include <cstdint>

#include <torch/torch.h>

#include "iglens/components/component_attribution.hpp"

namespace iglens::testing {

struct TokenCredits {
  ComponentLayout layout;
  torch::Tensor credits;  // [C] float64
  double f_baseline = 0.0, f_final = 0.0, delta = 0.0;
  Estimator estimator = Estimator::observed_delta;
};

inline TokenCredits attribute_one(const ResidualComponents& c, std::int64_t position, std::int64_t target,
                                  const NormHead& head, std::int64_t steps, const torch::Tensor& baseline = {},
                                  Estimator estimator = Estimator::observed_delta) {
  Options options;
  options.steps = steps;
  options.estimator = estimator;
  options.dtype = c.resid_pre.scalar_type();
  options.baseline = baseline.defined() ? Baseline::custom(baseline) : Baseline::zero();
  const auto all = attribute_components(c, Targets{{position}, {target}, {}}, head, options);
  return {all.layout,
          all.credits[0],
          all.f_baseline[0].item<double>(),
          all.f_final[0].item<double>(),
          all.delta[0].item<double>(),
          all.estimator};
}

}  // namespace iglens::testing
