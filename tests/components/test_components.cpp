// DecoderModel::components: each block's writes (heads, attention bias, MLP)
// add up to its change of the residual stream, on the tiny transformers-made
// GPT-2, Llama, Qwen and Gemma models and on SmolLM2.

#include <cstdlib>
#include <string>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "iglens/models/load_gguf.hpp"
#include "iglens/models/load_hf.hpp"
#include "reference.hpp"

using namespace iglens;
using iglens::testing::ids_tensor;
using iglens::testing::max_abs_diff;

namespace {

// The largest gap, over all blocks, between the parts' sum and the observed change.
struct SplitGaps {
  double attention = 0.0;
  double mlp = 0.0;
};

SplitGaps split_gaps(const ResidualComponents& c) {
  const auto L = c.n_layer();
  const auto attention = c.head_results.sum(2) + c.attn_bias;
  const auto attention_change = c.resid_mid - c.resid_pre.narrow(0, 0, L);
  const auto mlp_change = c.resid_pre.narrow(0, 1, L) - c.resid_mid;
  return {max_abs_diff(attention, attention_change), max_abs_diff(c.mlp_out, mlp_change)};
}

void check_components(DecoderModel& model, const std::vector<std::int64_t>& ids, double tolerance) {
  const auto& config = model.config();
  const auto S = static_cast<std::int64_t>(ids.size());
  const auto c = model.components(ids_tensor(ids));
  CHECK(c.resid_pre.sizes() == torch::IntArrayRef({config.n_layer + 1, S, config.d_model}));
  CHECK(c.resid_mid.sizes() == torch::IntArrayRef({config.n_layer, S, config.d_model}));
  CHECK(c.head_results.sizes() == torch::IntArrayRef({config.n_layer, S, config.n_head, config.d_model}));
  CHECK(c.attn_bias.sizes() == c.resid_mid.sizes());
  CHECK(c.mlp_out.sizes() == c.resid_mid.sizes());
  CHECK(c.resid_pre.scalar_type() == model.dtype());
  // The same forward pass as residual_stream, to the bit.
  CHECK(torch::equal(c.resid_pre, model.residual_stream(ids_tensor(ids)).squeeze(1)));
  const auto gaps = split_gaps(c);
  CHECK(gaps.attention <= tolerance);
  CHECK(gaps.mlp <= tolerance);
  // The heads are not one write copied: each carries its own part.
  CHECK(max_abs_diff(c.head_results.select(2, 0), c.head_results.select(2, 1)) > 1e-3);
  // A llama-family block has no output bias (Qwen2's q/k/v biases are inside each head's write).
  if (config.architecture == Architecture::llama) CHECK(c.attn_bias.abs().max().item<double>() == 0.0);
  for (std::int64_t l = 0; l < config.n_layer; ++l) {
    const auto& bias = model.weights().layers[l].attn_out_bias;
    if (bias.defined()) CHECK(torch::equal(c.attn_bias[l], bias.expand({S, config.d_model})));
  }
}

std::string tiny(const std::string& name) { return iglens::testing::reference_dir() + "/tiny/" + name; }
std::string converted(const std::string& name) { return iglens::testing::reference_dir() + "/converted/" + name; }

struct TinyModel {
  std::string reference, group, path;
};

}  // namespace

TEST_CASE("components: heads + bias and the MLP add up to each block's change (tiny models)", "[components]") {
  for (const auto& tiny_model : {TinyModel{"gpt2", "tiny", tiny("gpt2")},
                                 {"llama_tied", "tiny", tiny("llama_tied")},
                                 {"llama_untied", "tiny", tiny("llama_untied")},
                                 {"llama_untied", "tiny", tiny("llama_untied.gguf")},
                                 {"llama3", "converted", converted("llama3.gguf")},
                                 {"qwen2", "converted", converted("qwen2")},
                                 {"qwen2", "converted", converted("qwen2.gguf")},
                                 {"qwen3", "current", iglens::testing::reference_dir() + "/current/qwen3"},
                                 // Norms after attention: each head's write scaled by the norm's shared scale.
                                 {"gemma3", "current", iglens::testing::reference_dir() + "/current/gemma3"},
                                 {"gemma3_gguf", "current", iglens::testing::reference_dir() + "/current/gemma3.gguf"},
                                 {"gemma2", "current", iglens::testing::reference_dir() + "/current/gemma2"}}) {
    const auto& path = tiny_model.path;
    CAPTURE(path);
    auto model =
        path.size() > 5 && path.substr(path.size() - 5) == ".gguf" ? load_gguf_decoder(path) : load_hf_decoder(path);
    // The GGUF Llama 3's RoPE divisors are rounded to float32 by the converter (test_gguf.cpp).
    const double stream_tolerance = tiny_model.reference == "llama3" ? 1e-6 : 1e-8;
    for (const auto& sequence : iglens::testing::tiny_reference(tiny_model.reference, tiny_model.group)) {
      CAPTURE(sequence.ids.size());
      model.to(torch::kFloat32);
      check_components(model, sequence.ids, 1e-5);
      model.to(torch::kFloat64);
      check_components(model, sequence.ids, 1e-12);
      // And the stream itself is transformers' (float64).
      CHECK(max_abs_diff(model.components(ids_tensor(sequence.ids)).resid_pre, sequence.residual_stream) <=
            stream_tolerance);
    }
  }
}

TEST_CASE("components: ids must be one sequence", "[components]") {
  auto model = load_hf_decoder(tiny("gpt2"));
  const auto message = iglens::testing::error_of([&] { model.components(torch::zeros({2, 3}, torch::kLong)); });
  CHECK(message.find("[1, S]") != std::string::npos);
  CHECK_THROWS_AS(model.components(torch::full({1, 3}, 100000, torch::kLong)), Error);
}

TEST_CASE("components: SmolLM2's blocks add up in float32 and float64", "[components][smollm2]") {
  const char* path = std::getenv("IGLENS_SMOLLM2_GGUF");
  if (path == nullptr) FAIL("IGLENS_SMOLLM2_GGUF is not set: run the test through ctest (fixture smollm2)");
  auto model = load_gguf_decoder(path);
  const std::vector<std::int64_t> ids{1, 504, 3575, 282, 4649, 314, 5465, 30};
  model.to(torch::kFloat32);
  auto c = model.components(ids_tensor(ids));
  // Float32 rounding scales with the stream's size (SmolLM2's residuals reach the hundreds).
  const auto scale = c.resid_pre.abs().max().item<double>();
  CAPTURE(scale);
  auto gaps = split_gaps(c);
  CHECK(gaps.attention <= 1e-6 * scale);
  CHECK(gaps.mlp <= 1e-6 * scale);
  model.to(torch::kFloat64);
  c = model.components(ids_tensor(ids));
  gaps = split_gaps(c);
  CHECK(gaps.attention <= 1e-12 * scale);
  CHECK(gaps.mlp <= 1e-12 * scale);
}
