#pragma once
// Prompts in, reports out: what `iglens attribute` and `iglens corpus` do
// with a loaded model, as a library. A prompt (plain text, or a chat that the
// model's template renders) is tokenized; its answer is either a
// teacher-forced target or the model's greedy continuation, which stops at
// the model's end tokens; each answer token is then attributed (the layer
// map, and with components the split of every block) and written into a
// Report with its text.
//
// The stages are public so that a caller can batch them: prepare() each
// prompt, answer() a batch that shares a forward pass, choose_targets()
// each, map() a batch, report() each; attribute() runs them for one prompt.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "iglens/engine/attribution.hpp"
#include "iglens/engine/objective.hpp"
#include "iglens/engine/options.hpp"
#include "iglens/engine/targets.hpp"
#include "iglens/error.hpp"
#include "iglens/lens/lens.hpp"
#include "iglens/models/generation.hpp"
#include "iglens/models/load_model.hpp"
#include "iglens/outputs/make_report.hpp"
#include "iglens/outputs/report.hpp"
#include "iglens/text/chat_message.hpp"
#include "iglens/text/chat_template.hpp"

namespace iglens {

// How answers are made and read, besides the map's own Options.
struct PromptSettings {
  Options options;
  bool components = false;                    // also split each token's change by head, bias and MLP
  bool sources = false;                       // and each head's credit by the source position it reads
  std::int64_t top_sources = 0;               // outputs keep each head's largest sources (0: all)
  std::int64_t max_new_tokens = 8;            // a greedy answer's most tokens
  std::set<std::int64_t> stop_ids;            // they end a greedy answer, besides the model's end tokens
  bool special_tokens = false;                // recognise special tokens such as <|im_start|> in the text
  bool bos = false;                           // put BOS first even where the model's own rule does not
  std::optional<std::int64_t> fixed_foil;     // prob-diff: one foil for every position
  bool automatic_foil = false;                // prob-diff: per position, the most likely token other than the target
  std::optional<ChatTemplate> chat_template;  // renders the requests that are chats
  torch::Device device = torch::kCPU;

  // The checks that need no model; PromptLens makes them and those that do.
  void validate() const {
    options.validate();
    require(!components || options.objective == Objective::probability,
            "--components attributes probability: use --objective prob");
    const bool foil = fixed_foil || automatic_foil;
    require(!needs_foil(options.objective) || foil, "objective {} compares the target with a foil: give --foil TOKEN",
            objective_name(options.objective));
    require(needs_foil(options.objective) || !foil,
            "--foil is only used with --objective prob-diff (objective here: {})", objective_name(options.objective));
    require(!(fixed_foil && automatic_foil), "give one foil: a fixed token or the automatic choice");
    require(max_new_tokens >= 1, "--generate must be at least 1 (got {})", max_new_tokens);
    require(!sources || components, "the split by source position refines the components: ask for both");
    require(top_sources >= 0, "the number of sources kept per head must be at least 0 (0: all), got {}", top_sources);
    require(top_sources == 0 || sources, "--top-sources keeps the largest of each head's sources: add --sources");
  }
};

// A prompt and its answer to attribute: `target` teacher-forced, else the
// model's greedy continuation.
struct PromptRequest {
  std::string prompt;
  std::optional<std::string> target;
  std::vector<ChatMessage> messages;  // a chat, rendered by the chat template; then `prompt` is not read
};

// A prompt as the model reads it: a chat rendered by the template, which
// `chat_template` gives only then, or the text, BOS first when asked or when
// the model's tokenizer says so (Llama-family files).
inline ChatPrompt encode_prompt(const Tokenizer& tokenizer, const PromptRequest& request, bool special_tokens, bool bos,
                                const std::function<const ChatTemplate&()>& chat_template) {
  if (!request.messages.empty()) return encode_chat(chat_template(), tokenizer, request.messages);
  return {request.prompt, tokenizer.encode(request.prompt, {special_tokens, bos || tokenizer.adds_bos()})};
}

// A teacher-forced answer's ids: it continues its prompt.
inline std::vector<std::int64_t> encode_answer(const Tokenizer& tokenizer, const std::string& answer,
                                               bool special_tokens) {
  EncodeOptions options;
  options.special_tokens = special_tokens;
  options.continuation = true;
  return tokenizer.encode(answer, options);
}

// One prompt on its way: tokens, then its answer, then the positions to
// attribute; `error` is the one-line reason it stopped, if it did.
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

// Progress of one stage: (done, total) in its own units.
using StageProgress = std::function<void(std::int64_t done, std::int64_t total)>;

class PromptLens {
 public:
  // Every setting is checked against the model before any prompt; the model
  // moves to the options' dtype and the settings' device.
  PromptLens(LoadedModel model, PromptSettings settings) : settings_(std::move(settings)), lens_(std::move(model)) {
    auto& loaded = lens_.model();
    const auto& options = settings_.options;
    settings_.validate();
    const auto n_layer = loaded.description().n_layer;
    const auto layers = options.layers.resolve(n_layer);
    // The component path runs through every block, from the baseline at layer 0.
    require(!settings_.components || static_cast<std::int64_t>(layers.size()) == n_layer + 1,
            "--components splits every block, so it needs all layers 0..{}: drop --layers and --k", n_layer);
    require(!settings_.sources || loaded.has_sources(),
            "model file '{}' was exported before the split by source position existed (it has no 'head_reads' "
            "method); re-export it: /usr/bin/python3 python/export_gpt2.py --bundle {} -o NEW.pt",
            loaded.description().path, loaded.description().path);
    const auto vocabulary = loaded.description().vocab_size;
    for (const auto id : settings_.stop_ids)
      require(id >= 0 && id < vocabulary, "stop token {} is outside the vocabulary [0, {})", id, vocabulary);
    require(!settings_.fixed_foil || (*settings_.fixed_foil >= 0 && *settings_.fixed_foil < vocabulary),
            "the foil token is outside the vocabulary [0, {})", vocabulary);
    settings_.stop_ids.insert(loaded.end_ids().begin(), loaded.end_ids().end());
    // Both ways: a model shared with an earlier lens (a bundle's module) may have been moved.
    loaded.to(options.dtype);
    loaded.to(settings_.device);
  }

