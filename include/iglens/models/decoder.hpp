#pragma once
// A native decoder-only transformer (GPT-2, GPT-NeoX, or Llama and the
// families described as Llama plus features: Qwen, Mistral, Gemma, Phi-3) in plain LibTorch
// tensors: an IG-Lens Model without TorchScript or a torch::nn module tree.
// load_hf.hpp and load_gguf.hpp build one from a Hugging Face folder or a
// GGUF file.
//
// The forward pass is written for speed on short prompts: one fused Q/K/V
// matmul and one fused gate/up matmul per layer, all heads in one batched
// matmul (grouped-query heads share their key/value head without copies),
// and the RoPE tables computed once per call. Generation can keep every
// layer's keys and values in a KvCache and feed one new position per step.

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/components/components.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/engine/readout.hpp"
#include "iglens/error.hpp"
#include "iglens/models/decoder_config.hpp"
#include "iglens/models/kv_cache.hpp"
#include "iglens/weights/stored_weight.hpp"

namespace iglens {

// One block's parameters. Biases are GPT-2's and GPT-NeoX's; Llama leaves them undefined.
// The four matrices may be kept as the model file stores them (stored_weight.hpp).
struct DecoderLayerWeights {
  torch::Tensor attn_norm_weight, attn_norm_bias;  // [d]
  StoredWeight qkv_weight;                         // [(n_head + 2 n_kv_head) head_dim, d]: Q rows, K rows, V rows
  torch::Tensor qkv_bias;
  StoredWeight attn_out_weight;  // [d, n_head head_dim]
  torch::Tensor attn_out_bias;
  torch::Tensor mlp_norm_weight, mlp_norm_bias;  // [d]
  StoredWeight mlp_in_weight;                    // [d_ff, d]; gated (llama): gate rows then up rows, [2 d_ff, d]
  torch::Tensor mlp_in_bias;
  StoredWeight mlp_out_weight;  // [d, d_ff]
  torch::Tensor mlp_out_bias;
  // [head_dim], each head's queries and keys (qk_norm only); across heads, [n_head head_dim] and [n_kv_head head_dim]
  torch::Tensor q_norm_weight, k_norm_weight;
  torch::Tensor attn_post_norm_weight, mlp_post_norm_weight;  // [d], the outputs' norms (post_norms only)

  // The four matrices, in the order the block multiplies by them.
  std::array<const StoredWeight*, 4> matrices() const {
    return {&qkv_weight, &attn_out_weight, &mlp_in_weight, &mlp_out_weight};
  }
  std::array<StoredWeight*, 4> matrices() { return {&qkv_weight, &attn_out_weight, &mlp_in_weight, &mlp_out_weight}; }
};

struct DecoderWeights {
  StoredWeight token_embedding;      // [V, d]
  torch::Tensor position_embedding;  // [context_length, d], gpt2 only
  std::vector<DecoderLayerWeights> layers;
  torch::Tensor final_norm_weight, final_norm_bias;  // [d]; bias with has_biases()
  StoredWeight unembedding;                          // [V, d]; the token embedding itself when tied
};

class DecoderModel {
 public:
  // Checks every weight's presence, shape, dtype and device against the config.
  // `source` names where the weights came from, for messages.
  DecoderModel(DecoderConfig config, DecoderWeights weights, std::string source)
      : config_(std::move(config)), weights_(std::move(weights)), source_(std::move(source)) {
    config_.validate();
    check_weights();
  }

  const DecoderConfig& config() const { return config_; }
  const DecoderWeights& weights() const { return weights_; }
  const std::string& source() const { return source_; }
  // The final norm's, which every decoder holds in memory.
  torch::ScalarType dtype() const { return weights_.final_norm_weight.scalar_type(); }
  torch::Device device() const { return weights_.final_norm_weight.device(); }

  // Residual stream [L+1, B, S, d] for ids [B, S]: index 0 the embedding
  // output, index L the residual before the final norm.
  torch::Tensor residual_stream(const torch::Tensor& ids) const {
    std::vector<torch::Tensor> states;
    states.reserve(config_.n_layer + 1);
    forward(check_ids(ids), &states, nullptr);
    return torch::stack(states);
  }

