#pragma once
// An IG-Lens model bundle: one TorchScript file (*.pt) holding the model with
// forward / residual_stream / readout methods, and three extra files:
// iglens.json (what the model is), vocab.json and merges.txt (its tokenizer).
// examples/python/export_gpt2.py writes them.
//
// A bundle is an IG-Lens model. When iglens.json names a LayerNorm or RMSNorm
// and a linear head, its readout is the closed-form norm + head built from
// those parameters; the TorchScript `readout` method stays available as a
// black box.

#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "iglens/detail/tensor_text.hpp"
#include "iglens/detail/torch_call.hpp"
#include "iglens/error.hpp"
#include "iglens/readout.hpp"
#include "iglens/script_model.hpp"
#include "iglens/tokenizer.hpp"

namespace iglens {

// iglens.json, checked field by field.
struct BundleInfo {
  static constexpr std::int64_t kFormatVersion = 1;

  std::string architecture;
  std::int64_t n_layer = 0, d_model = 0, n_head = 0, vocab_size = 0, context_length = 0;
  NormKind norm_kind = NormKind::layer_norm;
  double norm_eps = 0.0;
  std::string norm_weight, norm_bias;  // parameter names; bias empty for RMSNorm
  std::string unembedding_weight, unembedding_bias;  // bias empty when there is none
  std::map<std::string, std::int64_t> special_tokens;
  std::string vocab_file, merges_file;
  std::string source;

  // `origin` names the file in messages.
  static BundleInfo parse(std::string_view text, const std::string& origin) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      detail::fail("{}: iglens.json is not valid JSON ({})", origin, e.what());
    }
    detail::require(j.is_object(), "{}: iglens.json must be a JSON object", origin);
    Reader read{j, origin};
    const auto version = read.integer(j, "format_version", 1);
    detail::require(version == kFormatVersion,
                    "{}: iglens.json has format_version {}; this IG-Lens reads version {}", origin,
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
    detail::require(kind == "layernorm" || kind == "rmsnorm",
                    "{}: iglens.json final_norm.kind is '{}'; expected layernorm or rmsnorm", origin, kind);
    info.norm_kind = kind == "layernorm" ? NormKind::layer_norm : NormKind::rms_norm;
    info.norm_eps = read.number(norm, "eps", "final_norm.");
    detail::require(info.norm_eps >= 0.0 && info.norm_eps < 1.0,
                    "{}: iglens.json final_norm.eps = {} is out of range [0, 1)", origin, info.norm_eps);
    info.norm_weight = read.string(norm, "weight", "final_norm.");
    info.norm_bias = read.optional_string(norm, "bias", "final_norm.");
    const auto& head = read.object(j, "unembedding");
    info.unembedding_weight = read.string(head, "weight", "unembedding.");
    info.unembedding_bias = read.optional_string(head, "bias", "unembedding.");
    for (const auto& [token, id] : read.object(j, "special_tokens").items()) {
      detail::require(id.is_number_integer() && id.get<std::int64_t>() >= 0 &&
                          id.get<std::int64_t>() < info.vocab_size,
                      "{}: iglens.json special_tokens['{}'] must be an id in [0, {})", origin, token,
                      info.vocab_size);
      info.special_tokens[token] = id.get<std::int64_t>();
    }
    const auto& tokenizer = read.object(j, "tokenizer");
    info.vocab_file = read.string(tokenizer, "vocab", "tokenizer.");
    info.merges_file = read.string(tokenizer, "merges", "tokenizer.");
    if (j.contains("source") && j["source"].is_string()) info.source = j["source"].get<std::string>();
    return info;
  }

 private:
  // Typed field access whose errors name the file, the field and the problem.
  struct Reader {
    const nlohmann::json& root;
    const std::string& origin;

    const nlohmann::json& field(const nlohmann::json& object, const char* key, std::string_view prefix) const {
      detail::require(object.contains(key), "{}: iglens.json has no field '{}{}'", origin, prefix, key);
      return object.at(key);
    }
    std::string string(const nlohmann::json& object, const char* key, std::string_view prefix = "") const {
      const auto& value = field(object, key, prefix);
      detail::require(value.is_string() && !value.get<std::string>().empty(),
                      "{}: iglens.json field '{}{}' must be a non-empty string", origin, prefix, key);
      return value.get<std::string>();
    }
    std::string optional_string(const nlohmann::json& object, const char* key, std::string_view prefix) const {
      if (!object.contains(key) || object.at(key).is_null()) return {};
      return string(object, key, prefix);
    }
    std::int64_t integer(const nlohmann::json& object, const char* key, std::int64_t minimum) const {
      const auto& value = field(object, key, "");
      detail::require(value.is_number_integer(), "{}: iglens.json field '{}' must be an integer", origin, key);
      const auto n = value.get<std::int64_t>();
      detail::require(n >= minimum, "{}: iglens.json field '{}' = {} must be at least {}", origin, key, n, minimum);
      return n;
    }
    double number(const nlohmann::json& object, const char* key, std::string_view prefix) const {
      const auto& value = field(object, key, prefix);
      detail::require(value.is_number(), "{}: iglens.json field '{}{}' must be a number", origin, prefix, key);
      return value.get<double>();
    }
    const nlohmann::json& object(const nlohmann::json& parent, const char* key) const {
      const auto& value = field(parent, key, "");
      detail::require(value.is_object(), "{}: iglens.json field '{}' must be an object", origin, key);
      return value;
    }
  };
};

