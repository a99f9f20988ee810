#pragma once
// iglens.json, the metadata inside every model bundle (bundle.hpp), as
// docs/bundle-format.md specifies it (tests/core/test_bundle_format.cpp).
// No LibTorch here, so the parser is also built alone for sanitizers and
// fuzzing.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iglens/engine/norm_kind.hpp"
#include "iglens/error.hpp"

namespace iglens {

// iglens.json, checked field by field.
struct BundleInfo {
  static constexpr std::int64_t kFormatVersion = 1;

  std::string architecture;
  std::int64_t n_layer = 0, d_model = 0, n_head = 0, vocab_size = 0, context_length = 0;
  NormKind norm_kind = NormKind::layer_norm;
  double norm_eps = 0.0;
  std::string norm_weight, norm_bias;                // parameter names; bias empty for RMSNorm
  std::string unembedding_weight, unembedding_bias;  // bias empty when there is none
  std::map<std::string, std::int64_t> special_tokens;
  std::string vocab_file, merges_file;
  std::string source;
  // The TorchScript methods the module provides. Bundles written before
  // iglens.json listed them have the three every bundle has; newer ones
  // add "components".
  std::vector<std::string> methods{"forward", "residual_stream", "readout"};

  // `origin` names the file in messages.
  static BundleInfo parse(std::string_view text, const std::string& origin) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number too large
      fail("{}: iglens.json is not valid JSON ({})", origin, e.what());
    }
    require(j.is_object(), "{}: iglens.json must be a JSON object", origin);
    Reader read{j, origin};
    const auto version = read.integer(j, "format_version", 1);
    require(version == kFormatVersion, "{}: iglens.json has format_version {}; this IG-Lens reads version {}", origin,
            version, kFormatVersion);
    BundleInfo info;
    info.architecture = read.string(j, "architecture");
    info.n_layer = read.integer(j, "n_layer", 1);
    info.d_model = read.integer(j, "d_model", 1);
    info.n_head = read.integer(j, "n_head", 1);
    info.vocab_size = read.integer(j, "vocab_size", 1);
    info.context_length = read.integer(j, "context_length", 1);
    const auto& norm = read.object(j, "final_norm");
    const auto kind = read.string(norm, "kind", "final_norm.");
    require(kind == "layernorm" || kind == "rmsnorm",
            "{}: iglens.json final_norm.kind is '{}'; expected layernorm or rmsnorm", origin, kind);
    info.norm_kind = kind == "layernorm" ? NormKind::layer_norm : NormKind::rms_norm;
    info.norm_eps = read.number(norm, "eps", "final_norm.");
    require(info.norm_eps >= 0.0 && info.norm_eps < 1.0, "{}: iglens.json final_norm.eps = {} is out of range [0, 1)",
            origin, info.norm_eps);
    info.norm_weight = read.string(norm, "weight", "final_norm.");
    info.norm_bias = read.optional_string(norm, "bias", "final_norm.");
    const auto& head = read.object(j, "unembedding");
    info.unembedding_weight = read.string(head, "weight", "unembedding.");
    info.unembedding_bias = read.optional_string(head, "bias", "unembedding.");
    for (const auto& [token, id] : read.object(j, "special_tokens").items()) {
      require(id.is_number_integer() && id.get<std::int64_t>() >= 0 && id.get<std::int64_t>() < info.vocab_size,
              "{}: iglens.json special_tokens['{}'] must be an id in [0, {})", origin, token, info.vocab_size);
      info.special_tokens[token] = id.get<std::int64_t>();
    }
    const auto& tokenizer = read.object(j, "tokenizer");
    info.vocab_file = read.string(tokenizer, "vocab", "tokenizer.");
    info.merges_file = read.string(tokenizer, "merges", "tokenizer.");
    if (j.contains("source") && j["source"].is_string()) info.source = j["source"].get<std::string>();
    if (j.contains("methods")) {
      const auto& methods = j["methods"];
      require(methods.is_array(), "{}: iglens.json field 'methods' must be an array of method names", origin);
      info.methods.clear();
      for (const auto& method : methods) {
        require(method.is_string() && !method.get<std::string>().empty(),
                "{}: iglens.json field 'methods' must hold non-empty strings, got {}", origin, method.dump());
        info.methods.push_back(method.get<std::string>());
      }
    }
    return info;
  }

 private:
  // Typed field access whose errors name the file, the field and the problem.
  struct Reader {
    const nlohmann::json& root;
    const std::string& origin;

    const nlohmann::json& field(const nlohmann::json& object, const char* key, std::string_view prefix) const {
      require(object.contains(key), "{}: iglens.json has no field '{}{}'", origin, prefix, key);
      return object.at(key);
    }
    std::string string(const nlohmann::json& object, const char* key, std::string_view prefix = "") const {
      const auto& value = field(object, key, prefix);
      require(value.is_string() && !value.get<std::string>().empty(),
              "{}: iglens.json field '{}{}' must be a non-empty string", origin, prefix, key);
      return value.get<std::string>();
    }
    std::string optional_string(const nlohmann::json& object, const char* key, std::string_view prefix) const {
      if (!object.contains(key) || object.at(key).is_null()) return {};
      return string(object, key, prefix);
    }
    std::int64_t integer(const nlohmann::json& object, const char* key, std::int64_t minimum) const {
      const auto& value = field(object, key, "");
      require(value.is_number_integer(), "{}: iglens.json field '{}' must be an integer", origin, key);
      // Above INT64_MAX, get<int64_t> would wrap to a negative number.
      require(!value.is_number_unsigned() || value.get<std::uint64_t>() <= std::uint64_t(INT64_MAX),
              "{}: iglens.json field '{}' = {} is too large", origin, key, value.dump());
      const auto n = value.get<std::int64_t>();
      require(n >= minimum, "{}: iglens.json field '{}' = {} must be at least {}", origin, key, n, minimum);
      return n;
    }
    double number(const nlohmann::json& object, const char* key, std::string_view prefix) const {
      const auto& value = field(object, key, prefix);
      require(value.is_number(), "{}: iglens.json field '{}{}' must be a number", origin, prefix, key);
      return value.get<double>();
    }
    const nlohmann::json& object(const nlohmann::json& parent, const char* key) const {
      const auto& value = field(parent, key, "");
      require(value.is_object(), "{}: iglens.json field '{}' must be an object", origin, key);
      return value;
    }
  };
};

}  // namespace iglens