  // Logits [B, S, V] for ids [B, S].
  torch::Tensor logits(const torch::Tensor& ids) const {
    return cap_logits(weights_.unembedding.linear(final_norm(forward(check_ids(ids), nullptr, nullptr)), {}));
  }

  // An empty cache for `batch` sequences of up to `capacity` positions.
  KvCache start_cache(std::int64_t batch, std::int64_t capacity) const {
    require(batch >= 1, "key/value cache: the batch must hold at least one sequence, got {}", batch);
    require(capacity >= 1 && capacity <= config_.context_length,
            "key/value cache: capacity {} is outside [1, {}] (the model's context length)", capacity,
            config_.context_length);
    KvCache cache;
    const auto options = torch::dtype(dtype()).device(device());
    for (std::int64_t i = 0; i < config_.n_layer; ++i) {
      cache.keys.push_back(torch::empty({batch, config_.n_kv_head, capacity, config_.head_dim}, options));
      cache.values.push_back(torch::empty({batch, config_.n_kv_head, capacity, config_.head_dim}, options));
    }
    return cache;
  }

  // Logits [B, S, V] of ids [B, S] that continue the cache's positions (the
  // first call gives the prompt, later ones one token each); their keys and
  // values join the cache. Equal to logits() of the whole sequence's last S
  // positions, up to rounding.
  torch::Tensor logits(const torch::Tensor& ids, KvCache& cache) const {
    check_ids(ids);
    require(static_cast<std::int64_t>(cache.keys.size()) == config_.n_layer && cache.batch_size() == ids.size(0),
            "key/value cache: made for {} sequences and {} layers, used with {} sequences and {} layers",
            cache.batch_size(), cache.keys.size(), ids.size(0), config_.n_layer);
    require(cache.length + ids.size(1) <= cache.capacity(),
            "key/value cache: {} cached and {} new positions exceed its capacity of {}", cache.length, ids.size(1),
            cache.capacity());
    require(cache.keys.front().scalar_type() == dtype() && cache.keys.front().device() == device(),
            "key/value cache: made for another dtype or device than the model's");
    return cap_logits(weights_.unembedding.linear(final_norm(forward(ids, nullptr, &cache)), {}));
  }

  // components() always carries what each head reads.
  bool has_sources() const { return true; }

  // What every block writes into the residual stream of ids [1, S], from one
  // forward pass: the stream before and after each attention (no resid_mid
  // where attention and MLP read the block's input in parallel), each head's
  // write (the output projection split by head), the output bias and the MLP
  // output, all [.., S, ..] in the model's dtype; with_sources, also what
  // each head reads ([L, H, S, S] and [L, S, H, d]: the memory a long
  // sequence spends on it is only spent when asked).
  ResidualComponents components(const torch::Tensor& ids_in, bool with_sources = true) const {
    require(ids_in.defined() && ids_in.dim() == 2 && ids_in.size(0) == 1,
            "components: token ids must be one sequence [1, S], got {}", detail::shape_string(ids_in));
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> states;
    BlockWrites writes;
    writes.sources = with_sources;
    forward(check_ids(ids_in), &states, nullptr, &writes);
    const auto sequence = [](const std::vector<torch::Tensor>& per_layer) {
      return torch::stack(per_layer).select(1, 0);
    };
    ResidualComponents components{sequence(states),
                                  config_.parallel_residual ? torch::Tensor() : sequence(writes.resid_mid),
                                  sequence(writes.head_results), sequence(writes.attn_bias), sequence(writes.mlp_out)};
    if (with_sources) {
      components.attn_pattern = sequence(writes.attn_pattern);
      components.head_values = sequence(writes.head_values);
      components.head_scale = sequence(writes.head_scale);
    }
    return components;
  }

