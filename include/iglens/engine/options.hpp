#pragma once
// Everything that shapes one attribution run, with the defaults a user of
// the reference tool would expect, except the baseline: causal-mean, so that
// a token's result never depends on the tokens after it (Baseline::mean() is
// the reference's choice).

#include <cstddef>
#include <cstdint>
#include <functional>

#include <torch/torch.h>

#include "iglens/detail/tensor_text.hpp"
#include "iglens/engine/baseline.hpp"
#include "iglens/engine/estimator.hpp"
#include "iglens/engine/layers.hpp"
#include "iglens/engine/objective.hpp"
#include "iglens/error.hpp"

namespace iglens {

struct Options {
  LayerSelection layers = LayerSelection::all();
  Baseline baseline = Baseline::causal_mean();
  Objective objective = Objective::probability;
  Estimator estimator = Estimator::observed_delta;
  // Steps per segment: the interval count of the quadrature, or of the
  // per-step profile with observed_delta (whose totals need no steps).
  std::int64_t steps = 64;
  // Computation dtype: float32, or float64 for reference-grade results.
  torch::ScalarType dtype = torch::kFloat32;
  // Keep every step's credit ([.., T, K, nodes]); off, observed_delta
  // evaluates the chain vertices only.
  bool keep_per_step = false;
  // Onset: earliest chosen layer where cumulative |IG| reaches this fraction
  // of the row's |IG| mass.
  double onset_fraction = 0.5;
  // Bytes of working memory per chunk of readout work (logits-sized buffers).
  std::size_t memory_budget_bytes = std::size_t{256} << 20;
  // Called after each chunk of rows with (rows done, rows in all), e.g. to
  // draw a progress bar; rows are attributed tokens over the whole batch.
  std::function<void(std::int64_t done, std::int64_t total)> progress;

  // Throws iglens::Error naming the first setting out of range; the engine
  // calls it first, and a program can call it before any heavy work.
  void validate() const {
    require(steps >= 1 && steps <= max_steps, "steps must be at least 1 and at most {} (got {})", max_steps, steps);
    require(onset_fraction > 0.0 && onset_fraction <= 1.0, "onset fraction must be in (0, 1] (got {})", onset_fraction);
    require(dtype == torch::kFloat32 || dtype == torch::kFloat64, "dtype must be float32 or float64 (got {})",
            detail::dtype_name(dtype));
    require(memory_budget_bytes > 0, "memory budget must be positive");
  }
};

}  // namespace iglens
