#pragma once
// Every GGUF tensor and every `<arch>.` metadata key is accounted for before a
// decoder runs: a file that carries something the decoder would ignore (a
// Llama 3 `rope_freqs.weight`, a bias, a sliding window) is refused by name,
// because ignoring it gives numbers that look right and are wrong.
//
// Keys outside `<arch>.`: `general.*` only describes the file (name, license,
// quantisation version, alignment, which the parser already applied), and
// `tokenizer.*` belongs to the tokenizer, which reads it itself.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "iglens/error.hpp"
#include "iglens/model_files/gguf.hpp"

namespace iglens {
namespace detail {

// `<arch>.` keys that only describe the model: reading them or not changes
// no number.
inline const std::set<std::string, std::less<>>& gguf_descriptive_keys() {
  static const std::set<std::string, std::less<>> keys = {
      "vocab_size",                            // checked against token_embd.weight by the loader
      "rope.scaling.finetuned",                // whether a scaled model was fine-tuned so: history
      "rope.scaling.original_context_length",  // only used by a scaling type, which must be none
  };
  return keys;
}

// The feature that a tensor the decoder did not read belongs to, for the
// refusal message; empty when its name says nothing we know.
inline std::string gguf_tensor_feature(std::string_view name) {
  const auto has = [&](std::string_view part) { return name.find(part) != std::string_view::npos; };
  if (name == "rope_freqs.weight") return "Llama 3 RoPE frequency scaling";
  if (has("_exps.") || has("_inp_shexp") || has("_shexp.") || has("ffn_gate_inp")) return "mixture of experts";
  if (has("attn_q_norm") || has("attn_k_norm")) return "query/key norms (Qwen3, OLMo 2, Gemma 3)";
  if (has("post_attention_norm") || has("post_ffw_norm")) return "norms after attention and MLP (Gemma 2/3, OLMo 2)";
  if (has(".bias")) return "biases";
  if (has("attn_qkv")) return "a fused QKV projection";
  if (has("rope_factors")) return "long/short RoPE factors (Phi-3)";
  return {};
}

// Fails on the first tensor of `file` that is not in `used`.
inline void require_every_tensor_used(const GgufFile& file, const std::set<std::string, std::less<>>& used,
                                      std::string_view decoder) {
  for (const auto& tensor : file.tensors()) {
    if (used.count(tensor.name) != 0) continue;
    const auto feature = gguf_tensor_feature(tensor.name);
    fail("model file '{}': tensor '{}' is not used by the {} decoder{}; such a file is not supported", file.path(),
         tensor.name, decoder, feature.empty() ? std::string() : " (" + feature + " is not supported)");
  }
}

// Checks the `<arch>.` keys of `file`: each is in `read` (the loader uses
// it), descriptive, or one of the features below at the value that means
// "off"; anything else is refused by name.
inline void require_known_metadata(const GgufFile& file, const std::string& arch,
                                   const std::set<std::string, std::less<>>& read) {
  const auto prefix = arch + ".";
  for (const auto& entry : file.metadata()) {
    const std::string& key = entry.first;  // not a structured binding: lambdas below capture it (C++17)
    const GgufValue& value = entry.second;
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string_view name = std::string_view(key).substr(prefix.size());
    if (read.count(name) != 0 || gguf_descriptive_keys().count(name) != 0) continue;
    const auto refuse = [&](std::string_view feature) {
      fail("model file '{}': metadata '{}' = {} asks for {}, which is not supported", file.path(), key,
           iglens::describe(value), feature);
    };
    const auto number = [&] {
      return is_number_type(value.type()) ? std::optional<double>(value.number()) : std::nullopt;
    };
    if (name == "rope.scaling.type") {
      if (value.type() != GgufValueType::string || std::get<std::string>(value.storage()) != "none") {
        refuse("RoPE scaling");
      }
    } else if (name == "rope.scaling.factor" || name == "rope.scale_linear") {
      // llama.cpp applies a linear factor whatever the type says; 0 and 1 mean none.
      if (number() != 0.0 && number() != 1.0) refuse("linear RoPE scaling");
    } else if (name.rfind("rope.scaling.", 0) == 0) {
      refuse("RoPE scaling");
    } else if (name == "attention.sliding_window") {
      // A window as long as the context changes nothing.
      if (!number() || *number() < static_cast<double>(file.get_integer(prefix + "context_length"))) {
        refuse("sliding-window attention");
      }
    } else if (name == "expert_count" || name == "expert_used_count") {
      if (number() != 0.0) refuse("a mixture of experts");
    } else if (name == "attention.clamp_kqv" || name == "attention.max_alibi_bias" ||
               name == "attn_logit_softcapping" || name == "final_logit_softcapping") {
      if (number() != 0.0) refuse(name.find("softcapping") != std::string_view::npos ? "soft-capping" : name);
    } else if (name == "attention.causal") {
      if (value.type() != GgufValueType::boolean || !std::get<bool>(value.storage())) refuse("non-causal attention");
    } else if (name == "attention.layer_norm_epsilon") {
      refuse("LayerNorm instead of RMSNorm");
    } else {
      fail(
          "model file '{}': metadata '{}' is unknown to the {} decoder and may change the computation; such a file "
          "is not supported",
          file.path(), key, arch);
    }
  }
}

}  // namespace detail
}  // namespace iglens