  // The final norm, the unembedding and the logits' soft-cap, for the
  // closed-form readout and the component split.
  NormHead norm_head() const {
    NormHead head;
    head.kind = config_.norm_kind();
    head.weight = gain(weights_.final_norm_weight);
    head.bias = weights_.final_norm_bias;
    head.eps = config_.norm_eps;
    head.unembedding = weights_.unembedding;
    head.softcap = config_.final_softcap;
    return head;
  }

  // Closed form, unless the logits are soft-capped (see Readout::norm_head).
  Readout readout() const { return Readout::norm_head(norm_head()); }

  // float32 values its weights hold in memory, each tensor once (a tied head
  // is the embedding): what to(kFloat64) widens. Matrices kept as stored
  // hold none, and their exact copies stay as they are.
  std::uint64_t float32_values_in_memory() const {
    if (dtype() != torch::kFloat32) return 0;
    std::uint64_t values = 0;
    const auto count = [&](const torch::Tensor& t) {
      if (t.defined()) values += static_cast<std::uint64_t>(t.numel());
    };
    for_each_weight(weights_, config_.tied_embeddings, count, [&](const StoredWeight& m) {
      if (!m.widens_on_use()) count(m.tensor());
    });
    return values;
  }

  // float32 or float64 weights; a tied head stays one tensor.
  void to(torch::ScalarType dtype) {
    require(dtype == torch::kFloat32 || dtype == torch::kFloat64,
            "decoder model: dtype must be float32 or float64, got {}", detail::dtype_name(dtype));
    convert(torch::TensorOptions().dtype(dtype).device(device()));
  }

  // To a device; on a GPU, matrices kept as stored become tensors there in
  // 16 bits where the file stores 16, widened as they are used (StoredWeight::to).
  void to(torch::Device device) { convert(torch::TensorOptions().dtype(dtype()).device(device)); }

 private:
  void convert(const torch::TensorOptions& options) {
    const auto apply = [&](torch::Tensor& t) {
      if (t.defined()) t = t.to(options);
    };
    for_each_weight(weights_, config_.tied_embeddings, apply, [&](StoredWeight& m) { m = m.to(options); });
    if (config_.tied_embeddings) weights_.unembedding = weights_.token_embedding;
  }

  // Every weight once, const or not as `weights` is: the vectors (and the
  // position embedding) to `on_tensor`, the matrices, which may be kept as
  // stored, to `on_matrix`. A tied head is the embedding and is not visited.
  // Converting and counting both walk this list, so no weight is converted
  // without being counted.
  template <class Weights, class OnTensor, class OnMatrix>
  static void for_each_weight(Weights& weights, bool tied_head, OnTensor&& on_tensor, OnMatrix&& on_matrix) {
    on_matrix(weights.token_embedding);
    on_tensor(weights.position_embedding);
    for (auto& layer : weights.layers) {
      for (auto* t : layer_tensors(layer)) on_tensor(*t);
      for (auto* m : layer.matrices()) on_matrix(*m);
    }
    on_tensor(weights.final_norm_weight);
    on_tensor(weights.final_norm_bias);
    if (!tied_head) on_matrix(weights.unembedding);
  }

  // Every tensor of a block but its four matrices; const or not as the block is.
  template <class Layer>
  static auto layer_tensors(Layer& layer) -> std::array<decltype(&layer.attn_norm_weight), 12> {
    return std::array{&layer.attn_norm_weight, &layer.attn_norm_bias,        &layer.qkv_bias,
                      &layer.attn_out_bias,    &layer.mlp_norm_weight,       &layer.mlp_norm_bias,
                      &layer.mlp_in_bias,      &layer.mlp_out_bias,          &layer.q_norm_weight,
                      &layer.k_norm_weight,    &layer.attn_post_norm_weight, &layer.mlp_post_norm_weight};
  }

