#pragma once
// Attribution of one token's probability to the parts of every block: the
// embedding, each attention head, the attention output bias and each MLP.
//
// The path visits the baseline, then resid_pre[0], resid_mid[0],
// resid_pre[1], ..., resid_pre[L]; in parallel blocks (GPT-NeoX), which have
// no resid_mid, it goes from resid_pre[l] to resid_pre[l+1] in one segment
// whose parts are the heads, the bias and the MLP. With the observed-delta
// estimator the embedding segment and every MLP half-block segment have one
// part, credited with their observed change of f = p_target. A segment of
// several parts d = sum_c d_c (heads, bias; and the MLP in a parallel
// block) is split step by step: step s of m (width dt)
// gets its observed change df_s, shared as
//   credit_c(s) = D_c f dt + (df_s - D_d f dt) |D_c f| / sum_k |D_k f|,
// D_c f = <grad f(h(t*)), d_c> at the step midpoint t*, D_d f = sum_c D_c f:
// each part's midpoint-rule credit, and the rule's leftover shared by the
// size of the parts' slopes. Where all slopes share a sign this is
//   credit_c(s) = df_s * D_c f / D_d f;
// where they do not, that ratio divides by a D_d f that can near zero while
// the parts do not (Gemma 2's capped logits: 7e-7 from the integral at m 256,
// worse than at m 64), and this form never strays further from the midpoint
// credit than the ratio. The parts of a segment add up to its observed
// change at any m, and as m grows each credit tends to the Integrated
// Gradients integral of <grad f, d_c>.
// The raw-gradient estimators (Riemann, Gauss-Legendre) integrate D_c f by
// their quadrature rule on every segment instead: references that converge
// to the same split. D_c f comes in closed form (detail/part_slopes.hpp).
// (derivation: docs/component-attribution.md)

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "iglens/components/component_layout.hpp"
#include "iglens/components/components.hpp"
#include "iglens/components/detail/part_slopes.hpp"
#include "iglens/detail/finite.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/engine/estimator.hpp"
#include "iglens/engine/options.hpp"
#include "iglens/engine/readout.hpp"
#include "iglens/engine/targets.hpp"
#include "iglens/error.hpp"

namespace iglens {

// Every target's credits, one row per target, one column per part of `layout`.
struct ComponentCredits {
  ComponentLayout layout;
  torch::Tensor credits;                     // [T, C] float64, columns in the order of layout.parts
  torch::Tensor f_final, f_baseline, delta;  // [T] float64: p_target at resid_pre[L], at the baseline, and
                                             // their difference = credits.sum(1) (observed delta: exactly)
  Estimator estimator = Estimator::observed_delta;
  std::int64_t steps = 0;
};

namespace detail {

// Observed-delta credits per step [m, C] (float64) of the parts [C, d] of a segment whose
// ends have the probabilities f_start and f_end, over `steps` steps (the
// rule above; the leftover is shared equally where every slope is zero).
// A step's credits add up to df_s and stay within |D_c f| dt + |df_s - D_d f dt|,
// so they are always finite.
inline torch::Tensor split_observed_delta_steps(const PartSlopes& along, double f_start, double f_end,
                                                std::int64_t parts, std::int64_t steps) {
  const auto f64 = torch::dtype(torch::kFloat64);
  const double dt = 1.0 / static_cast<double>(steps);
  // f at the step boundaries: the two ends as given, so consecutive segments share their vertex values.
  auto boundary = torch::empty({steps + 1}, f64);
  boundary[0] = f_start;
  boundary[steps] = f_end;
  if (steps > 1) boundary.narrow(0, 1, steps - 1).copy_(along.values(torch::arange(1, steps, f64) * dt));
  const auto slopes = along.slopes((torch::arange(steps, f64) + 0.5) * dt);  // D_c f at the step midpoints [m, C]
  const auto change = boundary.narrow(0, 1, steps) - boundary.narrow(0, 0, steps);  // df_s [m]
  const auto leftover = change - slopes.sum(1) * dt;                                // df_s - D_d f dt [m]
  const auto magnitude = slopes.abs();
  const auto total_magnitude = magnitude.sum(1, true);
  const auto share =
      torch::where(total_magnitude > 0,
                   magnitude / torch::where(total_magnitude > 0, total_magnitude, torch::ones_like(total_magnitude)),
                   torch::full_like(magnitude, 1.0 / static_cast<double>(parts)));
  return slopes * dt + leftover.unsqueeze(1) * share;  // [m, C]
}

// Raw-gradient credits [C] (float64): the estimator's quadrature of D_c f.
inline torch::Tensor split_by_quadrature(const PartSlopes& along, Estimator estimator, std::int64_t steps) {
  const auto rule = quadrature_rule(estimator, steps);
  const auto f64 = torch::dtype(torch::kFloat64);
  const auto nodes = torch::tensor(rule.nodes, f64), weights = torch::tensor(rule.weights, f64);
  return torch::matmul(weights, along.slopes(nodes));
}

// One token's path: the vertices baseline, resid_pre[0], resid_mid[0],
// resid_pre[1], ..., resid_pre[L] [2L + 2, d] (parallel blocks: baseline,
// resid_pre[0..L], [L + 2, d]) with their unscaled logits, and the parts of
// every attention segment [L, H + 1, d] (heads, then the bias; parallel
// blocks: then the MLP, [L, H + 2, d]) with theirs [L, H + 1 (+ 1), V], or
// undefined when they do not fit in memory at once (then they are made
// block group by block group).
struct TokenPath {
  std::int64_t target = 0;
  bool parallel_blocks = false;
  torch::Tensor vertices, u_vertex, parts, u_parts;

