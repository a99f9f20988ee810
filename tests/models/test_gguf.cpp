// Native Llama decoders from GGUF files against transformers: a tiny F32 file
// written the way llama.cpp's converter lays it out, and the real SmolLM2-135M
// (Q4_1 / Q8_0) that transformers dequantizes and runs in float64.
// (The GGUF and HF readers cannot share a translation unit yet: both define
// detail::half_to_float. test_hf.cpp checks the HF folder saved from SmolLM2.)

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "iglens/lens/lens.hpp"
#include "iglens/models/load_gguf.hpp"
#include "iglens/models/load_hf.hpp"
#include "kept_weights.hpp"
#include "reference.hpp"

using namespace iglens;
using iglens::testing::ids_tensor;
using iglens::testing::max_abs_diff;

namespace {

// The GGUF file the reference was computed from, as its stamp records it.
std::string smollm2_path() {
  return iglens::testing::read_json(iglens::testing::reference_dir() + "/smollm2/stamp.json").at("gguf");
}

// Logits and every residual layer of `model` in float64 against a tiny reference.
void check_float64(DecoderModel& model, const std::string& name, const std::string& group, double tolerance) {
  model.to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  for (const auto& sequence : iglens::testing::tiny_reference(name, group)) {
    CAPTURE(name, sequence.ids.size());
    const auto ids = ids_tensor(sequence.ids);
    CHECK(max_abs_diff(model.logits(ids)[0], sequence.logits) <= tolerance);
    CHECK(max_abs_diff(model.residual_stream(ids).squeeze(1), sequence.residual_stream) <= tolerance);
  }
}

// The file loaded twice, its matrices converted at load and kept as stored.
iglens::testing::KeptBytes check_kept_as_stored(const std::string& path) {
  CAPTURE(path);
  auto floats = load_gguf_decoder(path);
  auto stored = load_gguf_decoder(path, WeightStorage::as_stored);
  return iglens::testing::check_kept_matches_float(floats, stored);
}

// One SmolLM2 load for all test cases: it is the slow part.
DecoderModel& smollm2() {
  static DecoderModel model = load_gguf_decoder(smollm2_path());
  return model;
}

}  // namespace

TEST_CASE("Tiny GGUF in llama.cpp's Q/K row order equals transformers on the HF folder", "[models][gguf]") {
  const auto dir = iglens::testing::reference_dir() + "/tiny/";
  auto model = load_gguf_decoder(dir + "llama_untied.gguf");
  CHECK_FALSE(model.config().tied_embeddings);
  CHECK(model.config().n_kv_head == 2);
  CHECK(model.config().rope_base == 100000.0);
  check_float64(model, "llama_untied", "tiny", 1e-8);
}

TEST_CASE("GPT-2 GGUF files with a head of their own: a copy of the embedding is tied, another head is used",
          "[models][gguf]") {
  const auto dir = iglens::testing::reference_dir() + "/tiny/";
  auto copy = load_gguf_decoder(dir + "gpt2_head_copy.gguf");
  CHECK(copy.config().tied_embeddings);
  check_float64(copy, "gpt2", "tiny", 1e-8);
  auto untied = load_gguf_decoder(dir + "gpt2_untied.gguf");
  CHECK_FALSE(untied.config().tied_embeddings);
  check_float64(untied, "gpt2_untied", "tiny", 1e-8);
}

TEST_CASE("A Mistral folder converted by llama.cpp's own converter equals transformers", "[models][gguf]") {
  // The converter writes MistralForCausalLM as architecture llama, with key and value lengths and the
  // vocabulary size among its keys: everything in the file is accounted for and the numbers agree.
  auto model = load_gguf_decoder(iglens::testing::reference_dir() + "/converted/mistral.gguf");
  CHECK_FALSE(model.config().tied_embeddings);
  CHECK(model.config().n_layer == 3);
  check_float64(model, "mistral", "converted", 1e-8);
}

TEST_CASE("A Llama 3 GGUF made by llama.cpp's converter equals transformers, with its frequency scaling",
          "[models][gguf]") {
  // The converter stores Llama 3's RoPE scaling as rope_freqs.weight, one divisor per frequency in
  // float32, computed from float32 frequencies: the divisors are the folder's (float64) ones within two
  // float32 roundings (2^-22 of themselves), and the model is transformers' within what that moves.
  const auto dir = iglens::testing::reference_dir() + "/converted/";
  auto model = load_gguf_decoder(dir + "llama3.gguf");
  const auto folder_factors = load_hf_decoder(dir + "llama3").config().rope_frequency_factors;
  const auto& factors = model.config().rope_frequency_factors;
  REQUIRE(factors.size() == folder_factors.size());
  for (std::size_t i = 0; i < factors.size(); ++i) {
    CHECK(std::abs(factors[i] - folder_factors[i]) <= folder_factors[i] * std::ldexp(1.0, -22));
  }
  check_float64(model, "llama3", "converted", 1e-6);
}

