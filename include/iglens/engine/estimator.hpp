#pragma once
// How each segment's integral of the readout's directional derivative is
// estimated.
//
// observed_delta credits every step its observed change in f, so a segment is
// exactly f(end) - f(start) at any step count and no derivative is needed.
// The others are raw-gradient quadratures of Integrated Gradients, kept as
// references that converge to the same values.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "iglens/engine/detail/gauss_legendre.hpp"
#include "iglens/error.hpp"

namespace iglens {

enum class Estimator {
  observed_delta,
  riemann_left,
  riemann_right,
  riemann_midpoint,
  riemann_trapezoid,
  gauss_legendre,
};

inline Estimator parse_estimator(std::string_view name) {
  if (name == "observed-delta") return Estimator::observed_delta;
  if (name == "riemann-left") return Estimator::riemann_left;
  if (name == "riemann-right") return Estimator::riemann_right;
  if (name == "riemann-midpoint" || name == "midpoint") return Estimator::riemann_midpoint;
  if (name == "riemann-trapezoid" || name == "trapezoid") return Estimator::riemann_trapezoid;
  if (name == "gauss-legendre") return Estimator::gauss_legendre;
  fail(
      "unknown estimator '{}' (expected observed-delta, riemann-left, riemann-right, "
      "riemann-midpoint, riemann-trapezoid or gauss-legendre)",
      name);
}

inline std::string estimator_name(Estimator estimator) {
  switch (estimator) {
    case Estimator::observed_delta:
      return "observed-delta";
    case Estimator::riemann_left:
      return "riemann-left";
    case Estimator::riemann_right:
      return "riemann-right";
    case Estimator::riemann_midpoint:
      return "riemann-midpoint";
    case Estimator::riemann_trapezoid:
      return "riemann-trapezoid";
    case Estimator::gauss_legendre:
      return "gauss-legendre";
  }
  return "?";
}

// The most steps a segment takes: the error of the second-order rules is then
// below 1e-8 of one step's, and a Gauss-Legendre rule of this size takes about
// two seconds to compute.
constexpr std::int64_t max_steps = std::int64_t{1} << 14;

inline bool uses_gradient(Estimator estimator) { return estimator != Estimator::observed_delta; }

// Nodes t in [0, 1] and weights of a rule: a segment's credit is
// sum_q weight_q * df(h(t_q))/dt.
struct QuadratureRule {
  std::vector<double> nodes;
  std::vector<double> weights;
};

// The rule of a raw-gradient estimator with `steps` intervals (trapezoid uses
// steps + 1 nodes, Gauss-Legendre `steps` nodes).
inline QuadratureRule quadrature_rule(Estimator estimator, std::int64_t steps) {
  require(steps >= 1 && steps <= max_steps, "steps must be at least 1 and at most {} (got {})", max_steps, steps);
  require(uses_gradient(estimator), "{} has no quadrature rule", estimator_name(estimator));
  const double m = static_cast<double>(steps);
  QuadratureRule rule;
  switch (estimator) {
    case Estimator::riemann_left:
    case Estimator::riemann_right:
    case Estimator::riemann_midpoint: {
      const double shift = estimator == Estimator::riemann_left    ? 0.0
                           : estimator == Estimator::riemann_right ? 1.0
                                                                   : 0.5;
      for (std::int64_t i = 0; i < steps; ++i) {
        rule.nodes.push_back((static_cast<double>(i) + shift) / m);
        rule.weights.push_back(1.0 / m);
      }
      break;
    }
    case Estimator::riemann_trapezoid:
      for (std::int64_t i = 0; i <= steps; ++i) {
        rule.nodes.push_back(static_cast<double>(i) / m);
        rule.weights.push_back((i == 0 || i == steps) ? 0.5 / m : 1.0 / m);
      }
      break;
    case Estimator::gauss_legendre: {
      auto [nodes, weights] = detail::gauss_legendre_unit_interval(steps);
      rule.nodes = std::move(nodes);
      rule.weights = std::move(weights);
      break;
    }
    case Estimator::observed_delta:
      break;
  }
  return rule;
}

}  // namespace iglens
