#pragma once
// Reading a Hugging Face tokenizer.json of a BPE model into a token list,
// merges and settings. Only what encodes exactly as `tokenizers` does is
// accepted, in two kinds:
//  - byte-level BPE: no normalizer or NFC (GPT-NeoX-20B's, Pythia's); the
//    ByteLevel pre-tokenizer, alone ("gpt2"), after
//    Digits(individual_digits=true) ("smollm"), or after a Split on Llama 3's
//    or Qwen2's regex; ignore_merges as the file says; non-special added
//    tokens matched wherever they occur, in the raw text or, normalized =
//    true, in the normalised text;
//  - SentencePiece-style BPE with byte_fallback (Llama 2, Mistral, Gemma):
//    spaces become U+2581 by a Replace normalizer (with a Prepend before it,
//    or not) or by the Metaspace pre-tokenizer (any prepend scheme, split or
//    not); added tokens matched in the raw text (normalized = false).
// Neither with dropout or subword affixes; added tokens without stripping or
// single-word matching. Anything else is an error naming it, never a silent
// approximation.

#include <algorithm>
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
#include "iglens/text/detail/hf_sentencepiece_bpe.hpp"
#include "iglens/text/detail/pretokenizers.hpp"
#include "iglens/text/detail/token_list.hpp"

namespace iglens::detail {

struct HfTokenizerDescription {
  std::vector<std::string> tokens;  // by id
  std::vector<std::int32_t> token_types;
  std::vector<std::pair<std::string, std::string>> merges;
  std::string pre_tokenizer;  // "gpt2", "smollm", "llama3" or "qwen2"; empty for SentencePiece
  bool ignore_merges = false;
  std::optional<HfSentencePieceRules> sentencepiece;  // set: SentencePiece-style BPE with byte fallback
  std::optional<std::int64_t> bos_id;
  bool add_bos = false;
  bool nfc = false;                                // byte-level: the text is NFC-normalised before the model sees it
  std::vector<std::int64_t> normalized_added_ids;  // with nfc: added tokens matched in the normalised text
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

// A readable name of a Sequence of components, e.g. "Sequence[Prepend, Replace]".
inline std::string describe_sequence(const Json& component, const char* list_key) {
  if (type_of(component) != "Sequence") return type_of(component);
  const auto found = component.find(list_key);
  if (found == component.end() || !found->is_array()) return "Sequence";
  std::string name = "Sequence[";
  for (std::size_t i = 0; i < found->size(); ++i) name += (i > 0 ? ", " : "") + type_of((*found)[i]);
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
      source_name, describe_sequence(pre, "pretokenizers"));
}

inline void check_model_options(const Json& model, std::string_view source_name) {
  require(is_null_or_absent(model, "dropout"), "{}: BPE dropout is not supported", source_name);
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    require(value_or(model, affix, std::string(), "model", source_name).empty(), "{}: model.{} is not supported",
            source_name, affix);
  }
}

// Replace(" " -> "▁") and Prepend("▁"): how SentencePiece-style files spell spaces.
inline bool is_space_replace(const Json& component) {
  if (type_of(component) != "Replace") return false;
  const auto pattern = component.find("pattern");
  const auto content = component.find("content");
  return pattern != component.end() && pattern->is_object() && pattern->contains("String") &&
         pattern->at("String") == " " && content != component.end() && *content == std::string(kSpaceMarker);
}

inline bool is_space_prepend(const Json& component) {
  const auto prepend = component.find("prepend");
  return type_of(component) == "Prepend" && prepend != component.end() && *prepend == std::string(kSpaceMarker);
}

inline SpacePrefix metaspace_prefix(const Json& metaspace, std::string_view source_name) {
  // Files older than tokenizers 0.14 say add_prefix_space instead of a scheme.
  const bool legacy_prefix = value_or(metaspace, "add_prefix_space", true, "pre_tokenizer", source_name);
  const auto scheme = value_or(metaspace, "prepend_scheme", std::string(legacy_prefix ? "always" : "never"),
                               "pre_tokenizer", source_name);
  if (scheme == "always") return SpacePrefix::every_stretch_unless_space;
  if (scheme == "first") return SpacePrefix::text_start_unless_space;
  if (scheme == "never") return SpacePrefix::none;
  fail("{}: Metaspace prepend_scheme \"{}\" is not supported (supported: always, first, never)", source_name, scheme);
}

