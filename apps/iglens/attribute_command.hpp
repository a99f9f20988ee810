#pragma once
// `iglens attribute`: a prompt, an answer (the model's greedy continuation or
// a teacher-forced target text) and the IG-Lens map of every answer token.
// Every setting is checked before the model computes anything.

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/iglens.hpp"
#include "iglens/outputs/report.hpp"
#include "program_model.hpp"
#include "progress_bar.hpp"

namespace iglens::cli {

struct AttributeSettings {
  std::string model;
  std::string prompt;
  std::int64_t generate = 8;          // greedy answer length, unless target is set
  std::optional<std::string> target;  // teacher-forced continuation
  std::vector<std::int64_t> layers;   // explicit layers; empty: k or all
  std::optional<std::int64_t> k;
  std::int64_t steps = 64;
  std::string estimator = "observed-delta", baseline = "causal-mean", objective = "prob";
  std::optional<std::string> foil;
  double onset_fraction = 0.5;
  std::string dtype = "float32", device = "cpu";
  bool special_tokens = false;  // recognise special tokens such as <|im_start|> written in the text
  bool bos = false;             // put the BOS token first even where the model's own rule does not
  bool components = false;      // also split each token's change by head, attention bias and MLP
};

// `--foil auto`: per position, the model's most likely token other than the target.
inline constexpr std::string_view automatic_foil = "auto";

inline torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "float64") return torch::kFloat64;
  iglens::fail("unknown dtype '{}' (expected float32 or float64)", name);
}

inline torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    iglens::require(torch::cuda::is_available(),
                    "--device cuda: no CUDA GPU is available to this LibTorch (use --device cpu)");
    return torch::kCUDA;
  }
  iglens::fail("unknown device '{}' (expected cpu or cuda)", name);
}

// The library options the settings ask for, checked as far as possible
// without the model.
inline Options options_from(const AttributeSettings& s) {
  Options options;
  std::set<std::int64_t> seen;
  for (auto layer : s.layers) {
    iglens::require(layer >= 0, "--layers: layer {} is negative; layers are 0 (embeddings) to n", layer);
    iglens::require(seen.insert(layer).second, "--layers: layer {} is listed twice", layer);
  }
  iglens::require(s.layers.empty() || !s.k, "--layers and --k choose layers in two ways; give one");
  if (!s.layers.empty()) options.layers = LayerSelection::explicit_list(s.layers);
  if (s.k) options.layers = LayerSelection::evenly_spaced(*s.k);
  options.steps = s.steps;
  options.estimator = parse_estimator(s.estimator);
  options.baseline = Baseline::parse(s.baseline);
  options.objective = parse_objective(s.objective);
  options.onset_fraction = s.onset_fraction;
  options.dtype = parse_dtype(s.dtype);
  options.validate();
  iglens::require(!needs_foil(options.objective) || s.foil,
                  "objective {} compares the target with a foil: give --foil TOKEN", s.objective);
  iglens::require(needs_foil(options.objective) || !s.foil,
                  "--foil is only used with --objective prob-diff (objective here: {})", s.objective);
  iglens::require(!s.components || options.objective == Objective::probability,
                  "--components attributes probability: use --objective prob");
  iglens::require(s.generate >= 1, "--generate must be at least 1 (got {})", s.generate);
  iglens::require(!s.target || !s.target->empty(), "--target is empty");
  return options;
}

namespace detail {

// The `--generate` count or target length, checked against the room the
// context leaves after the prompt (written so that no sum can overflow).
inline void check_answer_fits(std::int64_t prompt_tokens, std::int64_t answer_tokens, bool teacher_forced,
                              std::int64_t context_length) {
  iglens::require(answer_tokens <= context_length - prompt_tokens,
                  "the prompt ({} tokens) plus {} {} tokens is more than the model's context length of {}: "
                  "at most {} {} tokens fit",
                  prompt_tokens, answer_tokens, teacher_forced ? "target" : "generated", context_length,
                  std::max<std::int64_t>(0, context_length - prompt_tokens), teacher_forced ? "target" : "generated");
}

// Per position, the most likely token other than the target, from the
// model's own logits at that position.
inline std::vector<std::int64_t> most_likely_foils(ProgramModel& model, const torch::Tensor& ids,
                                                   const std::vector<std::int64_t>& positions,
                                                   const std::vector<std::int64_t>& targets) {
  torch::NoGradGuard no_grad;
  const auto logits =
      model.logits(ids.unsqueeze(0))[0].index_select(0, torch::tensor(positions, torch::kLong).to(ids.device()));
  const auto top_two = std::get<1>(logits.topk(2, -1)).to(torch::kCPU);
  std::vector<std::int64_t> foils;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const auto first = top_two[static_cast<std::int64_t>(i)][0].item<std::int64_t>();
    foils.push_back(first != targets[i] ? first : top_two[static_cast<std::int64_t>(i)][1].item<std::int64_t>());
  }
  return foils;
}

