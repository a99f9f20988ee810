#pragma once
// Reading a Hugging Face tokenizer.json of a byte-level BPE model into a token
// list, merges and settings. Only what encodes exactly as `tokenizers` does is
// accepted: a BPE model without dropout, affixes, byte fallback or
// ignore_merges; no normalizer; the ByteLevel pre-tokenizer, alone ("gpt2") or
// after Digits(individual_digits=true) ("smollm"); special added tokens
// without stripping or single-word matching. Anything else is an error naming
// it, never a silent approximation.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/text/detail/pretokenizers.hpp"
#include "iglens/text/detail/token_list.hpp"

namespace iglens::detail {

struct HfTokenizerDescription {
  std::vector<std::string> tokens;  // by id
  std::vector<std::int32_t> token_types;
  std::vector<std::pair<std::string, std::string>> merges;
  std::string pre_tokenizer;  // "gpt2", "smollm", "llama3" or "qwen2"
  bool ignore_merges = false;
  std::optional<std::int64_t> bos_id;
  bool add_bos = false;
};

namespace hf_json {

using Json = nlohmann::json;

inline bool is_null_or_absent(const Json& object, const char* key) {
  const auto found = object.find(key);
  return found == object.end() || found->is_null();
}

// object[key] as a T, or `fallback` when the key is absent or null.
template <class T>
T value_or(const Json& object, const char* key, T fallback, std::string_view where, std::string_view source_name) {
  if (is_null_or_absent(object, key)) return fallback;
  try {
    return object.at(key).get<T>();
  } catch (const Json::exception&) {
    fail("{}: {}.{} is {}, of the wrong type", source_name, where, key, object.at(key).dump());
  }
}

inline const Json& member(const Json& object, const char* key, Json::value_t type, std::string_view where,
                          std::string_view source_name) {
  const auto found = object.find(key);
  require(found != object.end(), "{}: {} has no \"{}\"", source_name, where, key);
  require(found->type() == type, "{}: {}.{} is a {}, not a {}", source_name, where, key, found->type_name(),
          Json(type).type_name());
  return *found;
}

inline std::string type_of(const Json& component) {
  if (!component.is_object()) return component.dump();
  const auto found = component.find("type");
  return found != component.end() && found->is_string() ? found->get<std::string>() : std::string("(no type)");
}

// True if `component` is ByteLevel as GPT-2 uses it: no added prefix space, the regex on.
inline bool is_plain_byte_level(const Json& component, std::string_view source_name) {
  return type_of(component) == "ByteLevel" &&
         !value_or(component, "add_prefix_space", false, "pre_tokenizer", source_name) &&
         value_or(component, "use_regex", true, "pre_tokenizer", source_name);
}

// A readable name of a pre-tokenizer for error messages, e.g. "Sequence[Split, ByteLevel]".
inline std::string describe_pre_tokenizer(const Json& component) {
  if (type_of(component) != "Sequence") return type_of(component);
  const auto found = component.find("pretokenizers");
  if (found == component.end() || !found->is_array()) return "Sequence";
  std::string name = "Sequence[";
  for (std::size_t i = 0; i < found->size(); ++i) {
    name += (i > 0 ? ", " : "") + type_of((*found)[i]);
  }
  return name + "]";
}

inline std::string pre_tokenizer_name(const Json& root, std::string_view source_name) {
  require(!is_null_or_absent(root, "pre_tokenizer"),
          "{}: there is no pre_tokenizer (supported: ByteLevel -> gpt2, "
          "Sequence[Digits(individual_digits=true), ByteLevel] -> smollm)",
          source_name);
  const Json& pre = root.at("pre_tokenizer");
  if (is_plain_byte_level(pre, source_name)) return "gpt2";
  if (type_of(pre) == "Sequence") {
    const auto parts = pre.find("pretokenizers");
    if (parts != pre.end() && parts->is_array() && parts->size() == 2 && type_of((*parts)[0]) == "Digits" &&
        value_or((*parts)[0], "individual_digits", false, "pre_tokenizer", source_name) &&
        is_plain_byte_level((*parts)[1], source_name)) {
      return "smollm";
    }
  }
  // Llama 3 and Qwen2: Split on their regex (pieces kept whole), then ByteLevel without its own regex.
  if (type_of(pre) == "Sequence") {
    const auto parts = pre.find("pretokenizers");
    if (parts != pre.end() && parts->is_array() && parts->size() == 2 && type_of((*parts)[0]) == "Split" &&
        type_of((*parts)[1]) == "ByteLevel" &&
        !value_or((*parts)[1], "add_prefix_space", false, "pre_tokenizer", source_name) &&
        !value_or((*parts)[1], "use_regex", true, "pre_tokenizer", source_name)) {
      const Json& split = (*parts)[0];
      const auto pattern = split.find("pattern");
      const std::string regex = pattern != split.end() && pattern->is_object() && pattern->contains("Regex") &&
                                        pattern->at("Regex").is_string()
                                    ? pattern->at("Regex").get<std::string>()
                                    : std::string();
      const bool isolated = value_or(split, "behavior", std::string(), "pre_tokenizer", source_name) == "Isolated" &&
                            !value_or(split, "invert", false, "pre_tokenizer", source_name);
      if (isolated && regex == llama3_pretokenizer_regex) return "llama3";
      if (isolated && regex == qwen2_pretokenizer_regex) return "qwen2";
    }
  }
  fail(
      "{}: pre_tokenizer {} with these options is not supported (supported: "
      "ByteLevel(add_prefix_space=false) -> gpt2, Sequence[Digits(individual_digits=true), "
      "ByteLevel(add_prefix_space=false)] -> smollm, Sequence[Split(Llama 3's or Qwen2's regex), "
      "ByteLevel(use_regex=false)] -> llama3, qwen2)",
      source_name, describe_pre_tokenizer(pre));
}

inline void check_model_options(const Json& model, std::string_view source_name) {
  require(is_null_or_absent(model, "dropout"), "{}: BPE dropout is not supported", source_name);
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    require(value_or(model, affix, std::string(), "model", source_name).empty(),
            "{}: model.{} is not supported in a byte-level BPE", source_name, affix);
  }
  require(!value_or(model, "byte_fallback", false, "model", source_name),
          "{}: model.byte_fallback = true is not supported", source_name);
}

inline std::vector<std::pair<std::string, std::string>> read_merges(const Json& model, std::string_view source_name) {
  const Json& merges = member(model, "merges", Json::value_t::array, "model", source_name);
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const Json& merge = merges[rank];
    if (merge.is_string()) {
      pairs.push_back(split_merge(merge.get_ref<const std::string&>(), rank, source_name));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      pairs.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      fail("{}: merge {} is {}, neither \"left right\" nor [left, right]", source_name, rank, merge.dump());
    }
  }
  return pairs;
}

