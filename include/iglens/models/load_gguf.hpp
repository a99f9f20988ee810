#pragma once
// A native decoder from a GGUF file (llama.cpp's format), architecture
// "gpt2", "llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "olmo2" or "gptneox". Every tensor, quantized or not,
// is dequantized to float32 straight into the decoder's weight memory; DecoderModel::to(kFloat64) widens them exactly.
// With WeightStorage::as_stored, every matrix (each layer's four, the embedding, the head) stays in the mapped file
// instead and is dequantized the same way while it is multiplied, a tile of rows at a time (stored_weight.hpp): the
// same float32 values, multiplied in other blocks, so the same results within rounding.
//
// GGUF lists shapes in ggml order (innermost dimension first), the reverse of
// torch's: a ggml [576, 1536] tensor is a torch [1536, 576] matrix.
// llama.cpp's converter reorders the rows of Q and K within each head from
// Hugging Face's half-split rotary pairs (i, i + head_dim/2) to adjacent
// pairs (2i, 2i + 1); the loader puts them back, so the decoder keeps
// Hugging Face's rotate_half convention.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/detail/tensor_text.hpp"
#include "iglens/error.hpp"
#include "iglens/model_files/gguf.hpp"
#include "iglens/models/decoder.hpp"
#include "iglens/models/decoder_config.hpp"
#include "iglens/models/detail/gguf_accounting.hpp"
#include "iglens/weights/stored_weight.hpp"

namespace iglens {
namespace detail {

// Where Hugging Face's half-split rotary order takes each Q or K row of
// `heads` heads from llama.cpp's adjacent-pair order: within a head, row
// t * head_dim/2 + j is file row 2j + t.
inline torch::Tensor rotary_row_order(std::int64_t heads, std::int64_t head_dim) {
  return torch::arange(heads * head_dim, torch::kLong).view({heads, head_dim / 2, 2}).transpose(1, 2).reshape({-1});
}

// One block of rows of a matrix: a tensor of the file, whose rows are in
// llama.cpp's rotary pair order for `rotary_heads` heads (0: as they are).
struct MatrixRows {
  std::string name;
  std::int64_t rows = 0;
  std::int64_t rotary_heads = 0;
};

class GgufWeightReader {
 public:
  // `file` must own the file where matrices are kept as stored; a non-owning pointer serves float copies.
  GgufWeightReader(std::shared_ptr<const GgufFile> file, WeightStorage storage)
      : owner_(std::move(file)), file_(*owner_), storage_(storage) {}

  // The tensor's shape in torch order, or empty when the file lacks it.
  std::vector<std::int64_t> shape_of(const std::string& name) const {
    const auto* tensor = file_.find_tensor(name);
    if (tensor == nullptr) return {};
    return {tensor->shape.rbegin(), tensor->shape.rend()};
  }

  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }

  // A tensor of the expected (torch-order) shape as float32.
  torch::Tensor read(const std::string& name, const std::vector<std::int64_t>& shape) {
    auto out = torch::empty(shape, torch::kFloat32);
    file_.dequantize(checked(name, shape), out.data_ptr<float>());
    return out;
  }