  void check_weights() {
    const auto& c = config_;
    const bool gpt2 = c.architecture == Architecture::gpt2, biases = c.has_biases();
    const auto& reference = weights_.final_norm_weight;
    const auto dtype = reference.defined() ? reference.scalar_type() : torch::kFloat32;
    const auto device = reference.defined() ? reference.device() : torch::Device(torch::kCPU);
    require(dtype == torch::kFloat32 || dtype == torch::kFloat64, "{}: weights must be float32 or float64, got {}",
            source_, detail::dtype_name(dtype));
    // `present` says whether this architecture has the tensor at all.
    auto check = [&](const torch::Tensor& t, const std::string& name, bool present, std::vector<std::int64_t> shape) {
      if (!present) {
        require(!t.defined(), "{}: {} has no weight '{}'", source_, architecture_name(c.architecture), name);
        return;
      }
      require(t.defined(), "{}: weight '{}' is missing", source_, name);
      require(t.sizes() == torch::IntArrayRef(shape), "{}: weight '{}' has shape {}, expected {}", source_, name,
              detail::shape_string(t), detail::shape_string(shape));
      require(t.scalar_type() == dtype && t.device() == device, "{}: weight '{}' is {} on {}, the others {} on {}",
              source_, name, detail::dtype_name(t.scalar_type()), t.device().str(), detail::dtype_name(dtype),
              device.str());
    };
    // A matrix kept as its file stores it, or its exact copy, has its shape (and the copy its device) checked
    // here and becomes the model's dtype on use.
    auto check_matrix = [&](const StoredWeight& m, const std::string& name, std::vector<std::int64_t> shape) {
      if (m.in_memory() && !m.widens_on_use()) return check(m.tensor(), name, true, std::move(shape));
      require(m.defined(), "{}: weight '{}' is missing", source_, name);
      require(m.sizes() == shape, "{}: weight '{}' has shape {}, expected {}", source_, name,
              detail::shape_string(m.sizes()), detail::shape_string(shape));
      if (m.in_memory()) {
        require(m.tensor().device() == device, "{}: weight '{}' is on {}, the others on {}", source_, name,
                m.tensor().device().str(), device.str());
      }
    };
    const auto d = c.d_model, attn = c.n_head * c.head_dim;
    check_matrix(weights_.token_embedding, "token_embedding", {c.vocab_size, d});
    check(weights_.position_embedding, "position_embedding", gpt2, {c.context_length, d});
    require(static_cast<std::int64_t>(weights_.layers.size()) == c.n_layer,
            "{}: {} layers of weights for a config of {}", source_, weights_.layers.size(), c.n_layer);
    for (std::size_t i = 0; i < weights_.layers.size(); ++i) {
      const auto& layer = weights_.layers[i];
      const auto prefix = "layers." + std::to_string(i) + ".";
      check(layer.attn_norm_weight, prefix + "attn_norm_weight", c.pre_norms, {d});
      check(layer.attn_norm_bias, prefix + "attn_norm_bias", biases, {d});
      check_matrix(layer.qkv_weight, prefix + "qkv_weight", {c.qkv_rows(), d});
      check(layer.qkv_bias, prefix + "qkv_bias", biases || c.qkv_bias, {c.qkv_rows()});
      check_matrix(layer.attn_out_weight, prefix + "attn_out_weight", {d, attn});
      check(layer.attn_out_bias, prefix + "attn_out_bias", biases, {d});
      check(layer.mlp_norm_weight, prefix + "mlp_norm_weight", c.pre_norms, {d});
      check(layer.mlp_norm_bias, prefix + "mlp_norm_bias", biases, {d});
      check_matrix(layer.mlp_in_weight, prefix + "mlp_in_weight", {c.gated_mlp() ? 2 * c.d_ff : c.d_ff, d});
      check(layer.mlp_in_bias, prefix + "mlp_in_bias", biases, {c.d_ff});
      check_matrix(layer.mlp_out_weight, prefix + "mlp_out_weight", {d, c.d_ff});
      check(layer.mlp_out_bias, prefix + "mlp_out_bias", biases, {d});
      const bool across = c.qk_norm_across_heads;
      check(layer.q_norm_weight, prefix + "q_norm_weight", c.qk_norm, {across ? attn : c.head_dim});
      check(layer.k_norm_weight, prefix + "k_norm_weight", c.qk_norm, {across ? c.n_kv_head * c.head_dim : c.head_dim});
      check(layer.attn_post_norm_weight, prefix + "attn_post_norm_weight", c.post_norms, {d});
      check(layer.mlp_post_norm_weight, prefix + "mlp_post_norm_weight", c.post_norms, {d});
    }
    check(weights_.final_norm_weight, "final_norm_weight", true, {d});
    check(weights_.final_norm_bias, "final_norm_bias", biases, {d});
    if (c.tied_embeddings) {
      require(!weights_.unembedding.defined() || weights_.unembedding.is_same(weights_.token_embedding),
              "{}: the config ties the head to the token embedding, but a separate head was given", source_);
      weights_.unembedding = weights_.token_embedding;
    }
    check_matrix(weights_.unembedding, "unembedding", {c.vocab_size, d});
  }

