#pragma once
// `iglens attribute`: a prompt, an answer (the model's greedy continuation or
// a teacher-forced target text) and the IG-Lens map of every answer token,
// through the library's PromptLens. Here: the settings as the command line
// gives them, checked before any weight is read, progress bars, and the
// batches of `iglens corpus`.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "batch_plan.hpp"
#include "chat_choice.hpp"
#include "iglens/iglens.hpp"
#include "iglens/outputs/report.hpp"
#include "iglens/prompts/prompt_lens.hpp"
#include "progress_bar.hpp"

namespace iglens::cli {

struct AttributeSettings {
  std::string model;
  std::string prompt;
  std::int64_t generate = 8;          // greedy answer's most tokens, unless target is set
  std::vector<std::string> stop;      // tokens that end a greedy answer, besides the model's end tokens
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
  bool sources = false;         // and each head's credit by the source position it reads (implies components)
  std::optional<std::int64_t> top_sources;  // outputs keep each head's largest sources
  bool chat = false;                        // render prompts with the chat template (implied by the next two)
  std::optional<std::string> system;        // a system message before each chat prompt
  std::string chat_template;                // a template file to use instead of the model's own
  bool uses_chat() const { return chat || system || !chat_template.empty(); }
};

// --generate's default for a chat: the answer of an instruct model, which ends
// at its end token (the reference tool's 80).
inline constexpr std::int64_t chat_answer_tokens = 80;

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

// The library options the settings ask for, as far as the command line alone tells.
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
  iglens::require(!s.target || !s.target->empty(), "--target is empty");
  iglens::require(!s.uses_chat() || !s.bos,
                  "--bos does not apply to a chat prompt: its template writes BOS where the model wants it");
  return options;
}

namespace detail {

// `option` names what the token is for in the error.
inline std::int64_t single_token(const Tokenizer& tokenizer, const std::string& text, std::string_view option,
                                 bool special_tokens = false) {
  const auto ids = tokenizer.encode(text, {special_tokens, false});
  iglens::require(ids.size() == 1, "{} {} is {} tokens; it must be exactly one token", option, display_token(text),
                  ids.size());
  return ids.front();
}

}  // namespace detail

// Every setting in the library's terms, checked before any weight is read:
// --stop and --foil become token ids and the chat template is chosen from
// the model's tokenizer alone, read once.
inline PromptSettings prompt_settings(const AttributeSettings& s) {
  PromptSettings settings;
  settings.options = options_from(s);
  settings.components = s.components || s.sources;
  settings.sources = s.sources;
  require(s.top_sources.value_or(1) >= 1, "--top-sources must be at least 1 (got {})", s.top_sources.value_or(0));
  settings.top_sources = s.top_sources.value_or(0);
  settings.max_new_tokens = s.generate;
  settings.special_tokens = s.special_tokens;
  settings.bos = s.bos;
  settings.automatic_foil = s.foil && *s.foil == automatic_foil;
  settings.device = parse_device(s.device);
  settings.options.validate();
  if (!s.stop.empty() || (s.foil && !settings.automatic_foil) || s.uses_chat()) {
    const auto tokenizer = load_model_tokenizer(s.model);
    // An end token is written as itself, special or not (<|im_end|>).
    for (const auto& text : s.stop) settings.stop_ids.insert(detail::single_token(tokenizer, text, "--stop", true));
    if (s.foil && !settings.automatic_foil) settings.fixed_foil = detail::single_token(tokenizer, *s.foil, "--foil");
    if (s.uses_chat()) {
      settings.chat_template =
          chosen_chat_template(load_model_chat_template(s.model), tokenizer, s.chat_template, s.model);
    }
  }
  settings.validate();
  return settings;
}

// A prompt's report, or the one-line reason it has none.
struct PromptOutcome {
  std::optional<Report> report;
  std::string error;
};

// The model, loaded once, and what every prompt shares: `iglens attribute`
// runs one prompt through it, `iglens corpus` many, in batches.
class Attributor {
 public:
  explicit Attributor(const AttributeSettings& s, bool show_progress = true)
      : Attributor(s, prompt_settings(s), show_progress) {}
  // With the settings already checked (prompt_settings).
  Attributor(const AttributeSettings& s, PromptSettings checked, bool show_progress)
      : settings_(s), show_progress_(show_progress), lens_(load_model(s.model), std::move(checked)) {}

  // The map of one prompt's answer, with progress bars; a problem throws.
  Report attribute(const std::string& prompt, const std::optional<std::string>& target) {
    PromptRequest request{prompt, target, {}};
    if (settings_.uses_chat()) request.messages = chat_messages(prompt, settings_.system);
    std::optional<ProgressBar> generating, attributing;
    const auto bar = [this](std::optional<ProgressBar>& slot, const char* label) {
      return [this, &slot, label](std::int64_t done, std::int64_t total) {
        if (!slot) slot.emplace(label, total, show_progress_);
        slot->update(done);
      };
    };
    return lens_.attribute(request, bar(generating, "generating "), bar(attributing, "attributing "));
  }

