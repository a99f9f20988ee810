// Bundle::components on bundles from the Python exporter: resid_pre is the
// residual stream and each block's parts add up to its change (float32 and
// float64), component credits add up to delta and to each block's change of
// f, each head's write is what it reads (head_reads) and its sources add up
// to its credit, a bundle exported before `components` existed says how to re-export it,
// and the committed demo model has components. CTest writes the bundles first
// (fixtures tiny_bundle and old_style_bundle) and passes their paths in the
// environment.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/components/component_attribution.hpp"
#include "iglens/components/source_attribution.hpp"
#include "iglens/models/bundle.hpp"
#include "iglens/models/load_model.hpp"
#include "iglens/prompts/prompt_lens.hpp"
#include "one_token.hpp"
#include "reference.hpp"

using namespace iglens;
using iglens::testing::attribute_one;
using iglens::testing::max_abs_diff;

namespace {

std::string env_path(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) FAIL(name << " is not set: run the test through ctest");
  return value;
}

torch::Tensor prompt(const Bundle& bundle, const std::string& text) {
  return torch::tensor(bundle.tokenizer().encode(text), torch::kLong).unsqueeze(0);
}

// How far the components of ids are from what they must add up to.
struct SumErrors {
  double resid_pre = 0.0;  // resid_pre against residual_stream
  double attention = 0.0;  // heads + attn_bias against resid_mid - resid_pre
  double mlp = 0.0;        // mlp_out against the next resid_pre - resid_mid
};

SumErrors sum_errors(Bundle& bundle, const ResidualComponents& c, const torch::Tensor& ids) {
  torch::NoGradGuard no_grad;
  const auto L = c.n_layer();
  return {max_abs_diff(c.resid_pre, bundle.residual_stream(ids).select(1, 0)),
          max_abs_diff(c.head_results.sum(2) + c.attn_bias, c.resid_mid - c.resid_pre.narrow(0, 0, L)),
          max_abs_diff(c.mlp_out, c.resid_pre.narrow(0, 1, L) - c.resid_mid)};
}

// p_target at one residual vector [d].
double probability(const NormHead& head, const torch::Tensor& h, std::int64_t target) {
  torch::NoGradGuard no_grad;
  return torch::softmax(head.logits(h.unsqueeze(0)), -1)[0][target].item<double>();
}

const char* const kPrompt = "To be, or not to be, that is the question";

}  // namespace

TEST_CASE("a bundle's components: resid_pre is its residual stream, each block's parts add up to its change",
          "[bundle][tiny]") {
  auto bundle = Bundle::load(env_path("IGLENS_TINY_BUNDLE"));
  REQUIRE(bundle.script().has_components());
  const auto& info = bundle.info();
  const auto ids = prompt(bundle, kPrompt);
  const auto L = info.n_layer, S = ids.size(1), H = info.n_head, d = info.d_model;
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const double tolerance = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
    CAPTURE(tolerance);
    bundle.to(dtype);
    const auto c = bundle.components(ids);
    CHECK(c.resid_pre.scalar_type() == dtype);
    CHECK(c.resid_pre.sizes() == torch::IntArrayRef({L + 1, S, d}));
    CHECK(c.resid_mid.sizes() == torch::IntArrayRef({L, S, d}));
    CHECK(c.head_results.sizes() == torch::IntArrayRef({L, S, H, d}));
    CHECK(c.attn_bias.sizes() == c.resid_mid.sizes());
    CHECK(c.mlp_out.sizes() == c.resid_mid.sizes());
    const auto errors = sum_errors(bundle, c, ids);
    std::printf("%s: resid_pre vs residual_stream %.2e, heads + bias vs block change %.2e, mlp %.2e\n",
                dtype == torch::kFloat32 ? "float32" : "float64", errors.resid_pre, errors.attention, errors.mlp);
    CHECK(errors.resid_pre <= tolerance);
    CHECK(errors.attention <= tolerance);
    CHECK(errors.mlp <= tolerance);
  }
  CHECK_THROWS_WITH(bundle.components(ids.expand({2, S})), Catch::Contains("one sequence [1, S]"));
}

TEST_CASE("a bundle's head reads: each head's write is what it reads, and its sources add up to its credit",
          "[bundle][tiny][sources]") {
  auto bundle = Bundle::load(env_path("IGLENS_TINY_BUNDLE"));
  REQUIRE(bundle.has_sources());
  const auto ids = prompt(bundle, kPrompt);
  const auto position = ids.size(1) - 1;
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const double tolerance = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
    CAPTURE(tolerance);
    bundle.to(dtype);
    const auto c = bundle.components(ids);
    REQUIRE(c.has_sources());
    const auto L = c.n_layer(), H = c.n_head();
    // Causal rows that sum to one, and heads that write what they read.
    CHECK(max_abs_diff(c.attn_pattern.sum(-1), torch::ones({L, H, c.length()}, c.attn_pattern.options())) <= tolerance);
    CHECK(c.attn_pattern.triu(1).abs().max().item<double>() == 0.0);
    const auto read = torch::einsum("lhij,ljhd->lihd", {c.attn_pattern, c.head_values}) * c.head_scale.unsqueeze(2);
    CHECK(max_abs_diff(read, c.head_results) <= tolerance);
    Options options;
    options.dtype = dtype;
    options.steps = 7;
    const auto target = bundle.logits(ids)[0][position].argmax().item<std::int64_t>();
    const auto result = attribute_sources(c, Targets{{position}, {target}, {}}, bundle.norm_head(), options);
    for (std::int64_t l = 0; l < L; ++l) {
      CHECK(max_abs_diff(result.credits[0][l].sum(-1), result.components.credits[0].narrow(0, 1 + l * (H + 2), H)) <=
            1e-12);
    }
  }
}

