// Native decoders from Hugging Face folders against transformers' float64
// forward pass on the same weights (tiny random GPT-2 and Llama models).

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <torch/torch.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/lens/lens.hpp"
#include "iglens/models/bundle.hpp"
#include "iglens/models/generation.hpp"
#include "iglens/models/load_hf.hpp"
#include "kept_weights.hpp"
#include "reference.hpp"

using namespace iglens;
using iglens::testing::ids_tensor;
using iglens::testing::max_abs_diff;

namespace {

std::string tiny_folder(const std::string& name) { return iglens::testing::reference_dir() + "/tiny/" + name; }

// Logits and every residual layer within `tolerance` of transformers, and the
// closed-form readout of the last residual equal to the logits.
void check_against_reference(DecoderModel& model, const std::string& name, double tolerance,
                             const std::string& group = "tiny") {
  torch::NoGradGuard no_grad;
  for (const auto& sequence : iglens::testing::tiny_reference(name, group)) {
    CAPTURE(name, sequence.ids.size());
    const auto ids = ids_tensor(sequence.ids);
    const auto logits = model.logits(ids).squeeze(0);
    const auto stream = model.residual_stream(ids).squeeze(1);
    CHECK(max_abs_diff(logits, sequence.logits) <= tolerance);
    REQUIRE(stream.size(0) == sequence.residual_stream.size(0));
    for (std::int64_t layer = 0; layer < stream.size(0); ++layer) {
      CAPTURE(layer);
      CHECK(max_abs_diff(stream[layer], sequence.residual_stream[layer]) <= tolerance);
    }
    const auto last = stream[stream.size(0) - 1];
    CHECK(max_abs_diff(model.readout().logits(last), logits) <= 10 * tolerance);
  }
}

}  // namespace

TEST_CASE("Hugging Face GPT-2 folder: float64 logits and residual stream equal transformers'", "[models][hf]") {
  auto model = load_hf_decoder(tiny_folder("gpt2"));
  CHECK(model.config().architecture == Architecture::gpt2);
  CHECK(model.config().n_layer == 3);
  CHECK(model.config().tied_embeddings);
  CHECK(model.norm_head().kind == NormKind::layer_norm);
  model.to(torch::kFloat64);
  check_against_reference(model, "gpt2", 1e-8);
}

TEST_CASE("Hugging Face Llama folders (GQA, tied and untied, sharded): float64 equals transformers'", "[models][hf]") {
  for (const auto* name : {"llama_untied", "llama_tied"}) {
    auto model = load_hf_decoder(tiny_folder(name));
    const auto& c = model.config();
    CHECK(c.architecture == Architecture::llama);
    CHECK((c.n_head == 4 && c.n_kv_head == 2 && c.head_dim == 8));
    CHECK(c.rope_base == 100000.0);
    CHECK(c.tied_embeddings == (std::string(name) == "llama_tied"));
    CHECK(model.weights().unembedding.is_same(model.weights().token_embedding) == c.tied_embeddings);
    CHECK(model.norm_head().kind == NormKind::rms_norm);
    model.to(torch::kFloat64);
    check_against_reference(model, name, 1e-8);
  }
}

TEST_CASE("A Llama 3 folder (rope_scaling llama3) equals transformers' float64, frequency scaling included",
          "[models][hf]") {
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/converted/llama3");
  const auto& factors = model.config().rope_frequency_factors;
  // head_dim 8, base 500000, original context 8192, factor 8, low 1, high 4: wavelengths 2 pi and 167
  // (below 8192 / 4: kept), 4443 (between: interpolated) and 118000 (beyond 8192: divided by 8).
  REQUIRE(factors.size() == 4);
  const double pi = 3.14159265358979323846, smooth = (8192.0 / (2 * pi * std::sqrt(500000.0)) - 1.0) / 3.0;
  CHECK((factors[0] == 1.0 && factors[1] == 1.0 && factors[3] == 8.0));
  CHECK(std::abs(factors[2] - 1.0 / ((1 - smooth) / 8.0 + smooth)) <= 1e-14);
  model.to(torch::kFloat64);
  check_against_reference(model, "llama3", 1e-8, "converted");
  // The check sees the scaling: without it, the same weights miss transformers by 100x the tolerance
  // (Llama 3 scales only wavelengths beyond 8192 / 4, which move little over these first positions).
  auto config = model.config();
  config.rope_frequency_factors.clear();
  DecoderModel plain(config, model.weights(), "plain RoPE");
  torch::NoGradGuard no_grad;
  const auto sequence = iglens::testing::tiny_reference("llama3", "converted").front();
  CHECK(max_abs_diff(plain.logits(ids_tensor(sequence.ids)).squeeze(0), sequence.logits) > 1e-6);
}