  // The matrix [rows of all parts, cols] that `parts` stack: dequantized now,
  // or kept as stored and dequantized by the same code when it is used.
  StoredWeight stacked(const std::vector<MatrixRows>& parts, std::int64_t cols, std::int64_t head_dim) {
    std::vector<std::pair<std::int64_t, StoredWeight::FillRows>> fills;
    std::int64_t rows = 0;
    std::uint64_t bytes = 0;
    std::vector<torch::ScalarType> exact;
    for (const auto& part : parts) {
      const auto* tensor = &checked(part.name, {part.rows, cols});
      fills.emplace_back(part.rows, [file = owner_, tensor](std::int64_t first, std::int64_t count, float* out) {
        file->dequantize_rows(*tensor, first, count, out);
      });
      rows += part.rows;
      bytes += tensor->n_bytes;
      exact.push_back(tensor->type == GgmlType::F16    ? torch::kHalf
                      : tensor->type == GgmlType::BF16 ? torch::kBFloat16
                                                       : torch::kFloat32);
    }
    // Only Q and K of llama files are reordered; every other matrix keeps the file's order.
    torch::Tensor row_order;
    if (std::any_of(parts.begin(), parts.end(), [](const MatrixRows& part) { return part.rotary_heads > 0; })) {
      std::vector<torch::Tensor> order;
      std::int64_t first = 0;
      for (const auto& part : parts) {
        order.push_back(first + (part.rotary_heads > 0 ? rotary_row_order(part.rotary_heads, head_dim)
                                                       : torch::arange(part.rows, torch::kLong)));
        first += part.rows;
      }
      row_order = torch::cat(order);
    }
    return StoredWeight({rows, cols}, StoredWeight::stacked_fill(std::move(fills), cols), std::move(row_order), bytes,
                        StoredWeight::stacked_exact_dtype(exact))
        .held_as(storage_);
  }

  // One tensor of the file as a matrix; kept as stored, a forward pass
  // converts only the rows it reads of a table (the token embedding).
  StoredWeight matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    return stacked({MatrixRows{name, rows}}, cols, 0);
  }

  // The rows of token_embd.weight: the vocabulary size.
  std::int64_t embedding_rows(std::int64_t d_model) const {
    const auto shape = shape_of("token_embd.weight");
    require(!shape.empty(), "model file '{}' has no tensor 'token_embd.weight'", file_.path());
    require(shape.size() == 2, "model file '{}': tensor 'token_embd.weight' has shape {}, expected [vocab, {}]",
            file_.path(), shape_string(shape), d_model);
    return shape[0];
  }

  // Whether `copy` holds exactly `original`'s data (type, shape and bytes):
  // then it is read as that tensor, without a second copy in memory.
  bool duplicates(const std::string& copy, const std::string& original) {
    const auto* a = file_.find_tensor(copy);
    const auto* b = file_.find_tensor(original);
    if (a == nullptr || b == nullptr || a->type != b->type || a->shape != b->shape || a->n_bytes != b->n_bytes) {
      return false;
    }
    if (!std::equal(file_.tensor_data(*a), file_.tensor_data(*a) + a->n_bytes, file_.tensor_data(*b))) return false;
    used_.insert(copy);
    return true;
  }

  // After loading: a tensor nobody read would be silently ignored.
  void require_all_read(std::string_view decoder) const { require_every_tensor_used(file_, used_, decoder); }

 private:
  // The tensor, checked to exist with this (torch-order) shape and a type
  // IG-Lens dequantizes, and counted as read.
  const GgufTensor& checked(const std::string& name, const std::vector<std::int64_t>& shape) {
    require(has(name), "model file '{}' has no tensor '{}'", file_.path(), name);
    const auto actual = shape_of(name);
    require(actual == shape, "model file '{}': tensor '{}' has shape {} (torch order), but the metadata implies {}",
            file_.path(), name, shape_string(actual), shape_string(shape));
    const auto& tensor = file_.tensor(name);
    std::uint64_t numel = 0;
    checked_layout(file_.file_size(), file_.path(), tensor, numel);
    used_.insert(name);
    return tensor;
  }

  std::shared_ptr<const GgufFile> owner_;
  const GgufFile& file_;
  WeightStorage storage_;
  std::set<std::string, std::less<>> used_;
};

