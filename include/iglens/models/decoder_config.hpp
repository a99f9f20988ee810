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
enum class Architecture { gpt2, llama };

// The gated MLP's activation: down(act(gate x) * up x).
enum class GatedActivation { silu, gelu_tanh };

inline const char* architecture_name(Architecture architecture) {
  return architecture == Architecture::gpt2 ? "gpt2" : "llama";
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
  std::string family;          // what the file calls it ("gpt2", "llama", "qwen2"), for descriptions
  bool qkv_bias = false;       // llama: query, key and value projections with biases (Qwen2); gpt2 always
  bool qk_norm = false;        // llama: RMSNorm over each head's queries and keys before RoPE (Qwen3)
  double rope_base = 10000.0;  // llama only
  // llama: RoPE turns the first rotary_dims of each head's dimensions (Phi-4-mini's partial_rotary_factor,
  // GPT-NeoX's rotary_pct), pairs (i, i + rotary_dims / 2); the rest pass unrotated. 0: all of them.
  std::int64_t rotary_dims = 0;
  // llama: each RoPE frequency i (of rotary_size() / 2) is divided by factor i;
  // Llama 3's frequency scaling. Empty: plain RoPE.
  std::vector<double> rope_frequency_factors;
  bool tied_embeddings = true;
  GatedActivation mlp_activation = GatedActivation::silu;  // llama: SwiGLU, or Gemma's GeGLU (tanh GELU)
  // llama: Gemma's norms of the attention and MLP outputs before they join the residual.
  bool post_norms = false;
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

  NormKind norm_kind() const { return architecture == Architecture::gpt2 ? NormKind::layer_norm : NormKind::rms_norm; }

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
    if (architecture == Architecture::gpt2) {
      require(n_kv_head == n_head, "decoder config: gpt2 has no grouped-query attention ({} heads, {} kv)", n_head,
              n_kv_head);
      require(head_dim * n_head == d_model,
              "decoder config: gpt2 needs n_head * head_dim == d_model, got {} * {} != {}", n_head, head_dim, d_model);
      require(!qk_norm, "decoder config: gpt2 has no query/key norms");
      require(rotary_dims == 0, "decoder config: gpt2 has no rotary embeddings");
      require(!post_norms && norm_gain_offset == 0.0 && embedding_scale == 1.0 && attention_scale == 0.0 &&
                  attention_softcap == 0.0 && final_softcap == 0.0 && sliding_windows.empty() && local_rope_base == 0.0,
              "decoder config: gpt2 has none of the llama families' features");
    } else {
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