TEST_CASE("A Qwen2 GGUF made by llama.cpp's converter equals transformers, biases and rotary order included",
          "[models][gguf]") {
  // Architecture qwen2: qwen2.* keys, blk.N.attn_{q,k,v}.bias, and Q/K rows kept in Hugging Face's
  // half-split order (the converter permutes them for llama only).
  auto model = load_gguf_decoder(iglens::testing::reference_dir() + "/converted/qwen2.gguf");
  CHECK(model.config().family == "qwen2");
  CHECK(model.config().qkv_bias);
  check_float64(model, "qwen2", "converted", 1e-8);
}

TEST_CASE("A Qwen3 GGUF made by llama.cpp 0.3.16's converter equals transformers 4.57", "[models][gguf]") {
  auto model = load_gguf_decoder(iglens::testing::reference_dir() + "/current/qwen3.gguf");
  CHECK(model.config().family == "qwen3");
  CHECK(model.config().qk_norm);
  check_float64(model, "qwen3", "current", 1e-8);
}

TEST_CASE("Gemma 3 and Gemma 2 GGUF files made by llama.cpp 0.3.16's converter equal transformers 4.57",
          "[models][gguf]") {
  // The converter stores every norm gain as 1 + w and leaves the windows to llama.cpp's rule (every sixth
  // layer full for Gemma 3, every second for Gemma 2); its linear RoPE scaling applies to the full layers.
  auto gemma3 = load_gguf_decoder(iglens::testing::reference_dir() + "/current/gemma3.gguf");
  CHECK(gemma3.config().family == "gemma3");
  CHECK(gemma3.config().sliding_windows == std::vector<std::int64_t>{4, 4, 4, 4, 4, 0, 4});
  CHECK(gemma3.config().rope_frequency_factors == std::vector<double>(8, 8.0));
  check_float64(gemma3, "gemma3_gguf", "current", 1e-8);
  auto gemma2 = load_gguf_decoder(iglens::testing::reference_dir() + "/current/gemma2.gguf");
  CHECK((gemma2.config().attention_softcap == 2.0 && gemma2.config().final_softcap == 3.0));
  check_float64(gemma2, "gemma2_gguf", "current", 1e-8);
}

TEST_CASE("A GPT-2 GGUF made by llama.cpp 0.3.16's converter equals transformers 4.57 and its own folder",
          "[models][gguf]") {
  // Architecture gpt2: gpt2.* keys, the fused QKV and the Conv1D weights transposed to [out, in], LayerNorm
  // biases, learned positions; no output.weight, so the head is the token embedding.
  const auto dir = iglens::testing::reference_dir() + "/current/";
  auto model = load_gguf_decoder(dir + "gpt2.gguf");
  const auto& c = model.config();
  CHECK((c.architecture == Architecture::gpt2 && c.family == "gpt2" && c.tied_embeddings));
  CHECK((c.n_layer == 2 && c.d_model == 32 && c.n_head == 4 && c.d_ff == 128 && c.vocab_size == 50257));
  CHECK(c.context_length == 32);
  check_float64(model, "gpt2", "current", 1e-8);
  // The F32 file holds the folder's float32 weights: with the file's LayerNorm eps (stored in float32,
  // 2.5e-14 below the folder's 1e-5) the two loads compute the same numbers bit for bit.
  const auto folder = load_hf_decoder(dir + "gpt2");
  auto config = folder.config();
  CHECK(config.norm_eps != c.norm_eps);
  config.norm_eps = c.norm_eps;
  DecoderModel same(config, folder.weights(), "the folder with the file's eps");
  same.to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  const auto ids = ids_tensor({464, 3139, 286, 4881, 318});
  CHECK(max_abs_diff(model.residual_stream(ids), same.residual_stream(ids)) == 0.0);
  CHECK(max_abs_diff(model.logits(ids), same.logits(ids)) == 0.0);
}