TEST_CASE("A Mistral folder equals transformers' float64, its sliding window included", "[models][hf]") {
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/converted/mistral");
  CHECK(model.config().family == "mistral");
  CHECK(model.config().sliding_windows.empty());
  model.to(torch::kFloat64);
  check_against_reference(model, "mistral", 1e-8, "converted");
  // A window of 4 binds on the 9- and 7-token sequences.
  auto windowed = load_hf_decoder(iglens::testing::reference_dir() + "/current/mistral_window");
  CHECK(windowed.config().sliding_windows == std::vector<std::int64_t>{4, 4});
  windowed.to(torch::kFloat64);
  check_against_reference(windowed, "mistral_window", 1e-8, "current");
}

// The same model without one of its features misses transformers: the tests above see that feature.
// The same weights computed without a feature (`config` lacks it) miss
// transformers' logits by more than `margin`, far above the 1e-8 tolerance.
void check_feature_seen(const DecoderConfig& config, const DecoderWeights& weights, const std::string& name,
                        double margin = 1e-4) {
  DecoderModel changed(config, weights, "changed");
  torch::NoGradGuard no_grad;
  const auto sequence = iglens::testing::tiny_reference(name, "current").front();
  CHECK(max_abs_diff(changed.logits(ids_tensor(sequence.ids)).squeeze(0), sequence.logits) > margin);
}

TEST_CASE("A Gemma 3 folder (sandwich norms, GeGLU, windows with their own RoPE) equals transformers' float64",
          "[models][hf]") {
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/current/gemma3");
  const auto& c = model.config();
  CHECK(c.family == "gemma3");
  CHECK((c.post_norms && c.qk_norm && c.tied_embeddings && c.mlp_activation == MlpActivation::gelu_tanh));
  CHECK(c.embedding_scale == Approx(std::sqrt(32.0)));
  CHECK(c.sliding_windows == std::vector<std::int64_t>{4, 4, 4, 4, 4, 0, 4});
  CHECK((c.local_rope_base == 10000.0 && c.rope_base == 1e6 && c.rope_frequency_factors.size() == 8));
  CHECK(c.attention_scale == Approx(0.25));
  model.to(torch::kFloat64);
  check_against_reference(model, "gemma3", 1e-8, "current");
  SECTION("each feature is seen") {
    auto changed = c;
    changed.sliding_windows.clear();
    check_feature_seen(changed, model.weights(), "gemma3");
    changed = c;
    changed.local_rope_base = 0.0;
    check_feature_seen(changed, model.weights(), "gemma3");
    changed = c;
    changed.rope_frequency_factors.clear();
    check_feature_seen(changed, model.weights(), "gemma3");
    changed = c;
    changed.embedding_scale = 1.0;
    check_feature_seen(changed, model.weights(), "gemma3");
  }
}

TEST_CASE("A Gemma 2 folder (soft-capped scores and logits) equals transformers' float64", "[models][hf]") {
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/current/gemma2");
  const auto& c = model.config();
  CHECK(c.family == "gemma2");
  CHECK((c.attention_softcap == 2.0 && c.final_softcap == 3.0 && !c.qk_norm && c.local_rope_base == 0.0));
  CHECK(c.sliding_windows == std::vector<std::int64_t>{4, 0, 4});
  model.to(torch::kFloat64);
  check_against_reference(model, "gemma2", 1e-8, "current");
  // The layer map reads the cap as a black box; the component split's norm and head carry it.
  CHECK_FALSE(model.readout().is_closed_form());
  CHECK(model.norm_head().softcap == 3.0);
  auto changed = c;
  changed.attention_softcap = 0.0;
  check_feature_seen(changed, model.weights(), "gemma2");
  changed = c;
  changed.final_softcap = 0.0;
  check_feature_seen(changed, model.weights(), "gemma2");
}

