#pragma once
// The model a command names, behind one interface: an IG-Lens bundle (*.pt
// from export_gpt2.py), a GGUF file or a Hugging Face folder. It is an
// IG-Lens model (residual_stream, logits, readout, components) with its
// tokenizer.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "iglens/iglens.hpp"
#include "iglens/models/pretrained.hpp"
#include "iglens/text/chat_template.hpp"

namespace iglens::cli {

class ProgramModel {
 public:
  static ProgramModel load(const std::string& path) {
    if (is_pretrained_path(path)) {
      auto pretrained = load_pretrained(path);
      return ProgramModel(std::move(pretrained.model), std::move(pretrained.tokenizer),
                          std::move(pretrained.description), std::move(pretrained.end_ids),
                          std::move(pretrained.chat_template));
    }
    auto bundle = Bundle::load(path);
    auto tokenizer = bundle.tokenizer();
    auto info = bundle_json(bundle);
    // A bundle's tokenizer is GPT-2's: its end of text ends an answer.
    std::vector<std::int64_t> end_ids;
    if (tokenizer.eos_id()) end_ids.push_back(*tokenizer.eos_id());
    return ProgramModel(std::move(bundle), std::move(tokenizer), std::move(info), std::move(end_ids), std::nullopt);
  }

  // The tokenizer alone, without reading the weights.
  static Tokenizer load_tokenizer(const std::string& path) {
    return is_pretrained_path(path) ? load_pretrained_tokenizer(path) : Bundle::load(path).tokenizer();
  }

  // The model's own chat template alone, without reading the weights (bundles, GPT-2, have none).
  static std::optional<ChatTemplate> load_chat_template(const std::string& path) {
    return is_pretrained_path(path) ? load_pretrained_chat_template(path) : std::nullopt;
  }

  torch::Tensor residual_stream(const torch::Tensor& ids) {
    return std::visit([&](auto& model) { return model.residual_stream(ids); }, model_);
  }
  torch::Tensor logits(const torch::Tensor& ids) {
    return std::visit([&](auto& model) { return model.logits(ids); }, model_);
  }
  Readout readout() {
    return std::visit([](auto& model) { return model.readout(); }, model_);
  }
  // What every block writes for ids [1, S]; bundles exported without a
  // `components` method throw an error that says how to re-export.
  ResidualComponents components(const torch::Tensor& ids) {
    return std::visit([&](auto& model) { return model.components(ids); }, model_);
  }
  // Greedy answers: native decoders with their key/value cache, bundles by re-running the sequence.
  std::vector<GreedyAnswer> greedy_answers(const std::vector<std::vector<std::int64_t>>& prompts,
                                           const GreedyOptions& options) {
    return std::visit([&](auto& model) { return iglens::greedy_answers(model, prompts, options); }, model_);
  }
  NormHead norm_head() {
    return std::visit([](auto& model) { return model.norm_head(); }, model_);
  }
  void to(torch::ScalarType dtype) {
    std::visit([&](auto& model) { model.to(dtype); }, model_);
  }
  void to(torch::Device device) {
    std::visit([&](auto& model) { model.to(device); }, model_);
  }

  const Tokenizer& tokenizer() const { return tokenizer_; }
  // The tokens that end a generated answer (the model's end of text, turn or message).
  const std::vector<std::int64_t>& end_ids() const { return end_ids_; }
  const std::optional<ChatTemplate>& chat_template() const { return chat_template_; }
  std::int64_t n_layer() const { return info_.at("n_layer").get<std::int64_t>(); }
  std::int64_t context_length() const { return info_.at("context_length").get<std::int64_t>(); }
  // What `iglens info` prints.
  const nlohmann::json& info() const { return info_; }

 private:
  ProgramModel(std::variant<Bundle, DecoderModel> model, Tokenizer tokenizer, nlohmann::json info,
               std::vector<std::int64_t> end_ids, std::optional<ChatTemplate> chat_template)
      : model_(std::move(model)),
        tokenizer_(std::move(tokenizer)),
        info_(std::move(info)),
        end_ids_(std::move(end_ids)),
        chat_template_(std::move(chat_template)) {}

  static nlohmann::json bundle_json(const Bundle& bundle) {
    const auto& info = bundle.info();
    auto optional_name = [](const std::string& name) { return name.empty() ? nlohmann::json() : nlohmann::json(name); };
    return {{"path", bundle.path()},
            {"format", "iglens-bundle"},
            {"format_version", BundleInfo::kFormatVersion},
            {"architecture", info.architecture},
            {"n_layer", info.n_layer},
            {"d_model", info.d_model},
            {"n_head", info.n_head},
            {"vocab_size", info.vocab_size},
            {"context_length", info.context_length},
            {"final_norm",
             {{"kind", info.norm_kind == NormKind::layer_norm ? "layernorm" : "rmsnorm"},
              {"eps", info.norm_eps},
              {"weight", info.norm_weight},
              {"bias", optional_name(info.norm_bias)}}},
            {"unembedding", {{"weight", info.unembedding_weight}, {"bias", optional_name(info.unembedding_bias)}}},
            {"special_tokens", info.special_tokens},
            {"tokenizer", {{"vocab", info.vocab_file}, {"merges", info.merges_file}}},
            {"source", info.source},
            {"methods", info.methods}};
  }

  std::variant<Bundle, DecoderModel> model_;
  Tokenizer tokenizer_;
  nlohmann::json info_;
  std::vector<std::int64_t> end_ids_;
  std::optional<ChatTemplate> chat_template_;
};

// The template a command renders chats with: `file` (--chat-template) with
// the model's special tokens, else the model's own.
inline ChatTemplate chosen_chat_template(const std::optional<ChatTemplate>& own, const Tokenizer& tokenizer,
                                         const std::string& file, const std::string& model_path) {
  if (!file.empty()) return ChatTemplate::from_file(file, own ? own->tokens() : chat_tokens_of(tokenizer));
  iglens::require(own.has_value(), "the model '{}' has no chat template: give one with --chat-template FILE",
                  model_path);
  return *own;
}

}  // namespace iglens::cli
