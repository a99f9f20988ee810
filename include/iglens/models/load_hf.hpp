#pragma once
// A native decoder from a Hugging Face folder (config.json + safetensors):
// GPT2LMHeadModel, GPTNeoXForCausalLM, or LlamaForCausalLM and the families the Llama decoder
// computes from a description (Mistral, Qwen2/3, Gemma 2/3, Phi-3, OLMo 2). Weights are read as float32 (F32,
// F16 and BF16 exactly); DecoderModel::to(torch::kFloat64) widens them. With WeightStorage::as_stored, every
// matrix (the layers', the embedding, the head) stays in the mapped safetensors files, 16-bit where they are
// stored so, and is converted the same way while it is multiplied, a tile of rows at a time (stored_weight.hpp).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/detail/tensor_text.hpp"
#include "iglens/error.hpp"
#include "iglens/model_files/hf_folder.hpp"
#include "iglens/models/decoder.hpp"
#include "iglens/models/decoder_config.hpp"
#include "iglens/models/detail/hf_accounting.hpp"
#include "iglens/weights/stored_weight.hpp"

namespace iglens {
namespace detail {

// Reads named tensors of a folder after checking their shapes against the config.
class HfWeightReader {
 public:
  // `folder` must own the folder where matrices are kept as stored; a non-owning pointer serves float copies.
  HfWeightReader(std::shared_ptr<const HfFolder> folder, WeightStorage storage)
      : owner_(std::move(folder)), folder_(*owner_), storage_(storage) {}

  bool has(const std::string& name) const { return folder_.has_tensor(name); }

  // A tensor of the given shape as stored ([out, in] for a linear layer).
  torch::Tensor read(const std::string& name, std::vector<std::int64_t> shape) {
    expect(name, shape);
    auto out = torch::empty(shape, torch::kFloat32);
    folder_.to_float32(name, out.data_ptr<float>());
    return out;
  }

  // The matrix [rows of all `names`, cols] that the [rows_i, cols] tensors stack, its row r being stacked row
  // row_order[r] (undefined: as stacked): converted now, or kept in the mapped files and converted by the same
  // code while it is used.
  StoredWeight stacked(const std::vector<std::string>& names, const std::vector<std::int64_t>& rows, std::int64_t cols,
                       torch::Tensor row_order = {}) {
    std::vector<std::pair<std::int64_t, StoredWeight::FillRows>> fills;
    std::int64_t total = 0;
    std::uint64_t bytes = 0;
    std::vector<torch::ScalarType> exact;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto found = expect(names[i], {rows[i], cols});
      fills.emplace_back(rows[i], [folder = owner_, tensor = &found.info, file = &found.file, cols](
                                      std::int64_t first, std::int64_t count, float* out) {
        file->window_to_float32(*tensor, first, count, 0, cols, out);
      });
      total += rows[i];
      bytes += found.info.byte_size;
      exact.push_back(exact_dtype(found.info.dtype));
    }
    return StoredWeight({total, cols}, StoredWeight::stacked_fill(std::move(fills), cols), std::move(row_order), bytes,
                        StoredWeight::stacked_exact_dtype(exact))
        .held_as(storage_);
  }

  StoredWeight matrix(const std::string& name, std::int64_t rows, std::int64_t cols, torch::Tensor row_order = {}) {
    return stacked({name}, {rows}, cols, std::move(row_order));
  }

  // A matrix [rows, cols] that the file stores transposed, as [cols, rows] (GPT-2's Conv1D): a tile of its rows
  // is a window of the stored columns.
  StoredWeight transposed(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const auto found = expect(name, {cols, rows});
    StoredWeight::FillRows fill_rows = [folder = owner_, tensor = &found.info, file = &found.file, cols](
                                           std::int64_t first, std::int64_t count, float* out) {
      std::vector<float> columns(static_cast<std::size_t>(cols * count));
      file->window_to_float32(*tensor, 0, cols, first, count, columns.data());
      for (std::int64_t r = 0; r < count; ++r) {
        for (std::int64_t k = 0; k < cols; ++k) out[r * cols + k] = columns[static_cast<std::size_t>(k * count + r)];
      }
    };
    return StoredWeight({rows, cols}, std::move(fill_rows), torch::Tensor(), found.info.byte_size,
                        exact_dtype(found.info.dtype))
        .held_as(storage_);
  }

 private:
  // The narrowest dtype that holds a stored tensor's values exactly as read (F64 is read rounded to float32).
  static torch::ScalarType exact_dtype(SafetensorsDtype dtype) {
    return dtype == SafetensorsDtype::f16    ? torch::kHalf
           : dtype == SafetensorsDtype::bf16 ? torch::kBFloat16
                                             : torch::kFloat32;
  }

  HfTensor expect(const std::string& name, const std::vector<std::int64_t>& shape) {
    require(folder_.has_tensor(name), "Hugging Face folder '{}' has no tensor '{}'", folder_.folder(), name);
    const auto found = folder_.tensor(name);
    require(found.info.shape == shape, "{}: tensor '{}' has shape {}, but config.json implies {}", found.file.path(),
            name, shape_string(found.info.shape), shape_string(shape));
    used_.insert(name);
    return found;
  }