TEST_CASE("A Qwen2 folder (query, key and value biases) equals transformers' float64", "[models][hf]") {
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/converted/qwen2");
  CHECK(model.config().family == "qwen2");
  CHECK(model.config().qkv_bias);
  CHECK(model.weights().layers[0].qkv_bias.size(0) == model.config().qkv_rows());
  model.to(torch::kFloat64);
  check_against_reference(model, "qwen2", 1e-8, "converted");
  // The biases are seen: without them the same model misses transformers.
  auto config = model.config();
  config.qkv_bias = false;
  auto weights = model.weights();
  for (auto& layer : weights.layers) layer.qkv_bias = torch::Tensor();
  DecoderModel unbiased(config, weights, "no biases");
  torch::NoGradGuard no_grad;
  const auto sequence = iglens::testing::tiny_reference("qwen2", "converted").front();
  CHECK(max_abs_diff(unbiased.logits(ids_tensor(sequence.ids)).squeeze(0), sequence.logits) > 1e-3);
}

TEST_CASE("A Phi-3 folder (fused qkv_proj and gate_up_proj, a window on every layer) equals transformers' float64",
          "[models][hf]") {
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/current/phi3");
  CHECK(model.config().family == "phi3");
  CHECK_FALSE(model.config().tied_embeddings);
  CHECK(model.config().sliding_windows == std::vector<std::int64_t>{4, 4});
  model.to(torch::kFloat64);
  check_against_reference(model, "phi3", 1e-8, "current");
  // The window binds on the test sequences: without it the model misses transformers.
  auto config = model.config();
  config.sliding_windows.clear();
  check_feature_seen(config, model.weights(), "phi3");
  // Phi-4-mini's kind: RoPE over the first 4 of each head's 8 dimensions; rotating all 8 misses.
  auto partial = load_hf_decoder(iglens::testing::reference_dir() + "/current/phi3_partial");
  CHECK((partial.config().rotary_dims == 4 && partial.config().head_dim == 8));
  partial.to(torch::kFloat64);
  check_against_reference(partial, "phi3_partial", 1e-8, "current");
  auto all_dims = partial.config();
  all_dims.rotary_dims = 0;
  check_feature_seen(all_dims, partial.weights(), "phi3_partial");
}

TEST_CASE("GPT-NeoX folders (Pythia's parallel attention and MLP, partial RoPE, exact GELU) equal transformers'",
          "[models][hf]") {
  const auto dir = iglens::testing::reference_dir() + "/current/";
  auto model = load_hf_decoder(dir + "gpt_neox");
  const auto& c = model.config();
  CHECK((c.architecture == Architecture::gpt_neox && c.family == "gpt_neox" && c.parallel_residual));
  CHECK((c.rotary_dims == 4 && c.head_dim == 8 && c.mlp_activation == MlpActivation::gelu && !c.tied_embeddings));
  CHECK(model.norm_head().kind == NormKind::layer_norm);
  model.to(torch::kFloat64);
  check_against_reference(model, "gpt_neox", 1e-8, "current");
  // Every feature is seen (the logits of 50257 tokens are small: margins below 1e-4).
  auto changed = c;
  changed.parallel_residual = false;
  check_feature_seen(changed, model.weights(), "gpt_neox", 1e-5);
  changed = c;
  changed.rotary_dims = 0;
  check_feature_seen(changed, model.weights(), "gpt_neox", 1e-5);
  changed = c;
  changed.mlp_activation = MlpActivation::gelu_tanh;
  check_feature_seen(changed, model.weights(), "gpt_neox", 1e-7);
  // query_key_value's per-head [q, k, v] rows, read as if they were Q, K, V blocks, miss too.
  auto weights = model.weights();
  for (auto& layer : weights.layers)
    layer.qkv_weight = iglens::detail::gpt_neox_qkv_rows(layer.qkv_weight.tensor(), c.n_head);
  check_feature_seen(c, weights, "gpt_neox", 1e-5);
  // use_parallel_residual false: the MLP reads the stream after attention, as in GPT-2.
  auto sequential = load_hf_decoder(dir + "gpt_neox_sequential");
  CHECK_FALSE(sequential.config().parallel_residual);
  sequential.to(torch::kFloat64);
  check_against_reference(sequential, "gpt_neox_sequential", 1e-8, "current");
}

