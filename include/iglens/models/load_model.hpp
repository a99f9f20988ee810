#pragma once
// iglens::load_model(path): any model IG-Lens reads, by what the path is: an
// IG-Lens bundle (*.pt from export_gpt2.py), a GGUF file or a Hugging Face
// folder. The result is an IG-Lens model (residual_stream, logits, readout,
// components, greedy answers) with its tokenizer, the tokens that end an
// answer, its chat template where it has one, and a typed description of
// it (format, family, sizes, context length, special tokens). info() is
// what `iglens info` prints: a pretrained model's description and its
// format's own details as JSON, a bundle's iglens.json with its path.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "iglens/components/components.hpp"
#include "iglens/engine/readout.hpp"
#include "iglens/models/bundle.hpp"
#include "iglens/models/decoder.hpp"
#include "iglens/models/generation.hpp"
#include "iglens/models/memory_fit.hpp"
#include "iglens/models/pretrained.hpp"
#include "iglens/text/chat_template.hpp"
#include "iglens/text/tokenizer.hpp"
#include "iglens/weights/stored_weight.hpp"

namespace iglens {

struct ModelDescription {
  std::string path;
  std::string format;  // "gguf", "huggingface" or "iglens-bundle"
  std::string family;  // "gpt2", "llama", "qwen2", "qwen3", "mistral", "gemma2", "gemma3"
  std::int64_t n_layer = 0, d_model = 0, n_head = 0, vocab_size = 0, context_length = 0;
  std::optional<std::int64_t> bos_id, eos_id;  // the tokenizer's
  bool adds_bos = false;                       // the model's prompts start with BOS
  std::vector<std::int64_t> end_ids;           // the tokens that end a generated answer
  bool has_chat_template = false;
};

class LoadedModel;

// Any model IG-Lens reads, by what the path is (defined below). `storage`:
// how a GGUF file's or a Hugging Face folder's matrices are held
// (stored_weight.hpp); a bundle's weights are always in memory.
inline LoadedModel load_model(const std::string& path, WeightStorage storage = WeightStorage::float_copy);

class LoadedModel {
 public:
  const ModelDescription& description() const { return description_; }
  // As JSON, with the format's own details (tensor types, the family's
  // features, the tokenizer's settings; a bundle's iglens.json).
  const nlohmann::json& info() const { return info_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const std::vector<std::int64_t>& end_ids() const { return description_.end_ids; }
  const std::optional<ChatTemplate>& chat_template() const { return chat_template_; }

  torch::Tensor residual_stream(const torch::Tensor& ids) {
    return std::visit([&](auto& model) { return model.residual_stream(ids); }, model_);
  }
  torch::Tensor logits(const torch::Tensor& ids) {
    return std::visit([&](auto& model) { return model.logits(ids); }, model_);
  }
  Readout readout() {
    return std::visit([](auto& model) { return model.readout(); }, model_);
  }
  NormHead norm_head() {
    return std::visit([](auto& model) { return model.norm_head(); }, model_);
  }
  // What every block writes for ids [1, S]; bundles exported without a
  // `components` method throw an error that says how to re-export.
  ResidualComponents components(const torch::Tensor& ids, bool with_sources = true) {
    return std::visit([&](auto& model) { return model.components(ids, with_sources); }, model_);
  }
  // Whether components() carries what each head reads, for the split by
  // source position: native decoders do, bundles exported with `head_reads`.
  bool has_sources() const {
    return std::visit([](const auto& model) { return model.has_sources(); }, model_);
  }
  // Greedy answers: native decoders with their key/value cache, bundles by re-running the sequence.
  std::vector<GreedyAnswer> greedy_answers(const std::vector<std::vector<std::int64_t>>& prompts,
                                           const GreedyOptions& options) {
    return std::visit([&](auto& model) { return iglens::greedy_answers(model, prompts, options); }, model_);
  }
  // To float64, only where this process has the memory for the wider copies.
  void to(torch::ScalarType dtype) {
    if (dtype == torch::kFloat64) {
      require_float64_fits(fmt::format("model '{}'", description_.path),
                           std::visit([](const auto& model) { return model.float32_values_in_memory(); }, model_),
                           available_memory());
    }
    std::visit([&](auto& model) { model.to(dtype); }, model_);
  }
  void to(torch::Device device) {
    std::visit([&](auto& model) { model.to(device); }, model_);
  }

 private:
  friend LoadedModel load_model(const std::string& path, WeightStorage storage);

  LoadedModel(std::variant<Bundle, DecoderModel> model, Tokenizer tokenizer, ModelDescription description,
              nlohmann::json info, std::optional<ChatTemplate> chat_template)
      : model_(std::move(model)),
        tokenizer_(std::move(tokenizer)),
        description_(std::move(description)),
        info_(std::move(info)),
        chat_template_(std::move(chat_template)) {}

  std::variant<Bundle, DecoderModel> model_;
  Tokenizer tokenizer_;
  ModelDescription description_;
  nlohmann::json info_;
  std::optional<ChatTemplate> chat_template_;
};

namespace detail {

inline nlohmann::json bundle_info_json(const Bundle& bundle) {
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

// The sizes a DecoderConfig and a BundleInfo both name alike.
template <class Sizes>
void describe_sizes(ModelDescription& description, const Sizes& sizes) {
  description.n_layer = sizes.n_layer;
  description.d_model = sizes.d_model;
  description.n_head = sizes.n_head;
  description.vocab_size = sizes.vocab_size;
  description.context_length = sizes.context_length;
}

inline void describe_tokenizer(ModelDescription& description, const Tokenizer& tokenizer) {
  description.bos_id = tokenizer.bos_id();
  description.eos_id = tokenizer.eos_id();
  description.adds_bos = tokenizer.adds_bos();
}

}  // namespace detail

inline LoadedModel load_model(const std::string& path, WeightStorage storage) {
  ModelDescription description;
  description.path = path;
  if (is_pretrained_path(path)) {
    auto pretrained = load_pretrained(path, storage);
    const auto& config = pretrained.model.config();
    description.format = pretrained.description.at("format").get<std::string>();
    description.family = config.family;
    detail::describe_sizes(description, config);
    description.end_ids = std::move(pretrained.end_ids);
    description.has_chat_template = pretrained.chat_template.has_value();
    detail::describe_tokenizer(description, pretrained.tokenizer);
    return LoadedModel(std::move(pretrained.model), std::move(pretrained.tokenizer), std::move(description),
                       std::move(pretrained.description), std::move(pretrained.chat_template));
  }
  require(storage == WeightStorage::float_copy,
          "model '{}': weights kept as stored are for GGUF files and Hugging Face folders, not IG-Lens bundles", path);
  auto bundle = Bundle::load(path);
  auto tokenizer = bundle.tokenizer();
  const auto& info = bundle.info();
  description.format = "iglens-bundle";
  description.family = info.architecture;
  detail::describe_sizes(description, info);
  // A bundle's tokenizer is GPT-2's: its end of text ends an answer.
  if (tokenizer.eos_id()) description.end_ids.push_back(*tokenizer.eos_id());
  detail::describe_tokenizer(description, tokenizer);
  auto json = detail::bundle_info_json(bundle);  // iglens.json as the bundle holds it, and where it came from
  return LoadedModel(std::move(bundle), std::move(tokenizer), std::move(description), std::move(json), std::nullopt);
}

// Only the tokenizer, without reading the weights.
inline Tokenizer load_model_tokenizer(const std::string& path) {
  return is_pretrained_path(path) ? load_pretrained_tokenizer(path) : Bundle::load(path).tokenizer();
}

// Only the model's own chat template, without reading the weights (bundles, GPT-2, have none).
inline std::optional<ChatTemplate> load_model_chat_template(const std::string& path) {
  return is_pretrained_path(path) ? load_pretrained_chat_template(path) : std::nullopt;
}

}  // namespace iglens