 public:
  // After loading: a tensor nobody read would be silently ignored, unless
  // `ignorable` says it carries no computation.
  template <class Ignorable>
  void require_all_read(std::string_view decoder, Ignorable ignorable) const {
    require_every_tensor_used(folder_, used_, decoder, ignorable);
  }

 private:
  std::shared_ptr<const HfFolder> owner_;
  const HfFolder& folder_;
  WeightStorage storage_;
  NameSet used_;
};

inline DecoderModel load_hf_gpt2(const std::shared_ptr<const HfFolder>& folder, WeightStorage storage,
                                 const std::string& source) {
  const auto& hf = *folder;
  const auto config_file = hf.folder() + "/config.json";
  // reorder_and_upcast_attn computes the same scores in float32 (a half-precision remedy).
  require_known_config(hf,
                       {"n_layer", "n_embd", "n_head", "n_inner", "vocab_size", "n_positions", "n_ctx",
                        "layer_norm_epsilon", "activation_function", "scale_attn_by_inverse_layer_idx",
                        "scale_attn_weights", "reorder_and_upcast_attn", "tie_word_embeddings"},
                       "gpt2");
  require(hf.find_bool("tie_word_embeddings").value_or(true), "{}: tie_word_embeddings false is not supported for gpt2",
          config_file);
  const auto n_ctx = hf.find_int("n_ctx");
  require(!n_ctx || *n_ctx == hf.get_int("n_positions"), "{}: n_ctx {} differs from n_positions {} (not supported)",
          config_file, n_ctx.value_or(0), hf.get_int("n_positions"));
  const auto activation = hf.find_string("activation_function").value_or("gelu_new");
  require(activation == "gelu_new", "{}: activation_function '{}' is not supported (only gelu_new)", config_file,
          activation);
  require(!hf.find_bool("scale_attn_by_inverse_layer_idx").value_or(false),
          "{}: scale_attn_by_inverse_layer_idx is not supported", config_file);
  require(hf.find_bool("scale_attn_weights").value_or(true), "{}: scale_attn_weights false is not supported",
          config_file);
  DecoderConfig c;
  c.architecture = Architecture::gpt2;
  c.family = "gpt2";
  c.mlp_activation = MlpActivation::gelu_tanh;
  c.n_layer = hf.get_int("n_layer");
  c.d_model = hf.get_int("n_embd");
  c.n_head = hf.get_int("n_head");
  c.n_kv_head = c.n_head;
  c.head_dim = c.n_head > 0 ? c.d_model / c.n_head : 0;
  c.d_ff = hf.find_int("n_inner").value_or(4 * c.d_model);
  c.vocab_size = hf.get_int("vocab_size");
  c.context_length = hf.get_int("n_positions");
  c.norm_eps = hf.find_double("layer_norm_epsilon").value_or(1e-5);
  c.tied_embeddings = true;
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", config_file, e.what());
  }

  HfWeightReader reader(folder, storage);
  // Checkpoints saved from GPT2Model have no "transformer." prefix.
  const std::string p = reader.has("transformer.wte.weight") ? "transformer." : "";
  const auto d = c.d_model;
  // Conv1D stores [in, out]; the decoder wants linear layers' [out, in].
  auto conv1d = [&](const std::string& name, std::int64_t in, std::int64_t out) {
    return reader.transposed(name, out, in);
  };
  DecoderWeights w;
  w.token_embedding = reader.matrix(p + "wte.weight", c.vocab_size, c.d_model);
  w.position_embedding = reader.read(p + "wpe.weight", {c.context_length, d});
  for (std::int64_t i = 0; i < c.n_layer; ++i) {
    const auto b = p + "h." + std::to_string(i) + ".";
    DecoderLayerWeights layer;
    layer.attn_norm_weight = reader.read(b + "ln_1.weight", {d});
    layer.attn_norm_bias = reader.read(b + "ln_1.bias", {d});
    layer.qkv_weight = conv1d(b + "attn.c_attn.weight", d, 3 * d);
    layer.qkv_bias = reader.read(b + "attn.c_attn.bias", {3 * d});
    layer.attn_out_weight = conv1d(b + "attn.c_proj.weight", d, d);
    layer.attn_out_bias = reader.read(b + "attn.c_proj.bias", {d});
    layer.mlp_norm_weight = reader.read(b + "ln_2.weight", {d});
    layer.mlp_norm_bias = reader.read(b + "ln_2.bias", {d});
    layer.mlp_in_weight = conv1d(b + "mlp.c_fc.weight", d, c.d_ff);
    layer.mlp_in_bias = reader.read(b + "mlp.c_fc.bias", {c.d_ff});
    layer.mlp_out_weight = conv1d(b + "mlp.c_proj.weight", c.d_ff, d);
    layer.mlp_out_bias = reader.read(b + "mlp.c_proj.bias", {d});
    w.layers.push_back(std::move(layer));
  }
  w.final_norm_weight = reader.read(p + "ln_f.weight", {d});
  w.final_norm_bias = reader.read(p + "ln_f.bias", {d});
  // Older checkpoints store each block's causal mask (attn.bias, attn.masked_bias): the decoder applies the
  // same mask itself, as transformers does, which ignores them too; lm_head.weight is the tied embedding.
  reader.require_all_read("gpt2", [&](std::string_view name) {
    return ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias") || name == "lm_head.weight";
  });
  return DecoderModel(c, std::move(w), source);
}