  // The vertex where block l's attention segment starts.
  std::int64_t attention_start(std::int64_t l) const { return parallel_blocks ? l + 1 : 2 * l + 1; }
};

// A path's credits [C] in the order of ComponentLayout::of_blocks, and f at
// its two ends; with observed delta, where asked, each attention segment's
// credits per step [L][m, H + 1 (+ 1)] (heads, then the bias, then a
// parallel block's MLP).
struct PathCredits {
  torch::Tensor credits;
  double f_baseline = 0.0, f_final = 0.0;
  std::vector<torch::Tensor> attention_steps;
};

inline PathCredits attribute_path(const TokenPath& path, const NormHead& head, const torch::Tensor& offset,
                                  const Options& options, bool keep_attention_steps = false) {
  const auto L = path.parts.size(0), P = path.parts.size(1), d = path.parts.size(2);
  const auto steps = options.steps;
  const auto estimator = options.estimator;
  const auto& vertices = path.vertices;
  const auto& u_vertex = path.u_vertex;
  const auto f_vertex = torch::softmax(head.cap(u_vertex / norm_scale(head, vertices).unsqueeze(1) + offset), -1)
                            .select(1, path.target)
                            .to(torch::kFloat64);
  const auto f = [&](std::int64_t vertex) { return f_vertex[vertex].item<double>(); };

  PathCredits result;
  // The segment from vertex `first` to the next, split among `parts` [C, d] with unscaled logits [C, V].
  const auto split = [&](const torch::Tensor& parts, const torch::Tensor& u_parts, std::int64_t first) {
    const PartSlopes along(
        head, path.target, offset,
        {vertices[first], vertices[first + 1], parts, u_vertex[first], u_vertex[first + 1], u_parts});
    if (estimator != Estimator::observed_delta) return split_by_quadrature(along, estimator, steps);
    auto per_step = split_observed_delta_steps(along, f(first), f(first + 1), parts.size(0), steps);
    if (keep_attention_steps) result.attention_steps.push_back(per_step);  // only attention segments get here
    return per_step.sum(0);
  };
  // A one-part segment (the embedding, an MLP): its observed change, or the integral of its slope.
  const auto whole = [&](std::int64_t first) {
    if (estimator == Estimator::observed_delta) return torch::full({1}, f(first + 1) - f(first), torch::kFloat64);
    // Unscaled logits are linear: those of end - start are u_end - u_start.
    return split((vertices[first + 1] - vertices[first]).unsqueeze(0),
                 (u_vertex[first + 1] - u_vertex[first]).unsqueeze(0), first);
  };

  std::vector<torch::Tensor> credits{whole(0)};
  const auto block_bytes = P * head.vocab_size() * path.parts.element_size();
  const auto blocks_per_pass =
      path.u_parts.defined()
          ? L
          : std::max<std::int64_t>(1, static_cast<std::int64_t>(options.memory_budget_bytes) / block_bytes);
  torch::Tensor u_parts = path.u_parts;  // [blocks of this pass, P, V]
  for (std::int64_t l = 0; l < L; ++l) {
    if (!path.u_parts.defined() && l % blocks_per_pass == 0) {
      const auto count = std::min(blocks_per_pass, L - l);
      u_parts = unscaled_logits(head, path.parts.narrow(0, l, count).reshape({count * P, d}))
                    .view({count, P, head.vocab_size()});
    }
    credits.push_back(split(path.parts[l], u_parts[l % blocks_per_pass], path.attention_start(l)));
    if (!path.parallel_blocks) credits.push_back(whole(2 * l + 2));
  }
  result.credits = torch::cat(credits);
  result.f_baseline = f(0);
  result.f_final = f(vertices.size(0) - 1);
  return result;
}

// The checks attribute_components makes before any work.
inline void check_component_inputs(const ResidualComponents& c, const Targets& targets, const NormHead& head,
                                   const Options& options) {
  options.validate();
  require(options.objective == Objective::probability,
          "component attribution splits the probability of the target: use the prob objective (got {})",
          objective_name(options.objective));
  require(c.resid_pre.defined() && c.head_results.defined() && c.attn_bias.defined() && c.mlp_out.defined(),
          "component attribution: a component tensor is missing");
  require(c.head_results.dim() == 4, "component attribution: head_results must be [L, S, n_head, d], got {}",
          shape_string(c.head_results));
  const auto L = c.n_layer(), S = c.length(), d = c.d_model();
  const std::vector<std::int64_t> block_shape{L, S, d};
  require(c.resid_pre.sizes() == torch::IntArrayRef({L + 1, S, d}) && c.attn_bias.sizes() == block_shape &&
              c.mlp_out.sizes() == block_shape && (c.parallel_blocks() || c.resid_mid.sizes() == block_shape),
          "component attribution: component shapes disagree with head_results {}", shape_string(c.head_results));
  require(c.resid_pre.is_floating_point(), "component attribution: components must be floating point, got {}",
          dtype_name(c.resid_pre.scalar_type()));
  require(targets.positions.size() == targets.ids.size(), "component attribution: {} positions but {} targets",
          targets.positions.size(), targets.ids.size());
  require(!targets.positions.empty(), "component attribution: no targets");
  head.validate();
  require(head.d_model() == d, "component attribution: the readout takes d = {}, the components have {}",
          head.d_model(), d);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    require(targets.positions[i] >= 0 && targets.positions[i] < S,
            "component attribution: position {} is outside [0, {})", targets.positions[i], S);
    require(targets.ids[i] >= 0 && targets.ids[i] < head.vocab_size(),
            "component attribution: target {} is outside the vocabulary [0, {})", targets.ids[i], head.vocab_size());
  }
  require(all_finite(c.resid_pre) && (c.parallel_blocks() || all_finite(c.resid_mid)) && all_finite(c.head_results) &&
              all_finite(c.attn_bias) && all_finite(c.mlp_out),
          "component attribution: the components contain NaN or Inf");
}

}  // namespace detail