TEST_CASE("Phi-3 GGUF files made by llama.cpp 0.3.16's converter equal transformers 4.57, windows and partial RoPE",
          "[models][gguf]") {
  // Architecture phi3: one attn_qkv and one ffn_up holding gate and up, Q and K in Hugging Face's order,
  // and the window the converter writes as phi3.attention.sliding_window on every layer.
  auto model = load_gguf_decoder(iglens::testing::reference_dir() + "/current/phi3.gguf");
  CHECK(model.config().family == "phi3");
  CHECK(model.config().sliding_windows == std::vector<std::int64_t>{4, 4});
  check_float64(model, "phi3", "current", 1e-8);
  // RoPE over half of each head, as the converter writes it: phi3.rope.dimension_count 4 of 8.
  auto partial = load_gguf_decoder(iglens::testing::reference_dir() + "/current/phi3_partial.gguf");
  CHECK(partial.config().rotary_dims == 4);
  check_float64(partial, "phi3_partial", "current", 1e-8);
}

TEST_CASE("GPT-NeoX GGUF files made by llama.cpp 0.3.16's converter equal transformers 4.57", "[models][gguf]") {
  // Architecture gptneox: the converter's Q, K, V rows (reordered from GPT-NeoX's per-head layout), RoPE
  // over gptneox.rope.dimension_count 4 of 8, use_parallel_residual, LayerNorm biases, output.weight.
  const auto dir = iglens::testing::reference_dir() + "/current/";
  for (const auto* name : {"gpt_neox", "gpt_neox_sequential"}) {
    CAPTURE(name);
    auto model = load_gguf_decoder(dir + name + ".gguf");
    const auto& c = model.config();
    CHECK((c.architecture == Architecture::gpt_neox && c.family == "gptneox" && !c.tied_embeddings));
    CHECK((c.rotary_dims == 4 && c.mlp_activation == MlpActivation::gelu));
    CHECK(c.parallel_residual == (std::string(name) == "gpt_neox"));
    check_float64(model, name, "current", 1e-8);
  }
}

TEST_CASE("An OLMo 2 GGUF made by llama.cpp 0.3.16's converter equals transformers 4.57", "[models][gguf]") {
  // Architecture olmo2: post_attention_norm and post_ffw_norm without attn_norm or ffn_norm, attn_q_norm and
  // attn_k_norm as wide as the whole projection, Q and K in Hugging Face's order.
  auto model = load_gguf_decoder(iglens::testing::reference_dir() + "/current/olmo2.gguf");
  const auto& c = model.config();
  CHECK((c.family == "olmo2" && c.post_norms && !c.pre_norms && c.qk_norm_across_heads && !c.tied_embeddings));
  check_float64(model, "olmo2", "current", 1e-8);
}

TEST_CASE("F16 and Q8_0 files made by llama.cpp 0.3.16's converter equal transformers on their own weights",
          "[models][gguf]") {
  // Each reference is the same model holding the file's weights as transformers' GGUF reader dequantizes
  // them; the matrices are really stored in the file's type.
  for (const auto* name : {"qwen3", "gemma3", "gemma2", "phi3", "phi3_partial"}) {
    for (const auto& [type_name, type] : {std::pair{"f16", GgmlType::F16}, std::pair{"q8_0", GgmlType::Q8_0}}) {
      const auto stem = std::string(name) + "_" + type_name;
      CAPTURE(stem);
      const auto path = iglens::testing::reference_dir() + "/current/" + stem + ".gguf";
      const auto* query = std::string(name).rfind("phi3", 0) == 0 ? "blk.0.attn_qkv.weight" : "blk.0.attn_q.weight";
      CHECK(GgufFile::open(path).tensor(query).type == type);
      auto model = load_gguf_decoder(path);
      check_float64(model, stem, "current", 1e-8);
    }
  }
}