  const torch::Tensor& check_ids(const torch::Tensor& ids) const {
    require(ids.defined() && ids.dim() == 2, "token ids must be [B, S], got {}", detail::shape_string(ids));
    require(ids.scalar_type() == torch::kLong, "token ids must be int64, got {}",
            detail::dtype_name(ids.scalar_type()));
    require(ids.numel() > 0, "empty sequence: no token ids");
    require(ids.size(1) <= config_.context_length, "{} tokens exceed the model's context length of {}", ids.size(1),
            config_.context_length);
    const auto low = ids.min().item<std::int64_t>(), high = ids.max().item<std::int64_t>();
    require(low >= 0 && high < config_.vocab_size, "token id {} is outside the vocabulary [0, {})",
            low < 0 ? low : high, config_.vocab_size);
    return ids;
  }

  torch::Tensor norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) const {
    if (config_.norm_kind() == NormKind::layer_norm) {
      return torch::layer_norm(x, {config_.d_model}, weight, bias, config_.norm_eps);
    }
    return rms_norm(x, weight);
  }

  // RMSNorm over the last dimension; also the q/k norms, which are RMSNorms in every family that has them.
  torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight) const {
    return gain(weight) * (x * rms_reciprocal(x));
  }

  // The norm before attention or MLP; OLMo 2's blocks read the stream itself.
  torch::Tensor pre_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) const {
    return config_.pre_norms ? norm(x, weight, bias) : x;
  }

  // An RMSNorm's gain as it multiplies: offset + w.
  torch::Tensor gain(const torch::Tensor& weight) const {
    return config_.norm_gain_offset != 0.0 ? weight + config_.norm_gain_offset : weight;
  }

  // 1 / sqrt(mean(x^2) + eps) over the last dimension, kept.
  torch::Tensor rms_reciprocal(const torch::Tensor& x) const {
    return torch::rsqrt(x.square().mean(-1, true) + config_.norm_eps);
  }

  torch::Tensor cap_logits(const torch::Tensor& logits) const { return soft_cap(logits, config_.final_softcap); }

  torch::Tensor final_norm(const torch::Tensor& x) const {
    return norm(x, weights_.final_norm_weight, weights_.final_norm_bias);
  }

  // The positions [offset, offset + length) that one forward pass computes:
  // their RoPE tables and which keys each one may not see.
  struct Span {
    std::int64_t offset = 0, length = 0;
    std::pair<torch::Tensor, torch::Tensor> rope;        // cos and sin [length, head_dim / 2]
    std::pair<torch::Tensor, torch::Tensor> local_rope;  // the windowed layers' own, where they have one
    // Per sliding window (0: none), [length, offset + length], true where
    // the key lies after the query or outside its window.
    std::map<std::int64_t, torch::Tensor> hidden;
  };

  Span span(std::int64_t offset, std::int64_t length) const {
    Span positions{offset, length, {}, {}, {}};
    if (config_.has_rope()) {
      positions.rope = rope_tables(config_.rope_base, config_.rope_frequency_factors, offset, length);
      if (config_.local_rope_base > 0.0)
        positions.local_rope = rope_tables(config_.local_rope_base, {}, offset, length);
    }
    const auto future =
        torch::ones({length, offset + length}, torch::dtype(torch::kBool).device(device())).triu(offset + 1);
    positions.hidden[0] = future;
    for (const auto window : config_.sliding_windows) {
      // Query at offset + i may see keys j > offset + i - window: outside is the band below diagonal offset - window.
      if (window > 0 && positions.hidden.count(window) == 0) {
        positions.hidden[window] = future.logical_or(torch::ones_like(future).tril(offset - window));
      }
    }
    return positions;
  }

  // cos and sin of the RoPE angles of positions [offset, offset + length), computed in float64.
  std::pair<torch::Tensor, torch::Tensor> rope_tables(double base, const std::vector<double>& frequency_factors,
                                                      std::int64_t offset, std::int64_t length) const {
    const auto f64 = torch::dtype(torch::kFloat64);
    const auto rotary = config_.rotary_size(), half = rotary / 2;
    auto exponents = torch::arange(0, half, f64) * (2.0 / static_cast<double>(rotary));
    auto inverse_frequency = torch::pow(base, exponents).reciprocal();
    if (!frequency_factors.empty()) {
      inverse_frequency = inverse_frequency / torch::tensor(frequency_factors, f64);
    }
    auto angles = torch::arange(offset, offset + length, f64).unsqueeze(1) * inverse_frequency;
    const auto options = torch::dtype(dtype()).device(device());
    return {angles.cos().to(options), angles.sin().to(options)};
  }

  // Rotates pairs (i, i + r/2) of the first r = rotary_size() dimensions, Hugging Face's rotate_half
  // convention, and passes the others; x [B, heads, S, head_dim].
  static torch::Tensor rotate(const torch::Tensor& x, const std::pair<torch::Tensor, torch::Tensor>& rope) {
    const auto& [cos, sin] = rope;
    const auto half = cos.size(-1), rest = x.size(-1) - 2 * half;
    auto first = x.narrow(-1, 0, half), second = x.narrow(-1, half, half);
    std::vector<torch::Tensor> parts{first * cos - second * sin, second * cos + first * sin};
    if (rest > 0) parts.push_back(x.narrow(-1, 2 * half, rest));
    return torch::cat(parts, -1);
  }

  // What each block writes, per layer [B, S, ..], recorded by forward() for components().
  struct BlockWrites {
    bool sources = true;  // also record what each head reads
    std::vector<torch::Tensor> resid_mid, head_results, attn_bias, mlp_out;
    std::vector<torch::Tensor> attn_pattern, head_values, head_scale;  // the heads' sources
  };

  // What attention_heads read, for the split by source position.
  struct AttentionRead {
    torch::Tensor pattern;  // [B, H, S, T] after the softmax
    torch::Tensor values;   // [B, K, T, head_dim]
  };

  // Every head's mixed values, concatenated [B, S, n_head head_dim]: the input
  // of the output projection. With a cache, the new keys and values are
  // stored at the span's positions and the queries read every cached one.
  torch::Tensor attention_heads(const DecoderLayerWeights& layer, const torch::Tensor& x, const Span& positions,
                                KvCache* cache, std::size_t layer_index, AttentionRead* read = nullptr) const {
    const auto& c = config_;
    const auto B = x.size(0), S = x.size(1), H = c.n_head, K = c.n_kv_head, G = H / K, hd = c.head_dim;
    auto projected = layer.qkv_weight.linear(x, layer.qkv_bias);
    if (c.qk_norm_across_heads) {
      // OLMo 2: one RMSNorm over all query heads, one over all key heads, before the split into heads.
      const auto across = [&](std::int64_t first, std::int64_t rows, const torch::Tensor& weight) {
        return rms_norm(projected.narrow(-1, first, rows), weight);
      };
      projected = torch::cat({across(0, H * hd, layer.q_norm_weight), across(H * hd, K * hd, layer.k_norm_weight),
                              projected.narrow(-1, (H + K) * hd, K * hd)},
                             -1);
    }
    auto qkv = projected.view({B, S, H + 2 * K, hd}).transpose(1, 2);  // [B, H + 2K, S, hd]
    auto qk = qkv.narrow(1, 0, H + K);
    if (c.qk_norm && !c.qk_norm_across_heads) {
      // Qwen3: RMSNorm over each head's query and key, before the rotation.
      qk = torch::cat(
          {rms_norm(qk.narrow(1, 0, H), layer.q_norm_weight), rms_norm(qk.narrow(1, H, K), layer.k_norm_weight)}, 1);
    }
    if (c.has_rope()) {
      qk = rotate(qk, c.has_local_rope(layer_index) ? positions.local_rope : positions.rope);
    }
    auto v = qkv.narrow(1, H + K, K);
    // Query head h uses key/value head h / G: group the queries of one kv head as G*S rows.
    auto q = qk.narrow(1, 0, H).reshape({B, K, G * S, hd});
    auto k = qk.narrow(1, H, K);
    if (cache != nullptr) {
      cache->keys[layer_index].narrow(2, positions.offset, S).copy_(k);
      cache->values[layer_index].narrow(2, positions.offset, S).copy_(v);
      k = cache->keys[layer_index].narrow(2, 0, positions.offset + S);
      v = cache->values[layer_index].narrow(2, 0, positions.offset + S);
    }
    const auto T = positions.offset + S;
    auto scores = torch::matmul(q, k.transpose(-2, -1));  // [B, K, G*S, T]
    scores.mul_(c.query_scale());
    if (c.attention_softcap > 0.0) scores.div_(c.attention_softcap).tanh_().mul_(c.attention_softcap);
    scores.view({B, K, G, S, T})
        .masked_fill_(positions.hidden.at(c.window_of(layer_index)), -std::numeric_limits<double>::infinity());
    const auto pattern = scores.softmax(-1);
    if (read != nullptr) *read = {pattern.view({B, K, G, S, T}).reshape({B, H, S, T}), v};
    auto mixed = torch::matmul(pattern, v);  // [B, K, G*S, hd]
    return mixed.view({B, H, S, hd}).transpose(1, 2).reshape({B, S, H * hd});
  }

  // Token (and for gpt2 position) embeddings [B, S, d] of ids already on the model's device, at positions from
  // `offset`.
  torch::Tensor embed(const torch::Tensor& ids, std::int64_t offset) const {
    auto x = weights_.token_embedding.rows(ids, dtype(), device());
    if (config_.embedding_scale != 1.0) x = x * config_.embedding_scale;
    if (config_.architecture == Architecture::gpt2) {
      x = x + weights_.position_embedding.narrow(0, offset, ids.size(1));
    }
    return x;
  }

  torch::Tensor activate(const torch::Tensor& x) const {
    switch (config_.mlp_activation) {
      case MlpActivation::silu:
        return torch::silu(x);
      case MlpActivation::gelu_tanh:
        return torch::gelu(x, "tanh");
      case MlpActivation::gelu:
        return torch::gelu(x);
    }
    return x;
  }

  torch::Tensor mlp(const DecoderLayerWeights& layer, const torch::Tensor& x) const {
    auto hidden = layer.mlp_in_weight.linear(x, layer.mlp_in_bias);
    if (config_.gated_mlp()) {
      hidden = activate(hidden.narrow(-1, 0, config_.d_ff)) * hidden.narrow(-1, config_.d_ff, config_.d_ff);
    } else {
      hidden = activate(hidden);
    }
    auto out = layer.mlp_out_weight.linear(hidden, layer.mlp_out_bias);
    return config_.post_norms ? norm(out, layer.mlp_post_norm_weight, {}) : out;
  }

  // What the attention adds to the residual, from its output projection.
  torch::Tensor attention_output(const DecoderLayerWeights& layer, const torch::Tensor& projected) const {
    return config_.post_norms ? norm(projected, layer.attn_post_norm_weight, {}) : projected;
  }

  // The residual before the final norm; `states` (if given) collects every
  // layer's residual; with a cache, ids continue its positions and join it.
  // Each head's write z_h W_O^h [B, S, H, d], the output bias [B, S, d] and
  // what the heads read (their patterns, and each source's value through each
  // head's output projection), of an attention whose heads gave `mixed`
  // [B, S, H * head_dim] and whose output projection gave `projected`. A
  // norm on the output (Gemma) is a linear map over one scale shared by the
  // parts: each part keeps its own direction, and their sum is the norm's
  // output.
  void record_writes(BlockWrites& writes, const DecoderLayerWeights& layer, const torch::Tensor& attn_out_weight,
                     const torch::Tensor& mixed, const torch::Tensor& projected, const AttentionRead& read) const {
    const auto B = mixed.size(0), S = mixed.size(1), H = config_.n_head, d = config_.d_model, hd = config_.head_dim;
    const auto out = attn_out_weight.reshape({d, H, hd});
    auto heads = torch::einsum("bshk,dhk->bshd", {mixed.reshape({B, S, H, hd}), out});
    auto bias = layer.attn_out_bias.defined() ? layer.attn_out_bias.expand({B, S, d})
                                              : torch::zeros({B, S, d}, projected.options());
    auto scale = torch::ones({B, S, d}, projected.options());
    if (config_.post_norms) {
      scale = gain(layer.attn_post_norm_weight) * rms_reciprocal(projected);  // [B, S, d]
      heads = heads * scale.unsqueeze(2);
      bias = bias * scale;
    }
    writes.head_results.push_back(heads);
    writes.attn_bias.push_back(bias);
    if (!writes.sources) return;
    // Query head h reads key/value head h / G.
    const auto values = read.values.repeat_interleave(H / config_.n_kv_head, 1);  // [B, H, T, hd]
    writes.attn_pattern.push_back(read.pattern);
    writes.head_values.push_back(torch::einsum("bhtk,dhk->bthd", {values, out}));
    writes.head_scale.push_back(scale);
  }

  // The one layer loop: the residual after the embedding and after every
  // block into `states`, keys and values into `cache` (whose positions the
  // ids continue), and each block's writes into `writes`, where given.
  torch::Tensor forward(const torch::Tensor& ids_in, std::vector<torch::Tensor>* states, KvCache* cache,
                        BlockWrites* writes = nullptr) const {
    const auto ids = ids_in.to(device());
    const auto offset = cache != nullptr ? cache->length : 0;
    const auto positions = span(offset, ids.size(1));
    auto x = embed(ids, offset);
    if (states) states->push_back(x);
    for (std::size_t i = 0; i < weights_.layers.size(); ++i) {
      const auto& layer = weights_.layers[i];
      AttentionRead read;
      const auto mixed = attention_heads(layer, pre_norm(x, layer.attn_norm_weight, layer.attn_norm_bias), positions,
                                         cache, i, writes && writes->sources ? &read : nullptr);
      const auto projected = layer.attn_out_weight.linear(mixed, layer.attn_out_bias);
      const auto attended = attention_output(layer, projected);
      if (writes) {
        record_writes(*writes, layer, layer.attn_out_weight.values(dtype(), device()), mixed, projected, read);
      }
      if (config_.parallel_residual) {
        // GPT-NeoX: the MLP reads the block's input too; added in transformers' order.
        const auto written = mlp(layer, pre_norm(x, layer.mlp_norm_weight, layer.mlp_norm_bias));
        if (writes) writes->mlp_out.push_back(written);
        x = written + attended + x;
      } else {
        x = x + attended;
        const auto written = mlp(layer, pre_norm(x, layer.mlp_norm_weight, layer.mlp_norm_bias));
        if (writes) {
          writes->resid_mid.push_back(x);
          writes->mlp_out.push_back(written);
        }
        x = x + written;
      }
      if (states) states->push_back(x);
    }
    if (cache != nullptr) cache->length += ids.size(1);
    return x;
  }

  DecoderConfig config_;
  DecoderWeights weights_;
  std::string source_;
};

}  // namespace iglens