TEST_CASE("An OLMo 2 folder (norms after attention and MLP only, query/key norms across heads) equals transformers'",
          "[models][hf]") {
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/current/olmo2");
  const auto& c = model.config();
  CHECK((c.family == "olmo2" && c.post_norms && !c.pre_norms && c.qk_norm && c.qk_norm_across_heads));
  CHECK((c.norm_gain_offset == 0.0 && !c.tied_embeddings && c.n_kv_head == 2));
  model.to(torch::kFloat64);
  check_against_reference(model, "olmo2", 1e-8, "current");
  // The query/key norms are seen: with unit gains the same model misses transformers.
  auto weights = model.weights();
  for (auto& layer : weights.layers) {
    layer.q_norm_weight = torch::ones_like(layer.q_norm_weight);
    layer.k_norm_weight = torch::ones_like(layer.k_norm_weight);
  }
  check_feature_seen(c, weights, "olmo2", 1e-6);
}

TEST_CASE("A Qwen3 folder (RMSNorm over each head's queries and keys) equals transformers' float64", "[models][hf]") {
  // Written by a current transformers (4.57, torch 2.9): its config.json has keys the older one lacks.
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/current/qwen3");
  CHECK(model.config().family == "qwen3");
  CHECK(model.config().qk_norm);
  CHECK(model.config().head_dim * model.config().n_head != model.config().d_model);  // head_dim 16, d 32
  model.to(torch::kFloat64);
  check_against_reference(model, "qwen3", 1e-8, "current");
  // The per-head norms are seen: with unit gains the same model misses transformers.
  auto weights = model.weights();
  for (auto& layer : weights.layers) layer.q_norm_weight = torch::ones_like(layer.q_norm_weight);
  DecoderModel unit_norms(model.config(), weights, "unit query norms");
  torch::NoGradGuard no_grad;
  const auto sequence = iglens::testing::tiny_reference("qwen3", "current").front();
  CHECK(max_abs_diff(unit_norms.logits(ids_tensor(sequence.ids)).squeeze(0), sequence.logits) > 1e-3);
}

TEST_CASE("Every family's folder gives the same numbers with its matrices kept as stored", "[models][hf]") {
  const auto dir = iglens::testing::reference_dir();
  // F32, BF16 (sharded) and F16 files; GPT-2's transposed Conv1D matrices, GPT-NeoX's per-head Q/K/V rows,
  // stacked Q/K/V and gate/up, fused ones (phi3), tied and untied embeddings.
  for (const auto* name : {"/tiny/gpt2", "/tiny/gpt2_f16", "/tiny/llama_tied", "/tiny/llama_untied",
                           "/tiny/llama_untied_bf16", "/converted/llama3", "/converted/qwen2", "/current/gemma3",
                           "/current/phi3", "/current/olmo2", "/current/gpt_neox", "/current/gpt_neox_sequential"}) {
    CAPTURE(name);
    const auto path = dir + name;
    auto floats = load_hf_decoder(path);
    auto stored = load_hf_decoder(path, WeightStorage::as_stored);
    const auto bytes = iglens::testing::check_kept_matches_float(floats, stored);
    // 16-bit matrices keep half the bytes of their float32 copies (GPT-2's tied embedding stays float32).
    const std::string folder = name;
    if (folder == "/tiny/llama_untied_bf16") {
      CHECK(bytes.stored * 2 == bytes.loaded);
      CHECK(bytes.copied == bytes.stored);  // copied in their 16 bits, as a GPU holds them
    } else if (folder == "/tiny/gpt2_f16") {
      CHECK(bytes.stored < bytes.loaded);
    } else {
      CHECK(bytes.stored == bytes.loaded);
    }
  }
}