// A GGUF architecture that the decoder computes, as data.
struct GgufFamily {
  std::string name;  // general.architecture, and the prefix of its keys
  Architecture architecture = Architecture::llama;
  bool qkv_bias = false;       // blk.N.attn_{q,k,v}.bias
  bool qk_norm = false;        // blk.N.attn_{q,k}_norm.weight
  bool permuted_rope = false;  // llama.cpp's converter stores Q and K rows in adjacent-pair order (llama only)
  // Gemma 2 / 3, as llama.cpp computes them: norms after attention and MLP
  // (post_attention_norm, post_ffw_norm; every gain stored as 1 + w by the
  // converter), embeddings times sqrt(d), GeGLU, every n-th layer full and
  // the others windowed, the windowed ones with RoPE base 10000 (Gemma 3).
  std::int64_t gemma_window_pattern = 0;  // 0: not Gemma
  bool local_rope = false;
  std::int64_t large_model_layers = 0;  // the 27B model: queries scaled by 1 / sqrt(d / heads), not head_dim
  // Phi-3: one attn_qkv (Q, K, V rows) and one ffn_up holding the gate rows, then the up rows; its
  // attention.sliding_window (0: none) on every layer.
  bool phi3 = false;
  // OLMo 2: post_attention_norm and post_ffw_norm only (no attn_norm, ffn_norm), attn_q_norm and attn_k_norm
  // over the whole projection.
  bool olmo2 = false;
};

inline const std::vector<GgufFamily>& gguf_families() {
  // A family by its name and decoder; `features` sets what it adds by name.
  const auto family = [](const char* name, Architecture architecture, void (*features)(GgufFamily&)) {
    GgufFamily f;
    f.name = name;
    f.architecture = architecture;
    features(f);
    return f;
  };
  static const std::vector<GgufFamily> families = {
      // GPT-2 and GPT-NeoX have a loader of their own (load_gguf_layer_norm_decoder): the features are the llama
      // decoder's.
      family("gpt2", Architecture::gpt2, [](GgufFamily&) {}),
      family("llama", Architecture::llama, [](GgufFamily& f) { f.permuted_rope = true; }),
      // Qwen2 / Qwen2.5 and Qwen3: the converter keeps Q and K in Hugging Face's order (llama.cpp's NeoX rotary).
      family("qwen2", Architecture::llama, [](GgufFamily& f) { f.qkv_bias = true; }),
      family("qwen3", Architecture::llama, [](GgufFamily& f) { f.qk_norm = true; }),
      family("gemma2", Architecture::llama,
             [](GgufFamily& f) {
               f.gemma_window_pattern = 2;
               f.large_model_layers = 46;
             }),
      family("gemma3", Architecture::llama,
             [](GgufFamily& f) {
               f.qk_norm = true;
               f.gemma_window_pattern = 6;
               f.local_rope = true;
               f.large_model_layers = 62;
             }),
      // The converter keeps Phi-3's and OLMo 2's Q and K in Hugging Face's order (llama.cpp's NeoX rotary).
      family("phi3", Architecture::llama, [](GgufFamily& f) { f.phi3 = true; }),
      family("olmo2", Architecture::llama,
             [](GgufFamily& f) {
               f.qk_norm = true;
               f.olmo2 = true;
             }),
      family("gptneox", Architecture::gpt_neox, [](GgufFamily&) {}),
  };
  return families;
}