inline std::int64_t single_token(const Tokenizer& tokenizer, const std::string& text) {
  const auto ids = tokenizer.encode(text);
  iglens::require(ids.size() == 1, "--foil {} is {} tokens; it must be exactly one token", display_token(text),
                  ids.size());
  return ids.front();
}

// Greedy continuation: the most probable next token, n times.
inline std::vector<std::int64_t> greedy_answer(ProgramModel& model, std::vector<std::int64_t> ids, std::int64_t n,
                                               torch::Device device, bool show_progress) {
  torch::NoGradGuard no_grad;
  ProgressBar bar("generating ", n, show_progress);
  std::vector<std::int64_t> answer;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto logits = model.logits(torch::tensor(ids, torch::kLong).to(device).unsqueeze(0))[0][-1];
    iglens::require(torch::isfinite(logits).all().item<bool>(),
                    "the model gave NaN or Inf logits at position {} while generating", ids.size() - 1);
    answer.push_back(logits.argmax().item<std::int64_t>());
    ids.push_back(answer.back());
    bar.update(i + 1);
  }
  return answer;
}

inline std::vector<double> to_doubles(const torch::Tensor& t) {
  auto values = t.to(torch::kCPU, torch::kDouble).contiguous();
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

// Each target's component split along the path the layer map takes: from the
// same baseline vector (the baseline at layer 0, for the target's position)
// through every block, with the same steps and estimator.
inline std::vector<ComponentAttribution> attribute_components_of(const ResidualComponents& components,
                                                                 const NormHead& head, const Targets& targets,
                                                                 const Options& options, bool show_progress) {
  const auto baselines = options.baseline.points_for(components.resid_pre[0].unsqueeze(0))[0];  // [S, d]
  const auto N = static_cast<std::int64_t>(targets.positions.size());
  const auto positions = torch::tensor(targets.positions, torch::kLong);
  ProgressBar bar("components ", N, show_progress);
  std::vector<ComponentAttribution> attributions;
  // Tokens in groups, which share passes over the unembedding, with progress between groups.
  constexpr std::int64_t tokens_per_update = 8;
  for (std::int64_t first = 0; first < N; first += tokens_per_update) {
    const auto count = std::min(tokens_per_update, N - first);
    const std::vector<std::int64_t> group_positions(targets.positions.begin() + first,
                                                    targets.positions.begin() + first + count);
    const std::vector<std::int64_t> group_ids(targets.ids.begin() + first, targets.ids.begin() + first + count);
    auto group = attribute_components(
        components, group_positions, group_ids, head, options.steps,
        baselines.index_select(0, positions.narrow(0, first, count).to(baselines.device())), options.estimator);
    std::move(group.begin(), group.end(), std::back_inserter(attributions));
    bar.update(first + count);
  }
  return attributions;
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

// The model, loaded once, and what every prompt shares: `iglens attribute`
// runs one prompt through it, `iglens corpus` many. Settings are checked
// before the model loads, and against the model before any prompt.
class Attributor {
 public:
  explicit Attributor(const AttributeSettings& s, bool show_progress = true)
      : settings_(s),
        options_(options_from(s)),
        device_(parse_device(s.device)),
        lens_(ProgramModel::load(s.model)),
        show_progress_(show_progress) {
    auto& model = lens_.model();
    const auto layers = options_.layers.resolve(model.n_layer());  // layer range errors before any computation
    // The component path runs through every block, from the baseline at layer 0.
    iglens::require(!s.components || static_cast<std::int64_t>(layers.size()) == model.n_layer() + 1,
                    "--components splits every block, so it needs all layers 0..{}: drop --layers and --k",
                    model.n_layer());
    if (s.foil && *s.foil != automatic_foil) fixed_foil_ = detail::single_token(model.tokenizer(), *s.foil);
    if (options_.dtype == torch::kFloat64) model.to(torch::kFloat64);
    if (device_ != torch::kCPU) model.to(device_);
  }

  // The map of the answer to `prompt`: `target` teacher-forced, else the
  // model's greedy continuation of the settings' --generate length.
  Report attribute(const std::string& prompt, const std::optional<std::string>& target) {
    auto& model = lens_.model();
    const auto& s = settings_;
    const auto& tokenizer = model.tokenizer();
    iglens::require(!prompt.empty(), "empty prompt: give a PROMPT argument or text on --stdin");
    iglens::require(!target || !target->empty(), "--target is empty");
    // The prompt starts with BOS when asked, or when the model's tokenizer says so (Llama-family files).
    const auto prompt_ids = tokenizer.encode(prompt, {s.special_tokens, s.bos || tokenizer.adds_bos()});
    const auto P = static_cast<std::int64_t>(prompt_ids.size());
    std::vector<std::int64_t> answer;
    if (target) answer = tokenizer.encode(*target, {s.special_tokens, false});
    const auto N = target ? static_cast<std::int64_t>(answer.size()) : s.generate;
    detail::check_answer_fits(P, N, target.has_value(), model.context_length());
    if (!target) answer = detail::greedy_answer(model, prompt_ids, N, device_, show_progress_);

    // The whole answer, its last token included: no prediction reads that
    // position, but `--baseline mean` averages over every position, as the
    // reference does (causal-mean and zero never see it).
    auto sequence = prompt_ids;
    sequence.insert(sequence.end(), answer.begin(), answer.end());
    const auto ids = torch::tensor(sequence, torch::kLong).to(device_);

    // Position P-1+i reads the prediction of answer token i; a position whose
    // target is the fixed foil has nothing to compare and is reported instead.
    Report report;
    Targets targets;
    for (std::int64_t i = 0; i < N; ++i) {
      if (fixed_foil_ && answer[i] == *fixed_foil_) {
        report.skipped.push_back({P - 1 + i, answer[i], tokenizer.token_text(answer[i]),
                                  fmt::format("the target is the foil {}", display_token(*s.foil))});
        continue;
      }
      targets.positions.push_back(P - 1 + i);
      targets.ids.push_back(answer[i]);
      if (fixed_foil_) targets.foils.push_back(*fixed_foil_);
    }
    iglens::require(!targets.positions.empty(), "every answer token is the foil {}: nothing to attribute",
                    s.foil ? display_token(*s.foil) : "");
    if (s.foil && *s.foil == automatic_foil) {
      targets.foils = detail::most_likely_foils(model, ids, targets.positions, targets.ids);
    }
    const auto T = static_cast<std::int64_t>(targets.positions.size());

    // Before the map, so that a bundle without a `components` method fails at once.
    std::optional<ResidualComponents> components;
    if (s.components) components = model.components(ids.unsqueeze(0));
    Attribution map;
    {
      ProgressBar bar("attributing ", T, show_progress_);
      auto options = options_;
      options.progress = [&bar](std::int64_t done, std::int64_t) { bar.update(done); };
      // With components, their resid_pre is the residual stream: no second
      // forward pass, and each block's parts add up to the map's own credit.
      map = components ? iglens::attribute(components->resid_pre, targets, model.readout(), options)
                       : lens_.attribute(ids, targets, options);
    }
    std::vector<ComponentAttribution> component_attributions;
    if (components) {
      component_attributions =
          detail::attribute_components_of(*components, model.norm_head(), targets, options_, show_progress_);
    }

    report.model = s.model;
    report.prompt = prompt;
    report.prompt_ids = prompt_ids;
    report.mode = target ? "target" : "generate";
    report.layers = map.layers;
    report.estimator = estimator_name(map.estimator);
    report.steps = map.steps;
    report.baseline = map.baseline;
    report.objective = objective_name(map.objective);
    report.dtype = s.dtype;
    report.onset_fraction = map.onset_fraction;
    report.completeness_max_abs = map.completeness_error;
    const auto ig = detail::to_doubles(map.ig), lens_values = detail::to_doubles(map.lens),
               f_final = detail::to_doubles(map.f_final), f_baseline = detail::to_doubles(map.f_baseline),
               delta = detail::to_doubles(map.delta);
    const auto onset = map.onset_layer.to(torch::kCPU);
    const auto K = static_cast<std::ptrdiff_t>(map.layers.size());
    for (std::int64_t i = 0; i < T; ++i) {
      TokenRow row;
      row.position = targets.positions[i];
      row.target_id = targets.ids[i];
      row.target = tokenizer.token_text(row.target_id);
      if (!targets.foils.empty()) {
        row.foil_id = targets.foils[i];
        row.foil = tokenizer.token_text(*row.foil_id);
      }
      row.ig.assign(ig.begin() + i * K, ig.begin() + (i + 1) * K);
      row.lens.assign(lens_values.begin() + i * K, lens_values.begin() + (i + 1) * K);
      row.f_final = f_final[i];
      row.f_baseline = f_baseline[i];
      row.delta = delta[i];
      if (const auto layer = onset[i].item<std::int64_t>(); layer >= 0) row.onset_layer = layer;
      if (components) row.component_credits = detail::to_doubles(component_attributions[i].credits);
      report.tokens.push_back(std::move(row));
    }
    if (map.objective == Objective::log_probability && T >= 2) {
      report.continuation = continuation_total(report.tokens, map.layers.size());
    }
    if (components) {
      const auto& first = component_attributions.front();
      report.components = ComponentLayout{first.labels, estimator_name(first.estimator), first.steps,
                                          components->n_layer(), components->n_head()};
    }
    return report;
  }

 private:
  AttributeSettings settings_;
  Options options_;
  torch::Device device_;
  Lens<ProgramModel> lens_;
  bool show_progress_;
  std::optional<std::int64_t> fixed_foil_;
};

inline Report run_attribute(const AttributeSettings& s) { return Attributor(s).attribute(s.prompt, s.target); }

}  // namespace iglens::cli
