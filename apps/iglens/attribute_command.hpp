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
#include "iglens/iglens.hpp"
#include "iglens/outputs/report.hpp"
#include "iglens/prompts/attribute_settings.hpp"
#include "iglens/prompts/prompt_lens.hpp"
#include "progress_bar.hpp"

namespace iglens::cli {

// Every setting in the library's terms, checked before any weight is read:
// the model's tokenizer is read (once) only when a setting names tokens.
inline PromptSettings prompt_settings(const AttributeSettings& s) {
  return iglens::prompt_settings(s, [&](const auto& use) {
    const auto tokenizer = load_model_tokenizer(s.model);
    use(ModelText{tokenizer, s.uses_chat() ? load_model_chat_template(s.model) : std::nullopt});
  });
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
      : settings_(s),
        show_progress_(show_progress),
        lens_(load_model(s.model, parse_weight_storage(s.weights)), std::move(checked)) {}

  // The map of one prompt's answer, with progress bars; a problem throws.
  Report attribute(const std::string& prompt, const std::optional<std::string>& target) {
    const auto request = prompt_request(settings_, prompt, target);
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