TEST_CASE("On a CUDA GPU a folder kept as stored holds its BF16 matrices there in 16 bits, with the CPU's numbers",
          "[models][hf][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA GPU here: the kept-weights GPU comparison is skipped");
    return;
  }
  const auto path = tiny_folder("llama_untied_bf16");
  auto on_cpu = load_hf_decoder(path);
  auto on_gpu = load_hf_decoder(path, WeightStorage::as_stored);
  on_gpu.to(torch::Device(torch::kCUDA));
  for (const auto* m : on_gpu.weights().layers.front().matrices()) {
    REQUIRE(m->widens_on_use());
    CHECK(m->tensor().is_cuda());
    CHECK(m->tensor().scalar_type() == torch::kBFloat16);
  }
  CHECK(on_gpu.weights().unembedding.tensor().scalar_type() == torch::kBFloat16);
  torch::NoGradGuard no_grad;
  const auto ids = ids_tensor({3, 17, 42, 99, 5, 8, 1});
  const auto sequence = ids[0];
  const auto targets = Targets::next_tokens({3, 17, 42, 99, 5, 8, 1}, 4);
  for (const auto dtype : {torch::kFloat64, torch::kFloat32}) {
    CAPTURE(iglens::detail::dtype_name(dtype));
    on_cpu.to(dtype);
    on_gpu.to(dtype);
    const double tolerance = dtype == torch::kFloat64 ? 1e-12 : 1e-5;
    const auto expected = on_cpu.residual_stream(ids);
    const double scale = 1.0 + expected.abs().max().item<double>();
    CHECK(max_abs_diff(on_gpu.residual_stream(ids.cuda()).cpu(), expected) <= tolerance * scale);
    Options options;
    options.dtype = dtype;
    options.steps = 4;
    const auto map_cpu = Lens<DecoderModel>(on_cpu).attribute_sources(sequence, targets, options);
    const auto map_gpu = Lens<DecoderModel>(on_gpu).attribute_sources(sequence.cuda(), targets, options);
    CHECK(max_abs_diff(map_gpu.layers.ig.cpu(), map_cpu.layers.ig) <= tolerance);
    CHECK(max_abs_diff(map_gpu.sources.credits.cpu(), map_cpu.sources.credits) <= tolerance);
  }
}

TEST_CASE("A safetensors file written to while its kept matrices are read ends the run, naming the tensor",
          "[models][hf]") {
  const auto folder = std::filesystem::temp_directory_path() / ("iglens_changed_folder_" + std::to_string(::getpid()));
  std::filesystem::remove_all(folder);
  std::filesystem::copy(iglens::testing::reference_dir() + "/tiny/llama_tied", folder);
  auto model = load_hf_decoder(folder.string(), WeightStorage::as_stored);
  torch::NoGradGuard no_grad;
  const auto ids = ids_tensor({3, 17, 42});
  CHECK(model.logits(ids).isfinite().all().item<bool>());
  {
    std::fstream file(folder / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-4, std::ios::end);
    file.write("\0\0\0\0", 4);
  }
  const auto message = iglens::testing::error_of([&] { model.logits(ids); });
  CHECK_THAT(message, Catch::EndsWith("model.safetensors was changed on disk while tensor "
                                      "'model.embed_tokens.weight' was to be read from it"));
  std::filesystem::remove_all(folder);
}

TEST_CASE("Stored tensors known to carry no computation (rotary inv_freq, a tied head's copy) are ignored",
          "[models][hf]") {
  auto model = load_hf_decoder(tiny_folder("llama_tied_with_buffers"));
  CHECK(model.config().tied_embeddings);
  model.to(torch::kFloat64);
  check_against_reference(model, "llama_tied", 1e-8);
}