// GPT-NeoX's fused query_key_value stores each head's q, k and v rows
// together ([H, 3, head_dim] rows); the decoder wants all Q rows, then K, then V.
inline torch::Tensor gpt_neox_qkv_rows(const torch::Tensor& rows, std::int64_t heads) {
  const auto head_dim = rows.size(0) / (3 * heads);
  const auto per_row = rows.dim() == 2 ? rows.size(1) : 1;
  return rows.reshape({heads, 3, head_dim, per_row}).transpose(0, 1).reshape(rows.sizes());
}

// GPTNeoXForCausalLM (Pythia): GPT-2's LayerNorms and biases, RoPE over the
// first rotary_pct of each head, an untied head (embed_out), and attention and
// MLP reading the block's input together where use_parallel_residual says so.
inline DecoderModel load_hf_gpt_neox(const std::shared_ptr<const HfFolder>& folder, WeightStorage storage,
                                     const std::string& source) {
  const auto& hf = *folder;
  const auto config_file = hf.folder() + "/config.json";
  // Transformers' GPTNeoXConfig sets partial_rotary_factor and rope_theta from
  // rotary_pct and rotary_emb_base whatever a saved config says of them;
  // classifier_dropout belongs to the classification head.
  require_known_config(hf,
                       {"num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size",
                        "max_position_embeddings", "layer_norm_eps", "hidden_act", "rotary_pct", "rotary_emb_base",
                        "partial_rotary_factor", "rope_theta", "use_parallel_residual", "attention_bias",
                        "tie_word_embeddings", "rope_scaling", "classifier_dropout"},
                       "gpt_neox");
  require(hf.find_bool("attention_bias").value_or(true), "{}: attention_bias false is not supported", config_file);
  require(hf.config().value("rope_scaling", nlohmann::json()).is_null(),
          "{}: rope_scaling is not supported for gpt_neox", config_file);
  // Pythia's "gelu" is exact; the others are the tanh approximation written three ways.
  const auto activation = hf.find_string("hidden_act").value_or("gelu");
  const bool tanh_gelu = activation == "gelu_new" || activation == "gelu_pytorch_tanh" || activation == "gelu_fast";
  require(activation == "gelu" || tanh_gelu,
          "{}: hidden_act '{}' is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast)", config_file,
          activation);
  DecoderConfig c;
  c.architecture = Architecture::gpt_neox;
  c.family = "gpt_neox";
  c.n_layer = hf.get_int("num_hidden_layers");
  c.d_model = hf.get_int("hidden_size");
  c.n_head = hf.get_int("num_attention_heads");
  c.n_kv_head = c.n_head;
  c.head_dim = c.n_head > 0 ? c.d_model / c.n_head : 0;
  c.d_ff = hf.get_int("intermediate_size");
  c.vocab_size = hf.find_int("vocab_size").value_or(50432);
  c.context_length = hf.find_int("max_position_embeddings").value_or(2048);
  c.norm_eps = hf.find_double("layer_norm_eps").value_or(1e-5);
  c.rope_base = hf.find_double("rotary_emb_base").value_or(10000.0);
  c.tied_embeddings = hf.find_bool("tie_word_embeddings").value_or(false);
  c.mlp_activation = tanh_gelu ? MlpActivation::gelu_tanh : MlpActivation::gelu;
  c.parallel_residual = hf.find_bool("use_parallel_residual").value_or(true);
  const auto rotary_fraction = hf.find_double("rotary_pct").value_or(0.25);
  require(rotary_fraction > 0.0 && rotary_fraction <= 1.0, "{}: rotary_pct must be in (0, 1], got {}", config_file,
          rotary_fraction);
  // Truncated as transformers truncates it.
  const auto rotary_dims = static_cast<std::int64_t>(static_cast<double>(c.head_dim) * rotary_fraction);
  if (rotary_dims != c.head_dim) c.rotary_dims = rotary_dims;
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", config_file, e.what());
  }

  HfWeightReader reader(folder, storage);
  const auto d = c.d_model;
  DecoderWeights w;
  w.token_embedding = reader.matrix("gpt_neox.embed_in.weight", c.vocab_size, c.d_model);
  const auto qkv_order = gpt_neox_qkv_rows(torch::arange(3 * d, torch::kLong), c.n_head);
  for (std::int64_t i = 0; i < c.n_layer; ++i) {
    const auto b = "gpt_neox.layers." + std::to_string(i) + ".";
    DecoderLayerWeights layer;
    layer.attn_norm_weight = reader.read(b + "input_layernorm.weight", {d});
    layer.attn_norm_bias = reader.read(b + "input_layernorm.bias", {d});
    layer.qkv_weight = reader.matrix(b + "attention.query_key_value.weight", 3 * d, d, qkv_order);
    layer.qkv_bias = gpt_neox_qkv_rows(reader.read(b + "attention.query_key_value.bias", {3 * d}), c.n_head);
    layer.attn_out_weight = reader.matrix(b + "attention.dense.weight", d, d);
    layer.attn_out_bias = reader.read(b + "attention.dense.bias", {d});
    layer.mlp_norm_weight = reader.read(b + "post_attention_layernorm.weight", {d});
    layer.mlp_norm_bias = reader.read(b + "post_attention_layernorm.bias", {d});
    layer.mlp_in_weight = reader.matrix(b + "mlp.dense_h_to_4h.weight", c.d_ff, d);
    layer.mlp_in_bias = reader.read(b + "mlp.dense_h_to_4h.bias", {c.d_ff});
    layer.mlp_out_weight = reader.matrix(b + "mlp.dense_4h_to_h.weight", d, c.d_ff);
    layer.mlp_out_bias = reader.read(b + "mlp.dense_4h_to_h.bias", {d});
    w.layers.push_back(std::move(layer));
  }
  w.final_norm_weight = reader.read("gpt_neox.final_layer_norm.weight", {d});
  w.final_norm_bias = reader.read("gpt_neox.final_layer_norm.bias", {d});
  if (!c.tied_embeddings) w.unembedding = reader.matrix("embed_out.weight", c.vocab_size, d);
  // Older checkpoints (Pythia's) store each block's causal mask and rotary frequencies, which transformers
  // recomputes and ignores, as the decoder does.
  reader.require_all_read("gpt_neox", [&](std::string_view name) {
    return ends_with(name, ".attention.bias") || ends_with(name, ".attention.masked_bias") ||
           ends_with(name, ".rotary_emb.inv_freq") || (c.tied_embeddings && name == "embed_out.weight");
  });
  return DecoderModel(c, std::move(w), source);
}