TEST_CASE("component credits of a bundle add up to delta and to each block's change of f", "[bundle][tiny]") {
  auto bundle = Bundle::load(env_path("IGLENS_TINY_BUNDLE"));
  const auto ids = prompt(bundle, kPrompt);
  const auto position = ids.size(1) - 1;
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const double tolerance = dtype == torch::kFloat32 ? 1e-6 : 1e-12;
    CAPTURE(tolerance);
    bundle.to(dtype);
    const auto c = bundle.components(ids);
    const auto head = bundle.norm_head();
    const auto target = bundle.logits(ids)[0][position].argmax().item<std::int64_t>();
    const auto L = c.n_layer(), H = c.n_head();
    const auto pre = c.resid_pre.select(1, position);
    for (const std::int64_t steps : {1, 16}) {
      CAPTURE(steps);
      const auto result = attribute_one(c, position, target, head, steps);
      REQUIRE(result.credits.numel() == 1 + L * (H + 2));
      CHECK(std::abs(result.credits.sum().item<double>() - result.delta) <= tolerance);
      CHECK(std::abs(result.f_final - probability(head, pre[L], target)) <= tolerance);
      for (std::int64_t l = 0; l < L; ++l) {
        CAPTURE(l);
        // The block's heads, bias and MLP.
        const double block = result.credits.narrow(0, 1 + l * (H + 2), H + 2).sum().item<double>();
        CHECK(std::abs(block - (probability(head, pre[l + 1], target) - probability(head, pre[l], target))) <=
              tolerance);
      }
    }
  }
}

TEST_CASE("a bundle exported before components existed says how to re-export it", "[bundle][old]") {
  const auto path = env_path("IGLENS_OLD_BUNDLE");
  auto bundle = Bundle::load(path);  // the other methods are all there
  CHECK_FALSE(bundle.script().has_components());
  CHECK(bundle.info().methods == std::vector<std::string>{"forward", "residual_stream", "readout"});
  const auto ids = prompt(bundle, kPrompt);
  CHECK(bundle.logits(ids).size(1) == ids.size(1));
  CHECK_THROWS_AS(bundle.components(ids), Error);
  CHECK_THROWS_WITH(bundle.components(ids), Catch::Contains("re-export") && Catch::Contains("--bundle " + path));
  CHECK_FALSE(bundle.has_sources());
  // The split by source position on it, as the program asks for it: one line that says how to re-export.
  PromptSettings sources;
  sources.components = sources.sources = true;
  CHECK_THROWS_WITH(PromptLens(load_model(path), sources),
                    Catch::Contains("exported before the split by source position existed (it has no 'head_reads' "
                                    "method); re-export it") &&
                        Catch::Contains("--bundle " + path));

  // The same module with an iglens.json that claims components is refused on loading.
  torch::jit::ExtraFilesMap extra{{"iglens.json", ""}, {"vocab.json", ""}, {"merges.txt", ""}};
  auto module = torch::jit::load(path, torch::kCPU, extra);
  auto meta = nlohmann::json::parse(extra["iglens.json"]);
  meta["methods"] = {"forward", "residual_stream", "readout", "components"};
  extra["iglens.json"] = meta.dump();
  const auto claims = (std::filesystem::temp_directory_path() / "iglens_claims_components.pt").string();
  module.save(claims, extra);
  CHECK_THROWS_WITH(Bundle::load(claims), Catch::Contains("lists method 'components'"));
  std::filesystem::remove(claims);
}

TEST_CASE("iglens.json: methods are optional, and must be names when given", "[bundle][info]") {
  nlohmann::json meta = {{"format_version", 1},
                         {"architecture", "gpt2"},
                         {"n_layer", 1},
                         {"d_model", 4},
                         {"n_head", 1},
                         {"vocab_size", 257},
                         {"context_length", 8},
                         {"final_norm", {{"kind", "layernorm"}, {"eps", 1e-5}, {"weight", "w"}, {"bias", "b"}}},
                         {"unembedding", {{"weight", "u"}, {"bias", nullptr}}},
                         {"special_tokens", nlohmann::json::object()},
                         {"tokenizer", {{"vocab", "vocab.json"}, {"merges", "merges.txt"}}}};
  CHECK(BundleInfo::parse(meta.dump(), "old.pt").methods ==
        std::vector<std::string>{"forward", "residual_stream", "readout"});
  meta["methods"] = {"forward", "residual_stream", "readout", "components"};
  CHECK(BundleInfo::parse(meta.dump(), "new.pt").methods.back() == "components");
  meta["methods"] = "components";
  CHECK_THROWS_WITH(BundleInfo::parse(meta.dump(), "bad.pt"), Catch::Contains("'methods' must be an array"));
  meta["methods"] = {"forward", 3};
  CHECK_THROWS_WITH(BundleInfo::parse(meta.dump(), "bad.pt"), Catch::Contains("non-empty strings, got 3"));
}

TEST_CASE("the committed demo model has components", "[bundle][demo]") {
  auto bundle = Bundle::load(IGLENS_DEMO_MODEL);
  REQUIRE(bundle.script().has_components());
  const auto ids = prompt(bundle, kPrompt);
  const auto c = bundle.components(ids);
  const auto errors = sum_errors(bundle, c, ids);
  std::printf("demo model: resid_pre vs residual_stream %.2e, heads + bias vs block change %.2e, mlp %.2e\n",
              errors.resid_pre, errors.attention, errors.mlp);
  CHECK(errors.resid_pre <= 1e-5);
  CHECK(errors.attention <= 1e-5);
  CHECK(errors.mlp <= 1e-5);
}