TEST_CASE("Generation with a key/value cache gives the logits of the whole sequence", "[models][hf][cache]") {
  // A prompt prefilled at once, then one position per step, two sequences at a time: every step's logits
  // equal the full forward pass's at that position (float64: the same products, other shapes).
  for (const auto* name : {"gpt2", "llama_untied", "llama_tied"}) {
    CAPTURE(name);
    auto model = load_hf_decoder(tiny_folder(name));
    model.to(torch::kFloat64);
    torch::NoGradGuard no_grad;
    const auto ids =
        torch::tensor({3, 17, 42, 99, 5, 61, 0, 100, 23, 7, 8, 55, 1, 90, 33, 12, 64, 2}, torch::kLong).view({2, 9});
    const auto full = model.logits(ids);
    auto cache = model.start_cache(2, 9);
    CHECK(max_abs_diff(model.logits(ids.narrow(1, 0, 4), cache), full.narrow(1, 0, 4)) <= 1e-12);
    for (std::int64_t t = 4; t < 9; ++t) {
      CAPTURE(t);
      CHECK(max_abs_diff(model.logits(ids.narrow(1, t, 1), cache), full.narrow(1, t, 1)) <= 1e-12);
    }
    CHECK(cache.length == 9);
    CHECK_THROWS_WITH(model.logits(ids.narrow(1, 0, 1), cache),
                      Catch::Contains("key/value cache: 9 cached and 1 new positions exceed its capacity of 9"));
    auto small = model.start_cache(1, 4);
    CHECK_THROWS_WITH(model.logits(ids.narrow(1, 0, 1), small),
                      Catch::Contains("key/value cache: made for 1 sequences and 3 layers, used with 2 sequences"));
    CHECK_THROWS_WITH(model.start_cache(1, 1000), Catch::Contains("capacity 1000 is outside [1, "));
  }
}

TEST_CASE("Greedy answers of a batch: cached, uncached and one prompt at a time agree", "[models][hf][cache]") {
  for (const auto* name : {"gpt2", "llama_untied"}) {
    CAPTURE(name);
    auto model = load_hf_decoder(tiny_folder(name));
    model.to(torch::kFloat64);
    const std::vector<std::vector<std::int64_t>> prompts{{3, 17, 42, 99, 5}, {7, 8}, {55, 1, 90, 33, 12, 64, 2, 9}};
    GreedyOptions options;
    options.max_new_tokens = 6;
    const auto cached = greedy_answers(model, prompts, options);
    auto without_cache = options;
    without_cache.use_cache = false;
    const auto uncached = greedy_answers(model, prompts, without_cache);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      CAPTURE(i);
      // The reference: append the argmax of the whole sequence's last logits,
      // six times; the runner-up is the second of its two largest.
      auto sequence = prompts[i];
      std::vector<std::int64_t> runners_up;
      for (int step = 0; step < 6; ++step) {
        const auto logits = model.logits(ids_tensor(sequence))[0][-1];
        sequence.push_back(logits.argmax().item<std::int64_t>());
        runners_up.push_back(std::get<1>(logits.topk(2))[1].item<std::int64_t>());
      }
      const std::vector<std::int64_t> expected(sequence.begin() + static_cast<std::ptrdiff_t>(prompts[i].size()),
                                               sequence.end());
      CHECK(cached[i].ids == expected);
      CHECK(uncached[i].ids == expected);
      CHECK(cached[i].runners_up == runners_up);
      CHECK(uncached[i].runners_up == runners_up);
      CHECK_FALSE(cached[i].stop_id);
      CHECK_FALSE(cached[i].non_finite);
      CHECK(greedy_answers(model, {prompts[i]}, options)[0].ids == expected);
    }
    // A stop token ends each sequence at its first occurrence, without the token; the others go on.
    const auto stop = cached[1].ids[2];
    auto stopping = options;
    stopping.stop_ids = {stop};
    const auto stopped = greedy_answers(model, prompts, stopping);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      CAPTURE(i);
      const auto& full = cached[i].ids;
      const auto at = std::find(full.begin(), full.end(), stop);
      CHECK(stopped[i].ids == std::vector<std::int64_t>(full.begin(), at));
      CHECK(stopped[i].stop_id == (at == full.end() ? std::optional<std::int64_t>() : stop));
    }
    CHECK(stopped[1].stop_id);
  }
}

