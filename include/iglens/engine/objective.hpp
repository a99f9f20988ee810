#pragma once
// The scalar f(h) that IG-Lens attributes, read from the logits z = readout(h).
// Telescoping holds for every one of them: each is a function of h alone.

#include <string>
#include <string_view>

#include <torch/torch.h>

#include "iglens/error.hpp"

namespace iglens {

enum class Objective {
  probability,             // softmax(z)[y]
  log_probability,         // log_softmax(z)[y]
  probability_difference,  // softmax(z)[y] - softmax(z)[foil]
  logit,                   // z[y]
};

inline Objective parse_objective(std::string_view name) {
  if (name == "prob") return Objective::probability;
  if (name == "logprob") return Objective::log_probability;
  if (name == "prob-diff") return Objective::probability_difference;
  if (name == "logit") return Objective::logit;
  fail("unknown objective '{}' (expected prob, logprob, prob-diff or logit)", name);
}

inline std::string objective_name(Objective objective) {
  switch (objective) {
    case Objective::probability:
      return "prob";
    case Objective::log_probability:
      return "logprob";
    case Objective::probability_difference:
      return "prob-diff";
    case Objective::logit:
      return "logit";
  }
  return "?";
}

inline bool needs_foil(Objective objective) { return objective == Objective::probability_difference; }

namespace detail {

// Picks z[..., index[...]] from logits [..., V] with index of the leading shape.
inline torch::Tensor pick(const torch::Tensor& logits, const torch::Tensor& index) {
  return logits.gather(-1, index.unsqueeze(-1)).squeeze(-1);
}

// f from its parts: the target's and foil's logits and the log-normaliser
// lse = logsumexp(z). Every tensor has the same shape; z_foil is read only by
// prob-diff, lse by all but logit.
inline torch::Tensor objective_from_parts(Objective objective, const torch::Tensor& z_target,
                                          const torch::Tensor& z_foil, const torch::Tensor& lse) {
  switch (objective) {
    case Objective::logit:
      return z_target;
    case Objective::log_probability:
      return z_target - lse;
    case Objective::probability:
      return (z_target - lse).exp();
    case Objective::probability_difference:
      return (z_target - lse).exp() - (z_foil - lse).exp();
  }
  fail("objective: unknown kind");
}

// df/dt along a path from the logits' derivatives: zdot_* = dz_*/dt and
// mean_zdot = sum_v softmax(z)_v dz_v/dt, using dp_y/dt = p_y (zdot_y - mean_zdot).
inline torch::Tensor objective_derivative_from_parts(Objective objective, const torch::Tensor& z_target,
                                                     const torch::Tensor& zdot_target, const torch::Tensor& z_foil,
                                                     const torch::Tensor& zdot_foil, const torch::Tensor& lse,
                                                     const torch::Tensor& mean_zdot) {
  switch (objective) {
    case Objective::logit:
      return zdot_target;
    case Objective::log_probability:
      return zdot_target - mean_zdot;
    case Objective::probability:
      return (z_target - lse).exp() * (zdot_target - mean_zdot);
    case Objective::probability_difference:
      return (z_target - lse).exp() * (zdot_target - mean_zdot) - (z_foil - lse).exp() * (zdot_foil - mean_zdot);
  }
  fail("objective: unknown kind");
}

// f for logits [..., V]; target and foil ids have the leading shape (foil may
// be undefined unless the objective needs it).
inline torch::Tensor objective_value(Objective objective, const torch::Tensor& logits, const torch::Tensor& target,
                                     const torch::Tensor& foil) {
  const auto z_target = pick(logits, target);
  if (objective == Objective::logit) return z_target;
  const auto z_foil = needs_foil(objective) ? pick(logits, foil) : torch::Tensor();
  return objective_from_parts(objective, z_target, z_foil, logits.logsumexp(-1));
}

}  // namespace detail
}  // namespace iglens