namespace detail {

// Credits for T targets, to fill token by token (record_token), then delta.
inline ComponentCredits empty_component_credits(const ResidualComponents& components, std::int64_t T,
                                                const Options& options) {
  ComponentCredits credits;
  credits.layout = ComponentLayout::of_blocks(components.n_layer(), components.n_head(), components.parallel_blocks());
  credits.estimator = options.estimator;
  credits.steps = options.steps;
  const auto f64 = torch::dtype(torch::kFloat64);
  credits.credits = torch::empty({T, static_cast<std::int64_t>(credits.layout.size())}, f64);
  credits.f_final = torch::empty({T}, f64);
  credits.f_baseline = torch::empty({T}, f64);
  return credits;
}

inline void record_token(ComponentCredits& credits, std::int64_t i, const PathCredits& token) {
  credits.credits[i].copy_(token.credits);
  credits.f_baseline[i] = token.f_baseline;
  credits.f_final[i] = token.f_final;
}

// The work every split shares, on inputs check_component_inputs accepted:
// each target's path (in the options' dtype),
// its unscaled logits in passes over the unembedding shared by up to 8
// tokens within the memory budget, and its credits, handed to
// `on_token(i, path, credits, head, offset)` with head and offset in the
// options' dtype. options.progress hears of each pass.
template <class OnToken>
void for_each_token_path(const ResidualComponents& components, const Targets& targets, const NormHead& head_in,
                         const Options& options, bool keep_attention_steps, OnToken&& on_token) {
  torch::NoGradGuard no_grad;
  const auto dtype = options.dtype;
  const bool parallel = components.parallel_blocks();
  const auto pre = components.resid_pre.to(dtype), head_results = components.head_results.to(dtype),
             attn_bias = components.attn_bias.to(dtype);
  const auto mid = parallel ? torch::Tensor() : components.resid_mid.to(dtype);
  const auto mlp_out = parallel ? components.mlp_out.to(dtype) : torch::Tensor();
  const auto L = components.n_layer(), d = components.d_model();
  const auto T = static_cast<std::int64_t>(targets.size());
  const auto positions = torch::tensor(targets.positions, torch::kLong).to(pre.device());
  const auto baselines = options.baseline.points_for(pre[0].unsqueeze(0))[0].index_select(0, positions);  // [T, d]
  require(all_finite(baselines), "component attribution: the baseline contains NaN or Inf");
  const auto head = head_in.to(pre.options());
  const auto offset = logit_offset(head);

  auto path_of = [&](std::int64_t i) {
    const auto position = targets.positions[static_cast<std::size_t>(i)];
    const auto pre_i = pre.select(1, position);
    std::vector<torch::Tensor> vertices{baselines[i], pre_i[0]};
    for (std::int64_t l = 0; l < L; ++l) {
      if (!parallel) vertices.push_back(mid[l][position]);
      vertices.push_back(pre_i[l + 1]);
    }
    std::vector<torch::Tensor> parts{head_results.select(1, position), attn_bias.select(1, position).unsqueeze(1)};
    if (parallel) parts.push_back(mlp_out.select(1, position).unsqueeze(1));
    TokenPath path;
    path.target = targets.ids[static_cast<std::size_t>(i)];
    path.parallel_blocks = parallel;
    path.vertices = torch::stack(vertices);
    path.parts = torch::cat(parts, 1);
    return path;
  };
  // Tokens per pass over the unembedding: all their vertex and part rows at
  // once, at most 8 so that progress is heard; with none, each token's parts
  // are made block group by block group.
  constexpr std::int64_t most_tokens_per_pass = 8;
  if (T == 0) return;
  // Token 0's path gives every token's row counts, and serves as its path.
  TokenPath first_path = path_of(0);
  const auto vertex_rows = first_path.vertices.size(0), part_rows = first_path.parts.size(0) * first_path.parts.size(1);
  const auto token_bytes = (vertex_rows + part_rows) * head.vocab_size() * pre.element_size();
  const auto fitting_tokens = static_cast<std::int64_t>(options.memory_budget_bytes) / token_bytes;
  const auto tokens_per_pass = std::clamp<std::int64_t>(fitting_tokens, 1, most_tokens_per_pass);
  for (std::int64_t first = 0; first < T; first += tokens_per_pass) {
    const auto count = std::min(tokens_per_pass, T - first);
    std::vector<TokenPath> paths;
    std::vector<torch::Tensor> rows;
    for (std::int64_t i = first; i < first + count; ++i) {
      paths.push_back(i == 0 ? std::move(first_path) : path_of(i));
      rows.push_back(paths.back().vertices);
      if (fitting_tokens >= 1) rows.push_back(paths.back().parts.reshape({part_rows, d}));
    }
    const auto u_rows = unscaled_logits(head, torch::cat(rows));
    const auto rows_per_token = fitting_tokens >= 1 ? vertex_rows + part_rows : vertex_rows;
    for (std::int64_t k = 0; k < count; ++k) {
      auto& path = paths[static_cast<std::size_t>(k)];
      const auto u_token = u_rows.narrow(0, k * rows_per_token, rows_per_token);
      path.u_vertex = u_token.narrow(0, 0, vertex_rows);
      if (fitting_tokens >= 1) path.u_parts = u_token.narrow(0, vertex_rows, part_rows).view({L, part_rows / L, -1});
      on_token(first + k, path, attribute_path(path, head, offset, options, keep_attention_steps), head, offset);
    }
    if (options.progress) options.progress(first + count, T);
  }
}

}  // namespace detail

// Credits of every component of `components` (one sequence) for p_target at
// each target, read through `head`, along the path that starts at the
// options' baseline (taken at layer 0, at the target's position, as the
// layer map takes it when it starts there) and visits every block, with the
// options' estimator and steps per segment. Points are evaluated in the
// options' dtype; credits are float64. Tokens share passes over the
// unembedding within the options' memory budget, and options.progress hears
// of each pass.
inline ComponentCredits attribute_components(const ResidualComponents& components, const Targets& targets,
                                             const NormHead& head, const Options& options) {
  detail::check_component_inputs(components, targets, head, options);
  auto result = detail::empty_component_credits(components, static_cast<std::int64_t>(targets.size()), options);
  detail::for_each_token_path(components, targets, head, options, false,
                              [&](std::int64_t i, const detail::TokenPath&, const detail::PathCredits& token,
                                  const NormHead&, const torch::Tensor&) { detail::record_token(result, i, token); });
  result.delta = result.f_final - result.f_baseline;
  return result;
}

}  // namespace iglens