  LoadedModel& model() { return lens_.model(); }
  const PromptSettings& settings() const { return settings_; }

  // One prompt's report; a problem throws. Progress: generation's steps,
  // then the map's rows (and with components the components' tokens).
  Report attribute(const PromptRequest& request, const StageProgress& generating = {},
                   const StageProgress& attributing = {}) {
    auto work = prepare(request);
    if (!request.target) answer({&work}, generating);
    if (work.error) fail("{}", *work.error);
    choose_targets(work);
    if (!settings_.components) return report(work, map({&work}, attributing).front());
    // The map and the components come from one forward pass, so that each
    // block's parts add up to the map's own credit.
    auto options = settings_.options;
    options.progress = attributing;
    if (settings_.sources) return report(work, lens_.attribute_sources(sequence_tensor(work), work.targets, options));
    return report(work, lens_.attribute_components(sequence_tensor(work), work.targets, options));
  }

  // The template that renders chats: the settings', else the model's own.
  const ChatTemplate& chat_template() const {
    if (settings_.chat_template) return *settings_.chat_template;
    const auto& own = lens_.model().chat_template();
    require(own.has_value(), "the model '{}' has no chat template: give one with --chat-template FILE",
            lens_.model().description().path);
    return *own;
  }

  // The prompt's tokens, the answer's when it is teacher-forced, and the check that both fit.
  PromptWork prepare(const PromptRequest& request) {
    const auto& tokenizer = lens_.model().tokenizer();
    require(!request.prompt.empty() || !request.messages.empty(),
            "empty prompt: give a PROMPT argument or text on --stdin");
    require(!request.target || !request.target->empty(), "--target is empty");
    PromptWork work;
    work.request = &request;
    auto prompt = encode_prompt(tokenizer, request, settings_.special_tokens, settings_.bos,
                                [&]() -> const ChatTemplate& { return chat_template(); });
    work.prompt_text = std::move(prompt.text);
    work.prompt_ids = std::move(prompt.ids);
    if (request.target) work.answer = encode_answer(tokenizer, *request.target, settings_.special_tokens);
    const auto answer_tokens =
        request.target ? static_cast<std::int64_t>(work.answer.size()) : settings_.max_new_tokens;
    check_answer_fits(static_cast<std::int64_t>(work.prompt_ids.size()), answer_tokens, request.target.has_value());
    return work;
  }