// Llama 3's RoPE scaling (`rope_scaling` of type llama3) as a divisor per
// frequency, transformers' _compute_llama3_parameters in float64: long
// wavelengths (beyond original context / low_freq_factor) are divided by
// `factor`, short ones (below original context / high_freq_factor) kept, and
// those between interpolated smoothly. llama.cpp's converter writes the same
// divisors as the tensor rope_freqs.weight.
inline std::vector<double> llama3_frequency_factors(const nlohmann::json& scaling, std::int64_t rotary_dims,
                                                    double rope_base, const std::string& config_file) {
  const auto number = [&](const char* key) {
    const auto found = scaling.find(key);
    require(found != scaling.end() && found->is_number(), "{}: rope_scaling of type llama3 needs a number '{}'",
            config_file, key);
    return found->get<double>();
  };
  for (const auto& [key, value] : scaling.items()) {
    const bool known = key == "rope_type" || key == "type" || key == "factor" || key == "low_freq_factor" ||
                       key == "high_freq_factor" || key == "original_max_position_embeddings";
    require(known, "{}: rope_scaling key '{}' is not known for type llama3", config_file, key);
  }
  const double factor = number("factor"), low = number("low_freq_factor"), high = number("high_freq_factor"),
               original = number("original_max_position_embeddings");
  require(factor > 0 && low > 0 && high > low && original > 0,
          "{}: rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and an original context "
          "> 0 (got {}, {}, {}, {})",
          config_file, factor, low, high, original);
  const double pi = 3.14159265358979323846;
  std::vector<double> factors;
  for (std::int64_t i = 0; i < rotary_dims / 2; ++i) {
    const double wavelength =
        2 * pi * std::pow(rope_base, 2.0 * static_cast<double>(i) / static_cast<double>(rotary_dims));
    if (wavelength < original / high) {
      factors.push_back(1.0);
    } else if (wavelength > original / low) {
      factors.push_back(factor);
    } else {
      const double smooth = (original / wavelength - low) / (high - low);
      factors.push_back(1.0 / ((1 - smooth) / factor + smooth));
    }
  }
  return factors;
}

// A checkpoint family that the Llama decoder computes, as data: what its
// config adds, what its weights add, and transformers' defaults for the keys
// a saved config may leave out.
struct HfLlamaFamily {
  const char* name = "";  // the decoder's name in messages and descriptions
  NameSet extra_keys;     // config keys of the family beyond Llama's
  std::int64_t default_vocab_size = 0, default_context_length = 0;
  bool qkv_bias = false;  // q_proj, k_proj and v_proj carry biases
  bool qk_norm = false;   // q_norm and k_norm: RMSNorm over each head's queries and keys
  // Gemma 2 and 3: RMSNorm gains stored as w for (1 + w), norms after the
  // attention and MLP outputs (pre_feedforward_layernorm before the MLP),
  // embeddings times sqrt(d), GeGLU, query_pre_attn_scalar, soft-caps.
  bool gemma = false;
  bool default_tied = false;
  double default_rope_base = 10000.0;
  // Gemma, without layer_types: every n-th layer full, the others windowed.
  std::int64_t default_window_pattern = 0;
  // Mistral, without layer_types: sliding_window (where set) on every layer.
  bool window_on_every_layer = false;
  // Gemma 3: the windowed layers rotate with rope_local_base_freq, unscaled.
  bool local_rope = false;
  // Phi-3: one qkv_proj (Q, K, V rows) and one gate_up_proj (gate rows, up rows).
  bool fused_projections = false;
  // OLMo 2: norms after the attention and the MLP only (post_attention_layernorm,
  // post_feedforward_layernorm), q_norm and k_norm over the whole projection.
  bool olmo2 = false;
};