class Bundle {
 public:
  // Loads and validates a bundle file; every problem names the file.
  static Bundle load(const std::string& path) {
    {
      std::ifstream file(path, std::ios::binary | std::ios::ate);
      detail::require(file.good(), "model file '{}' does not exist or is not readable", path);
      detail::require(file.tellg() > 0, "model file '{}' is empty", path);
    }
    torch::jit::ExtraFilesMap extra{{"iglens.json", ""}, {"vocab.json", ""}, {"merges.txt", ""}};
    torch::jit::Module module;
    try {
      module = torch::jit::load(path, torch::kCPU, extra);
    } catch (const std::exception& e) {
      detail::fail("model file '{}' is not a readable TorchScript archive (truncated or another format?): {}",
                   path, detail::first_line(e.what()));
    }
    detail::require(!extra["iglens.json"].empty(), "model file '{}' has no iglens.json inside", path);
    auto info = BundleInfo::parse(extra["iglens.json"], path);
    for (const auto& name : {info.vocab_file, info.merges_file}) {
      detail::require(extra.count(name) && !extra[name].empty(),
                      "model file '{}' has no tokenizer file '{}' inside", path, name);
    }
    auto tokenizer = [&] {
      try {
        return Tokenizer::from_strings(extra[info.vocab_file], extra[info.merges_file]);
      } catch (const Error& e) {
        detail::fail("model file '{}': tokenizer: {}", path, e.what());
      }
    }();
    detail::require(tokenizer.vocab_size() == info.vocab_size,
                    "model file '{}': the tokenizer has {} tokens but iglens.json says vocab_size {}", path,
                    tokenizer.vocab_size(), info.vocab_size);
    try {
      return Bundle(path, ScriptModel(std::move(module)), std::move(info), std::move(tokenizer));
    } catch (const Error& e) {
      detail::fail("model file '{}': {}", path, e.what());
    }
  }

  const std::string& path() const { return path_; }
  const BundleInfo& info() const { return info_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  ScriptModel& script() { return script_; }

  torch::Tensor residual_stream(const torch::Tensor& ids) { return script_.residual_stream(check_length(ids)); }
  torch::Tensor logits(const torch::Tensor& ids) { return script_.logits(check_length(ids)); }

  // The closed-form norm + head read from the parameters iglens.json names.
  Readout readout() { return Readout::norm_head(norm_head()); }

  NormHead norm_head() {
    const auto d = info_.d_model, V = info_.vocab_size;
    NormHead head;
    head.kind = info_.norm_kind;
    head.eps = info_.norm_eps;
    head.weight = parameter(info_.norm_weight, {d});
    if (!info_.norm_bias.empty()) head.bias = parameter(info_.norm_bias, {d});
    head.unembedding = parameter(info_.unembedding_weight, {V, d});
    if (!info_.unembedding_bias.empty()) head.head_bias = parameter(info_.unembedding_bias, {V});
    return head;
  }

  // Moves the model's parameters, e.g. to float64 for reference-grade runs.
  void to(torch::ScalarType dtype) { script_.to(dtype); }
  // Moves the model to a device (e.g. CUDA); the closed-form readout follows.
  void to(torch::Device device) { script_.to(device); }

 private:
  Bundle(std::string path, ScriptModel script, BundleInfo info, Tokenizer tokenizer)
      : path_(std::move(path)), script_(std::move(script)), info_(std::move(info)), tokenizer_(std::move(tokenizer)) {
    norm_head();  // every named parameter exists with the right shape
  }

  const torch::Tensor& check_length(const torch::Tensor& ids) const {
    detail::require(ids.dim() < 1 || ids.size(-1) <= info_.context_length,
                    "{} tokens exceed the model's context length of {}", ids.size(-1), info_.context_length);
    return ids;
  }

  torch::Tensor parameter(const std::string& name, std::vector<std::int64_t> shape) {
    for (const auto& p : script_.module().named_parameters(/*recurse=*/true)) {
      if (p.name != name) continue;
      detail::require(p.value.sizes() == torch::IntArrayRef(shape),
                      "model file '{}': parameter '{}' has shape {}; iglens.json implies {}", path_, name,
                      detail::shape_string(p.value), detail::shape_string(shape));
      return p.value.detach();
    }
    detail::fail("model file '{}': iglens.json names parameter '{}', which the model does not have", path_, name);
  }

  std::string path_;
  ScriptModel script_;
  BundleInfo info_;
  Tokenizer tokenizer_;
};

}  // namespace iglens
