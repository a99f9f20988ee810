#pragma once
// The IG-Lens engine: residual stream + targets + readout -> attribution map.
//
// For each attributed position the path baseline -> h_L1 -> ... -> h_Lk is
// read through one readout; segment j's Integrated Gradients is credited to
// layer Lj. By the gradient theorem each segment equals f(end) - f(start), so
// every row telescopes to f(h_final) - f(baseline).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/detail/finite.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/detail/torch_call.hpp"
#include "iglens/engine/attribution.hpp"
#include "iglens/engine/detail/chain.hpp"
#include "iglens/engine/options.hpp"
#include "iglens/engine/readout.hpp"
#include "iglens/engine/targets.hpp"
#include "iglens/error.hpp"

namespace iglens {
namespace detail {

inline void check_residual_stream(const torch::Tensor& residual) {
  require(residual.defined() && residual.dim() == 4, "residual stream must be [L+1, B, S, d], got {}",
          shape_string(residual));
  require(residual.is_floating_point(), "residual stream must be floating point, got {}",
          dtype_name(residual.scalar_type()));
  require(residual.size(0) >= 2, "residual stream has {} layer(s); need embeddings and at least one block",
          residual.size(0));
  require(residual.size(1) >= 1, "residual stream holds no sequence");
  require(residual.size(2) >= 1, "empty sequence: the residual stream has no positions");
  require(residual.size(3) >= 1, "residual stream has width d = 0");
  // A NaN or Inf anywhere would silently poison the map: name where it is.
  if (!all_finite(residual)) {
    auto bad = (~torch::isfinite(residual)).any(-1);  // [L+1, B, S]
    auto where = bad.nonzero()[0];
    const auto layer = where[0].item<std::int64_t>(), seq = where[1].item<std::int64_t>(),
               pos = where[2].item<std::int64_t>();
    if (residual.size(1) == 1) fail("residual stream has NaN or Inf at layer {}, position {}", layer, pos);
    fail("residual stream has NaN or Inf at layer {}, position {} of sequence {}", layer, pos, seq);
  }
}

// Row tensors [B, T] (positions, targets, foils) after checking every id.
struct RowIds {
  torch::Tensor positions, targets, foils;
};

inline RowIds check_targets(const std::vector<Targets>& batch, std::int64_t sequence_length, std::int64_t vocab_size,
                            Objective objective) {
  require(!batch.empty() && !batch.front().positions.empty(), "no positions to attribute");
  const auto T = batch.front().positions.size();
  std::vector<std::int64_t> positions, targets, foils;
  for (std::size_t b = 0; b < batch.size(); ++b) {
    const auto& t = batch[b];
    require(t.positions.size() == T,
            "every sequence of a batch needs the same number of positions ({} vs {} in sequence {})", T,
            t.positions.size(), b);
    require(t.ids.size() == T, "{} target ids for {} positions", t.ids.size(), T);
    require(!needs_foil(objective) || t.foils.size() == T,
            "objective {} needs one foil per position ({} foils for {} positions)", objective_name(objective),
            t.foils.size(), T);
    for (std::size_t i = 0; i < T; ++i) {
      require(t.positions[i] >= 0 && t.positions[i] < sequence_length, "position {} is out of range [0, {})",
              t.positions[i], sequence_length);
      require(t.ids[i] >= 0 && t.ids[i] < vocab_size, "target id {} is out of range [0, {})", t.ids[i], vocab_size);
      positions.push_back(t.positions[i]);
      targets.push_back(t.ids[i]);
      if (needs_foil(objective)) {
        require(t.foils[i] >= 0 && t.foils[i] < vocab_size, "foil id {} is out of range [0, {})", t.foils[i],
                vocab_size);
        require(t.foils[i] != t.ids[i], "foil equals the target (id {}) at position {}", t.ids[i], t.positions[i]);
        foils.push_back(t.foils[i]);
      }
    }
  }
  const auto B = static_cast<std::int64_t>(batch.size()), TT = static_cast<std::int64_t>(T);
  RowIds rows{torch::tensor(positions, torch::kLong).view({B, TT}), torch::tensor(targets, torch::kLong).view({B, TT}),
              torch::Tensor()};
  if (needs_foil(objective)) rows.foils = torch::tensor(foils, torch::kLong).view({B, TT});
  return rows;
}

// The (row, index) of the first true entry of a mask [R, N, ...], any of
// its trailing entries counting, if there is one.
inline std::optional<std::pair<std::int64_t, std::int64_t>> first_true(const torch::Tensor& mask) {
  auto hits = (mask.dim() > 2 ? mask.flatten(2).any(-1) : mask).nonzero();
  if (hits.size(0) == 0) return std::nullopt;
  return std::make_pair(hits[0][0].item<std::int64_t>(), hits[0][1].item<std::int64_t>());
}

inline std::optional<std::pair<std::int64_t, std::int64_t>> first_non_finite(const torch::Tensor& values) {
  if (all_finite(values)) return std::nullopt;
  return first_true(~torch::isfinite(values));
}

// The vocabulary size a readout answers with, checked on one real vector of
// the residual stream [L+1, B, S, d], already in the run's dtype.
inline std::int64_t probe_vocab_size(const Readout& readout, const torch::Tensor& residual) {
  const auto d = residual.size(3);
  if (readout.is_closed_form()) {
    require(readout.head().d_model() == d, "readout expects d_model {} but the residual stream has d = {}",
            readout.head().d_model(), d);
    return readout.head().vocab_size();
  }
  torch::NoGradGuard no_grad;
  auto probe = residual[-1][0][0].view({1, d});
  auto z = guarded_call("readout", [&] { return readout.logits(probe); });
  require(z.defined() && z.dim() == 2 && z.size(0) == 1 && z.size(1) >= 1,
          "readout returned logits of shape {} for input [1, {}]; expected [1, V]", shape_string(z), d);
  return z.size(1);
}

}  // namespace detail

// Attributes a batch: residual [L+1, B, S, d] (index 0 = embeddings, index L =
// the residual before the final norm) and one Targets per sequence, all of the
// same length T. Per-token results are [B, T, ...].
inline Attribution attribute_batch(const torch::Tensor& residual, const std::vector<Targets>& targets,
                                   const Readout& readout, const Options& options) {
  // No autograd graph, even when the model's parameters require gradients:
  // the black box enables it only for its own derivatives.
  torch::NoGradGuard no_grad;
  options.validate();
  detail::check_residual_stream(residual);
  const auto n_layers = residual.size(0) - 1, B = residual.size(1), S = residual.size(2), d = residual.size(3);
  require(static_cast<std::int64_t>(targets.size()) == B, "{} target lists for {} sequences", targets.size(), B);
  const auto layers = options.layers.resolve(n_layers);
  const auto K = static_cast<std::int64_t>(layers.size());
  const auto device = residual.device();
  const auto float_options = torch::TensorOptions().dtype(options.dtype).device(device);
  auto x = residual.to(float_options);
  const auto vocab_size = detail::probe_vocab_size(readout, x);
  auto rows = detail::check_targets(targets, S, vocab_size, options.objective);
  const auto T = rows.positions.size(1), R = B * T;
  auto layer_index = torch::tensor(layers, torch::kLong).to(device);
  auto positions = rows.positions.to(device);
  auto target = rows.targets.to(device).reshape({R});
  auto foil = rows.foils.defined() ? rows.foils.to(device).reshape({R}) : rows.foils;

  // Chain vertices [R, K+1, d]: the baseline, then each chosen layer.
  auto gather_positions = [&](const torch::Tensor& per_position) {  // [B, S, d] -> [B, T, d]
    return per_position.gather(1, positions.unsqueeze(-1).expand({B, T, d}));
  };
  auto baseline = gather_positions(options.baseline.points_for(x[layers.front()]));
  auto chosen = x.index_select(0, layer_index).permute({1, 2, 0, 3});  // [B, S, K, d]
  auto layer_points = chosen.gather(1, positions.view({B, T, 1, 1}).expand({B, T, K, d}));
  auto chain = torch::cat({baseline.unsqueeze(2), layer_points}, 2).reshape({R, K + 1, d});

  // What the estimator needs beyond the vertices.
  detail::ChainRequest request;
  request.objective = options.objective;
  std::vector<double> weights;
  if (uses_gradient(options.estimator)) {
    auto rule = quadrature_rule(options.estimator, options.steps);
    request.work = detail::SegmentWork::derivatives;
    request.nodes = torch::tensor(rule.nodes, torch::kDouble).to(float_options);
    weights = std::move(rule.weights);
  } else if (options.keep_per_step && options.steps > 1) {
    request.work = detail::SegmentWork::values;  // interior points i / m
    request.nodes = (torch::arange(1, options.steps, torch::kDouble) / options.steps).to(float_options);
  }
  // Half the budget for the row chunk's vertex work, half for its segments.
  request.budget_bytes = options.memory_budget_bytes / 2;
  const auto Q = request.nodes.defined() ? request.nodes.size(0) : 0;

  auto evaluate_rows = [&](auto&& backend) {
    const auto rows_per_chunk = detail::count_within(request.budget_bytes, backend.bytes_per_row(K, Q, d));
    std::vector<torch::Tensor> vertex_parts, segment_parts, through_zero_parts;
    for (std::int64_t begin = 0; begin < R; begin += rows_per_chunk) {
      const auto n = std::min(R, begin + rows_per_chunk) - begin;
      auto part = backend.evaluate(chain.narrow(0, begin, n), target.narrow(0, begin, n),
                                   detail::optional_rows(foil, begin, n), request);
      vertex_parts.push_back(part.vertex);
      if (part.segment.defined()) segment_parts.push_back(part.segment);
      if (part.through_zero.defined()) through_zero_parts.push_back(part.through_zero);
      if (options.progress) options.progress(begin + n, R);
    }
    detail::ChainValues all;
    all.vertex = torch::cat(vertex_parts, 0);
    if (!segment_parts.empty()) all.segment = torch::cat(segment_parts, 0);
    if (!through_zero_parts.empty()) all.through_zero = torch::cat(through_zero_parts, 0);
    return all;
  };
  const auto values =
      readout.is_closed_form()
          ? evaluate_rows(detail::ClosedFormChain(readout.head().to(float_options)))
          : evaluate_rows(detail::BlackBoxChain([&readout](const torch::Tensor& h) { return readout.logits(h); },
                                                vocab_size, x.element_size()));
  // No NaN or Inf reaches a result: each is named by its token and layer.
  auto token = [&](std::int64_t row) {
    const auto position = rows.positions[row / T][row % T].item<std::int64_t>();
    return B == 1 ? fmt::format("position {}", position) : fmt::format("position {} of sequence {}", position, row / T);
  };
  auto vertex_name = [&](std::int64_t k) {
    return k == 0 ? std::string("the baseline") : fmt::format("layer {}", layers[k - 1]);
  };
  const auto remedy = fmt::format(
      "it left {}'s range or met h = 0 with norm eps 0; {}use a non-zero norm eps or "
      "another baseline",
      detail::dtype_name(options.dtype), options.dtype == torch::kFloat32 ? "run in float64 (--dtype float64), " : "");
  if (values.through_zero.defined()) {
    if (const auto at = detail::first_true(values.through_zero)) {
      fail(
          "the path to layer {} at {} passes through h = 0, where the final norm with eps 0 is "
          "undefined: use a non-zero norm eps or another baseline",
          layers[at->second], token(at->first));
    }
  }
  if (const auto at = detail::first_non_finite(values.vertex)) {
    fail("{} is not finite at {}, {}: {}", objective_name(options.objective), token(at->first), vertex_name(at->second),
         remedy);
  }
  if (values.segment.defined()) {
    if (const auto at = detail::first_non_finite(values.segment)) {
      fail("{}'s {} is not finite on the path to layer {} at {}: {}", objective_name(options.objective),
           uses_gradient(options.estimator) ? "derivative" : "value", layers[at->second], token(at->first), remedy);
    }
  }

  Attribution result;
  auto vertex = values.vertex.view({B, T, K + 1});
  result.lens = vertex.narrow(2, 1, K).contiguous();
  result.f_baseline = vertex.select(2, 0).contiguous();
  result.f_final = vertex.select(2, K).contiguous();
  result.delta = result.f_final - result.f_baseline;
  if (uses_gradient(options.estimator)) {
    auto w = torch::tensor(weights, torch::kDouble).to(float_options);
    auto credits = values.segment.view({B, T, K, Q}) * w;
    result.ig = credits.sum(-1);
    if (const auto at = detail::first_non_finite(result.ig.view({R, K}))) {
      fail("the credit of layer {} at {} is not finite: {}", layers[at->second], token(at->first), remedy);
    }
    if (options.keep_per_step) result.per_step = credits;
  } else {
    result.ig = (vertex.narrow(2, 1, K) - vertex.narrow(2, 0, K)).contiguous();
    if (options.keep_per_step) {
      // f at t = 0, 1/m, ..., 1 with the ends taken from the vertices, so the
      // steps of a segment sum to its credit exactly.
      std::vector<torch::Tensor> profile{vertex.narrow(2, 0, K).unsqueeze(-1)};
      if (values.segment.defined()) profile.push_back(values.segment.view({B, T, K, Q}));
      profile.push_back(vertex.narrow(2, 1, K).unsqueeze(-1));
      auto path = torch::cat(profile, -1);
      result.per_step = path.narrow(-1, 1, options.steps) - path.narrow(-1, 0, options.steps);
    }
  }
  // Completeness is checked in float64 so the check adds no rounding of its own.
  auto row_error = result.ig.to(torch::kDouble).sum(-1) - result.delta.to(torch::kDouble);
  result.convergence_delta = row_error.to(options.dtype);
  result.completeness_error = row_error.abs().max().item<double>();
  result.onset_layer = detail::onset_layers(result.ig, layers, options.onset_fraction);
  result.positions = rows.positions;
  result.target_ids = rows.targets;
  result.foil_ids = rows.foils;
  result.layers = layers;
  result.estimator = options.estimator;
  result.steps = options.steps;
  result.baseline = options.baseline.name();
  result.objective = options.objective;
  result.onset_fraction = options.onset_fraction;
  return result;
}

// Attributes one sequence: residual [L+1, S, d]; per-token results are [T, ...].
inline Attribution attribute(const torch::Tensor& residual, const Targets& targets, const Readout& readout,
                             const Options& options) {
  require(residual.defined() && residual.dim() == 3, "residual stream of one sequence must be [L+1, S, d], got {}",
          detail::shape_string(residual));
  return attribute_batch(residual.unsqueeze(1), {targets}, readout, options).sequence(0);
}

}  // namespace iglens