// A family with Llama's features: its name, its extra config keys and transformers' defaults of its config;
// the features it adds are set by name on the result.
inline HfLlamaFamily hf_family(const char* name, NameSet extra_keys, std::int64_t default_vocab_size,
                               std::int64_t default_context_length) {
  HfLlamaFamily family;
  family.name = name;
  family.extra_keys = std::move(extra_keys);
  family.default_vocab_size = default_vocab_size;
  family.default_context_length = default_context_length;
  return family;
}

inline const HfLlamaFamily& hf_llama_family() {
  static const HfLlamaFamily family = hf_family("llama", {"attention_bias", "mlp_bias"}, 32000, 2048);
  return family;
}

// Mistral: Llama with a sliding window over all layers where the config has one.
inline const HfLlamaFamily& hf_mistral_family() {
  static const HfLlamaFamily family = [] {
    auto f = hf_family("mistral", {"sliding_window"}, 32000, 4096 * 32);
    f.window_on_every_layer = true;
    return f;
  }();
  return family;
}

// Qwen2 / Qwen2.5: Llama with biases on the query, key and value projections.
// Its sliding window is off unless use_sliding_window says so.
inline const HfLlamaFamily& hf_qwen2_family() {
  static const HfLlamaFamily family = [] {
    auto f = hf_family("qwen2", {"use_sliding_window", "sliding_window", "max_window_layers"}, 151936, 32768);
    f.qkv_bias = true;
    return f;
  }();
  return family;
}

// Qwen3: Llama with RMSNorm over each head's queries and keys (before RoPE), no biases.
inline const HfLlamaFamily& hf_qwen3_family() {
  static const HfLlamaFamily family = [] {
    auto f = hf_family("qwen3", {"use_sliding_window", "sliding_window", "max_window_layers", "attention_bias"}, 151936,
                       32768);
    f.qk_norm = true;
    return f;
  }();
  return family;
}

// Phi-3 (and Phi-4-mini, with RoPE over part of each head): Llama with fused
// projections and a sliding window on every layer where the config has one
// (llama.cpp ignores it; transformers applies it).
// original_max_position_embeddings only matters to longrope scaling, refused.
inline const HfLlamaFamily& hf_phi3_family() {
  static const HfLlamaFamily family = [] {
    auto f =
        hf_family("phi3", {"sliding_window", "original_max_position_embeddings", "partial_rotary_factor"}, 32064, 4096);
    f.window_on_every_layer = true;
    f.fused_projections = true;
    return f;
  }();
  return family;
}

// OLMo 2: Llama with norms after attention and MLP instead of before, and
// RMSNorm over all heads' queries (keys) together.
inline const HfLlamaFamily& hf_olmo2_family() {
  static const HfLlamaFamily family = [] {
    auto f = hf_family("olmo2", {"attention_bias"}, 50304, 2048);
    f.qk_norm = true;
    f.olmo2 = true;
    return f;
  }();
  return family;
}

inline const NameSet& hf_gemma_keys() {
  static const NameSet keys = {"hidden_activation",       "query_pre_attn_scalar", "attn_logit_softcapping",
                               "final_logit_softcapping", "sliding_window",        "sliding_window_pattern",
                               "cache_implementation",    "attention_bias"};
  return keys;
}

// Gemma 2: soft-capped attention scores and logits, every other layer windowed.
inline const HfLlamaFamily& hf_gemma2_family() {
  static const HfLlamaFamily family = [] {
    auto f = hf_family("gemma2", hf_gemma_keys(), 256000, 8192);
    f.gemma = true;
    f.default_tied = true;
    f.default_window_pattern = 2;
    return f;
  }();
  return family;
}

// Gemma 3: query/key norms, five windowed layers with their own RoPE base per full one.
inline const HfLlamaFamily& hf_gemma3_family() {
  static const HfLlamaFamily family = [] {
    auto keys = hf_gemma_keys();
    // _sliding_window_pattern is kept for older readers; layer_types decides.
    keys.insert({"rope_local_base_freq", "use_bidirectional_attention", "_sliding_window_pattern"});
    auto f = hf_family("gemma3", std::move(keys), 262208, 131072);
    f.qk_norm = true;
    f.gemma = true;
    f.default_tied = true;
    f.default_rope_base = 1000000.0;
    f.default_window_pattern = 6;
    f.local_rope = true;
    return f;
  }();
  return family;
}