  // Many prompts, one outcome each in their order. Prompts of similar length
  // share forward passes (batch_plan.hpp); a batch that fails is done again
  // prompt by prompt, so that an error is its own prompt's. With components,
  // one prompt at a time. `batches` counts the attribution passes made;
  // `on_reports(n)` is told of each n reports made, for a progress bar.
  std::vector<PromptOutcome> attribute_many(const std::vector<PromptRequest>& requests, const BatchLimits& limits,
                                            std::int64_t* batches = nullptr,
                                            const std::function<void(std::int64_t)>& on_reports = {}) {
    std::vector<PromptOutcome> outcomes(requests.size());
    if (settings_.components || settings_.sources) {
      for (std::size_t i = 0; i < requests.size(); ++i) {
        try {
          outcomes[i].report = lens_.attribute(requests[i]);
          if (on_reports) on_reports(1);
        } catch (const Error& e) {
          outcomes[i].error = e.what();
        }
        if (batches) ++*batches;
      }
      return outcomes;
    }
    std::vector<PromptWork> work(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      try {
        work[i] = lens_.prepare(requests[i]);
      } catch (const Error& e) {
        work[i].request = &requests[i];
        work[i].error = e.what();
      }
    }
    // In batches, each done again alone when it fails: `step` on a batch of work.
    auto in_batches = [&](const std::vector<std::size_t>& indices, const std::vector<BatchItem>& items, auto&& step) {
      for (const auto& batch : plan_batches(items, limits)) {
        std::vector<PromptWork*> members;
        for (const auto k : batch) members.push_back(&work[indices[k]]);
        try {
          step(members);
        } catch (const Error& e) {
          if (members.size() == 1) {
            members.front()->error = e.what();
            continue;
          }
          for (auto* member : members) {
            try {
              step({member});
            } catch (const Error& e) {
              member->error = e.what();
            }
          }
        }
      }
    };
    // The work without an error so far that `item_of` gives a batch item, with its indices.
    auto pending_items = [&](auto&& item_of) {
      std::vector<std::size_t> indices;
      std::vector<BatchItem> items;
      for (std::size_t i = 0; i < work.size(); ++i) {
        if (const auto item = item_of(work[i]); item && !work[i].error) {
          indices.push_back(i);
          items.push_back(*item);
        }
      }
      return std::make_pair(indices, items);
    };

    // Greedy answers, for the prompts without a target.
    const auto [to_generate, generate_items] = pending_items([&](const PromptWork& w) {
      return w.request->target
                 ? std::nullopt
                 : std::optional<BatchItem>({0, static_cast<std::int64_t>(w.prompt_ids.size()) + settings_.generate});
    });
    in_batches(to_generate, generate_items, [&](const std::vector<PromptWork*>& members) { lens_.answer(members); });
    for (auto& w : work) {
      if (w.error) continue;
      try {
        lens_.choose_targets(w);
      } catch (const Error& e) {
        w.error = e.what();
      }
    }

    // The maps: a batch needs one count of attributed tokens, and with the
    // `mean` baseline (which averages every position) one length, unpadded:
    // then the group is (count, length) as one number, lengths being at most
    // the context length.
    const bool same_length = lens_.settings().options.baseline.kind() == Baseline::Kind::mean;
    const auto context_length = lens_.model().description().context_length;
    const auto [to_map, map_items] = pending_items([&](const PromptWork& w) {
      const auto length = static_cast<std::int64_t>(w.prompt_ids.size() + w.answer.size());
      const auto tokens = static_cast<std::int64_t>(w.targets.size());
      return std::optional<BatchItem>({same_length ? tokens * (context_length + 1) + length : tokens, length});
    });
    in_batches(to_map, map_items, [&](const std::vector<PromptWork*>& members) {
      if (batches) ++*batches;
      auto maps = lens_.map(members);
      for (std::size_t b = 0; b < members.size(); ++b) {
        outcomes[static_cast<std::size_t>(members[b]->request - requests.data())].report =
            lens_.report(*members[b], maps[b]);
      }
      if (on_reports) on_reports(static_cast<std::int64_t>(members.size()));
    });
    for (std::size_t i = 0; i < work.size(); ++i) {
      if (work[i].error) outcomes[i].error = *work[i].error;
    }
    return outcomes;
  }

  std::int64_t batch_bytes(std::int64_t sequences, std::int64_t length) { return lens_.batch_bytes(sequences, length); }

 private:
  AttributeSettings settings_;
  bool show_progress_;
  PromptLens lens_;
};

inline Report run_attribute(const AttributeSettings& s) { return Attributor(s).attribute(s.prompt, s.target); }

}  // namespace iglens::cli
