#pragma once
// Attribution of one token's probability to the parts of every block: the
// embedding, each attention head, the attention output bias and each MLP.
//
// The path visits the baseline, then resid_pre[0], resid_mid[0],
// resid_pre[1], ..., resid_pre[L]. With the observed-delta estimator the
// embedding segment and every MLP half-block segment have one part, credited
// with their observed change of f = p_target. An attention half-block segment
// d = sum_c d_c (heads, bias) is split step by step: step s of m gets its
// observed change df_s, shared as
//   credit_c(s) = df_s * D_c f(t*) / D_d f(t*),   D_c f = <grad f(h(t*)), d_c>,
// t* the step midpoint, D_d f = sum_c D_c f. The weights sum to one, so the
// parts of a segment add up to its observed change at any m, and as m grows
// each credit tends to the Integrated Gradients integral of <grad f, d_c>.
// The raw-gradient estimators (Riemann, Gauss-Legendre) integrate D_c f by
// their quadrature rule on every segment instead: references that converge
// to the same split. D_c f comes in closed form (detail/part_slopes.hpp).
// (docs: /work/shared/notes/component-attribution.md)

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "iglens/components/components.hpp"
#include "iglens/components/detail/part_slopes.hpp"
#include "iglens/detail/finite.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/error.hpp"
#include "iglens/estimator.hpp"
#include "iglens/readout.hpp"