// Each layer's sliding window (0: full attention), as transformers chooses
// it: the config's layer_types, else the family's rule.
inline std::vector<std::int64_t> hf_sliding_windows(const HfFolder& hf, const HfLlamaFamily& family,
                                                    std::int64_t n_layer, const std::string& config_file) {
  const auto window = hf.find_int("sliding_window");
  const auto windowed = [&] {
    require(window && *window > 0, "{}: windowed layers need a positive sliding_window, got {}", config_file,
            window ? std::to_string(*window) : std::string("none"));
    return *window;
  };
  std::vector<std::int64_t> windows(static_cast<std::size_t>(std::max<std::int64_t>(n_layer, 0)), 0);
  if (const auto types = hf.config().find("layer_types"); types != hf.config().end()) {
    require(types->is_array() && static_cast<std::int64_t>(types->size()) == n_layer,
            "{}: layer_types must list one kind per layer ({}), got {}", config_file, n_layer, types->dump());
    for (std::size_t i = 0; i < windows.size(); ++i) {
      const auto& type = (*types)[i];
      require(type == "full_attention" || type == "sliding_attention",
              "{}: layer_types entry {} is not supported (supported: full_attention, sliding_attention)", config_file,
              type.dump());
      if (type == "sliding_attention") windows[i] = windowed();
    }
  } else if (family.window_on_every_layer) {
    if (window) std::fill(windows.begin(), windows.end(), windowed());
  } else if (family.gemma) {
    const auto pattern = hf.find_int("sliding_window_pattern").value_or(family.default_window_pattern);
    require(pattern >= 1, "{}: sliding_window_pattern must be positive, got {}", config_file, pattern);
    for (std::size_t i = 0; i < windows.size(); ++i) {
      if ((static_cast<std::int64_t>(i) + 1) % pattern != 0) windows[i] = windowed();
    }
  } else if (hf.find_bool("use_sliding_window").value_or(false)) {
    // Qwen: the layers from max_window_layers on are windowed.
    const auto first = hf.find_int("max_window_layers").value_or(n_layer);
    for (std::size_t i = 0; i < windows.size(); ++i) {
      if (static_cast<std::int64_t>(i) >= first) windows[i] = windowed();
    }
  }
  if (std::all_of(windows.begin(), windows.end(), [](std::int64_t w) { return w == 0; })) windows.clear();
  return windows;
}

// rope_scaling as per-frequency divisors: none, linear (all by `factor`) or llama3.
inline std::vector<double> hf_rope_frequency_factors(const HfFolder& hf, std::int64_t rotary_dims, double rope_base,
                                                     const std::string& config_file) {
  const auto scaling = hf.config().value("rope_scaling", nlohmann::json());
  if (scaling.is_null()) return {};
  require(scaling.is_object(), "{}: rope_scaling must be an object or null", config_file);
  const auto type = scaling.contains("rope_type") ? scaling["rope_type"] : scaling.value("type", nlohmann::json());
  const auto scaling_type = type.is_string() ? type.get<std::string>() : type.dump();
  if (scaling_type == "default") return {};
  if (scaling_type == "llama3") return llama3_frequency_factors(scaling, rotary_dims, rope_base, config_file);
  require(scaling_type == "linear", "{}: rope_scaling of type '{}' is not supported (supported: linear, llama3)",
          config_file, scaling_type);
  for (const auto& [key, value] : scaling.items()) {
    require(key == "rope_type" || key == "type" || key == "factor",
            "{}: rope_scaling key '{}' is not known for type linear", config_file, key);
  }
  const auto factor = scaling.value("factor", nlohmann::json());
  require(factor.is_number() && factor.get<double>() > 0, "{}: rope_scaling of type linear needs a factor > 0",
          config_file);
  return std::vector<double>(static_cast<std::size_t>(std::max<std::int64_t>(rotary_dims / 2, 0)),
                             factor.get<double>());
}

// A soft-cap from the config: null or absent is none.
inline double hf_softcap(const HfFolder& hf, const char* key, const std::string& config_file) {
  const auto value = hf.config().value(key, nlohmann::json());
  if (value.is_null()) return 0.0;
  require(value.is_number() && value.get<double>() > 0, "{}: {} must be a positive number or null, got {}", config_file,
          key, value.dump());
  return value.get<double>();
}