  // Greedy answers for a batch of prepared prompts (iglens::greedy_answers).
  void answer(const std::vector<PromptWork*>& batch, const StageProgress& progress = {}) {
    std::vector<std::vector<std::int64_t>> prompts;
    for (const auto* work : batch) prompts.push_back(work->prompt_ids);
    GreedyOptions options;
    options.max_new_tokens = settings_.max_new_tokens;
    options.stop_ids = settings_.stop_ids;
    options.device = settings_.device;
    options.on_step = progress;
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
  void choose_targets(PromptWork& work) {
    const auto& tokenizer = lens_.model().tokenizer();
    const auto P = static_cast<std::int64_t>(work.prompt_ids.size());
    const auto& foil = settings_.fixed_foil;
    const auto foil_text = foil ? display_token(tokenizer.token_text(*foil)) : std::string();
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(work.answer.size()); ++i) {
      const auto id = work.answer[static_cast<std::size_t>(i)];
      if (foil && id == *foil) {
        work.skipped.push_back({P - 1 + i, id, tokenizer.token_text(id), "the target is the foil " + foil_text});
        continue;
      }
      work.targets.positions.push_back(P - 1 + i);
      work.targets.ids.push_back(id);
      if (foil) work.targets.foils.push_back(*foil);
    }
    require(!work.targets.positions.empty(), "every answer token is the foil {}: nothing to attribute", foil_text);
    if (!settings_.automatic_foil) return;
    if (work.runners_up.size() == work.answer.size()) {
      work.targets.foils = work.runners_up;  // generation saw each position's logits
      return;
    }
    // A teacher-forced answer: the model's own logits at each position.
    torch::NoGradGuard no_grad;
    const auto logits = lens_.model().logits(sequence_tensor(work).unsqueeze(0))[0].index_select(
        0, torch::tensor(work.targets.positions, torch::kLong).to(settings_.device));
    const auto top_two = std::get<1>(logits.topk(2, -1)).to(torch::kCPU);
    for (std::size_t i = 0; i < work.targets.size(); ++i) {
      const auto first = top_two[static_cast<std::int64_t>(i)][0].item<std::int64_t>();
      work.targets.foils.push_back(
          first != work.targets.ids[i] ? first : top_two[static_cast<std::int64_t>(i)][1].item<std::int64_t>());
    }
  }

  // The layer maps of a batch from one forward pass over its padded sequences.
  std::vector<Attribution> map(const std::vector<PromptWork*>& batch, const StageProgress& progress = {}) {
    std::vector<std::vector<std::int64_t>> sequences;
    std::vector<Targets> targets;
    std::int64_t longest = 0;
    for (const auto* work : batch) {
      sequences.push_back(work->sequence());
      targets.push_back(work->targets);
      longest = std::max(longest, static_cast<std::int64_t>(sequences.back().size()));
    }
    auto options = settings_.options;
    options.progress = progress;
    const auto map = lens_.attribute_batch(padded_ids(sequences, longest).to(settings_.device), targets, options);
    std::vector<Attribution> maps;
    for (std::int64_t b = 0; b < static_cast<std::int64_t>(batch.size()); ++b) maps.push_back(map.sequence(b));
    return maps;
  }

  // The report of a map (a layer map, or one with components), with what
  // only the prompt's work knows: the prompt, the chat and how the answer ended.
  template <class Map>
  Report report(const PromptWork& work, const Map& map) {
    const auto& tokenizer = lens_.model().tokenizer();
    auto report = [&] {
      if constexpr (std::is_same_v<Map, SourceMap>) {
        return make_report(map, work.targets, tokenizer, work.sequence(), settings_.top_sources);
      } else {
        return make_report(map, work.targets, tokenizer);
      }
    }();
    report.model = lens_.model().description().path;
    report.prompt = work.prompt_text;
    report.messages = work.request->messages;
    report.prompt_ids = work.prompt_ids;
    report.mode = work.request->target ? "target" : "generate";
    if (!work.request->target) {
      report.stopped = work.stop_id ? "end token" : "limit";
      if (work.stop_id) report.stop_token = tokenizer.token_text(*work.stop_id);
      report.stop_id = work.stop_id;
    }
    report.skipped = work.skipped;
    return report;
  }

  // Bytes a batch of `sequences` padded to `length` tokens needs at most: the
  // residual stream kept, one block's activations, one layer's attention
  // scores and, while generating, the logits of every position.
  std::int64_t batch_bytes(std::int64_t sequences, std::int64_t length) {
    const auto& model = lens_.model().description();
    const auto value = static_cast<double>(settings_.options.dtype == torch::kFloat64 ? 8 : 4);
    const auto d = static_cast<double>(model.d_model), L = static_cast<double>(model.n_layer),
               V = static_cast<double>(model.vocab_size), H = static_cast<double>(model.n_head);
    const auto n = static_cast<double>(length);
    const auto bytes = value * static_cast<double>(sequences) * (n * (2 * (L + 1) * d + 8 * d + V) + H * n * n);
    return bytes >= 9e18 ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(bytes);
  }

 private:
  torch::Tensor sequence_tensor(const PromptWork& work) const {
    return torch::tensor(work.sequence(), torch::kLong).to(settings_.device);
  }

  // The answer's length against the room the context leaves after the prompt
  // (written so that no sum can overflow).
  void check_answer_fits(std::int64_t prompt_tokens, std::int64_t answer_tokens, bool teacher_forced) {
    const auto context_length = lens_.model().description().context_length;
    const auto* kind = teacher_forced ? "target" : "generated";
    require(answer_tokens <= context_length - prompt_tokens,
            "the prompt ({} tokens) plus {} {} tokens is more than the model's context length of {}: "
            "at most {} {} tokens fit",
            prompt_tokens, answer_tokens, kind, context_length,
            std::max<std::int64_t>(0, context_length - prompt_tokens), kind);
  }

  PromptSettings settings_;
  Lens<LoadedModel> lens_;
};

}  // namespace iglens