// Fills description.tokens/token_types from model.vocab and added_tokens,
// whose ids together must be 0 to n-1 with no gaps.
inline void read_tokens(const Json& root, const Json& model, HfTokenizerDescription& description,
                        std::string_view source_name) {
  const Json& vocab = member(model, "vocab", Json::value_t::object, "model", source_name);
  const Json empty_list = Json::array();
  const Json& added = is_null_or_absent(root, "added_tokens")
                          ? empty_list
                          : member(root, "added_tokens", Json::value_t::array, "tokenizer", source_name);
  // Every id names one token, so the largest valid id is below this count:
  // checking it first keeps a huge id from allocating a huge table.
  const std::size_t entry_count = vocab.size() + added.size();
  std::vector<std::string> tokens;
  std::vector<bool> filled;
  std::vector<std::int32_t> types;
  const auto place = [&](std::string_view where, const std::string& token, const Json& id_value, std::int32_t type) {
    require(id_value.is_number_unsigned() || (id_value.is_number_integer() && id_value >= 0),
            "{}: {} \"{}\" has id {}, not a non-negative integer", source_name, where, token, id_value.dump());
    const auto id = id_value.get<std::uint64_t>();
    require(id < entry_count, "{}: {} \"{}\" has id {}, but {} entries leave ids 0 to {} with no gaps", source_name,
            where, token, id, entry_count, entry_count - 1);
    if (id >= tokens.size()) {
      tokens.resize(id + 1);
      filled.resize(id + 1, false);
      types.resize(id + 1, kNormalToken);
    }
    if (filled[id]) {
      // An added token may restate its entry in model.vocab.
      require(tokens[id] == token, "{}: tokens \"{}\" and \"{}\" share id {}", source_name, tokens[id], token, id);
    }
    tokens[id] = token;
    filled[id] = true;
    types[id] = type;
  };
  for (const auto& [token, id] : vocab.items()) place("token", token, id, kNormalToken);
  for (std::size_t i = 0; i < added.size(); ++i) {
    const Json& entry = added[i];
    require(entry.is_object(), "{}: added_tokens[{}] is not an object", source_name, i);
    const auto where = fmt::format("added_tokens[{}]", i);
    const auto content = member(entry, "content", Json::value_t::string, where, source_name).get<std::string>();
    require(value_or(entry, "special", false, where, source_name),
            "{}: added token \"{}\" is not special; non-special added tokens are not supported", source_name, content);
    for (const char* option : {"single_word", "lstrip", "rstrip"}) {
      require(!value_or(entry, option, false, where, source_name),
              "{}: added token \"{}\" has {} = true, which is not supported", source_name, content, option);
    }
    require(entry.contains("id"), "{}: {} has no \"id\"", source_name, where);
    place("added token", content, entry.at("id"), kControlToken);
  }
  for (std::size_t id = 0; id < filled.size(); ++id) {
    require(filled[id], "{}: no token has id {}, but ids go up to {}", source_name, id, filled.size() - 1);
  }
  description.tokens = std::move(tokens);
  description.token_types = std::move(types);
}