inline DecoderModel load_hf_llama(const std::shared_ptr<const HfFolder>& folder, WeightStorage storage,
                                  const std::string& source, const HfLlamaFamily& family) {
  const auto& hf = *folder;
  const auto config_file = hf.folder() + "/config.json";
  NameSet read = {"num_hidden_layers", "hidden_size",       "num_attention_heads", "num_key_value_heads",
                  "head_dim",          "intermediate_size", "vocab_size",          "max_position_embeddings",
                  "rms_norm_eps",      "rope_theta",        "tie_word_embeddings", "hidden_act",
                  "rope_scaling",      "layer_types"};
  read.insert(family.extra_keys.begin(), family.extra_keys.end());
  require_known_config(hf, read, family.name);
  for (const char* key : {"attention_bias", "mlp_bias", "use_bidirectional_attention"}) {
    require(!hf.find_bool(key).value_or(false), "{}: {} true is not supported", config_file, key);
  }
  // Gemma reads hidden_activation (its hidden_act is a leftover); the others hidden_act.
  const auto activation = family.gemma ? hf.find_string("hidden_activation").value_or("gelu_pytorch_tanh")
                                       : hf.find_string("hidden_act").value_or("silu");
  const bool tanh_gelu = activation == "gelu_pytorch_tanh" || activation == "gelu_new";
  require(activation == "silu" || tanh_gelu,
          "{}: activation '{}' is not supported (supported: silu, gelu_pytorch_tanh)", config_file, activation);
  // Defaults are transformers' config defaults of the family.
  DecoderConfig c;
  c.architecture = Architecture::llama;
  c.family = family.name;
  c.qkv_bias = family.qkv_bias;
  c.qk_norm = family.qk_norm;
  c.qk_norm_across_heads = family.olmo2;
  c.n_layer = hf.get_int("num_hidden_layers");
  c.d_model = hf.get_int("hidden_size");
  c.n_head = hf.get_int("num_attention_heads");
  c.n_kv_head = hf.find_int("num_key_value_heads").value_or(c.n_head);
  c.head_dim = hf.find_int("head_dim").value_or(c.n_head > 0 ? c.d_model / c.n_head : 0);
  c.d_ff = hf.get_int("intermediate_size");
  c.vocab_size = hf.find_int("vocab_size").value_or(family.default_vocab_size);
  c.context_length = hf.find_int("max_position_embeddings").value_or(family.default_context_length);
  c.norm_eps = hf.find_double("rms_norm_eps").value_or(1e-6);
  c.rope_base = hf.find_double("rope_theta").value_or(family.default_rope_base);
  c.tied_embeddings = hf.find_bool("tie_word_embeddings").value_or(family.default_tied);
  c.mlp_activation = tanh_gelu ? MlpActivation::gelu_tanh : MlpActivation::silu;
  // RoPE over the first partial_rotary_factor of each head, truncated as transformers truncates it.
  const auto rotary_fraction = hf.find_double("partial_rotary_factor").value_or(1.0);
  require(rotary_fraction > 0.0 && rotary_fraction <= 1.0, "{}: partial_rotary_factor must be in (0, 1], got {}",
          config_file, rotary_fraction);
  const auto rotary_dims = static_cast<std::int64_t>(static_cast<double>(c.head_dim) * rotary_fraction);
  if (rotary_dims != c.head_dim) c.rotary_dims = rotary_dims;
  c.rope_frequency_factors = hf_rope_frequency_factors(hf, c.rotary_size(), c.rope_base, config_file);
  c.sliding_windows = hf_sliding_windows(hf, family, c.n_layer, config_file);
  if (family.gemma) {
    c.post_norms = true;
    c.norm_gain_offset = 1.0;
    c.embedding_scale = std::sqrt(static_cast<double>(c.d_model));
    const auto scalar = hf.find_double("query_pre_attn_scalar").value_or(256.0);
    require(scalar > 0, "{}: query_pre_attn_scalar must be positive, got {}", config_file, scalar);
    c.attention_scale = 1.0 / std::sqrt(scalar);
    c.attention_softcap = hf_softcap(hf, "attn_logit_softcapping", config_file);
    c.final_softcap = hf_softcap(hf, "final_logit_softcapping", config_file);
    if (family.local_rope) c.local_rope_base = hf.find_double("rope_local_base_freq").value_or(10000.0);
  }
  if (family.olmo2) {
    c.post_norms = true;
    c.pre_norms = false;
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", config_file, e.what());
  }

  HfWeightReader reader(folder, storage);
  const auto d = c.d_model, hd = c.head_dim;
  DecoderWeights w;
  w.token_embedding = reader.matrix("model.embed_tokens.weight", c.vocab_size, c.d_model);
  for (std::int64_t i = 0; i < c.n_layer; ++i) {
    const auto b = "model.layers." + std::to_string(i) + ".";
    DecoderLayerWeights layer;
    if (c.pre_norms) layer.attn_norm_weight = reader.read(b + "input_layernorm.weight", {d});
    layer.qkv_weight = family.fused_projections
                           ? reader.matrix(b + "self_attn.qkv_proj.weight", c.qkv_rows(), d)
                           : reader.stacked({b + "self_attn.q_proj.weight", b + "self_attn.k_proj.weight",
                                             b + "self_attn.v_proj.weight"},
                                            {c.n_head * hd, c.n_kv_head * hd, c.n_kv_head * hd}, d);
    if (c.qkv_bias) {
      layer.qkv_bias = torch::cat({reader.read(b + "self_attn.q_proj.bias", {c.n_head * hd}),
                                   reader.read(b + "self_attn.k_proj.bias", {c.n_kv_head * hd}),
                                   reader.read(b + "self_attn.v_proj.bias", {c.n_kv_head * hd})});
    }
    if (c.qk_norm) {
      const bool across = c.qk_norm_across_heads;
      layer.q_norm_weight = reader.read(b + "self_attn.q_norm.weight", {across ? c.n_head * hd : hd});
      layer.k_norm_weight = reader.read(b + "self_attn.k_norm.weight", {across ? c.n_kv_head * hd : hd});
    }
    layer.attn_out_weight = reader.matrix(b + "self_attn.o_proj.weight", d, c.n_head * hd);
    if (family.gemma || family.olmo2) {
      layer.attn_post_norm_weight = reader.read(b + "post_attention_layernorm.weight", {d});
      if (family.gemma) layer.mlp_norm_weight = reader.read(b + "pre_feedforward_layernorm.weight", {d});
      layer.mlp_post_norm_weight = reader.read(b + "post_feedforward_layernorm.weight", {d});
    } else {
      layer.mlp_norm_weight = reader.read(b + "post_attention_layernorm.weight", {d});
    }
    layer.mlp_in_weight =
        family.fused_projections
            ? reader.matrix(b + "mlp.gate_up_proj.weight", 2 * c.d_ff, d)
            : reader.stacked({b + "mlp.gate_proj.weight", b + "mlp.up_proj.weight"}, {c.d_ff, c.d_ff}, d);
    layer.mlp_out_weight = reader.matrix(b + "mlp.down_proj.weight", d, c.d_ff);
    w.layers.push_back(std::move(layer));
  }
  w.final_norm_weight = reader.read("model.norm.weight", {d});
  // A tied model may still carry a copy of the head; transformers ignores it, so do we.
  if (!c.tied_embeddings) w.unembedding = reader.matrix("lm_head.weight", c.vocab_size, d);
  // rotary_emb.inv_freq, in older checkpoints, is recomputed from rope_theta (transformers ignores the stored one).
  reader.require_all_read(family.name, [&](std::string_view name) {
    return ends_with(name, ".rotary_emb.inv_freq") || (c.tied_embeddings && name == "lm_head.weight");
  });
  return DecoderModel(c, std::move(w), source);
}

}  // namespace detail

