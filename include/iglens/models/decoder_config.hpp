#pragma once
// The shape of a native decoder: which architecture and its sizes, as read
// from a Hugging Face config.json or a GGUF file's metadata.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "iglens/engine/norm_kind.hpp"
#include "iglens/error.hpp"

namespace iglens {

// gpt2: learned positions, LayerNorm with bias, fused QKV with bias, GELU
//       (tanh approximation), biases everywhere; the head is the embedding
//       (a GGUF file may store it apart, quantised on its own).
// llama: RoPE, RMSNorm, grouped-query attention, a gated MLP, no biases; the
//        fields below describe what each family (Qwen, Mistral, Gemma) adds.
// gpt_neox: GPT-2's LayerNorms, biases and plain MLP (GELU as the config
//           says), RoPE over part of each head, an untied head, and
//           attention and MLP that may both read the block's input
//           (parallel_residual: Pythia).
enum class Architecture { gpt2, llama, gpt_neox };

// The MLP's activation: down(act(in x)), or gated down(act(gate x) * up x).
enum class MlpActivation { silu, gelu_tanh, gelu };

inline const char* architecture_name(Architecture architecture) {
  switch (architecture) {
    case Architecture::gpt2:
      return "gpt2";
    case Architecture::llama:
      return "llama";
    case Architecture::gpt_neox:
      return "gpt_neox";
  }
  return "?";
}

inline const char* activation_name(MlpActivation activation) {
  switch (activation) {
    case MlpActivation::silu:
      return "silu";
    case MlpActivation::gelu_tanh:
      return "gelu-tanh";
    case MlpActivation::gelu:
      return "gelu";
  }
  return "?";
}

struct DecoderConfig {
  Architecture architecture = Architecture::gpt2;
  std::int64_t n_layer = 0;
  std::int64_t d_model = 0;
  std::int64_t n_head = 0;
  std::int64_t n_kv_head = 0;  // = n_head without grouped-query attention
  std::int64_t head_dim = 0;
  std::int64_t d_ff = 0;
  std::int64_t vocab_size = 0;
  std::int64_t context_length = 0;
  double norm_eps = 1e-5;
  std::string family;     // what the file calls it ("gpt2", "llama", "qwen2"), for descriptions
  bool qkv_bias = false;  // llama: query, key and value projections with biases (Qwen2); gpt2, gpt_neox always
  bool qk_norm = false;   // llama: RMSNorm over each head's queries and keys before RoPE (Qwen3)
  // llama, with qk_norm: one RMSNorm over all heads' queries together, and one over the keys (OLMo 2).
  bool qk_norm_across_heads = false;
  double rope_base = 10000.0;  // llama and gpt_neox
  // llama, gpt_neox: RoPE turns the first rotary_dims of each head's dimensions (Phi-4-mini's partial_rotary_factor,
  // GPT-NeoX's rotary_pct), pairs (i, i + rotary_dims / 2); the rest pass unrotated. 0: all of them.
  std::int64_t rotary_dims = 0;
  // llama: each RoPE frequency i (of rotary_size() / 2) is divided by factor i;
  // Llama 3's frequency scaling. Empty: plain RoPE.
  std::vector<double> rope_frequency_factors;
  bool tied_embeddings = true;
  // gpt2: GELU (tanh); llama: SwiGLU, or Gemma's GeGLU (tanh GELU); gpt_neox: Pythia's exact GELU, or tanh.
  MlpActivation mlp_activation = MlpActivation::silu;
  // gpt_neox: x + attn(ln1(x)) + mlp(ln2(x)), no resid_mid; false: the MLP reads x + attn as elsewhere.
  bool parallel_residual = false;
  // llama: Gemma's norms of the attention and MLP outputs before they join the residual.
  bool post_norms = false;
  // llama: norms of the attention's and the MLP's inputs; OLMo 2 has only the post_norms.
  bool pre_norms = true;
  // llama: every RMSNorm multiplies by (offset + w): Gemma's checkpoints store w
  // for a gain of 1 + w, added in the run's dtype as transformers adds it.
  double norm_gain_offset = 0.0;
  double embedding_scale = 1.0;    // llama: token embeddings times this (Gemma: sqrt(d_model))
  double attention_scale = 0.0;    // llama: query-key scores times this; 0 means 1 / sqrt(head_dim)
  double attention_softcap = 0.0;  // llama: scores become c tanh(score / c) (Gemma 2); 0: none
  double final_softcap = 0.0;      // llama: logits become c tanh(logit / c) (Gemma 2); 0: none
  // llama: per layer, 0 for full causal attention or a window w in which
  // position i sees the keys j with i - j < w. Empty: all layers full.
  std::vector<std::int64_t> sliding_windows;
  // llama: the RoPE base of the windowed layers, without frequency factors
  // (Gemma 3's local layers); 0: the windowed layers rotate as the others.
  double local_rope_base = 0.0;

  std::int64_t rotary_size() const { return rotary_dims > 0 ? rotary_dims : head_dim; }
  double query_scale() const {
    return attention_scale > 0.0 ? attention_scale : 1.0 / std::sqrt(static_cast<double>(head_dim));
  }
  std::int64_t window_of(std::size_t layer) const { return sliding_windows.empty() ? 0 : sliding_windows[layer]; }
  bool has_local_rope(std::size_t layer) const { return local_rope_base > 0.0 && window_of(layer) > 0; }