TEST_CASE("A kept matrix multiplies a tile of rows at a time as its whole values do", "[models][gguf]") {
  // 37 rows of 24 in a shuffled file order, converted by a fill that counts the rows it writes.
  torch::manual_seed(7);
  const auto file_rows = torch::randn({37, 24}, torch::kFloat32);
  const auto order = torch::randperm(37, torch::kLong);
  auto converted = std::make_shared<std::atomic<std::int64_t>>(0);
  StoredWeight kept(
      {37, 24},
      [file_rows, converted](std::int64_t first, std::int64_t count, float* out) {
        std::copy_n(file_rows.narrow(0, first, count).data_ptr<float>(), count * 24, out);
        *converted += count;
      },
      order, 37 * 24 * 4);
  const auto expected = file_rows.index_select(0, order);
  CHECK(torch::equal(kept.values(torch::kFloat32, torch::kCPU), expected));
  const auto ids = torch::tensor({{5, 0, 36}, {5, 12, 1}}, torch::kLong);
  CHECK(torch::equal(kept.rows(ids, torch::kFloat32, torch::kCPU), torch::embedding(expected, ids)));
  const auto bias = torch::randn({37}, torch::kFloat32);
  for (const auto dtype : {torch::kFloat64, torch::kFloat32}) {
    CAPTURE(iglens::detail::dtype_name(dtype));
    const double tolerance = dtype == torch::kFloat64 ? 1e-12 : 1e-5;
    // Several vectors (a prompt: BLAS products by tile) and one (a generation step: dot products per tile).
    for (const auto& shape : {std::vector<std::int64_t>{2, 3, 24}, std::vector<std::int64_t>{1, 1, 24}}) {
      const auto x = torch::randn(shape, torch::kFloat64).to(dtype);
      const auto reference = torch::nn::functional::linear(x, expected.to(dtype), bias.to(dtype));
      const double allowed = tolerance * (1.0 + reference.abs().max().item<double>());
      // Tiles of 1 row, 5 rows (the last one 2), the whole matrix, and the default for x.
      for (const std::int64_t tile_values :
           {std::int64_t{1}, std::int64_t{5 * 24 + 3}, std::int64_t{37 * 24}, std::int64_t{0}}) {
        CAPTURE(shape, tile_values);
        torch::NoGradGuard no_grad;
        *converted = 0;
        const auto y = kept.linear(x, bias.to(dtype), tile_values);
        CHECK(y.sizes() == reference.sizes());
        CHECK(y.scalar_type() == dtype);
        CHECK(max_abs_diff(y, reference) <= allowed);
        CHECK(converted->load() == 37);  // each row converted once
        CHECK(max_abs_diff(kept.linear(x, torch::Tensor(), tile_values), reference - bias.to(dtype)) <= allowed);
      }
    }
    // g W, the product the head's gradients take, by tiles of 1 row, 5 rows and all 37.
    const auto g = torch::randn({2, 3, 37}, torch::kFloat64).to(dtype);
    const auto reference = torch::matmul(g, expected.to(dtype));
    for (const std::int64_t tile_values : {std::int64_t{1}, std::int64_t{5 * 24 + 3}, std::int64_t{37 * 24}}) {
      CAPTURE(tile_values);
      torch::NoGradGuard no_grad;
      *converted = 0;
      const auto product = kept.linear_transposed(g, tile_values);
      CHECK(product.sizes() == reference.sizes());
      CHECK(product.scalar_type() == dtype);
      CHECK(max_abs_diff(product, reference) <= tolerance * (1.0 + reference.abs().max().item<double>()));
      CHECK(converted->load() == 37);
    }
    const auto x = torch::randn({2, 3, 24}, torch::kFloat64).to(dtype);
    // A product autograd must record is made from the whole matrix, and its gradient flows to x.
    const auto leaf = x.clone().requires_grad_(true);
    const auto y = kept.linear(leaf, bias.to(dtype));
    REQUIRE(y.requires_grad());
    y.sum().backward();
    CHECK(max_abs_diff(leaf.grad(), expected.to(dtype).sum(0).expand_as(x)) <= tolerance * 37);
  }
  // A copy is the same matrix (a head tied to its embedding); the same values kept elsewhere are not.
  CHECK(StoredWeight(kept).is_same(kept));
  CHECK_FALSE(StoredWeight(expected).is_same(kept));
  CHECK(StoredWeight(expected).is_same(StoredWeight(expected)));
  CHECK(kept.all_finite(5 * 24));
  // One NaN in the last tile is found.
  const StoredWeight with_nan(
      {37, 24},
      [file_rows](std::int64_t first, std::int64_t count, float* out) {
        std::copy_n(file_rows.narrow(0, first, count).data_ptr<float>(), count * 24, out);
        if (first + count == 37) out[(count - 1) * 24 + 3] = std::numeric_limits<float>::quiet_NaN();
      },
      torch::Tensor(), 37 * 24 * 4);
  CHECK_FALSE(with_nan.all_finite(5 * 24));
  CHECK_FALSE(with_nan.all_finite(37 * 24));
}

