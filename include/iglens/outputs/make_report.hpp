#pragma once
// From the library's results to a Report (report.hpp): the numbers of a layer
// map, and of its components where there are any, with each token's text.
// What the numbers do not know (the model's name, the prompt, how the answer
// came about: mode, stop token, skipped positions) is the caller's to fill in.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/components/component_attribution.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/engine/attribution.hpp"
#include "iglens/engine/targets.hpp"
#include "iglens/error.hpp"
#include "iglens/lens/lens.hpp"
#include "iglens/outputs/report.hpp"
#include "iglens/text/tokenizer.hpp"

namespace iglens {
namespace detail {

inline std::vector<double> to_doubles(const torch::Tensor& t) {
  auto values = t.to(torch::kCPU, torch::kDouble).contiguous();
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

}  // namespace detail

// The whole answer's total: its tokens' rows summed column by column.
inline ContinuationTotal continuation_total(const std::vector<TokenRow>& rows, std::size_t layer_count) {
  ContinuationTotal total;
  total.tokens = static_cast<std::int64_t>(rows.size());
  total.ig.assign(layer_count, 0.0);
  total.lens.assign(layer_count, 0.0);
  for (const auto& row : rows) {
    for (std::size_t j = 0; j < layer_count; ++j) {
      total.ig[j] += row.ig[j];
      total.lens[j] += row.lens[j];
    }
    total.f_final += row.f_final;
    total.f_baseline += row.f_baseline;
    total.delta += row.delta;
  }
  return total;
}

// The report of an unbatched map attributed on `targets`, its tokens written by
// `tokenizer`; under the logprob objective with two or more tokens, the
// answer's total too.
inline Report make_report(const Attribution& map, const Targets& targets, const Tokenizer& tokenizer) {
  const auto T = static_cast<std::int64_t>(targets.size());
  require(map.ig.defined() && map.ig.dim() == 2 && map.ig.size(0) == T,
          "make_report: needs an unbatched map of the {} targets, got ig {}", T, detail::shape_string(map.ig));
  Report report;
  report.layers = map.layers;
  report.estimator = estimator_name(map.estimator);
  report.steps = map.steps;
  report.baseline = map.baseline;
  report.objective = objective_name(map.objective);
  report.dtype = detail::dtype_name(map.ig.scalar_type());
  report.onset_fraction = map.onset_fraction;
  report.completeness_max_abs = map.completeness_error;
  const auto ig = detail::to_doubles(map.ig), lens = detail::to_doubles(map.lens),
             f_final = detail::to_doubles(map.f_final), f_baseline = detail::to_doubles(map.f_baseline),
             delta = detail::to_doubles(map.delta);
  const auto onset = map.onset_layer.to(torch::kCPU);
  const auto K = static_cast<std::ptrdiff_t>(map.layers.size());
  for (std::int64_t i = 0; i < T; ++i) {
    const auto at = static_cast<std::size_t>(i);
    TokenRow row;
    row.position = targets.positions[at];
    row.target_id = targets.ids[at];
    row.target = tokenizer.token_text(row.target_id);
    if (!targets.foils.empty()) {
      row.foil_id = targets.foils[at];
      row.foil = tokenizer.token_text(*row.foil_id);
    }
    row.ig.assign(ig.begin() + i * K, ig.begin() + (i + 1) * K);
    row.lens.assign(lens.begin() + i * K, lens.begin() + (i + 1) * K);
    row.f_final = f_final[at];
    row.f_baseline = f_baseline[at];
    row.delta = delta[at];
    if (const auto layer = onset[i].item<std::int64_t>(); layer >= 0) row.onset_layer = layer;
    report.tokens.push_back(std::move(row));
  }
  if (map.objective == Objective::log_probability && T >= 2) {
    report.continuation = continuation_total(report.tokens, map.layers.size());
  }
  return report;
}

// The same with each token's component credits and their layout.
inline Report make_report(const ComponentMap& map, const Targets& targets, const Tokenizer& tokenizer) {
  auto report = make_report(map.layers, targets, tokenizer);
  const auto& components = map.components;
  require(components.credits.defined() && components.credits.size(0) == static_cast<std::int64_t>(targets.size()),
          "make_report: the component credits are for {} targets, not {}", detail::shape_string(components.credits),
          targets.size());
  for (std::size_t i = 0; i < report.tokens.size(); ++i) {
    report.tokens[i].component_credits = detail::to_doubles(components.credits[static_cast<std::int64_t>(i)]);
  }
  report.components = ReportComponents{components.layout, estimator_name(components.estimator), components.steps};
  return report;
}

// The same with each head's credit by source position; `sequence` is the ids
// the map read (the prompt, then the answer), whose positions the sources are.
// With top > 0 the outputs keep each head's `top` largest |credit| sources.
inline Report make_report(const SourceMap& map, const Targets& targets, const Tokenizer& tokenizer,
                          const std::vector<std::int64_t>& sequence, std::int64_t top = 0) {
  require(top >= 0, "make_report: the number of sources kept per head must be at least 0 (0: all), got {}", top);
  auto report = make_report(ComponentMap{map.layers, map.sources.components}, targets, tokenizer);
  const auto& credits = map.sources.credits;  // [T, L, H, S]
  require(credits.defined() && credits.dim() == 4 && credits.size(3) == static_cast<std::int64_t>(sequence.size()),
          "make_report: source credits {} do not fit a sequence of {} ids", detail::shape_string(credits),
          sequence.size());
  for (std::size_t i = 0; i < report.tokens.size(); ++i) {
    auto& row = report.tokens[i];
    row.source_credits = detail::to_doubles(credits[static_cast<std::int64_t>(i)].narrow(2, 0, row.position + 1));
  }
  ReportSources sources;
  sources.top = top;
  sources.ids = sequence;
  for (const auto id : sequence) sources.tokens.push_back(tokenizer.token_text(id));
  report.sources = std::move(sources);
  return report;
}

}  // namespace iglens
