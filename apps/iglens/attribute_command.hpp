#pragma once
// `iglens attribute`: a prompt, an answer (the model's greedy continuation or
// a teacher-forced target text) and the IG-Lens map of every answer token.
// Every setting is checked before the model computes anything.

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
#include "iglens/outputs/make_report.hpp"
#include "iglens/outputs/report.hpp"
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
  bool special_tokens = false;        // recognise special tokens such as <|im_start|> written in the text
  bool bos = false;                   // put the BOS token first even where the model's own rule does not
  bool components = false;            // also split each token's change by head, attention bias and MLP
  bool chat = false;                  // render prompts with the chat template (implied by the next two)
  std::optional<std::string> system;  // a system message before each chat prompt
  std::string chat_template;          // a template file to use instead of the model's own
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
  iglens::require(!s.uses_chat() || !s.bos,
                  "--bos does not apply to a chat prompt: its template writes BOS where the model wants it");
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
inline std::vector<std::int64_t> most_likely_foils(LoadedModel& model, const torch::Tensor& ids,
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

// `option` names what the token is for in the error.
inline std::int64_t single_token(const Tokenizer& tokenizer, const std::string& text, std::string_view option,
                                 bool special_tokens = false) {
  const auto ids = tokenizer.encode(text, {special_tokens, false});
  iglens::require(ids.size() == 1, "{} {} is {} tokens; it must be exactly one token", option, display_token(text),
                  ids.size());
  return ids.front();
}

// The settings that need only the tokenizer and the chat template (--stop and
// --foil tokens, the chat template), checked before any weight is read.
inline void check_text_settings(const AttributeSettings& s) {
  if (s.stop.empty() && !s.foil && !s.uses_chat()) return;
  const auto tokenizer = load_model_tokenizer(s.model);
  for (const auto& text : s.stop) single_token(tokenizer, text, "--stop", true);
  if (s.foil && *s.foil != automatic_foil) single_token(tokenizer, *s.foil, "--foil");
  if (s.uses_chat()) chosen_chat_template(load_model_chat_template(s.model), tokenizer, s.chat_template, s.model);
}

}  // namespace detail

// A prompt and its answer to attribute: `target` teacher-forced, else the
// model's greedy continuation of the settings' --generate length.
struct PromptRequest {
  std::string prompt;
  std::optional<std::string> target;
  std::vector<ChatMessage> messages;  // a chat, rendered by the chat template; then `prompt` is not read
};

// A prompt's report, or the one-line reason it has none.
struct PromptOutcome {
  std::optional<Report> report;
  std::string error;
};

namespace detail {

// One prompt on its way: tokens, then its answer, then the positions to attribute.
struct PromptWork {
  const PromptRequest* request = nullptr;
  std::string prompt_text;  // the prompt as given, or the chat as its template renders it
  std::vector<std::int64_t> prompt_ids, answer;
  std::vector<std::int64_t> runners_up;  // a generated answer's: each token's most likely other token
  Targets targets;
  std::vector<SkippedToken> skipped;
  std::optional<std::string> error;
  std::optional<std::int64_t> stop_id;  // the end token that ended a generated answer

  std::vector<std::int64_t> sequence() const {
    auto ids = prompt_ids;
    ids.insert(ids.end(), answer.begin(), answer.end());
    return ids;
  }
};

}  // namespace detail