TEST_CASE("An exact copy holds a kept matrix in its file's 16 bits and widens it for every product", "[models][gguf]") {
  // 37 rows of 24 values that float16 holds exactly, in a shuffled file order.
  torch::manual_seed(11);
  const auto file_rows = torch::randn({37, 24}, torch::kFloat32).to(torch::kHalf).to(torch::kFloat32);
  const auto order = torch::randperm(37, torch::kLong);
  const auto fill = [file_rows](std::int64_t first, std::int64_t count, float* out) {
    std::copy_n(file_rows.narrow(0, first, count).data_ptr<float>(), count * 24, out);
  };
  const StoredWeight kept({37, 24}, fill, order, 37 * 24 * 2, torch::kHalf);
  const auto copy = kept.exact_copy(torch::kCPU);
  REQUIRE(copy.widens_on_use());
  CHECK(copy.tensor().scalar_type() == torch::kHalf);
  CHECK(copy.bytes() == 37 * 24 * 2);
  const auto expected = file_rows.index_select(0, order);
  // Moving to another dtype keeps the 16 bits; every use widens them exactly.
  const auto as_float64 = copy.to(torch::TensorOptions().dtype(torch::kFloat64));
  CHECK(as_float64.tensor().scalar_type() == torch::kHalf);
  CHECK(torch::equal(as_float64.values(torch::kFloat64, torch::kCPU), expected.to(torch::kFloat64)));
  const auto ids = torch::tensor({{5, 0, 36}}, torch::kLong);
  CHECK(
      torch::equal(copy.rows(ids, torch::kFloat64, torch::kCPU), torch::embedding(expected, ids).to(torch::kFloat64)));
  torch::NoGradGuard no_grad;
  for (const auto dtype : {torch::kFloat64, torch::kFloat32}) {
    const double tolerance = dtype == torch::kFloat64 ? 1e-12 : 1e-5;
    const auto x = torch::randn({2, 3, 24}, torch::kFloat64).to(dtype);
    const auto y = copy.linear(x, torch::Tensor());
    CHECK(y.scalar_type() == dtype);
    CHECK(max_abs_diff(y, kept.linear(x, torch::Tensor())) <= tolerance * (1.0 + y.abs().max().item<double>()));
    const auto g = torch::randn({2, 37}, torch::kFloat64).to(dtype);
    const auto product = copy.linear_transposed(g);
    CHECK(max_abs_diff(product, kept.linear_transposed(g)) <= tolerance * (1.0 + product.abs().max().item<double>()));
  }
  // A kept matrix stays kept on the CPU; quantised or F32 files are copied in float32.
  CHECK_FALSE(kept.to(torch::TensorOptions().dtype(torch::kFloat64)).in_memory());
  const StoredWeight float_kept({37, 24}, fill, torch::Tensor(), 37 * 24 * 4);
  CHECK(float_kept.exact_copy(torch::kCPU).tensor().scalar_type() == torch::kFloat32);
  // Row blocks of the 16-bit copy are searched for values that are not finite.
  CHECK(copy.all_finite(5 * 24));
  const StoredWeight with_inf(
      {37, 24},
      [file_rows](std::int64_t first, std::int64_t count, float* out) {
        std::copy_n(file_rows.narrow(0, first, count).data_ptr<float>(), count * 24, out);
        if (first + count == 37) out[(count - 1) * 24 + 3] = std::numeric_limits<float>::infinity();
      },
      torch::Tensor(), 37 * 24 * 2, torch::kHalf);
  CHECK_FALSE(with_inf.exact_copy(torch::kCPU).all_finite(5 * 24));
}

TEST_CASE("Every family's GGUF file gives the same numbers with its matrices kept as stored", "[models][gguf]") {
  const auto dir = iglens::testing::reference_dir();
  // F32, F16 and Q8_0 matrices; Q and K rows in llama.cpp's pair order (llama, mistral); fused Q/K/V and
  // gate/up (phi3); biases, LayerNorms and parallel blocks (gpt2, gpt_neox).
  for (const auto* name : {"/tiny/llama_untied", "/tiny/gpt2_untied", "/converted/mistral", "/converted/llama3",
                           "/converted/qwen2", "/current/qwen3_q8_0", "/current/gemma3_f16", "/current/gemma2_q8_0",
                           "/current/phi3_q8_0", "/current/olmo2", "/current/gpt2", "/current/gpt_neox"}) {
    const auto bytes = check_kept_as_stored(dir + name + ".gguf");
    // F16 matrices are copied in their 16 bits, as a GPU holds them (quantised ones in float32: the
    // numbers above would show a 16-bit copy of them).
    if (std::string(name) == "/current/gemma3_f16") CHECK(bytes.copied < bytes.loaded);
  }
}