namespace iglens {

struct ComponentAttribution {
  std::vector<std::string> labels;  // "embedding", then per block l: "l.attn.head h", "l.attn.bias", "l.mlp"
  torch::Tensor credits;            // [C] float64, in the order of labels
  double f_final = 0.0;             // p_target at resid_pre[L]
  double f_baseline = 0.0;          // p_target at the baseline
  double delta = 0.0;               // f_final - f_baseline = credits.sum() (observed delta: exactly)
  Estimator estimator = Estimator::observed_delta;
  std::int64_t steps = 0;
};

namespace detail {

// Bytes of unscaled part logits [parts, V] held at once.
constexpr std::int64_t component_logits_budget = std::int64_t{256} << 20;

// Observed-delta credits [C] (float64) of the parts [C, d] of a segment whose
// ends have the probabilities f_start and f_end, over `steps` steps.
//
// The ratio D_c f / D_d f is stable only where the step's observed change
// agrees with the slope at its midpoint. Where it does not (df_s / (D_d f dt)
// outside [0, 2], e.g. a step over a maximum of f where D_d f vanishes), the
// step falls back to its Riemann credits D_c f dt plus the leftover
// df_s - D_d f dt shared in proportion to |D_c f| (equally if all are zero).
// Either way the step's credits add up to df_s and stay within
// 2 dt max|D_c f| + |df_s|, so they are always finite.
inline torch::Tensor split_observed_delta(const PartSlopes& along, double f_start, double f_end, std::int64_t parts,
                                          std::int64_t steps) {
  const auto f64 = torch::dtype(torch::kFloat64);
  const double dt = 1.0 / static_cast<double>(steps);
  // f at the step boundaries: the two ends as given, so consecutive segments share their vertex values.
  auto boundary = torch::empty({steps + 1}, f64);
  boundary[0] = f_start;
  boundary[steps] = f_end;
  if (steps > 1) boundary.narrow(0, 1, steps - 1).copy_(along.values(torch::arange(1, steps, f64) * dt));
  const auto slopes = along.slopes((torch::arange(steps, f64) + 0.5) * dt);  // D_c f at the step midpoints [m, C]
  const auto change = boundary.narrow(0, 1, steps) - boundary.narrow(0, 0, steps);  // df_s [m]
  const auto slope = slopes.sum(1);                                                  // D_d f [m]
  const auto agreement = change / (slope * dt);
  const auto use_ratio = (slope != 0) & (agreement >= 0) & (agreement <= 2);
  const auto safe_slope = torch::where(use_ratio, slope, torch::ones_like(slope));
  const auto ratio_credits = slopes * (change / safe_slope).unsqueeze(1);
  const auto magnitude = slopes.abs();
  const auto total_magnitude = magnitude.sum(1, true);
  const auto share = torch::where(total_magnitude > 0, magnitude / torch::where(total_magnitude > 0, total_magnitude,
                                                                                  torch::ones_like(total_magnitude)),
                                  torch::full_like(magnitude, 1.0 / static_cast<double>(parts)));
  const auto fallback_credits = slopes * dt + (change - slope * dt).unsqueeze(1) * share;
  return torch::where(use_ratio.unsqueeze(1), ratio_credits, fallback_credits).sum(0);
}

// Raw-gradient credits [C] (float64): the estimator's quadrature of D_c f.
inline torch::Tensor split_by_quadrature(const PartSlopes& along, Estimator estimator, std::int64_t steps) {
  const auto rule = quadrature_rule(estimator, steps);
  const auto f64 = torch::dtype(torch::kFloat64);
  const auto nodes = torch::tensor(rule.nodes, f64), weights = torch::tensor(rule.weights, f64);
  return torch::matmul(weights, along.slopes(nodes));
}

}  // namespace detail

// Credits of every component of `components` for p_target at `position`,
// read through `head`, along the path from `baseline` ([d]; zeros when
// undefined) with `steps` steps (or nodes) per segment. Points are evaluated
// in the components' dtype (float32 or float64); credits are float64.
inline ComponentAttribution attribute_components(const ResidualComponents& components, std::int64_t position,
                                                 std::int64_t target, const NormHead& head_in, std::int64_t steps,
                                                 const torch::Tensor& baseline_in = {},
                                                 Estimator estimator = Estimator::observed_delta) {
  const auto& c = components;
  detail::require(c.resid_pre.defined() && c.resid_mid.defined() && c.head_results.defined() &&
                      c.attn_bias.defined() && c.mlp_out.defined(),
                  "component attribution: a component tensor is missing");
  detail::require(c.resid_mid.dim() == 3 && c.head_results.dim() == 4, "component attribution: resid_mid must be "
                  "[L, S, d] and head_results [L, S, n_head, d], got {} and {}",
                  detail::shape_string(c.resid_mid), detail::shape_string(c.head_results));
  const auto L = c.n_layer(), S = c.length(), H = c.n_head(), d = c.d_model();
  detail::require(c.resid_pre.sizes() == torch::IntArrayRef({L + 1, S, d}) &&
                      c.head_results.sizes() == torch::IntArrayRef({L, S, H, d}) &&
                      c.attn_bias.sizes() == c.resid_mid.sizes() && c.mlp_out.sizes() == c.resid_mid.sizes(),
                  "component attribution: component shapes disagree with resid_mid {}",
                  detail::shape_string(c.resid_mid));
  const auto dtype = c.resid_pre.scalar_type();
  detail::require(dtype == torch::kFloat32 || dtype == torch::kFloat64,
                  "component attribution: components must be float32 or float64, got {}", detail::dtype_name(dtype));
  detail::require(position >= 0 && position < S, "component attribution: position {} is outside [0, {})", position,
                  S);
  head_in.validate();
  detail::require(head_in.d_model() == d, "component attribution: the readout takes d = {}, the components have {}",
                  head_in.d_model(), d);
  detail::require(target >= 0 && target < head_in.vocab_size(),
                  "component attribution: target {} is outside the vocabulary [0, {})", target,
                  head_in.vocab_size());
  detail::require(steps >= 1, "component attribution: steps must be >= 1, got {}", steps);
  const auto options = c.resid_pre.options();
  const auto baseline = baseline_in.defined() ? baseline_in : torch::zeros({d}, options);
  detail::require(baseline.dim() == 1 && baseline.size(0) == d, "component attribution: baseline must be [{}], got {}",
                  d, detail::shape_string(baseline));
  detail::require(detail::all_finite(baseline) && detail::all_finite(c.resid_pre) && detail::all_finite(c.resid_mid) &&
                      detail::all_finite(c.head_results) && detail::all_finite(c.attn_bias),
                  "component attribution: the baseline or the components contain NaN or Inf");
  const auto head = head_in.to(options);
  const auto start = baseline.to(options);
  const auto pre = c.resid_pre.select(1, position), mid = c.resid_mid.select(1, position);

  // f at every vertex: baseline, resid_pre[0], resid_mid[0], resid_pre[1], ..., resid_pre[L].
  std::vector<torch::Tensor> vertices{start, pre[0]};
  for (std::int64_t l = 0; l < L; ++l) {
    vertices.push_back(mid[l]);
    vertices.push_back(pre[l + 1]);
  }
  torch::NoGradGuard no_grad;
  // One pass over the unembedding for all vertices, then one per group of blocks for their parts.
  const auto vertex_stack = torch::stack(vertices);
  const auto u_vertex = detail::unscaled_logits(head, vertex_stack);  // [2L + 2, V]
  const auto offset = detail::logit_offset(head);
  const auto f_vertex = torch::softmax(u_vertex / detail::norm_scale(head, vertex_stack).unsqueeze(1) + offset, -1)
                            .select(1, target)
                            .to(torch::kFloat64);
  const auto f = [&](std::int64_t vertex) { return f_vertex[vertex].item<double>(); };

  // The segment from vertex `first` to the next, split among `parts` [C, d] with unscaled logits [C, V].
  const auto split = [&](const torch::Tensor& parts, const torch::Tensor& u_parts, std::int64_t first) {
    const detail::PartSlopes along(head, target, offset,
                                   {vertices[first], vertices[first + 1], parts, u_vertex[first],
                                    u_vertex[first + 1], u_parts});
    if (estimator != Estimator::observed_delta) return detail::split_by_quadrature(along, estimator, steps);
    return detail::split_observed_delta(along, f(first), f(first + 1), parts.size(0), steps);
  };
  // A one-part segment (the embedding, an MLP): its observed change, or the integral of its slope.
  const auto whole = [&](std::int64_t first) {
    if (estimator == Estimator::observed_delta) {
      return torch::full({1}, f(first + 1) - f(first), torch::kFloat64);
    }
    // Unscaled logits are linear: those of end - start are u_end - u_start.
    return split((vertices[first + 1] - vertices[first]).unsqueeze(0),
                 (u_vertex[first + 1] - u_vertex[first]).unsqueeze(0), first);
  };

  ComponentAttribution result;
  std::vector<torch::Tensor> credits{whole(0)};
  result.labels.push_back("embedding");
  // Parts [L, H + 1, d]: the heads, then the bias, of every block.
  const auto all_parts = torch::cat({c.head_results.select(1, position), c.attn_bias.select(1, position).unsqueeze(1)}, 1);
  const auto blocks_per_pass = std::max<std::int64_t>(
      1, detail::component_logits_budget / ((H + 1) * head.vocab_size() * c.resid_pre.element_size()));
  torch::Tensor u_parts;  // [blocks of this pass, H + 1, V]
  for (std::int64_t l = 0; l < L; ++l) {
    if (l % blocks_per_pass == 0) {
      const auto count = std::min(blocks_per_pass, L - l);
      u_parts = detail::unscaled_logits(head, all_parts.narrow(0, l, count).reshape({count * (H + 1), d}))
                    .view({count, H + 1, head.vocab_size()});
    }
    const auto layer = std::to_string(l);
    for (std::int64_t h = 0; h < H; ++h) result.labels.push_back(layer + ".attn.head " + std::to_string(h));
    result.labels.push_back(layer + ".attn.bias");
    result.labels.push_back(layer + ".mlp");
    credits.push_back(split(all_parts[l], u_parts[l % blocks_per_pass], 2 * l + 1));
    credits.push_back(whole(2 * l + 2));
  }
  result.credits = torch::cat(credits);
  result.estimator = estimator;
  result.steps = steps;
  result.f_baseline = f(0);
  result.f_final = f(2 * L + 1);
  result.delta = result.f_final - result.f_baseline;
  return result;
}

}  // namespace iglens
