#pragma once
// Where a model file keeps its chat template, and the special tokens the
// template may name:
//  - GGUF: `tokenizer.chat_template` (llama.cpp's converter copies it from the
//    Hugging Face tokenizer), with BOS and EOS from tokenizer.ggml.*_token_id;
//  - Hugging Face folder: `chat_template.jinja` (transformers >= 4.47 saves it
//    there), else `chat_template` in tokenizer_config.json, a string or a list
//    of {"name", "template"} of which "default" is the chat template; the
//    special tokens from tokenizer_config.json, else special_tokens_map.json.

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/model_files/gguf.hpp"
#include "iglens/model_files/hf_json.hpp"
#include "iglens/text/chat_template.hpp"
#include "iglens/text/tokenizer.hpp"

namespace iglens::detail {

inline std::optional<ChatTemplate> gguf_chat_template(const GgufFile& file, const Tokenizer& tokenizer) {
  auto source = file.find_string("tokenizer.chat_template");
  if (!source) return std::nullopt;
  return ChatTemplate(std::move(*source), fmt::format("model file '{}'", file.path()), chat_tokens_of(tokenizer));
}

// A special token as tokenizer_config.json writes it: its text, or an object
// whose "content" is the text; null or absent is none.
inline std::optional<std::string> hf_token_text(const nlohmann::json& config, const std::string& key,
                                                const std::string& path) {
  const auto found = config.find(key);
  if (found == config.end() || found->is_null()) return std::nullopt;
  if (found->is_string()) return found->get<std::string>();
  const bool object = found->is_object() && found->contains("content") && found->at("content").is_string();
  require(object, "{}: '{}' must be a token's text or an object with its \"content\", found {}", path, key,
          found->type_name());
  return found->at("content").get<std::string>();
}

inline std::optional<ChatTemplate> hf_chat_template(const std::filesystem::path& folder) {
  std::error_code error;
  const auto config_path = folder / "tokenizer_config.json";
  const auto map_path = folder / "special_tokens_map.json";
  const auto config = std::filesystem::exists(config_path, error) ? read_hf_json_object(config_path.string())
                                                                  : nlohmann::json::object();
  const auto map =
      std::filesystem::exists(map_path, error) ? read_hf_json_object(map_path.string()) : nlohmann::json::object();
  const auto token = [&](const std::string& key) {
    auto text = hf_token_text(config, key, config_path.string());
    return text ? text : hf_token_text(map, key, map_path.string());
  };
  const ChatTokens tokens{token("bos_token"), token("eos_token"), token("unk_token"), token("pad_token")};

  const auto jinja_path = folder / "chat_template.jinja";
  if (std::filesystem::exists(jinja_path, error)) return ChatTemplate::from_file(jinja_path, tokens);
  const auto found = config.find("chat_template");
  if (found == config.end() || found->is_null()) return std::nullopt;
  const auto origin = fmt::format("'{}'", config_path.string());
  if (found->is_string()) return ChatTemplate(found->get<std::string>(), origin, tokens);
  require(found->is_array(), "{}: 'chat_template' must be a string or a list of named templates, found {}",
          config_path.string(), found->type_name());
  for (const auto& named : *found) {
    const bool entry = named.is_object() && named.contains("name") && named.at("name").is_string() &&
                       named.contains("template") && named.at("template").is_string();
    require(entry, "{}: each named chat template must be {{\"name\": ..., \"template\": ...}}", config_path.string());
    if (named.at("name") == "default") return ChatTemplate(named.at("template").get<std::string>(), origin, tokens);
  }
  fail("{}: 'chat_template' lists named templates but none named \"default\"", config_path.string());
}

}  // namespace iglens::detail