// Every problem is an iglens::Error naming the folder or file and the tensor or key.
// Matrices kept as stored hold `folder` (and its mappings) for as long as the model lives.
inline DecoderModel load_hf_decoder(std::shared_ptr<const HfFolder> folder, WeightStorage storage) {
  require(folder != nullptr, "load_hf_decoder: no folder");
  const auto& hf = *folder;
  const auto source = "Hugging Face folder '" + hf.folder() + "'";
  // Each checkpoint class, the model_type that stands for it in configs
  // without `architectures`, and its family (none: a loader of its own).
  struct Checkpoint {
    const char* architecture;
    const char* model_type;
    const detail::HfLlamaFamily* family;
  };
  const Checkpoint checkpoints[] = {{"GPT2LMHeadModel", "gpt2", nullptr},
                                    {"LlamaForCausalLM", "llama", &detail::hf_llama_family()},
                                    {"MistralForCausalLM", "mistral", &detail::hf_mistral_family()},
                                    {"Qwen2ForCausalLM", "qwen2", &detail::hf_qwen2_family()},
                                    {"Qwen3ForCausalLM", "qwen3", &detail::hf_qwen3_family()},
                                    {"Gemma2ForCausalLM", "gemma2", &detail::hf_gemma2_family()},
                                    {"Gemma3ForCausalLM", "gemma3_text", &detail::hf_gemma3_family()},
                                    {"Phi3ForCausalLM", "phi3", &detail::hf_phi3_family()},
                                    {"Olmo2ForCausalLM", "olmo2", &detail::hf_olmo2_family()},
                                    {"GPTNeoXForCausalLM", "gpt_neox", nullptr}};
  auto architectures = hf.architectures();
  if (architectures.empty()) {
    const auto type = hf.find_string("model_type").value_or("");
    for (const auto& checkpoint : checkpoints) {
      if (type == checkpoint.model_type) architectures.push_back(checkpoint.architecture);
    }
  }
  for (const auto& name : architectures) {
    for (const auto& checkpoint : checkpoints) {
      if (name != checkpoint.architecture) continue;
      if (checkpoint.family != nullptr) return detail::load_hf_llama(folder, storage, source, *checkpoint.family);
      return name == "GPTNeoXForCausalLM" ? detail::load_hf_gpt_neox(folder, storage, source)
                                          : detail::load_hf_gpt2(folder, storage, source);
    }
  }
  std::string supported;
  for (const auto& checkpoint : checkpoints) {
    supported += (supported.empty() ? "" : ", ") + std::string(checkpoint.architecture);
  }
  fail("{}/config.json: architecture '{}' in config.json is not supported (supported: {})", hf.folder(),
       architectures.empty() ? std::string("(none)") : architectures.front(), supported);
}

// Every weight as float32: the model does not need the folder once loaded.
inline DecoderModel load_hf_decoder(const HfFolder& hf) {
  // A pointer that does not own the folder: float copies read it only while loading.
  return load_hf_decoder(std::shared_ptr<const HfFolder>(std::shared_ptr<const HfFolder>(), &hf),
                         WeightStorage::float_copy);
}

inline DecoderModel load_hf_decoder(const std::string& folder, WeightStorage storage = WeightStorage::float_copy) {
  return load_hf_decoder(std::make_shared<const HfFolder>(HfFolder::open(folder)), storage);
}

}  // namespace iglens