  NormKind norm_kind() const { return architecture == Architecture::llama ? NormKind::rms_norm : NormKind::layer_norm; }
  bool has_rope() const { return architecture != Architecture::gpt2; }
  bool gated_mlp() const { return architecture == Architecture::llama; }
  // LayerNorms, projections and MLP with biases (GPT-2's and GPT-NeoX's).
  bool has_biases() const { return architecture != Architecture::llama; }

  // Rows of the fused Q/K/V projection: n_head query heads, n_kv_head key and value heads.
  std::int64_t qkv_rows() const { return (n_head + 2 * n_kv_head) * head_dim; }

  void validate() const {
    auto positive = [](std::int64_t value, const char* name) {
      require(value > 0, "decoder config: {} must be positive, got {}", name, value);
    };
    positive(n_layer, "n_layer");
    positive(d_model, "d_model");
    positive(n_head, "n_head");
    positive(n_kv_head, "n_kv_head");
    positive(head_dim, "head_dim");
    positive(d_ff, "d_ff");
    positive(vocab_size, "vocab_size");
    positive(context_length, "context_length");
    // Far above any real model; keeps products of sizes away from overflow.
    constexpr std::int64_t limit = std::int64_t{1} << 24;
    for (auto value : {n_layer, d_model, n_head, n_kv_head, head_dim, d_ff, vocab_size, context_length}) {
      require(value <= limit, "decoder config: size {} is implausibly large (limit {})", value, limit);
    }
    require(n_head % n_kv_head == 0, "decoder config: {} attention heads are not a multiple of {} key/value heads",
            n_head, n_kv_head);
    require(norm_eps >= 0.0 && norm_eps < 1.0, "decoder config: norm eps must be in [0, 1), got {}", norm_eps);
    const auto name = architecture_name(architecture);
    require(parallel_residual == false || architecture == Architecture::gpt_neox,
            "decoder config: {} has no parallel residual", name);
    if (architecture == Architecture::gpt2) {
      require(rotary_dims == 0, "decoder config: gpt2 has no rotary embeddings");
      require(mlp_activation == MlpActivation::gelu_tanh, "decoder config: gpt2's MLP is GELU (tanh), not {}",
              activation_name(mlp_activation));
    }
    if (architecture == Architecture::gpt_neox) {
      require(mlp_activation != MlpActivation::silu, "decoder config: gpt_neox's MLP is a GELU, not silu");
      require(rope_frequency_factors.empty(), "decoder config: gpt_neox has no RoPE scaling");
    }
    if (architecture != Architecture::llama) {
      require(n_kv_head == n_head, "decoder config: {} has no grouped-query attention ({} heads, {} kv)", name, n_head,
              n_kv_head);
      require(head_dim * n_head == d_model, "decoder config: {} needs n_head * head_dim == d_model, got {} * {} != {}",
              name, n_head, head_dim, d_model);
      require(!qk_norm, "decoder config: {} has no query/key norms", name);
      require(!post_norms && norm_gain_offset == 0.0 && embedding_scale == 1.0 && attention_scale == 0.0 &&
                  attention_softcap == 0.0 && final_softcap == 0.0 && sliding_windows.empty() && local_rope_base == 0.0,
              "decoder config: {} has none of the llama families' features", name);
    }
    require(pre_norms || (architecture == Architecture::llama && post_norms),
            "decoder config: blocks without norms before attention and MLP need norms after them (llama only)");
    require(qk_norm || !qk_norm_across_heads, "decoder config: query/key norms across heads need qk_norm");
    if (has_rope()) {
      require(rotary_dims >= 0 && rotary_dims <= head_dim && rotary_size() % 2 == 0,
              "decoder config: RoPE over {} of {} head dimensions: it needs an even number, at most all of them",
              rotary_size(), head_dim);
      require(rope_base > 1.0, "decoder config: rope base must be > 1, got {}", rope_base);
      require(rope_frequency_factors.empty() ||
                  static_cast<std::int64_t>(rope_frequency_factors.size()) == rotary_size() / 2,
              "decoder config: {} RoPE frequency factors for {} frequencies", rope_frequency_factors.size(),
              rotary_size() / 2);
      for (const auto factor : rope_frequency_factors) {
        require(std::isfinite(factor) && factor > 0.0, "decoder config: RoPE frequency factor {} is not positive",
                factor);
      }
      require(norm_gain_offset == 0.0 || norm_gain_offset == 1.0,
              "decoder config: the norm gain offset must be 0 or 1, got {}", norm_gain_offset);
      require(std::isfinite(embedding_scale) && embedding_scale > 0.0,
              "decoder config: the embedding scale must be positive, got {}", embedding_scale);
      require(std::isfinite(attention_scale) && attention_scale >= 0.0,
              "decoder config: the attention scale must be positive, got {}", attention_scale);
      require(std::isfinite(attention_softcap) && attention_softcap >= 0.0,
              "decoder config: the attention soft-cap must be positive, got {}", attention_softcap);
      require(std::isfinite(final_softcap) && final_softcap >= 0.0,
              "decoder config: the final-logit soft-cap must be positive, got {}", final_softcap);
      require(sliding_windows.empty() || static_cast<std::int64_t>(sliding_windows.size()) == n_layer,
              "decoder config: {} sliding windows for {} layers", sliding_windows.size(), n_layer);
      for (const auto window : sliding_windows) {
        require(window >= 0, "decoder config: a sliding window must be positive (or 0 for none), got {}", window);
      }
      require(local_rope_base == 0.0 || (std::isfinite(local_rope_base) && local_rope_base > 1.0),
              "decoder config: the local rope base must be > 1, got {}", local_rope_base);
    }
  }
};

}  // namespace iglens