// How a SentencePiece-style file turns text into words of pieces: its
// normalizer and pre-tokenizer.
inline HfSentencePieceRules sentencepiece_rules(const Json& root, std::string_view source_name) {
  HfSentencePieceRules rules;
  bool replaces_spaces = false;
  if (!is_null_or_absent(root, "normalizer")) {
    const Json& normalizer = root.at("normalizer");
    std::vector<Json> steps{normalizer};
    if (type_of(normalizer) == "Sequence") {
      steps = value_or(normalizer, "normalizers", Json::array(), "normalizer", source_name).get<std::vector<Json>>();
    }
    if (steps.size() == 1 && is_space_replace(steps[0])) {
      replaces_spaces = true;
    } else if (steps.size() == 2 && is_space_prepend(steps[0]) && is_space_replace(steps[1])) {
      replaces_spaces = true;
      rules.prefix = SpacePrefix::every_stretch;
    } else {
      fail(
          "{}: normalizer {} is not supported with byte_fallback (supported: Replace(\" \", \"\u2581\"), alone or "
          "after Prepend(\"\u2581\"); or none, with the Metaspace pre-tokenizer)",
          source_name, describe_sequence(normalizer, "normalizers"));
    }
  }
  if (is_null_or_absent(root, "pre_tokenizer")) {
    require(replaces_spaces,
            "{}: with byte_fallback, a Replace normalizer or the Metaspace pre-tokenizer must turn "
            "spaces into \"\u2581\"; this file has neither",
            source_name);
    return rules;
  }
  const Json& pre = root.at("pre_tokenizer");
  if (type_of(pre) == "Metaspace") {
    require(!replaces_spaces, "{}: a Metaspace pre-tokenizer after a normalizer that replaced spaces is not supported",
            source_name);
    const auto replacement = value_or(pre, "replacement", std::string(), "pre_tokenizer", source_name);
    require(replacement == kSpaceMarker, "{}: Metaspace replacement \"{}\" is not supported (supported: \"\u2581\")",
            source_name, replacement);
    rules.prefix = metaspace_prefix(pre, source_name);
    rules.split_at_spaces = value_or(pre, "split", true, "pre_tokenizer", source_name);
    return rules;
  }
  // Gemma's Split on " " after its normalizer replaced every space: nothing is left to split.
  const auto pattern = pre.find("pattern");
  const bool splits_on_space = type_of(pre) == "Split" && pattern != pre.end() && pattern->is_object() &&
                               pattern->contains("String") && pattern->at("String") == " ";
  require(replaces_spaces && splits_on_space,
          "{}: pre_tokenizer {} is not supported with byte_fallback (supported: Metaspace; none or Split(\" \") "
          "after a Replace(\" \", \"\u2581\") normalizer)",
          source_name, describe_sequence(pre, "pretokenizers"));
  return rules;
}

// Decoders only shape decode()'s text, which here is always the bytes the
// ids stand for; these are the ones that agree with that (up to a stripped
// leading space).
inline void check_decoder(const Json& decoder, bool sentencepiece, std::string_view source_name) {
  const std::string type = type_of(decoder);
  if (!sentencepiece) {
    require(type == "ByteLevel", "{}: decoder {} is not supported (supported: ByteLevel)", source_name, type);
    return;
  }
  std::vector<Json> steps{decoder};
  if (type == "Sequence") {
    steps = value_or(decoder, "decoders", Json::array(), "decoder", source_name).get<std::vector<Json>>();
  }
  for (const Json& step : steps) {
    const std::string step_type = type_of(step);
    require(step_type == "Replace" || step_type == "ByteFallback" || step_type == "Fuse" || step_type == "Strip" ||
                step_type == "Metaspace",
            "{}: decoder {} is not supported with byte_fallback (supported: Replace, ByteFallback, Fuse, Strip, "
            "Metaspace)",
            source_name, describe_sequence(decoder, "decoders"));
  }
}

inline std::vector<std::pair<std::string, std::string>> read_merges(const Json& model, std::string_view source_name) {
  const Json& merges = member(model, "merges", Json::value_t::array, "model", source_name);
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const Json& merge = merges[rank];
    if (merge.is_string()) {
      const auto [left, right] = split_merge(merge.get_ref<const std::string&>(), rank, source_name);
      pairs.emplace_back(left, right);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      pairs.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      fail("{}: merge {} is {}, neither \"left right\" nor [left, right]", source_name, rank, merge.dump());
    }
  }
  return pairs;
}

