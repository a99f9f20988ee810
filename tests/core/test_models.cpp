// IGLens over two model kinds: a torch::nn decoder written in C++ and a
// TorchScript module compiled from source, holding the same weights.

#include <catch2/catch.hpp>

#include <cstdlib>

#include "fixtures.hpp"

using namespace iglens;
using namespace iglens::testing;

static_assert(is_model_v<TinyGpt2Model>);
static_assert(is_model_v<ScriptModel>);
static_assert(!is_model_v<int>);
// Lens::attribute_components needs the blocks' writes and the norm + head.
static_assert(has_components_v<Bundle>);
static_assert(!has_components_v<ScriptModel>);  // its readout may be any TorchScript method, not a NormHead
static_assert(has_components_v<LoadedModel>);
static_assert(!has_components_v<TinyGpt2Model>);

TEST_CASE("the TorchScript twin computes the same network", "[models]") {
  auto net = make_tiny_gpt2();
  ScriptModel scripted(scripted_twin(net));
  auto ids = as_tensor(prompt_ids()).unsqueeze(0);
  torch::NoGradGuard no_grad;
  CHECK(max_abs_diff(scripted.residual_stream(ids), net->residual_stream(ids)) <= 1e-5);
  CHECK(max_abs_diff(scripted.logits(ids), net->logits(ids)) <= 1e-5);
}

TEST_CASE("Lens gives the same map for the nn model and its TorchScript twin", "[models]") {
  auto net = make_tiny_gpt2();
  auto ids = prompt_ids(12);
  auto targets = Targets::next_tokens(ids);
  Lens<TinyGpt2Model> closed(TinyGpt2Model{net, true});
  Lens<TinyGpt2Model> black_box(TinyGpt2Model{net, false});
  Lens<ScriptModel> scripted{ScriptModel(scripted_twin(net))};
  for (auto estimator : {Estimator::observed_delta, Estimator::riemann_midpoint}) {
    Options o;
    o.estimator = estimator;
    o.steps = 16;
    o.layers = LayerSelection::evenly_spaced(2);
    auto a = closed.attribute(as_tensor(ids), targets, o);
    auto b = black_box.attribute(as_tensor(ids), targets, o);
    auto c = scripted.attribute(as_tensor(ids), targets, o);
    INFO("estimator " << estimator_name(estimator));
    CHECK(max_abs_diff(a.ig, b.ig) <= 1e-5);
    CHECK(max_abs_diff(a.ig, c.ig) <= 1e-5);
    CHECK(max_abs_diff(a.lens, c.lens) <= 1e-5);
    if (estimator == Estimator::observed_delta) CHECK(c.completeness_error <= 1e-6);
  }
  // f_final is the TorchScript model's own probability of the next token.
  auto a = scripted.attribute(as_tensor(ids), targets, Options{});
  torch::NoGradGuard no_grad;
  auto probs = scripted.model().logits(as_tensor(ids).unsqueeze(0))[0].softmax(-1);
  for (std::int64_t t = 0; t < static_cast<std::int64_t>(targets.size()); ++t) {
    CHECK(std::abs(a.f_final[t].item<double>() - probs[t][targets.ids[t]].item<double>()) <= 1e-5);
  }
}

TEST_CASE("Lens attributes batches of sequences", "[models]") {
  auto net = make_tiny_gpt2();
  Lens<ScriptModel> scripted{ScriptModel(scripted_twin(net))};
  auto first = prompt_ids(6, 50, 0), second = prompt_ids(6, 50, 5);
  auto batch = scripted.attribute_batch(torch::stack({as_tensor(first), as_tensor(second)}),
                                        {Targets::next_tokens(first), Targets::next_tokens(second)}, Options{});
  CHECK(batch.ig.sizes() == torch::IntArrayRef{2, 5, 4});
  auto alone = scripted.attribute(as_tensor(second), Targets::next_tokens(second), Options{});
  CHECK(max_abs_diff(batch.ig[1], alone.ig) <= 1e-6);
}

TEST_CASE("a TorchScript module without the lens methods is refused", "[models][errors]") {
  torch::jit::Module m("NoLens");
  m.define("def forward(self, x):\n    return x\n");
  CHECK_THROWS_WITH(ScriptModel(m), Catch::Contains("has no method 'residual_stream'"));
}

TEST_CASE("float64 runs need a float64 model and agree with float32", "[models]") {
  auto net = make_tiny_gpt2();
  auto ids = prompt_ids();
  ScriptModel model(scripted_twin(net));
  Lens<ScriptModel> lens(model);
  Options o;
  o.dtype = torch::kFloat64;
  CHECK_THROWS_WITH(lens.attribute(as_tensor(ids), Targets::next_tokens(ids), o),
                    Catch::Contains("TorchScript method 'readout' failed"));
  auto single = lens.attribute(as_tensor(ids), Targets::next_tokens(ids), Options{});
  lens.model().to(torch::kDouble);
  auto dbl = lens.attribute(as_tensor(ids), Targets::next_tokens(ids), o);
  CHECK(dbl.ig.scalar_type() == torch::kDouble);
  CHECK(dbl.completeness_error <= 1e-12);
  CHECK(max_abs_diff(dbl.ig, single.ig) <= 1e-5);
}

// Hidden: CTest runs it to save the TorchScript twin for the README example.
TEST_CASE("save the tiny TorchScript model", "[.save-tiny-model]") {
  const char* path = std::getenv("IGLENS_TINY_MODEL_OUT");
  REQUIRE(path != nullptr);
  scripted_twin(make_tiny_gpt2()).save(path);
}
