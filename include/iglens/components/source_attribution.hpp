#pragma once
// Which earlier token, through which head: each head's credit split among
// the source positions it reads. Head h of block l writes at position i
//   head_results[l, i, h] = sum_j d_hj,   d_hj = head_scale[l, i] * A[l, h, i, j] * head_values[l, j, h],
// so its segment's direction is a sum over sources too, and the same rule
// that splits a segment among heads splits each head among its sources.
//
// With observed delta the split refines the head split step by step: head
// h's credit on step s, c_h(s), goes to its sources as
//   credit_hj(s) = D_hj f dt + (c_h(s) - sum_k D_hk f dt) |D_hj f| / sum_k |D_hk f|
// (equal shares where every slope is zero), so a head's sources add up to
// its credit exactly at any step count, and as m grows each tends to the
// Integrated Gradients integral of <grad f, d_hj>. The raw-gradient
// estimators integrate D_hj f by their rule. The slopes come from the
// gradient of f at each step point, computed once in closed form and dotted
// with every source's direction: one product with the unembedding per point,
// not one per source (derivation: docs/component-attribution.md).

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "iglens/components/component_attribution.hpp"
#include "iglens/components/components.hpp"
#include "iglens/components/detail/part_slopes.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/engine/estimator.hpp"
#include "iglens/engine/options.hpp"
#include "iglens/engine/readout.hpp"
#include "iglens/engine/targets.hpp"
#include "iglens/error.hpp"