// llama.cpp's gpt2 and gptneox: LayerNorms, projections and MLP with biases,
// one attn_qkv of Q, K and V rows.
// gpt2: learned positions; the converter writes GPT-2's Conv1D weights
// transposed to [out, in] and, for the head, a copy of the token embedding as
// output.weight (quantised on its own where the file is), which llama.cpp
// reads when present.
// gptneox: the converter reorders GPT-NeoX's per-head Q/K/V rows into Q, K,
// V; RoPE over rope.dimension_count of each head (required: without it a
// reader would rotate all of them), attention and MLP in parallel where
// use_parallel_residual says so. The file does not say which GELU: Pythia's
// exact one, as transformers computes it (llama.cpp uses the tanh form).
inline DecoderModel load_gguf_layer_norm_decoder(const std::shared_ptr<const GgufFile>& file_owner,
                                                 WeightStorage storage, const std::string& source,
                                                 const GgufFamily& family) {
  const auto& file = *file_owner;
  const auto& path = file.path();
  const bool neox = family.architecture == Architecture::gpt_neox;
  const auto key = [&](const char* name) { return family.name + "." + name; };
  std::set<std::string, std::less<>> read = {"block_count",
                                             "embedding_length",
                                             "feed_forward_length",
                                             "attention.head_count",
                                             "attention.layer_norm_epsilon",
                                             "context_length"};
  if (neox) read.insert({"rope.dimension_count", "rope.freq_base", "use_parallel_residual"});
  require_known_metadata(file, family.name, read);
  DecoderConfig c;
  c.architecture = family.architecture;
  c.family = family.name;
  c.mlp_activation = neox ? MlpActivation::gelu : MlpActivation::gelu_tanh;
  c.n_layer = file.get_integer(key("block_count"));
  c.d_model = file.get_integer(key("embedding_length"));
  c.d_ff = file.get_integer(key("feed_forward_length"));
  c.n_head = file.get_integer(key("attention.head_count"));
  c.n_kv_head = c.n_head;
  c.head_dim = c.n_head > 0 ? c.d_model / c.n_head : 0;
  c.norm_eps = file.get_number(key("attention.layer_norm_epsilon"));
  c.context_length = file.get_integer(key("context_length"));
  if (neox) {
    c.rope_base = file.find_number(key("rope.freq_base")).value_or(10000.0);
    const auto rope_dims = file.get_integer(key("rope.dimension_count"));
    if (rope_dims != c.head_dim) c.rotary_dims = rope_dims;
    c.parallel_residual = file.find_bool(key("use_parallel_residual")).value_or(true);
  }
  GgufWeightReader reader(file_owner, storage);
  c.vocab_size = reader.embedding_rows(c.d_model);
  c.tied_embeddings = !reader.has("output.weight") || reader.duplicates("output.weight", "token_embd.weight");
  try {
    c.validate();
  } catch (const Error& e) {
    fail("model file '{}': {}", path, e.what());
  }
  const auto d = c.d_model;
  DecoderWeights w;
  w.token_embedding = reader.matrix("token_embd.weight", c.vocab_size, d);
  if (!neox) w.position_embedding = reader.read("position_embd.weight", {c.context_length, d});
  for (std::int64_t i = 0; i < c.n_layer; ++i) {
    const auto b = "blk." + std::to_string(i) + ".";
    DecoderLayerWeights layer;
    layer.attn_norm_weight = reader.read(b + "attn_norm.weight", {d});
    layer.attn_norm_bias = reader.read(b + "attn_norm.bias", {d});
    layer.qkv_weight = reader.matrix(b + "attn_qkv.weight", 3 * d, d);
    layer.qkv_bias = reader.read(b + "attn_qkv.bias", {3 * d});
    layer.attn_out_weight = reader.matrix(b + "attn_output.weight", d, d);
    layer.attn_out_bias = reader.read(b + "attn_output.bias", {d});
    layer.mlp_norm_weight = reader.read(b + "ffn_norm.weight", {d});
    layer.mlp_norm_bias = reader.read(b + "ffn_norm.bias", {d});
    layer.mlp_in_weight = reader.matrix(b + "ffn_up.weight", c.d_ff, d);
    layer.mlp_in_bias = reader.read(b + "ffn_up.bias", {c.d_ff});
    layer.mlp_out_weight = reader.matrix(b + "ffn_down.weight", d, c.d_ff);
    layer.mlp_out_bias = reader.read(b + "ffn_down.bias", {d});
    w.layers.push_back(std::move(layer));
  }
  w.final_norm_weight = reader.read("output_norm.weight", {d});
  w.final_norm_bias = reader.read("output_norm.bias", {d});
  if (!c.tied_embeddings) w.unembedding = reader.matrix("output.weight", c.vocab_size, d);
  reader.require_all_read(family.name);
  return DecoderModel(c, std::move(w), source);
}

