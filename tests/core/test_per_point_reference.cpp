// The engine against a plain per-point implementation of IG-Lens (one readout
// call per interpolation point, nothing shared with the engine) on a tiny
// model, llm.c style: OK / NOT OK per quantity with the largest difference and
// its tolerance. (The golden values of the README's demo are in
// tests/cli/golden/, checked by tests/cli/test_golden_demo.py.)

#include <catch2/catch.hpp>

#include <cstdio>

#include "fixtures.hpp"

using namespace iglens;
using namespace iglens::testing;

namespace {

struct Reference {
  torch::Tensor observed_steps;  // [T, K, m] per-step change of f
  torch::Tensor midpoint;        // [T, K] midpoint-rule IG with autograd
  torch::Tensor lens;            // [T, K]
  torch::Tensor f_baseline;      // [T]
};

// Straight from the definition: mean baseline at the lowest chosen layer,
// chain baseline -> h_L1 -> ... -> h_Lk, f = softmax(W ln_f(h))[y].
Reference per_point_reference(TinyGpt2& net, const torch::Tensor& residual, const Targets& targets,
                              const std::vector<std::int64_t>& layers, std::int64_t m) {
  auto f = [&](const torch::Tensor& h, std::int64_t y) {
    return net->readout_logits(h.view({1, -1})).softmax(-1)[0][y];
  };
  const auto T = static_cast<std::int64_t>(targets.size()), K = static_cast<std::int64_t>(layers.size());
  Reference ref{torch::zeros({T, K, m}, torch::kDouble), torch::zeros({T, K}, torch::kDouble),
                torch::zeros({T, K}, torch::kDouble), torch::zeros({T}, torch::kDouble)};
  auto baseline = residual[layers.front()].mean(0);
  for (std::int64_t t = 0; t < T; ++t) {
    const auto y = targets.ids[t], i = targets.positions[t];
    std::vector<torch::Tensor> chain{baseline};
    for (auto l : layers) chain.push_back(residual[l][i]);
    {
      torch::NoGradGuard no_grad;
      ref.f_baseline[t] = f(chain[0], y).item<double>();
    }
    for (std::int64_t k = 0; k < K; ++k) {
      const auto& a = chain[k];
      const auto& b = chain[k + 1];
      torch::NoGradGuard no_grad;
      ref.lens[t][k] = f(b, y).item<double>();
      for (std::int64_t s = 0; s < m; ++s) {
        auto before = f(a + (b - a) * (double(s) / m), y).item<double>();
        auto after = f(a + (b - a) * (double(s + 1) / m), y).item<double>();
        ref.observed_steps[t][k][s] = after - before;
      }
    }
    for (std::int64_t k = 0; k < K; ++k) {
      const auto& a = chain[k];
      const auto& b = chain[k + 1];
      double sum = 0.0;
      for (std::int64_t s = 0; s < m; ++s) {
        auto point = (a + (b - a) * ((s + 0.5) / m)).detach().requires_grad_(true);
        auto value = f(point, y);
        auto grad = torch::autograd::grad({value}, {point})[0];
        sum += (grad * (b - a)).sum().item<double>() / m;
      }
      ref.midpoint[t][k] = sum;
    }
  }
  return ref;
}

bool report(const char* what, const torch::Tensor& engine, const torch::Tensor& reference, double tolerance) {
  const double diff = max_abs_diff(engine, reference);
  const bool ok = diff <= tolerance;
  std::printf("%-7s %-34s max|diff| %.3e (tolerance %.0e)\n", ok ? "OK" : "NOT OK", what, diff, tolerance);
  return ok;
}

}  // namespace

TEST_CASE("the engine matches a plain per-point implementation", "[reference]") {
  auto net = make_tiny_gpt2({}, torch::kFloat64);
  auto ids = prompt_ids(8);
  auto residual = residual_of(net, ids);
  auto targets = Targets::next_tokens(ids);
  const std::int64_t m = 6;
  Options o;
  o.dtype = torch::kFloat64;
  o.layers = LayerSelection::explicit_list({1, 2});
  o.baseline = Baseline::mean();
  o.steps = m;
  o.keep_per_step = true;
  const auto layers = o.layers.resolve(net->config.n_layer);
  auto ref = per_point_reference(net, residual, targets, layers, m);

  std::printf("per-point reference: tiny GPT-2 (L=3, d=16, V=50), %zu tokens, layers 1 2 3, m=%ld, float64\n",
              targets.size(), static_cast<long>(m));
  for (const auto& [name, readout] : {std::pair{"closed form", Readout::norm_head(net->norm_head())},
                                      std::pair{"black box", Readout::norm_head(net->norm_head()).as_black_box()}}) {
    std::printf("-- %s readout\n", name);
    auto observed = attribute(residual, targets, readout, o);
    CHECK(report("observed-delta per-step credits", observed.per_step, ref.observed_steps, 1e-12));
    CHECK(report("observed-delta segment credits", observed.ig, ref.observed_steps.sum(-1), 1e-12));
    CHECK(report("logit lens of f", observed.lens, ref.lens, 1e-12));
    CHECK(report("f at the baseline", observed.f_baseline, ref.f_baseline, 1e-12));
    auto midpoint_options = o;
    midpoint_options.estimator = Estimator::riemann_midpoint;
    auto midpoint = attribute(residual, targets, readout, midpoint_options);
    CHECK(report("midpoint IG (gradient)", midpoint.ig, ref.midpoint, 1e-10));
  }
}
