#pragma once
// A real pretrained model as users have it: a GGUF file (llama.cpp's format)
// or a Hugging Face folder (config.json + safetensors), loaded as a native
// decoder with its own tokenizer and a description of what was read.
//
//   auto pretrained = iglens::load_pretrained("SmolLM2-135M-Instruct.Q4_1.gguf");
//   iglens::Lens<iglens::DecoderModel> lens(std::move(pretrained.model));

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/model_files/gguf.hpp"
#include "iglens/model_files/hf_folder.hpp"
#include "iglens/models/decoder.hpp"
#include "iglens/models/detail/chat_template_source.hpp"
#include "iglens/models/gguf_tokenizer.hpp"
#include "iglens/models/load_gguf.hpp"
#include "iglens/models/load_hf.hpp"
#include "iglens/models/memory_fit.hpp"
#include "iglens/text/chat_template.hpp"
#include "iglens/text/tokenizer.hpp"
#include "iglens/weights/stored_weight.hpp"

namespace iglens {

struct Pretrained {
  DecoderModel model;
  Tokenizer tokenizer;
  nlohmann::json description;         // format, architecture, sizes, weight types, tokenizer (for `iglens info`)
  std::vector<std::int64_t> end_ids;  // the tokens that end a generated answer (greedy_answers' stop_ids)
  std::optional<ChatTemplate> chat_template;  // an instruct model's own, where its file has one
};

namespace detail {

inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot read '{}'", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

// A Hugging Face folder's tokenizer: tokenizer.json, else GPT-2's
// vocab.json + merges.txt.
inline Tokenizer hf_tokenizer(const std::filesystem::path& folder) {
  std::error_code error;
  if (std::filesystem::exists(folder / "tokenizer.json", error)) {
    const auto path = (folder / "tokenizer.json").string();
    return Tokenizer::from_hf_tokenizer_json(read_text_file(path), fmt::format("'{}'", path));
  }
  if (std::filesystem::exists(folder / "vocab.json", error) && std::filesystem::exists(folder / "merges.txt", error)) {
    return Tokenizer::from_files((folder / "vocab.json").string(), (folder / "merges.txt").string());
  }
  fail("Hugging Face folder '{}' has no tokenizer.json (nor vocab.json + merges.txt)", folder.string());
}

inline nlohmann::json config_json(const DecoderConfig& c) {
  nlohmann::json j = {
      {"architecture", architecture_name(c.architecture)},
      {"family", c.family},
      {"n_layer", c.n_layer},
      {"d_model", c.d_model},
      {"n_head", c.n_head},
      {"n_kv_head", c.n_kv_head},
      {"head_dim", c.head_dim},
      {"d_ff", c.d_ff},
      {"vocab_size", c.vocab_size},
      {"context_length", c.context_length},
      {"final_norm", {{"kind", c.norm_kind() == NormKind::layer_norm ? "layernorm" : "rmsnorm"}, {"eps", c.norm_eps}}},
      {"tied_embeddings", c.tied_embeddings}};
  if (c.has_rope()) j["rope_base"] = c.rope_base;
  if (c.rotary_dims != 0) j["rotary_dims"] = c.rotary_dims;  // RoPE over part of each head
  if (!c.rope_frequency_factors.empty()) j["rope_frequency_factors"] = c.rope_frequency_factors;  // Llama 3 scaling
  if (c.architecture == Architecture::llama) {
    j["mlp"] = c.mlp_activation == MlpActivation::silu ? "swiglu" : "geglu-tanh";
    j["query_scale"] = c.query_scale();
  }
  if (c.architecture == Architecture::gpt_neox) {
    j["mlp"] = activation_name(c.mlp_activation);
    j["parallel_residual"] = c.parallel_residual;
  }
  // The families' own features, where the model has them.
  if (c.qkv_bias) j["qkv_bias"] = true;
  if (c.qk_norm) j["qk_norm"] = true;
  if (c.qk_norm_across_heads) j["qk_norm_across_heads"] = true;
  if (!c.pre_norms) j["pre_norms"] = false;
  if (c.post_norms) j["post_norms"] = true;
  if (c.norm_gain_offset != 0.0) j["norm_gain_offset"] = c.norm_gain_offset;
  if (c.embedding_scale != 1.0) j["embedding_scale"] = c.embedding_scale;
  if (c.attention_softcap != 0.0) j["attention_softcap"] = c.attention_softcap;
  if (c.final_softcap != 0.0) j["final_softcap"] = c.final_softcap;
  if (!c.sliding_windows.empty()) j["sliding_windows"] = c.sliding_windows;
  if (c.local_rope_base != 0.0) j["local_rope_base"] = c.local_rope_base;
  return j;
}

inline nlohmann::json tokenizer_json(const Tokenizer& tokenizer, const std::string& model) {
  auto optional_id = [](const std::optional<std::int64_t>& id) { return id ? nlohmann::json(*id) : nlohmann::json(); };
  return {{"model", model},
          {"pre_tokenizer", pre_tokenizer_name(tokenizer.pre_tokenizer())},
          {"vocab_size", tokenizer.vocab_size()},
          {"bos_id", optional_id(tokenizer.bos_id())},
          {"eos_id", optional_id(tokenizer.eos_id())},
          {"adds_bos", tokenizer.adds_bos()},
          {"special_tokens", tokenizer.special_token_ids().size()}};
}

// End tokens, each once and inside the model's vocabulary.
inline std::vector<std::int64_t> checked_end_ids(const std::vector<std::optional<std::int64_t>>& candidates,
                                                 std::int64_t vocab_size, const std::string& source) {
  std::vector<std::int64_t> ids;
  for (const auto& id : candidates) {
    if (!id || std::find(ids.begin(), ids.end(), *id) != ids.end()) continue;
    require(*id >= 0 && *id < vocab_size, "{}: end token id {} is outside the vocabulary [0, {})", source, *id,
            vocab_size);
    ids.push_back(*id);
  }
  return ids;
}

inline bool has_gguf_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// Every tensor's torch-order shape and stored bytes, for require_weights_fit.
inline std::vector<TensorSize> tensor_sizes(const GgufFile& file) {
  std::vector<TensorSize> sizes;
  for (const auto& tensor : file.tensors())
    sizes.push_back({{tensor.shape.rbegin(), tensor.shape.rend()}, tensor.n_bytes});
  return sizes;
}

inline std::vector<TensorSize> tensor_sizes(const HfFolder& folder) {
  std::vector<TensorSize> sizes;
  for (const auto& file : folder.files()) {
    for (const auto& tensor : file.tensors()) sizes.push_back({tensor.shape, tensor.byte_size});
  }
  return sizes;
}

}  // namespace detail

// True for what load_pretrained reads: a folder, or a file that starts with
// GGUF's magic or is named *.gguf.
inline bool is_pretrained_path(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_directory(path, error) || std::filesystem::path(path).extension() == ".gguf" ||
         (std::filesystem::is_regular_file(path, error) && detail::has_gguf_magic(path));
}

inline Pretrained load_gguf_pretrained(const std::string& path, WeightStorage storage = WeightStorage::float_copy) {
  const auto file_owner = std::make_shared<const GgufFile>(GgufFile::open(path));
  const auto& file = *file_owner;
  // What is cheap to check comes before the weights: the architecture, the
  // tokenizer, and whether the embedding has a row for every token.
  gguf_decoder_family(file);
  auto tokenizer = gguf_tokenizer(file);
  if (const auto* embedding = file.find_tensor("token_embd.weight");
      embedding != nullptr && embedding->shape.size() == 2) {
    require(tokenizer.vocab_size() <= embedding->shape[1],
            "model file '{}': the tokenizer has {} tokens but the embedding only {} rows", path, tokenizer.vocab_size(),
            embedding->shape[1]);
  }
  require_weights_fit(fmt::format("model file '{}'", path), detail::tensor_sizes(file), storage, available_memory());
  auto model = load_gguf_decoder(file_owner, storage);
  std::map<std::string, std::int64_t> types;
  for (const auto& tensor : file.tensors()) ++types[std::string(type_name(tensor.type))];
  auto description = detail::config_json(model.config());
  description["path"] = path;
  description["format"] = "gguf";
  description["name"] = file.find_string("general.name").value_or("");
  description["tensor_types"] = types;
  description["weights"] = storage == WeightStorage::as_stored ? "stored" : "float";
  description["tokenizer"] = detail::tokenizer_json(tokenizer, file.get_string("tokenizer.ggml.model"));
  // End of text, and an instruct model's end of turn and end of message.
  auto end_ids = detail::checked_end_ids(
      {file.find_integer("tokenizer.ggml.eos_token_id"), file.find_integer("tokenizer.ggml.eot_token_id"),
       file.find_integer("tokenizer.ggml.eom_token_id")},
      model.config().vocab_size, fmt::format("model file '{}'", path));
  description["end_ids"] = end_ids;
  auto chat_template = detail::gguf_chat_template(file, tokenizer);
  description["chat_template"] = chat_template.has_value();
  return {std::move(model), std::move(tokenizer), std::move(description), std::move(end_ids), std::move(chat_template)};
}

inline Pretrained load_hf_pretrained(const std::string& folder, WeightStorage storage = WeightStorage::float_copy) {
  const auto folder_owner = std::make_shared<const HfFolder>(HfFolder::open(folder));
  const auto& hf = *folder_owner;
  require_weights_fit(fmt::format("Hugging Face folder '{}'", folder), detail::tensor_sizes(hf), storage,
                      available_memory());
  auto model = load_hf_decoder(folder_owner, storage);
  auto tokenizer = detail::hf_tokenizer(folder);
  require(tokenizer.vocab_size() <= model.config().vocab_size,
          "Hugging Face folder '{}': the tokenizer has {} tokens but the embedding only {} rows", folder,
          tokenizer.vocab_size(), model.config().vocab_size);
  std::map<std::string, std::int64_t> types;
  for (const auto& file : hf.files()) {
    for (const auto& tensor : file.tensors()) ++types[std::string(dtype_name(tensor.dtype))];
  }
  auto description = detail::config_json(model.config());
  description["path"] = folder;
  description["format"] = "huggingface";
  description["name"] = hf.architectures().empty() ? "" : hf.architectures().front();
  description["tensor_types"] = types;
  description["weights"] = storage == WeightStorage::as_stored ? "stored" : "float";
  description["tokenizer"] = detail::tokenizer_json(tokenizer, "bpe");
  std::vector<std::optional<std::int64_t>> candidates;
  for (const auto id : hf.end_token_ids()) candidates.emplace_back(id);
  if (candidates.empty()) candidates.push_back(tokenizer.eos_id());
  auto end_ids =
      detail::checked_end_ids(candidates, model.config().vocab_size, fmt::format("Hugging Face folder '{}'", folder));
  description["end_ids"] = end_ids;
  auto chat_template = detail::hf_chat_template(folder);
  description["chat_template"] = chat_template.has_value();
  return {std::move(model), std::move(tokenizer), std::move(description), std::move(end_ids), std::move(chat_template)};
}

// Only the tokenizer of a GGUF file or a Hugging Face folder: no weights are read.
inline Tokenizer load_pretrained_tokenizer(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return detail::hf_tokenizer(path);
  return gguf_tokenizer(GgufFile::open(path));
}

// Only the chat template of a GGUF file or a Hugging Face folder (none where it has none): no weights are read.
inline std::optional<ChatTemplate> load_pretrained_chat_template(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return detail::hf_chat_template(path);
  const auto file = GgufFile::open(path);
  return detail::gguf_chat_template(file, gguf_tokenizer(file));
}

// A GGUF file or a Hugging Face folder, by what the path is.
inline Pretrained load_pretrained(const std::string& path, WeightStorage storage = WeightStorage::float_copy) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return load_hf_pretrained(path, storage);
  return load_gguf_pretrained(path, storage);
}

}  // namespace iglens