inline DecoderModel load_gguf_llama(const std::shared_ptr<const GgufFile>& file_owner, WeightStorage storage,
                                    const std::string& source, const GgufFamily& family) {
  const auto& file = *file_owner;
  const auto& path = file.path();
  const auto key = [&](const char* name) { return family.name + "." + name; };
  // The keys read below; every other key of the architecture is refused unless it is off.
  const bool gemma = family.gemma_window_pattern > 0;
  std::set<std::string, std::less<>> read = {"block_count",
                                             "embedding_length",
                                             "feed_forward_length",
                                             "attention.head_count",
                                             "attention.head_count_kv",
                                             "attention.key_length",
                                             "attention.value_length",
                                             "attention.layer_norm_rms_epsilon",
                                             "rope.freq_base",
                                             "context_length",
                                             "rope.dimension_count"};
  if (family.phi3) read.insert("attention.sliding_window");
  if (gemma) {
    read.insert({"attention.sliding_window", "attn_logit_softcapping", "final_logit_softcapping", "rope.scaling.type",
                 "rope.scaling.factor"});
  }
  require_known_metadata(file, family.name, read);
  DecoderConfig c;
  c.architecture = Architecture::llama;
  c.family = family.name;
  c.qkv_bias = family.qkv_bias;
  c.qk_norm = family.qk_norm;
  c.qk_norm_across_heads = family.olmo2;
  c.post_norms = family.olmo2;
  c.pre_norms = !family.olmo2;
  c.n_layer = file.get_integer(key("block_count"));
  c.d_model = file.get_integer(key("embedding_length"));
  c.d_ff = file.get_integer(key("feed_forward_length"));
  c.n_head = file.get_integer(key("attention.head_count"));
  c.n_kv_head = file.find_integer(key("attention.head_count_kv")).value_or(c.n_head);
  c.head_dim = file.find_integer(key("attention.key_length")).value_or(c.n_head > 0 ? c.d_model / c.n_head : 0);
  c.norm_eps = file.get_number(key("attention.layer_norm_rms_epsilon"));
  c.rope_base = file.find_number(key("rope.freq_base")).value_or(10000.0);
  c.context_length = file.get_integer(key("context_length"));
  const auto value_length = file.find_integer(key("attention.value_length")).value_or(c.head_dim);
  require(value_length == c.head_dim, "model file '{}': value length {} differs from key length {} (not supported)",
          path, value_length, c.head_dim);
  // RoPE over the first rope_dims of each head (llama.cpp's n_rot); the converter's pair order for llama
  // only holds for all of them.
  const auto rope_dims = file.find_integer(key("rope.dimension_count")).value_or(c.head_dim);
  require(rope_dims == c.head_dim || (!family.permuted_rope && rope_dims > 0 && rope_dims < c.head_dim),
          "model file '{}': RoPE over {} of {} head dimensions is not supported", path, rope_dims, c.head_dim);
  if (rope_dims != c.head_dim) c.rotary_dims = rope_dims;
  if (gemma) {
    c.post_norms = true;
    c.mlp_activation = MlpActivation::gelu_tanh;
    c.embedding_scale = std::sqrt(static_cast<double>(c.d_model));
    c.attention_scale =
        1.0 / std::sqrt(static_cast<double>(
                  c.n_layer == family.large_model_layers && c.n_head > 0 ? c.d_model / c.n_head : c.head_dim));
    c.attention_softcap = file.find_number(key("attn_logit_softcapping")).value_or(0.0);
    c.final_softcap = file.find_number(key("final_logit_softcapping")).value_or(0.0);
    // llama.cpp's default window for Gemma 2 files without the key.
    const auto window = file.find_integer(key("attention.sliding_window")).value_or(4096);
    c.sliding_windows.assign(static_cast<std::size_t>(std::max<std::int64_t>(c.n_layer, 0)), window);
    for (std::int64_t i = family.gemma_window_pattern - 1; i < c.n_layer; i += family.gemma_window_pattern) {
      c.sliding_windows[static_cast<std::size_t>(i)] = 0;
    }
    if (family.local_rope) c.local_rope_base = 10000.0;
    const auto scaling = file.find_string(key("rope.scaling.type")).value_or("none");
    require(scaling == "none" || scaling == "linear",
            "model file '{}': metadata '{}' = {} asks for RoPE scaling, which is not supported (supported: linear)",
            path, key("rope.scaling.type"), scaling);
    const auto factor = file.find_number(key("rope.scaling.factor")).value_or(0.0);
    // The full layers' frequencies divided by the factor (0 and 1: none); the windowed ones keep theirs.
    if (scaling == "linear" && factor != 0.0 && factor != 1.0) {
      c.rope_frequency_factors.assign(static_cast<std::size_t>(std::max<std::int64_t>(c.rotary_size() / 2, 0)), factor);
    }
  }
  if (family.phi3) {
    // Transformers applies the window, llama.cpp (0.3.16) does not; the model was trained with it.
    const auto window = file.find_integer(key("attention.sliding_window")).value_or(0);
    require(window >= 0, "model file '{}': metadata '{}' = {} is negative", path, key("attention.sliding_window"),
            window);
    if (window > 0) c.sliding_windows.assign(static_cast<std::size_t>(std::max<std::int64_t>(c.n_layer, 0)), window);
  }

  GgufWeightReader reader(file_owner, storage);
  // The converter stored Gemma's gains as 1 + w already.
  // Llama 3's frequency scaling has no key: the converter writes it as this
  // tensor of per-frequency divisors.
  if (reader.has("rope_freqs.weight")) {
    const auto factors = reader.read("rope_freqs.weight", {c.rotary_size() / 2}).to(torch::kFloat64);
    c.rope_frequency_factors.assign(factors.data_ptr<double>(), factors.data_ptr<double>() + factors.numel());
  }
  c.vocab_size = reader.embedding_rows(c.d_model);
  // No output.weight: the head is the token embedding.
  c.tied_embeddings = !reader.has("output.weight");
  const auto vocab_key = file.find_integer(key("vocab_size"));
  require(!vocab_key || *vocab_key == c.vocab_size,
          "model file '{}': metadata '{}' = {} but tensor 'token_embd.weight' has {} rows", path, key("vocab_size"),
          vocab_key.value_or(0), c.vocab_size);
  try {
    c.validate();
  } catch (const Error& e) {
    fail("model file '{}': {}", path, e.what());
  }

  const auto d = c.d_model, hd = c.head_dim, q_rows = c.n_head * hd, kv_rows = c.n_kv_head * hd;
  DecoderWeights w;
  w.token_embedding = reader.matrix("token_embd.weight", c.vocab_size, d);
  for (std::int64_t i = 0; i < c.n_layer; ++i) {
    const auto b = "blk." + std::to_string(i) + ".";
    DecoderLayerWeights layer;
    if (c.pre_norms) layer.attn_norm_weight = reader.read(b + "attn_norm.weight", {d});
    // Q and K biases in Hugging Face's half-split rotary order (the matrices' rows: MatrixRows).
    const auto rotary_bias = [&](const std::string& name, std::int64_t heads) {
      auto bias = reader.read(name, {heads * hd});
      return family.permuted_rope ? bias.index_select(0, rotary_row_order(heads, hd)) : bias;
    };
    if (family.phi3) {
      layer.qkv_weight = reader.matrix(b + "attn_qkv.weight", c.qkv_rows(), d);
    } else {
      const auto rotary = [&](std::int64_t heads) { return family.permuted_rope ? heads : 0; };
      layer.qkv_weight = reader.stacked({{b + "attn_q.weight", q_rows, rotary(c.n_head)},
                                         {b + "attn_k.weight", kv_rows, rotary(c.n_kv_head)},
                                         {b + "attn_v.weight", kv_rows}},
                                        d, hd);
    }
    if (c.qkv_bias) {
      layer.qkv_bias =
          torch::cat({rotary_bias(b + "attn_q.bias", c.n_head), rotary_bias(b + "attn_k.bias", c.n_kv_head),
                      reader.read(b + "attn_v.bias", {kv_rows})});
    }
    if (c.qk_norm) {
      const bool across = c.qk_norm_across_heads;
      layer.q_norm_weight = reader.read(b + "attn_q_norm.weight", {across ? q_rows : hd});
      layer.k_norm_weight = reader.read(b + "attn_k_norm.weight", {across ? kv_rows : hd});
    }
    layer.attn_out_weight = reader.matrix(b + "attn_output.weight", d, q_rows);
    if (c.post_norms) layer.attn_post_norm_weight = reader.read(b + "post_attention_norm.weight", {d});
    if (c.pre_norms) layer.mlp_norm_weight = reader.read(b + "ffn_norm.weight", {d});
    if (c.post_norms) layer.mlp_post_norm_weight = reader.read(b + "post_ffw_norm.weight", {d});
    if (family.phi3) {
      layer.mlp_in_weight = reader.matrix(b + "ffn_up.weight", 2 * c.d_ff, d);
    } else {
      layer.mlp_in_weight = reader.stacked({{b + "ffn_gate.weight", c.d_ff}, {b + "ffn_up.weight", c.d_ff}}, d, 0);
    }
    layer.mlp_out_weight = reader.matrix(b + "ffn_down.weight", d, c.d_ff);
    w.layers.push_back(std::move(layer));
  }
  w.final_norm_weight = reader.read("output_norm.weight", {d});
  if (!c.tied_embeddings) w.unembedding = reader.matrix("output.weight", c.vocab_size, d);
  reader.require_all_read(family.name);
  return DecoderModel(c, std::move(w), source);
}

}  // namespace detail

