#pragma once
// The settings of an attribution as text and numbers, the way the `iglens`
// program and the Python package take them ("float64", "causal-mean",
// "--stop <|im_end|>"), turned into the library's PromptSettings with the
// program's one-line messages. Tokens named as text (--stop, --foil) and
// the chat template need the model's tokenizer: prompt_settings() takes it
// from a callback called only when a setting needs it, so that the program
// checks everything else before reading a model file.

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "iglens/engine/baseline.hpp"
#include "iglens/engine/estimator.hpp"
#include "iglens/engine/layers.hpp"
#include "iglens/engine/objective.hpp"
#include "iglens/engine/options.hpp"
#include "iglens/error.hpp"
#include "iglens/outputs/report.hpp"
#include "iglens/prompts/prompt_lens.hpp"
#include "iglens/text/chat_message.hpp"
#include "iglens/text/chat_template.hpp"
#include "iglens/text/tokenizer.hpp"
#include "iglens/weights/stored_weight.hpp"

namespace iglens {

// --generate's default for a chat: the answer of an instruct model, which ends
// at its end token (the reference tool's 80).
inline constexpr std::int64_t chat_answer_tokens = 80;

// `--foil auto`: per position, the model's most likely token other than the target.
inline constexpr std::string_view automatic_foil = "auto";

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
  std::string weights = "float";  // a GGUF file's or folder's matrices: float (converted as it loads) or stored
  // MiB the attribution's logits-sized buffers may hold at once (Options::memory_budget_bytes).
  std::int64_t attribution_memory_mb = static_cast<std::int64_t>(Options{}.memory_budget_bytes >> 20);
  bool special_tokens = false;  // recognise special tokens such as <|im_start|> written in the text
  bool bos = false;             // put the BOS token first even where the model's own rule does not
  bool components = false;      // also split each token's change by head, attention bias and MLP
  bool sources = false;         // and each head's credit by the source position it reads (implies components)
  std::optional<std::int64_t> top_sources;  // outputs keep each head's largest sources
  bool chat = false;                        // render prompts with the chat template (implied by the next two)
  std::optional<std::string> system;        // a system message before each chat prompt
  std::string chat_template;                // a template file to use instead of the model's own
  bool uses_chat() const { return chat || system || !chat_template.empty(); }
  // Whether prompt_settings() needs the model's tokenizer.
  bool names_tokens() const { return !stop.empty() || (foil && *foil != automatic_foil) || uses_chat(); }
};

inline torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "float64") return torch::kFloat64;
  fail("unknown dtype '{}' (expected float32 or float64)", name);
}

inline WeightStorage parse_weight_storage(const std::string& name) {
  if (name == "float") return WeightStorage::float_copy;
  if (name == "stored") return WeightStorage::as_stored;
  fail("unknown --weights '{}' (expected float or stored)", name);
}

inline torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    require(torch::cuda::is_available(), "--device cuda: no CUDA GPU is available to this LibTorch (use --device cpu)");
    return torch::kCUDA;
  }
  fail("unknown device '{}' (expected cpu or cuda)", name);
}

// The library options the settings ask for, as far as the settings alone tell.
inline Options options_from(const AttributeSettings& s) {
  Options options;
  std::set<std::int64_t> seen;
  for (auto layer : s.layers) {
    require(layer >= 0, "--layers: layer {} is negative; layers are 0 (embeddings) to n", layer);
    require(seen.insert(layer).second, "--layers: layer {} is listed twice", layer);
  }
  require(s.layers.empty() || !s.k, "--layers and --k choose layers in two ways; give one");
  if (!s.layers.empty()) options.layers = LayerSelection::explicit_list(s.layers);
  if (s.k) options.layers = LayerSelection::evenly_spaced(*s.k);
  options.steps = s.steps;
  options.estimator = parse_estimator(s.estimator);
  options.baseline = Baseline::parse(s.baseline);
  options.objective = parse_objective(s.objective);
  options.onset_fraction = s.onset_fraction;
  options.dtype = parse_dtype(s.dtype);
  require(s.attribution_memory_mb >= 1 && s.attribution_memory_mb <= (std::int64_t{1} << 20),
          "--attribution-memory must be 1 to 2^20 MiB (got {})", s.attribution_memory_mb);
  options.memory_budget_bytes = static_cast<std::size_t>(s.attribution_memory_mb) << 20;
  parse_weight_storage(s.weights);  // checked here with the rest, before the model is read
  require(!s.target || !s.target->empty(), "--target is empty");
  require(!s.uses_chat() || !s.bos,
          "--bos does not apply to a chat prompt: its template writes BOS where the model wants it");
  return options;
}

// The one token `text` is, as text that follows other text; `option` names
// what it is for in the error.
inline std::int64_t single_token(const Tokenizer& tokenizer, const std::string& text, std::string_view option,
                                 bool special_tokens = false) {
  const auto ids = tokenizer.encode(text, {special_tokens, false, true});
  require(ids.size() == 1, "{} {} is {} tokens; it must be exactly one token", option, display_token(text), ids.size());
  return ids.front();
}

// The template chats render with: `file` (--chat-template) with the model's
// special tokens, else the model's own; parsed here, so that a broken one
// fails before any prompt is rendered.
inline ChatTemplate chosen_chat_template(const std::optional<ChatTemplate>& own, const Tokenizer& tokenizer,
                                         const std::string& file, const std::string& model_path) {
  require(!file.empty() || own.has_value(), "the model '{}' has no chat template: give one with --chat-template FILE",
          model_path);
  auto chosen = file.empty() ? *own : ChatTemplate::from_file(file, own ? own->tokens() : chat_tokens_of(tokenizer));
  chosen.check();
  return chosen;
}

// What prompt_settings() reads of the model when a setting names tokens.
struct ModelText {
  const Tokenizer& tokenizer;
  const std::optional<ChatTemplate>& chat_template;  // the model's own
};

// Every setting in the library's terms, checked; `with_model_text` is
// called (once, with a function to hand the model's text to) only when
// --stop, --foil TOKEN or a chat need the tokenizer.
inline PromptSettings prompt_settings(
    const AttributeSettings& s,
    const std::function<void(const std::function<void(const ModelText&)>&)>& with_model_text) {
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
  if (s.names_tokens()) {
    with_model_text([&](const ModelText& text) {
      // An end token is written as itself, special or not (<|im_end|>).
      for (const auto& stop : s.stop) settings.stop_ids.insert(single_token(text.tokenizer, stop, "--stop", true));
      if (s.foil && !settings.automatic_foil) settings.fixed_foil = single_token(text.tokenizer, *s.foil, "--foil");
      if (s.uses_chat())
        settings.chat_template = chosen_chat_template(text.chat_template, text.tokenizer, s.chat_template, s.model);
    });
  }
  settings.validate();
  return settings;
}

// The request of one prompt: with chat settings, a chat of the prompt (and the system message).
inline PromptRequest prompt_request(const AttributeSettings& s, const std::string& prompt,
                                    const std::optional<std::string>& target) {
  PromptRequest request{prompt, target, {}};
  if (s.uses_chat()) request.messages = chat_messages(prompt, s.system);
  return request;
}

}  // namespace iglens