// The id of a template's special token, from the template's own table.
inline std::int64_t template_token_id(const Json& processor, const std::string& name, std::string_view source_name) {
  const auto table = processor.find("special_tokens");
  if (table != processor.end() && table->is_object()) {
    const auto entry = table->find(name);
    if (entry != table->end() && entry->is_object()) {
      const auto ids = entry->find("ids");
      if (ids != entry->end() && ids->is_array() && ids->size() == 1 && (*ids)[0].is_number_unsigned()) {
        return (*ids)[0].get<std::int64_t>();
      }
    }
  }
  fail("{}: post_processor special token \"{}\" has no single id", source_name, name);
}

// BOS from a post-processor whose single-text template is [BOS, $A] or [$A].
inline void read_post_processor(const Json& processor, HfTokenizerDescription& description,
                                std::string_view source_name) {
  if (processor.is_null()) return;
  const std::string type = type_of(processor);
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "Sequence") {
    const auto parts = processor.find("processors");
    require(parts != processor.end() && parts->is_array(), "{}: post_processor Sequence has no processors list",
            source_name);
    for (const Json& part : *parts) read_post_processor(part, description, source_name);
    return;
  }
  require(type == "TemplateProcessing",
          "{}: post_processor {} is not supported (supported: ByteLevel, TemplateProcessing)", source_name, type);
  const Json& single = member(processor, "single", Json::value_t::array, "post_processor", source_name);
  const auto is_text = [](const Json& item) { return item.is_object() && item.contains("Sequence"); };
  const auto is_special = [](const Json& item) {
    return item.is_object() && item.contains("SpecialToken") && item.at("SpecialToken").is_object() &&
           item.at("SpecialToken").contains("id") && item.at("SpecialToken").at("id").is_string();
  };
  if (single.size() == 1 && is_text(single[0])) return;
  require(single.size() == 2 && is_special(single[0]) && is_text(single[1]) && !description.bos_id.has_value(),
          "{}: post_processor template {} is not supported (supported: [BOS, $A] or [$A])", source_name, single.dump());
  const auto name = single[0].at("SpecialToken").at("id").get<std::string>();
  description.bos_id = template_token_id(processor, name, source_name);
  description.add_bos = true;
}

}  // namespace hf_json

inline HfTokenizerDescription parse_hf_tokenizer_json(std::string_view json_text, std::string_view source_name) {
  using hf_json::Json;
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& error) {  // parse_error, or out_of_range for a number too large
    fail("{}: not valid JSON ({})", source_name, error.what());
  }
  require(root.is_object(), "{}: expected a JSON object, found {}", source_name, root.type_name());
  const Json& model = hf_json::member(root, "model", Json::value_t::object, "tokenizer", source_name);
  const std::string model_type = hf_json::type_of(model);
  require(model_type == "BPE", "{}: model type '{}' is not supported (supported: BPE)", source_name, model_type);
  hf_json::check_model_options(model, source_name);
  require(hf_json::is_null_or_absent(root, "normalizer"), "{}: normalizer {} is not supported", source_name,
          hf_json::type_of(root.value("normalizer", Json())));
  require(hf_json::is_null_or_absent(root, "truncation"), "{}: truncation is set; encoding whole texts needs it off",
          source_name);
  if (!hf_json::is_null_or_absent(root, "decoder")) {
    const std::string decoder = hf_json::type_of(root.at("decoder"));
    require(decoder == "ByteLevel", "{}: decoder {} is not supported (supported: ByteLevel)", source_name, decoder);
  }

  HfTokenizerDescription description;
  description.pre_tokenizer = hf_json::pre_tokenizer_name(root, source_name);
  description.ignore_merges = hf_json::value_or(model, "ignore_merges", false, "model", source_name);
  hf_json::read_tokens(root, model, description, source_name);
  description.merges = hf_json::read_merges(model, source_name);
  if (!hf_json::is_null_or_absent(root, "post_processor")) {
    hf_json::read_post_processor(root.at("post_processor"), description, source_name);
  }
  return description;
}

}  // namespace iglens::detail