// Whether a byte-level file normalises its text to NFC; any other normalizer is an error.
inline bool is_nfc(const Json& root, std::string_view source_name) {
  if (is_null_or_absent(root, "normalizer")) return false;
  const Json& normalizer = root.at("normalizer");
  const bool nfc = type_of(normalizer) == "NFC" ||
                   (type_of(normalizer) == "Sequence" && normalizer.contains("normalizers") &&
                    normalizer.at("normalizers").is_array() && normalizer.at("normalizers").size() == 1 &&
                    type_of(normalizer.at("normalizers")[0]) == "NFC");
  require(nfc, "{}: normalizer {} is not supported without model.byte_fallback (supported: NFC)", source_name,
          describe_sequence(normalizer, "normalizers"));
  return true;
}

// Fills description.tokens/token_types from model.vocab and added_tokens,
// whose ids together must be 0 to n-1 with no gaps.
inline void read_tokens(const Json& root, const Json& model, HfTokenizerDescription& description,
                        std::string_view source_name) {
  const bool sentencepiece = description.sentencepiece.has_value();
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
  std::uint64_t next_added_id = vocab.size();
  for (std::size_t i = 0; i < added.size(); ++i) {
    const Json& entry = added[i];
    require(entry.is_object(), "{}: added_tokens[{}] is not an object", source_name, i);
    const auto where = fmt::format("added_tokens[{}]", i);
    const auto content = member(entry, "content", Json::value_t::string, where, source_name).get<std::string>();
    const bool special = value_or(entry, "special", false, where, source_name);
    const bool normalized = value_or(entry, "normalized", !special, where, source_name);
    require(!sentencepiece || !normalized,
            "{}: added token \"{}\" has normalized = true, which is not supported with byte_fallback", source_name,
            content);
    for (const char* option : {"single_word", "lstrip", "rstrip"}) {
      require(!value_or(entry, option, false, where, source_name),
              "{}: added token \"{}\" has {} = true, which is not supported", source_name, content, option);
    }
    require(entry.contains("id"), "{}: {} has no \"id\"", source_name, where);
    const Json& id = entry.at("id");
    place("added token", content, id, special ? kControlToken : kUserDefinedToken);
    // `tokenizers` reads no added token's id from the file: its vocabulary
    // entry's, or the next one after the vocabulary and the tokens added
    // before it. A file whose ids say otherwise would encode two ways.
    const auto in_vocab = vocab.find(content);
    const auto expected =
        in_vocab != vocab.end() && in_vocab->is_number_unsigned() ? in_vocab->get<std::uint64_t>() : next_added_id;
    require(id.get<std::uint64_t>() == expected,
            "{}: added token \"{}\" has id {}, but `tokenizers` gives it id {} (its vocabulary entry's, or the next "
            "after the vocabulary and the tokens added before it)",
            source_name, content, id.get<std::uint64_t>(), expected);
    next_added_id = std::max(next_added_id, expected + 1);
    if (normalized && description.nfc) description.normalized_added_ids.push_back(id.get<std::int64_t>());
  }
  for (std::size_t id = 0; id < filled.size(); ++id) {
    require(filled[id], "{}: no token has id {}, but ids go up to {}", source_name, id, filled.size() - 1);
  }
  if (sentencepiece) {
    for (std::size_t id = 0; id < tokens.size(); ++id) {
      if (types[id] == kNormalToken && byte_piece_value(tokens[id])) types[id] = kByteToken;
    }
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
  require(hf_json::is_null_or_absent(root, "truncation"), "{}: truncation is set; encoding whole texts needs it off",
          source_name);

  HfTokenizerDescription description;
  description.ignore_merges = hf_json::value_or(model, "ignore_merges", false, "model", source_name);
  if (hf_json::value_or(model, "byte_fallback", false, "model", source_name)) {
    description.sentencepiece = hf_json::sentencepiece_rules(root, source_name);
    description.sentencepiece->ignore_merges = description.ignore_merges;
  } else {
    description.nfc = hf_json::is_nfc(root, source_name);
    description.pre_tokenizer = hf_json::pre_tokenizer_name(root, source_name);
  }
  if (!hf_json::is_null_or_absent(root, "decoder")) {
    hf_json::check_decoder(root.at("decoder"), description.sentencepiece.has_value(), source_name);
  }
  hf_json::read_tokens(root, model, description, source_name);
  description.merges = hf_json::read_merges(model, source_name);
  if (!hf_json::is_null_or_absent(root, "post_processor")) {
    hf_json::read_post_processor(root.at("post_processor"), description, source_name);
  }
  return description;
}

}  // namespace iglens::detail