// The model, loaded once, and what every prompt shares: `iglens attribute`
// runs one prompt through it, `iglens corpus` many, in batches. Settings are
// checked before the model loads, and against the model before any prompt.
class Attributor {
 public:
  explicit Attributor(const AttributeSettings& s, bool show_progress = true)
      : settings_(s),
        options_(options_from(s)),
        device_(parse_device(s.device)),
        lens_((detail::check_text_settings(s), load_model(s.model))),
        show_progress_(show_progress) {
    auto& model = lens_.model();
    const auto layers =
        options_.layers.resolve(model.description().n_layer);  // layer range errors before any computation
    // The component path runs through every block, from the baseline at layer 0.
    iglens::require(!s.components || static_cast<std::int64_t>(layers.size()) == model.description().n_layer + 1,
                    "--components splits every block, so it needs all layers 0..{}: drop --layers and --k",
                    model.description().n_layer);
    if (s.foil && *s.foil != automatic_foil) {
      fixed_foil_ = detail::single_token(model.tokenizer(), *s.foil, "--foil");
    }
    stop_ids_.insert(model.end_ids().begin(), model.end_ids().end());
    // An end token is written as itself, special or not (<|im_end|>).
    for (const auto& text : s.stop) stop_ids_.insert(detail::single_token(model.tokenizer(), text, "--stop", true));
    if (s.uses_chat()) chat_template();  // a missing or broken template fails before any computation
    if (options_.dtype == torch::kFloat64) model.to(torch::kFloat64);
    if (device_ != torch::kCPU) model.to(device_);
  }

  // The template that renders chat prompts: --chat-template FILE, else the model's own.
  const ChatTemplate& chat_template() {
    if (!chat_template_)
      chat_template_ = chosen_chat_template(lens_.model().chat_template(), lens_.model().tokenizer(),
                                            settings_.chat_template, settings_.model);
    return *chat_template_;
  }