namespace iglens {

struct SourceCredits {
  ComponentCredits components;  // the split among heads, bias and MLP that the sources refine
  // [T, L, n_head, S] float64: head h of block l reading source position j,
  // for target t; zero for sources after the target's position.
  torch::Tensor credits;
};

namespace detail {

// Block l's attention segment (resid_pre[l] -> resid_mid[l], or a parallel
// block's resid_pre[l] -> resid_pre[l+1]) on `path`, for the slopes of its parts.
inline PartSlopes attention_segment(const TokenPath& path, const NormHead& head, const torch::Tensor& offset,
                                    std::int64_t l) {
  const auto first = path.attention_start(l);
  const auto& v = path.vertices;
  const auto& u = path.u_vertex;
  return PartSlopes(head, path.target, offset,
                    {v[first], v[first + 1], (v[first + 1] - v[first]).unsqueeze(0), u[first], u[first + 1],
                     (u[first + 1] - u[first]).unsqueeze(0)});
}

// The points where an estimator reads the slopes: midpoints for observed
// delta (whose steps they refine), the rule's nodes otherwise.
inline torch::Tensor slope_points(const Options& options) {
  const auto f64 = torch::dtype(torch::kFloat64);
  if (options.estimator == Estimator::observed_delta) {
    return (torch::arange(options.steps, f64) + 0.5) / static_cast<double>(options.steps);
  }
  return torch::tensor(quadrature_rule(options.estimator, options.steps).nodes, f64);
}

// Source credits [H, n] of one attention segment whose sources are positions
// 0..n-1 and whose parts are `sources` [H, n, d], from grad f at the
// slope_points [P, d] and, for observed delta, the head split's steps.
inline torch::Tensor split_head_sources(const torch::Tensor& gradients, const Options& options,
                                        const torch::Tensor& sources, const torch::Tensor& head_steps) {
  const auto f64 = torch::dtype(torch::kFloat64);
  const auto H = sources.size(0), n = sources.size(1);
  const auto slopes = torch::einsum("pd,hjd->phj", {gradients, sources.to(torch::kFloat64)});  // D_hj f [P, H, n]
  if (options.estimator != Estimator::observed_delta) {
    return torch::einsum("p,phj->hj",
                         {torch::tensor(quadrature_rule(options.estimator, options.steps).weights, f64), slopes});
  }
  const double dt = 1.0 / static_cast<double>(options.steps);
  const auto leftover = head_steps.narrow(1, 0, H) - slopes.sum(2) * dt;  // c_h(s) - sum_k D_hk f dt [m, H]
  const auto magnitude = slopes.abs();
  const auto total = magnitude.sum(2, true);
  const auto share = torch::where(total > 0, magnitude / torch::where(total > 0, total, torch::ones_like(total)),
                                  torch::full_like(magnitude, 1.0 / static_cast<double>(n)));
  return (slopes * dt + leftover.unsqueeze(2) * share).sum(0);
}

}  // namespace detail

// Every target's component credits, as attribute_components gives them, and
// each head's credit split among the source positions up to the target's.
// The components must carry what the heads read (ResidualComponents::
// has_sources: the native decoders give it, and bundles exported with
// `head_reads`).
inline SourceCredits attribute_sources(const ResidualComponents& components, const Targets& targets,
                                       const NormHead& head, const Options& options) {
  detail::check_component_inputs(components, targets, head, options);
  require(components.has_sources(),
          "the split by source position needs the attention patterns and value vectors of every head, which this "
          "model's components do not carry (bundles exported before the split by source position existed do not: "
          "re-export them with python/export_gpt2.py --bundle OLD.pt -o NEW.pt)");
  const auto L = components.n_layer(), S = components.length(), H = components.n_head(), d = components.d_model();
  require(components.attn_pattern.sizes() == torch::IntArrayRef({L, H, S, S}) &&
              components.head_values.sizes() == torch::IntArrayRef({L, S, H, d}) &&
              components.head_scale.sizes() == torch::IntArrayRef({L, S, d}),
          "source attribution: attn_pattern {}, head_values {} and head_scale {} do not fit L {}, S {}, H {}, d {}",
          detail::shape_string(components.attn_pattern), detail::shape_string(components.head_values),
          detail::shape_string(components.head_scale), L, S, H, d);
  const auto dtype = options.dtype;
  const auto pattern = components.attn_pattern.to(dtype), values = components.head_values.to(dtype),
             scale = components.head_scale.to(dtype);
  require(detail::all_finite(pattern) && detail::all_finite(values) && detail::all_finite(scale),
          "source attribution: the attention patterns or values contain NaN or Inf");

  const auto T = static_cast<std::int64_t>(targets.size());
  SourceCredits result;
  auto& split = result.components;
  split = detail::empty_component_credits(components, T, options);
  result.credits = torch::zeros({T, L, H, S}, torch::kFloat64);
  const bool observed = options.estimator == Estimator::observed_delta;
  const auto points = detail::slope_points(options);
  detail::for_each_token_path(components, targets, head, options, observed,
                              [&](std::int64_t i, const detail::TokenPath& path, const detail::PathCredits& token,
                                  const NormHead& typed_head, const torch::Tensor& offset) {
                                detail::record_token(split, i, token);
                                const auto position = targets.positions[static_cast<std::size_t>(i)];
                                const auto n = position + 1;
                                // grad f at every block's slope points, blocks sharing the products with W.
                                std::vector<detail::PartSlopes> segments;
                                for (std::int64_t l = 0; l < L; ++l) {
                                  segments.push_back(detail::attention_segment(path, typed_head, offset, l));
                                }
                                const auto gradients = detail::gradients_along(segments, typed_head, points);
                                for (std::int64_t l = 0; l < L; ++l) {
                                  // d_hj for the sources 0..position [H, n, d].
                                  const auto weights = pattern[l].select(1, position).narrow(1, 0, n);    // [H, n]
                                  const auto read = values[l].narrow(0, 0, n).transpose(0, 1);            // [H, n, d]
                                  const auto sources = weights.unsqueeze(2) * read * scale[l][position];  // [H, n, d]
                                  const auto head_steps =
                                      observed ? token.attention_steps[static_cast<std::size_t>(l)] : torch::Tensor();
                                  result.credits[i][l].narrow(1, 0, n).copy_(
                                      detail::split_head_sources(gradients[l], options, sources, head_steps));
                                }
                              });
  split.delta = split.f_final - split.f_baseline;
  return result;
}

}  // namespace iglens