TEST_CASE("GGUF keys at the values that turn their feature off load as the plain file", "[models][gguf]") {
  const auto dir = iglens::testing::reference_dir() + "/tiny/";
  auto plain = load_gguf_decoder(dir + "llama_untied.gguf");
  auto off = load_gguf_decoder(dir + "features_off.gguf");
  torch::NoGradGuard no_grad;
  const auto ids = ids_tensor({3, 17, 42, 99, 5});
  CHECK(max_abs_diff(plain.logits(ids), off.logits(ids)) == 0.0);
}

TEST_CASE("SmolLM2 GGUF: float64 logits and every residual layer equal transformers'", "[models][smollm2]") {
  auto model = smollm2();  // shares the weights; to() below replaces this copy's tensors only
  const auto& c = model.config();
  CHECK((c.n_layer == 30 && c.d_model == 576 && c.n_head == 9 && c.n_kv_head == 3 && c.head_dim == 64));
  CHECK((c.d_ff == 1536 && c.vocab_size == 49152 && c.context_length == 8192 && c.tied_embeddings));
  model.to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  double worst_logit = 0.0, worst_residual = 0.0;
  for (const auto& sequence : iglens::testing::smollm2_reference()) {
    const auto ids = ids_tensor(sequence.ids);
    const auto logits = model.logits(ids)[0];
    const auto stream = model.residual_stream(ids).squeeze(1);
    REQUIRE(stream.size(0) == c.n_layer + 1);
    worst_logit = std::max(worst_logit, max_abs_diff(logits, sequence.logits));
    for (std::int64_t layer = 0; layer <= c.n_layer; ++layer) {
      worst_residual = std::max(worst_residual, max_abs_diff(stream[layer], sequence.residual_stream[layer]));
    }
    CHECK(max_abs_diff(model.readout().logits(stream[c.n_layer]), logits) <= 1e-9);
  }
  std::cout << "SmolLM2 float64 vs transformers: max |logit diff| " << worst_logit << ", max |residual diff| "
            << worst_residual << "\n";
  CHECK(worst_logit <= 1e-8);
  CHECK(worst_residual <= 1e-8);
}

TEST_CASE("SmolLM2 GGUF with its Q4_1 matrices kept as stored gives the same numbers", "[models][smollm2]") {
  check_kept_as_stored(smollm2_path());
}

TEST_CASE("SmolLM2 GGUF in float32: target probabilities within 1e-4 of transformers' float64", "[models][smollm2]") {
  auto& model = smollm2();
  REQUIRE(model.dtype() == torch::kFloat32);
  torch::NoGradGuard no_grad;
  double worst = 0.0;
  for (const auto& sequence : iglens::testing::smollm2_reference()) {
    const auto probabilities = model.logits(ids_tensor(sequence.ids))[0].to(torch::kFloat64).softmax(-1);
    const auto expected = sequence.logits.softmax(-1);
    const auto targets = Targets::next_tokens(sequence.ids);
    for (std::size_t t = 0; t < targets.size(); ++t) {
      const auto p = targets.positions[t], y = targets.ids[t];
      worst = std::max(worst, std::abs(probabilities[p][y].item<double>() - expected[p][y].item<double>()));
    }
  }
  std::cout << "SmolLM2 float32 vs transformers float64: max |target probability diff| " << worst << "\n";
  CHECK(worst <= 1e-4);
}

TEST_CASE("SmolLM2: IG-Lens f_final equals the model's own softmax probability", "[models][smollm2]") {
  const auto ids = iglens::testing::smollm2_reference()[1].ids;
  const auto targets = Targets::next_tokens(ids);
  // float64 shows the closed-form readout is the model's head exactly; float32
  // (the default) within its rounding over a 49152-token softmax.
  for (const auto [dtype, margin] : {std::pair{torch::kFloat64, 1e-12}, std::pair{torch::kFloat32, 1e-4}}) {
    CAPTURE(margin);
    auto model = smollm2();
    model.to(dtype);
    Options options;
    options.dtype = dtype;
    Lens<DecoderModel> lens(model);
    const auto attribution = lens.attribute(torch::tensor(ids, torch::kLong), targets, options);
    torch::NoGradGuard no_grad;
    const auto probabilities = model.logits(ids_tensor(ids))[0].to(torch::kFloat64).softmax(-1);
    for (std::size_t t = 0; t < targets.size(); ++t) {
      const auto own = probabilities[targets.positions[t]][targets.ids[t]].item<double>();
      CHECK(attribution.f_final[t].item<double>() == Approx(own).margin(margin));
    }
  }
}