  // The map of one prompt's answer, with progress bars; a problem throws.
  Report attribute(const std::string& prompt, const std::optional<std::string>& target) {
    PromptRequest request{prompt, target, {}};
    if (settings_.uses_chat()) request.messages = chat_messages(prompt, settings_.system);
    auto work = prepare(request);
    if (!target) generate({&work}, show_progress_);
    if (work.error) iglens::fail("{}", *work.error);
    choose_targets(work);
    if (!settings_.components) return report_of(work, map_batch({&work}, show_progress_).front());

    // The map and the components come from one forward pass, so that each
    // block's parts add up to the map's own credit.
    ProgressBar bar("attributing ", 2 * static_cast<std::int64_t>(work.targets.size()), show_progress_);
    auto options = options_;
    options.progress = [&bar](std::int64_t done, std::int64_t) { bar.update(done); };
    return report_of(work, lens_.attribute_components(torch::tensor(work.sequence(), torch::kLong).to(device_),
                                                      work.targets, options));
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
    if (settings_.components) {
      for (std::size_t i = 0; i < requests.size(); ++i) {
        try {
          outcomes[i].report = attribute(requests[i].prompt, requests[i].target);
          if (on_reports) on_reports(1);
        } catch (const Error& e) {
          outcomes[i].error = e.what();
        }
        if (batches) ++*batches;
      }
      return outcomes;
    }
    std::vector<detail::PromptWork> work(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      try {
        work[i] = prepare(requests[i]);
      } catch (const Error& e) {
        work[i].request = &requests[i];
        work[i].error = e.what();
      }
    }
    // In batches, each done again alone when it fails: `step` on a batch of work.
    auto in_batches = [&](const std::vector<std::size_t>& indices, const std::vector<BatchItem>& items, auto&& step) {
      for (const auto& batch : plan_batches(items, limits)) {
        std::vector<detail::PromptWork*> members;
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
    const auto [to_generate, generate_items] = pending_items([&](const detail::PromptWork& w) {
      return w.request->target
                 ? std::nullopt
                 : std::optional<BatchItem>({0, static_cast<std::int64_t>(w.prompt_ids.size()) + settings_.generate});
    });
    in_batches(to_generate, generate_items,
               [&](const std::vector<detail::PromptWork*>& members) { generate(members, false); });
    for (auto& w : work) {
      if (w.error) continue;
      try {
        choose_targets(w);
      } catch (const Error& e) {
        w.error = e.what();
      }
    }

    // The maps: a batch needs one count of attributed tokens, and with the
    // `mean` baseline (which averages every position) one length, unpadded:
    // then the group is (count, length) as one number, lengths being at most
    // the context length.
    const bool same_length = options_.baseline.kind() == Baseline::Kind::mean;
    const auto [to_map, map_items] = pending_items([&](const detail::PromptWork& w) {
      const auto length = static_cast<std::int64_t>(w.prompt_ids.size() + w.answer.size());
      const auto tokens = static_cast<std::int64_t>(w.targets.size());
      return std::optional<BatchItem>(
          {same_length ? tokens * (lens_.model().description().context_length + 1) + length : tokens, length});
    });
    in_batches(to_map, map_items, [&](const std::vector<detail::PromptWork*>& members) {
      if (batches) ++*batches;
      auto maps = map_batch(members, false);
      for (std::size_t b = 0; b < members.size(); ++b) {
        outcomes[static_cast<std::size_t>(members[b]->request - requests.data())].report =
            report_of(*members[b], maps[b]);
      }
      if (on_reports) on_reports(static_cast<std::int64_t>(members.size()));
    });
    for (std::size_t i = 0; i < work.size(); ++i) {
      if (work[i].error) outcomes[i].error = *work[i].error;
    }
    return outcomes;
  }

  // Bytes a batch of `sequences` padded to `length` tokens needs at most: the
  // residual stream kept, one block's activations, one layer's attention
  // scores and, while generating, the logits of every position.
  std::int64_t batch_bytes(std::int64_t sequences, std::int64_t length) {
    const auto& model = lens_.model().description();
    const auto value = static_cast<double>(options_.dtype == torch::kFloat64 ? 8 : 4);
    const auto d = static_cast<double>(model.d_model), L = static_cast<double>(model.n_layer),
               V = static_cast<double>(model.vocab_size), H = static_cast<double>(model.n_head);
    const auto n = static_cast<double>(length);
    const auto bytes = value * static_cast<double>(sequences) * (n * (2 * (L + 1) * d + 8 * d + V) + H * n * n);
    return bytes >= 9e18 ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(bytes);
  }

 private:
  // The prompt's tokens, the answer's when it is teacher-forced, and the check that both fit.
  detail::PromptWork prepare(const PromptRequest& request) {
    const auto& tokenizer = lens_.model().tokenizer();
    const auto& s = settings_;
    iglens::require(!request.prompt.empty() || !request.messages.empty(),
                    "empty prompt: give a PROMPT argument or text on --stdin");
    iglens::require(!request.target || !request.target->empty(), "--target is empty");
    detail::PromptWork work;
    work.request = &request;
    if (!request.messages.empty()) {
      auto chat = encode_chat(chat_template(), tokenizer, request.messages);
      work.prompt_text = std::move(chat.text);
      work.prompt_ids = std::move(chat.ids);
    } else {
      work.prompt_text = request.prompt;
      // The prompt starts with BOS when asked, or when the model's tokenizer says so (Llama-family files).
      work.prompt_ids = tokenizer.encode(request.prompt, {s.special_tokens, s.bos || tokenizer.adds_bos()});
    }
    if (request.target) work.answer = tokenizer.encode(*request.target, {s.special_tokens, false});
    const auto N = request.target ? static_cast<std::int64_t>(work.answer.size()) : s.generate;
    detail::check_answer_fits(static_cast<std::int64_t>(work.prompt_ids.size()), N, request.target.has_value(),
                              lens_.model().description().context_length);
    return work;
  }

  // Greedy answers of --generate tokens for a batch (iglens::greedy_answers).
  void generate(const std::vector<detail::PromptWork*>& batch, bool show_progress) {
    std::vector<std::vector<std::int64_t>> prompts;
    for (const auto* work : batch) prompts.push_back(work->prompt_ids);
    std::optional<ProgressBar> bar;
    GreedyOptions options;
    options.max_new_tokens = settings_.generate;
    options.stop_ids = stop_ids_;
    options.device = device_;
    options.on_step = [&](std::int64_t done, std::int64_t total) {
      if (!bar) bar.emplace("generating ", total, show_progress);
      bar->update(done);
    };
    const auto answers = lens_.model().greedy_answers(prompts, options);
    for (std::size_t b = 0; b < batch.size(); ++b) {
      auto& work = *batch[b];
      if (answers[b].non_finite && !work.error) {
        work.error =
            fmt::format("the model gave NaN or Inf logits at position {} while generating", *answers[b].non_finite);
      }
      work.answer = answers[b].ids;
      work.runners_up = answers[b].runners_up;
      work.stop_id = answers[b].stop_id;
      if (work.answer.empty() && work.stop_id && !work.error) {
        work.error = fmt::format("the answer is empty: the model's first token is the end token {}",
                                 display_token(lens_.model().tokenizer().token_text(*work.stop_id)));
      }
    }
  }

  // Position P-1+i reads the prediction of answer token i; a position whose
  // target is the fixed foil has nothing to compare and is reported instead.
  void choose_targets(detail::PromptWork& work) {
    auto& model = lens_.model();
    const auto& tokenizer = model.tokenizer();
    const auto P = static_cast<std::int64_t>(work.prompt_ids.size());
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(work.answer.size()); ++i) {
      const auto id = work.answer[static_cast<std::size_t>(i)];
      if (fixed_foil_ && id == *fixed_foil_) {
        work.skipped.push_back({P - 1 + i, id, tokenizer.token_text(id),
                                fmt::format("the target is the foil {}", display_token(*settings_.foil))});
        continue;
      }
      work.targets.positions.push_back(P - 1 + i);
      work.targets.ids.push_back(id);
      if (fixed_foil_) work.targets.foils.push_back(*fixed_foil_);
    }
    iglens::require(!work.targets.positions.empty(), "every answer token is the foil {}: nothing to attribute",
                    settings_.foil ? display_token(*settings_.foil) : "");
    if (settings_.foil && *settings_.foil == automatic_foil) {
      if (work.runners_up.size() == work.answer.size()) {
        work.targets.foils = work.runners_up;  // generation saw each position's logits
      } else {
        const auto ids = torch::tensor(work.sequence(), torch::kLong).to(device_);
        work.targets.foils = detail::most_likely_foils(model, ids, work.targets.positions, work.targets.ids);
      }
    }
  }

  // The maps of a batch from one forward pass over its padded sequences.
  std::vector<Attribution> map_batch(const std::vector<detail::PromptWork*>& batch, bool show_progress) {
    std::vector<std::vector<std::int64_t>> sequences;
    std::vector<Targets> targets;
    std::int64_t longest = 0, tokens = 0;
    for (const auto* work : batch) {
      sequences.push_back(work->sequence());
      targets.push_back(work->targets);
      longest = std::max(longest, static_cast<std::int64_t>(sequences.back().size()));
      tokens += static_cast<std::int64_t>(work->targets.size());
    }
    ProgressBar bar("attributing ", tokens, show_progress);
    auto options = options_;
    options.progress = [&bar](std::int64_t done, std::int64_t) { bar.update(done); };
    const auto map = lens_.attribute_batch(padded_ids(sequences, longest).to(device_), targets, options);
    std::vector<Attribution> maps;
    for (std::int64_t b = 0; b < static_cast<std::int64_t>(batch.size()); ++b) maps.push_back(map.sequence(b));
    return maps;
  }

  // The report of a map (a layer map, or one with components), with what
  // only the prompt's work knows: the prompt, the chat and how the answer ended.
  template <class Map>
  Report report_of(const detail::PromptWork& work, const Map& map) {
    auto report = make_report(map, work.targets, lens_.model().tokenizer());
    report.model = settings_.model;
    report.prompt = work.prompt_text;
    report.messages = work.request->messages;
    report.prompt_ids = work.prompt_ids;
    report.mode = work.request->target ? "target" : "generate";
    if (!work.request->target) {
      report.stopped = work.stop_id ? "end token" : "limit";
      if (work.stop_id) report.stop_token = lens_.model().tokenizer().token_text(*work.stop_id);
      report.stop_id = work.stop_id;
    }
    report.skipped = work.skipped;
    return report;
  }

  AttributeSettings settings_;
  Options options_;
  torch::Device device_;
  Lens<LoadedModel> lens_;
  std::set<std::int64_t> stop_ids_;
  bool show_progress_;
  std::optional<std::int64_t> fixed_foil_;
  std::optional<ChatTemplate> chat_template_;
};

inline Report run_attribute(const AttributeSettings& s) { return Attributor(s).attribute(s.prompt, s.target); }

}  // namespace iglens::cli