TEST_CASE("Hugging Face folders in float32 stay close to transformers' float64", "[models][hf]") {
  for (const auto* name : {"gpt2", "llama_untied"}) {
    auto model = load_hf_decoder(tiny_folder(name));
    REQUIRE(model.dtype() == torch::kFloat32);
    check_against_reference(model, name, 1e-5);
  }
}

TEST_CASE("A batch gives each row the logits of that row alone", "[models][hf]") {
  auto model = load_hf_decoder(tiny_folder("llama_untied"));
  model.to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  const auto a = ids_tensor({5, 9, 100, 3}), b = ids_tensor({0, 1, 2, 77});
  const auto batch = model.logits(torch::cat({a, b}));
  CHECK(max_abs_diff(batch[0], model.logits(a)[0]) <= 1e-12);
  CHECK(max_abs_diff(batch[1], model.logits(b)[0]) <= 1e-12);
  const auto stream = model.residual_stream(torch::cat({a, b}));
  CHECK(stream.sizes() == torch::IntArrayRef({4, 2, 4, 32}));
}

TEST_CASE("Token ids are checked against the vocabulary and the context length", "[models][hf]") {
  auto model = load_hf_decoder(tiny_folder("gpt2"));
  CHECK_THROWS_WITH(model.logits(ids_tensor({1, 257})), "token id 257 is outside the vocabulary [0, 257)");
  CHECK_THROWS_WITH(model.logits(ids_tensor({-1})), "token id -1 is outside the vocabulary [0, 257)");
  CHECK_THROWS_WITH(model.logits(torch::zeros({1, 33}, torch::kLong)),
                    "33 tokens exceed the model's context length of 32");
  CHECK_THROWS_WITH(model.logits(torch::zeros({3}, torch::kLong)), "token ids must be [B, S], got [3]");
  CHECK_THROWS_WITH(model.to(torch::kFloat16), "decoder model: dtype must be float32 or float64, got float16");
}

TEST_CASE("The same GPT-2 folder through the Python exporter gives transformers' logits", "[models][bundle]") {
  auto bundle = Bundle::load(tiny_folder("gpt2_bundle.pt"));
  bundle.to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  for (const auto& sequence : iglens::testing::tiny_reference("gpt2")) {
    CHECK(max_abs_diff(bundle.logits(ids_tensor(sequence.ids)).squeeze(0), sequence.logits) <= 1e-8);
  }
}

TEST_CASE("IG-Lens over a native decoder: f_final is the model's own probability", "[models][hf]") {
  auto model = load_hf_decoder(tiny_folder("llama_tied"));
  model.to(torch::kFloat64);
  const std::vector<std::int64_t> ids = {3, 17, 42, 99, 5, 61};
  const auto targets = Targets::next_tokens(ids);
  Options options;
  options.dtype = torch::kFloat64;
  Lens<DecoderModel> lens(model);
  const auto attribution = lens.attribute(torch::tensor(ids, torch::kLong), targets, options);
  torch::NoGradGuard no_grad;
  const auto probabilities = model.logits(ids_tensor(ids))[0].softmax(-1);
  for (std::size_t t = 0; t < targets.size(); ++t) {
    const auto own = probabilities[targets.positions[t]][targets.ids[t]].item<double>();
    CHECK(attribution.f_final[t].item<double>() == Approx(own).margin(1e-12));
  }
}

TEST_CASE("SmolLM2 saved by transformers as an HF folder gives the GGUF reference's residual stream",
          "[models][smollm2]") {
  // The folder holds transformers' un-permuted Q/K rows; the GGUF test checks the
  // same reference from llama.cpp's permuted rows, so both loaders agree.
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/smollm2/hf");
  CHECK((model.config().n_head == 9 && model.config().n_kv_head == 3 && model.config().tied_embeddings));
  CHECK(model.config().rope_base == 100000.0);
  model.to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  for (const auto& sequence : iglens::testing::smollm2_reference()) {
    const auto ids = ids_tensor(sequence.ids);
    CHECK(max_abs_diff(model.residual_stream(ids).squeeze(1), sequence.residual_stream) <= 1e-8);
    CHECK(max_abs_diff(model.logits(ids)[0], sequence.logits) <= 1e-8);
  }
}