// The family of the file's general.architecture, or an Error naming it as unsupported (reads no tensor).
inline const detail::GgufFamily& gguf_decoder_family(const GgufFile& file) {
  const auto architecture = file.get_string("general.architecture");
  std::string names;
  for (const auto& family : detail::gguf_families()) {
    if (family.name == architecture) return family;
    names += (names.empty() ? "" : ", ") + family.name;
  }
  fail("model file '{}': architecture '{}' is not supported (supported: {})", file.path(), architecture, names);
}

// Every problem is an iglens::Error naming the file and the tensor or key.
// Matrices kept as stored hold `file` (and its mapping) for as long as the model lives.
inline DecoderModel load_gguf_decoder(std::shared_ptr<const GgufFile> file, WeightStorage storage) {
  require(file != nullptr, "load_gguf_decoder: no file");
  const auto& family = gguf_decoder_family(*file);
  const auto source = "GGUF file '" + file->path() + "'";
  return family.architecture == Architecture::llama
             ? detail::load_gguf_llama(file, storage, source, family)
             : detail::load_gguf_layer_norm_decoder(file, storage, source, family);
}

// Every weight as float32: the model does not need the file once loaded.
inline DecoderModel load_gguf_decoder(const GgufFile& file) {
  // A pointer that does not own the file: float copies read it only while loading.
  return load_gguf_decoder(std::shared_ptr<const GgufFile>(std::shared_ptr<const GgufFile>(), &file),
                           WeightStorage::float_copy);
}

inline DecoderModel load_gguf_decoder(const std::string& path, WeightStorage storage = WeightStorage::float_copy) {
  return load_gguf_decoder(std::make_shared<const GgufFile>(GgufFile::open(path)), storage);
}

}  // namespace iglens
