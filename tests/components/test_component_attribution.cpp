// attribute_components on the tiny transformers-made GPT-2, Llama and Gemma 2
// (soft-capped logits) models: closed-form slopes equal to autograd, exact
// completeness at every step count, block sums equal to the layer map, head
// credits of every estimator converging to an independent point-by-point
// Integrated Gradients integral, and finite credits over a maximum of f.

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "iglens/components/component_attribution.hpp"
#include "iglens/components/source_attribution.hpp"
#include "iglens/engine/detail/gauss_legendre.hpp"
#include "iglens/engine/engine.hpp"
#include "iglens/models/load_gguf.hpp"
#include "iglens/models/load_hf.hpp"
#include "one_token.hpp"
#include "reference.hpp"

using namespace iglens;
using iglens::testing::attribute_one;
using iglens::testing::ids_tensor;
using iglens::testing::max_abs_diff;

namespace {

struct Case {
  DecoderModel model;
  ResidualComponents components;
  std::int64_t position;
  std::int64_t target;
};

// A reference model and the group of references it belongs to.
struct Named {
  const char* name;
  const char* group;
};

// GPT-2 (LayerNorm), Llama (RMSNorm) and Gemma 2, whose logits are soft-capped.
const std::vector<Named> norm_kinds_and_cap{{"gpt2", "tiny"}, {"llama_tied", "tiny"}, {"gemma2", "current"}};

// The longest reference sequence of a tiny model, read at its last position
// for the token the model ranks first there.
Case tiny_case(const std::string& name, torch::ScalarType dtype, const std::string& group = "tiny") {
  auto model = load_hf_decoder(iglens::testing::reference_dir() + "/" + group + "/" + name);
  model.to(dtype);
  auto sequences = iglens::testing::tiny_reference(name, group);
  const auto& ids = sequences.back().ids;
  const auto position = static_cast<std::int64_t>(ids.size()) - 1;
  const auto target = model.logits(ids_tensor(ids))[0][position].argmax().item<std::int64_t>();
  auto components = model.components(ids_tensor(ids));
  return {std::move(model), std::move(components), position, target};
}

// p_target at one residual vector [d], evaluated on its own.
double probability(const NormHead& head, const torch::Tensor& h, std::int64_t target) {
  torch::NoGradGuard no_grad;
  return torch::softmax(head.logits(h.unsqueeze(0)), -1)[0][target].item<double>();
}

// Integrated Gradients of the parts [C, d] along start -> end by the
// midpoint rule with `points` points, one autograd pass per point.
torch::Tensor reference_integral(const NormHead& head, const torch::Tensor& start, const torch::Tensor& end,
                                 const torch::Tensor& parts, std::int64_t target, int points) {
  auto total = torch::zeros({parts.size(0)}, torch::kFloat64);
  for (int k = 0; k < points; ++k) {
    const double t = (k + 0.5) / points;
    auto h = (start + t * (end - start)).detach().unsqueeze(0).requires_grad_(true);
    auto f = torch::softmax(head.logits(h), -1)[0][target];
    f.backward();
    total += torch::mv(parts.to(torch::kFloat64), h.grad()[0].to(torch::kFloat64));
  }
  return total / points;
}

// The same integral by a Gauss-Legendre rule with `nodes` nodes, one autograd pass per node.
torch::Tensor gauss_legendre_integral(const NormHead& head, const torch::Tensor& start, const torch::Tensor& end,
                                      const torch::Tensor& parts, std::int64_t target, std::int64_t nodes) {
  const auto [t, w] = iglens::detail::gauss_legendre_unit_interval(nodes);
  auto total = torch::zeros({parts.size(0)}, torch::kFloat64);
  for (std::int64_t k = 0; k < nodes; ++k) {
    auto h = (start + t[k] * (end - start)).detach().unsqueeze(0).requires_grad_(true);
    torch::softmax(head.logits(h), -1)[0][target].backward();
    total += w[k] * torch::mv(parts, h.grad()[0]);
  }
  return total;
}

// Block l of `c` alone, as a one-block decomposition.
ResidualComponents one_block(const ResidualComponents& c, std::int64_t l) {
  return {c.resid_pre.narrow(0, l, 2), c.resid_mid.narrow(0, l, 1), c.head_results.narrow(0, l, 1),
          c.attn_bias.narrow(0, l, 1), c.mlp_out.narrow(0, l, 1)};
}

// Index of the first credit of block l: after "embedding", H + 2 per block.
std::int64_t block_start(std::int64_t l, std::int64_t heads) { return 1 + l * (heads + 2); }

}  // namespace

TEST_CASE("component attribution: labels, and credits add up to delta and to the layer map at any m",
          "[components][attribution]") {
  for (const auto& [name, group] : norm_kinds_and_cap) {
    for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
      const double tolerance = dtype == torch::kFloat32 ? 1e-6 : 1e-12;
      CAPTURE(name, tolerance);
      const auto test = tiny_case(name, dtype, group);
      const auto& c = test.components;
      const auto head = test.model.norm_head();
      const auto L = c.n_layer(), H = c.n_head();
      // A zero baseline and the mean token embedding.
      for (const auto& baseline : {torch::Tensor(), test.model.weights().token_embedding.tensor().mean(0)}) {
        const auto start = baseline.defined() ? baseline : torch::zeros({c.d_model()}, c.resid_pre.options());
        const double f_baseline = probability(head, start, test.target);
        const auto pre = c.resid_pre.select(1, test.position);
        const double f_final = probability(head, pre[L], test.target);
        for (const std::int64_t steps : {1, 2, 7, 64}) {
          CAPTURE(steps, baseline.defined());
          const auto result = attribute_one(c, test.position, test.target, head, steps, baseline);
          REQUIRE(result.credits.numel() == 1 + L * (H + 2));
          const auto labels = result.layout.labels();
          REQUIRE(labels.size() == static_cast<std::size_t>(result.credits.numel()));
          CHECK(labels[0] == "embedding");
          CHECK(labels[block_start(1, H) + 1] == "1.attn.head 1");
          CHECK(labels[block_start(1, H) + H] == "1.attn.bias");
          CHECK(labels[block_start(1, H) + H + 1] == "1.mlp");
          const auto& bias = result.layout.parts[block_start(1, H) + H];
          CHECK((bias.kind == ComponentKind::attn_bias && bias.block == 1 && !bias.head));
          CHECK(result.f_baseline == Approx(f_baseline).margin(tolerance));
          CHECK(result.f_final == Approx(f_final).margin(tolerance));
          CHECK(std::abs(result.credits.sum().item<double>() - result.delta) <= tolerance);
          CHECK(std::abs(result.credits[0].item<double>() - (probability(head, pre[0], test.target) - f_baseline)) <=
                tolerance);
          for (std::int64_t l = 0; l < L; ++l) {
            CAPTURE(l);
            const double layer_map =
                probability(head, pre[l + 1], test.target) - probability(head, pre[l], test.target);
            const double block = result.credits.narrow(0, block_start(l, H), H + 2).sum().item<double>();
            CHECK(std::abs(block - layer_map) <= tolerance);
          }
        }
      }
    }
  }
}

TEST_CASE("component attribution: closed-form slopes and values equal autograd through the real norm and head",
          "[components][attribution]") {
  for (const auto& [name, group] : norm_kinds_and_cap) {
    CAPTURE(name);
    const auto test = tiny_case(name, torch::kFloat64, group);
    const auto& c = test.components;
    const auto head = test.model.norm_head();
    // The head (its soft-cap too) reads the last layer as the model's own forward pass does.
    const auto ids = ids_tensor(iglens::testing::tiny_reference(name, group).back().ids);
    CHECK(max_abs_diff(head.logits(c.resid_pre[c.n_layer()]), test.model.logits(ids)[0]) <= 1e-12);
    const auto pre = c.resid_pre.select(1, test.position), mid = c.resid_mid.select(1, test.position);
    const std::int64_t l = c.n_layer() - 1;
    const auto parts = torch::cat({c.head_results[l][test.position], c.attn_bias[l][test.position].unsqueeze(0)});
    using namespace iglens::detail;
    const auto u_ends = unscaled_logits(head, torch::stack({pre[l], mid[l]}));
    const PartSlopes along(head, test.target, logit_offset(head),
                           {pre[l], mid[l], parts, u_ends[0], u_ends[1], unscaled_logits(head, parts)});
    const std::vector<double> points{0.0, 0.3, 0.77, 1.0};
    const auto t = torch::tensor(points, torch::kFloat64);
    const auto slopes = along.slopes(t), values = along.values(t);
    for (std::size_t k = 0; k < points.size(); ++k) {
      CAPTURE(points[k]);
      auto h = (pre[l] + points[k] * (mid[l] - pre[l])).detach().unsqueeze(0).requires_grad_(true);
      const auto f = torch::softmax(head.logits(h), -1)[0][test.target];
      f.backward();
      const auto expected = torch::mv(parts, h.grad()[0]);
      CHECK(max_abs_diff(slopes[k], expected) <= 1e-13 * std::max(1.0, expected.abs().max().item<double>()));
      CHECK(std::abs(values[k].item<double>() - f.item<double>()) <= 1e-15);
    }
  }
}

TEST_CASE("component attribution: credits add up to delta and to the layer map at every m from 1 to 256",
          "[components][attribution]") {
  for (const auto& [name, group] : norm_kinds_and_cap) {
    for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
      const double tolerance = dtype == torch::kFloat32 ? 1e-6 : 1e-12;
      CAPTURE(name, tolerance);
      const auto test = tiny_case(name, dtype, group);
      const auto& c = test.components;
      const auto head = test.model.norm_head();
      const auto L = c.n_layer(), H = c.n_head();
      const auto pre = c.resid_pre.select(1, test.position);
      std::vector<double> layer_map;
      for (std::int64_t l = 0; l < L; ++l) {
        layer_map.push_back(probability(head, pre[l + 1], test.target) - probability(head, pre[l], test.target));
      }
      double worst_sum = 0.0, worst_block = 0.0;
      for (std::int64_t steps = 1; steps <= 256; ++steps) {
        const auto result = attribute_one(c, test.position, test.target, head, steps);
        worst_sum = std::max(worst_sum, std::abs(result.credits.sum().item<double>() - result.delta));
        for (std::int64_t l = 0; l < L; ++l) {
          const double block = result.credits.narrow(0, block_start(l, H), H + 2).sum().item<double>();
          worst_block = std::max(worst_block, std::abs(block - layer_map[l]));
        }
      }
      CAPTURE(worst_sum, worst_block);
      CHECK(worst_sum <= tolerance);
      CHECK(worst_block <= tolerance);
    }
  }
}

TEST_CASE("component attribution: every estimator's head split converges to the same Integrated Gradients",
          "[components][attribution]") {
  const auto test = tiny_case("gpt2", torch::kFloat64);
  const auto& c = test.components;
  const auto head = test.model.norm_head();
  const auto L = c.n_layer(), H = c.n_head();
  const auto pre = c.resid_pre.select(1, test.position), mid = c.resid_mid.select(1, test.position);
  std::vector<torch::Tensor> reference;  // per block: heads then bias, Gauss-Legendre with 48 autograd nodes
  for (std::int64_t l = 0; l < L; ++l) {
    const auto parts = torch::cat({c.head_results[l][test.position], c.attn_bias[l][test.position].unsqueeze(0)});
    reference.push_back(gauss_legendre_integral(head, pre[l], mid[l], parts, test.target, 48));
  }
  const auto error_at = [&](Estimator estimator, std::int64_t steps) {
    const auto result = attribute_one(c, test.position, test.target, head, steps, {}, estimator);
    CHECK(result.estimator == estimator);
    double error = 0.0;
    for (std::int64_t l = 0; l < L; ++l) {
      error = std::max(error, max_abs_diff(result.credits.narrow(0, block_start(l, H), H + 1), reference[l]));
    }
    return error;
  };
  for (const auto estimator : {Estimator::observed_delta, Estimator::riemann_midpoint, Estimator::riemann_trapezoid}) {
    CAPTURE(estimator_name(estimator));
    const double e16 = error_at(estimator, 16), e64 = error_at(estimator, 64), e256 = error_at(estimator, 256);
    CAPTURE(e16, e64, e256);
    // Second-order rules: about 16x less error per 4x steps (observed delta measured: 4.7e-11, 3.0e-12, 1.8e-13).
    CHECK(e64 < e16 / 8);
    CHECK(e256 < e64 / 8);
    CHECK(e256 <= 1e-8);
  }
  // Gauss-Legendre converges faster than any power of m: measured 1.8e-18 at 4 nodes.
  CHECK(error_at(Estimator::gauss_legendre, 4) <= 1e-15);
}

TEST_CASE("component attribution: head credits converge to the point-by-point Integrated Gradients integral",
          "[components][attribution]") {
  for (const auto& [name, group] : norm_kinds_and_cap) {
    CAPTURE(name);
    const auto test = tiny_case(name, torch::kFloat64, group);
    const auto& c = test.components;
    const auto head = test.model.norm_head();
    const auto L = c.n_layer(), H = c.n_head();
    const auto pre = c.resid_pre.select(1, test.position), mid = c.resid_mid.select(1, test.position);
    std::vector<torch::Tensor> reference;  // per block: heads then bias
    for (std::int64_t l = 0; l < L; ++l) {
      const auto parts = torch::cat({c.head_results[l][test.position], c.attn_bias[l][test.position].unsqueeze(0)});
      reference.push_back(reference_integral(head, pre[l], mid[l], parts, test.target, 4096));
    }
    std::vector<double> errors;
    for (const std::int64_t steps : {16, 64, 256}) {
      const auto result = attribute_one(c, test.position, test.target, head, steps);
      double error = 0.0, largest = 0.0;
      for (std::int64_t l = 0; l < L; ++l) {
        const auto credits = result.credits.narrow(0, block_start(l, H), H + 1);
        error = std::max(error, (credits - reference[l]).abs().max().item<double>());
        largest = std::max(largest, reference[l].abs().max().item<double>());
      }
      CAPTURE(steps, error, largest);
      errors.push_back(error);
      // The heads carry real, distinct credit: the comparison is not between zeros.
      CHECK(largest > 1e-5);
    }
    // Midpoint slopes: the error falls like 1/m^2 (measured: 16x per 4x steps).
    CHECK(errors[2] <= 1e-8);
    CHECK(errors[1] < errors[0] / 8);
    CHECK(errors[2] < errors[1] / 8);
  }
}

TEST_CASE("component attribution of parallel blocks (GPT-NeoX): heads, bias and MLP split one segment",
          "[components][attribution]") {
  const auto test = tiny_case("gpt_neox", torch::kFloat64, "current");
  const auto& c = test.components;
  REQUIRE(c.parallel_blocks());
  const auto head = test.model.norm_head();
  const auto L = c.n_layer(), H = c.n_head();
  const auto pre = c.resid_pre.select(1, test.position);
  // A block's writes add up to its whole change of the stream: there is no resid_mid between them.
  CHECK(max_abs_diff(c.head_results.sum(2) + c.attn_bias + c.mlp_out,
                     c.resid_pre.narrow(0, 1, L) - c.resid_pre.narrow(0, 0, L)) <= 1e-12);
  // Per block, heads, bias and MLP along resid_pre[l] -> resid_pre[l+1]: 48 Gauss-Legendre nodes, autograd.
  std::vector<torch::Tensor> reference;
  double largest_mlp = 0.0;
  for (std::int64_t l = 0; l < L; ++l) {
    const auto parts = torch::cat({c.head_results[l][test.position], c.attn_bias[l][test.position].unsqueeze(0),
                                   c.mlp_out[l][test.position].unsqueeze(0)});
    reference.push_back(gauss_legendre_integral(head, pre[l], pre[l + 1], parts, test.target, 48));
    largest_mlp = std::max(largest_mlp, std::abs(reference.back()[H + 1].item<double>()));
  }
  CHECK(largest_mlp > 1e-7);  // the MLP shares the segment with real credit of its own
  for (const std::int64_t steps : {1, 2, 7, 64}) {
    CAPTURE(steps);
    const auto result = attribute_one(c, test.position, test.target, head, steps);
    CHECK(result.layout.parallel_blocks);
    REQUIRE(result.credits.numel() == 1 + L * (H + 2));
    CHECK(std::abs(result.credits.sum().item<double>() - result.delta) <= 1e-12);
    for (std::int64_t l = 0; l < L; ++l) {
      const double layer_map = probability(head, pre[l + 1], test.target) - probability(head, pre[l], test.target);
      CHECK(std::abs(result.credits.narrow(0, block_start(l, H), H + 2).sum().item<double>() - layer_map) <= 1e-12);
    }
  }
  const auto error_at = [&](Estimator estimator, std::int64_t steps) {
    const auto result = attribute_one(c, test.position, test.target, head, steps, {}, estimator);
    double error = 0.0;
    for (std::int64_t l = 0; l < L; ++l) {
      error = std::max(error, max_abs_diff(result.credits.narrow(0, block_start(l, H), H + 2), reference[l]));
    }
    return error;
  };
  // The closed-form slopes against autograd at the same nodes, and observed delta converging like 1/m^2.
  CHECK(error_at(Estimator::gauss_legendre, 48) <= 1e-14);
  const double e16 = error_at(Estimator::observed_delta, 16), e64 = error_at(Estimator::observed_delta, 64),
               e256 = error_at(Estimator::observed_delta, 256);
  CAPTURE(e16, e64, e256);
  CHECK(e64 < e16 / 8);
  CHECK(e256 < e64 / 8);
  CHECK(e256 <= 1e-8);
  // Each head's sources add up to its credit in the shared segment.
  Options options;
  options.dtype = torch::kFloat64;
  options.steps = 7;
  const auto sources = attribute_sources(c, Targets{{test.position}, {test.target}, {}}, head, options);
  for (std::int64_t l = 0; l < L; ++l) {
    const auto heads = sources.components.credits[0].narrow(0, block_start(l, H), H);
    CHECK(max_abs_diff(sources.credits[0][l].sum(-1), heads) <= 1e-12);
  }
  // In float32, exact sums within float32 rounding.
  const auto single = tiny_case("gpt_neox", torch::kFloat32, "current");
  const auto result = attribute_one(single.components, single.position, single.target, single.model.norm_head(), 64);
  CHECK(std::abs(result.credits.sum().item<double>() - result.delta) <= 1e-6);
}

TEST_CASE("component attribution: a segment over a maximum of f gives finite, bounded credits",
          "[components][attribution]") {
  const auto test = tiny_case("gpt2", torch::kFloat64);
  const auto head = test.model.norm_head();
  const auto y = test.target;
  const auto d = test.components.d_model();
  // The final residual h0 and a direction e orthogonal to grad f(h0): along
  // h0 + s e, f is stationary at s = 0, which is the midpoint of the segment
  // from h0 - k e to h0 + k e. Two "heads" split e with large opposite slopes.
  const auto h0 = test.components.resid_pre[-1][test.position];
  auto point = h0.unsqueeze(0).clone().requires_grad_(true);
  torch::softmax(head.logits(point), -1)[0][y].backward();
  const auto gradient = point.grad()[0];
  auto generator = torch::make_generator<torch::CPUGeneratorImpl>(7);
  auto e = torch::randn({d}, generator, torch::kFloat64);
  e -= gradient * (e.dot(gradient) / gradient.dot(gradient));
  e *= 4.0 * h0.norm() / e.norm();
  auto across = torch::randn({d}, generator, torch::kFloat64);
  across -= gradient * (across.dot(gradient) / gradient.dot(gradient));
  across *= 10.0 * e.norm() / across.norm();
  const auto direction = 2.0 * e;  // from h0 - e to h0 + e
  ResidualComponents c;
  c.resid_pre = torch::stack({h0 - e, h0 + e}).unsqueeze(1);
  c.resid_mid = (h0 + e).view({1, 1, d});
  c.head_results = torch::stack({direction / 2 + across + gradient * 1e-3, direction / 2 - across - gradient * 1e-3})
                       .view({1, 1, 2, d});
  c.attn_bias = torch::zeros({1, 1, d}, torch::kFloat64);
  c.mlp_out = torch::zeros({1, 1, d}, torch::kFloat64);
  const double f_start = probability(head, h0 - e, y), f_peak = probability(head, h0, y),
               f_end = probability(head, h0 + e, y);
  CAPTURE(f_start, f_peak, f_end);
  REQUIRE(f_peak > f_start);
  REQUIRE(f_peak > f_end);
  // The stable rule keeps each credit within 3 max|D_c f| + the variation of f (<= 2 f_peak);
  // the plain ratio would give about df / D_d f, which is unbounded here.
  double slope_bound = 0.0;
  for (int k = 0; k <= 64; ++k) {
    auto h = (h0 - e + (k / 64.0) * direction).unsqueeze(0).requires_grad_(true);
    torch::softmax(head.logits(h), -1)[0][y].backward();
    slope_bound = std::max(slope_bound, torch::mv(c.head_results[0][0], h.grad()[0]).abs().max().item<double>());
  }
  for (const std::int64_t steps : {1, 3, 5, 64}) {
    CAPTURE(steps);
    const auto result = attribute_one(c, 0, y, head, steps, h0 - e);
    REQUIRE(iglens::detail::all_finite(result.credits));
    CHECK(std::abs(result.credits.sum().item<double>() - result.delta) <= 1e-12);
    const auto heads = result.credits.narrow(0, 1, 2);
    CHECK(heads.abs().max().item<double>() <= 4.0 * slope_bound + 2.0 * f_peak);
  }
}

TEST_CASE("component attribution: bad arguments are one-line errors", "[components][attribution]") {
  const auto test = tiny_case("gpt2", torch::kFloat64);
  const auto head = test.model.norm_head();
  const auto& c = test.components;
  using iglens::testing::error_of;
  CHECK(error_of([&] { attribute_one(c, c.length(), 0, head, 4); }).find("position") != std::string::npos);
  CHECK(error_of([&] { attribute_one(c, 0, head.vocab_size(), head, 4); }).find("target") != std::string::npos);
  CHECK(error_of([&] { attribute_one(c, 0, 0, head, 0); }).find("steps") != std::string::npos);
  CHECK(error_of([&] { attribute_one(c, 0, 0, head, 4, torch::zeros({3}, torch::kFloat64)); }).find("baseline") !=
        std::string::npos);
  auto broken = c;
  broken.head_results = c.head_results.narrow(1, 0, 1);
  CHECK(error_of([&] { attribute_one(broken, 0, 0, head, 4); }).find("shapes") != std::string::npos);
}

TEST_CASE("component attribution on SmolLM2: exact sums, and a head split that converges", "[components][smollm2]") {
  const char* path = std::getenv("IGLENS_SMOLLM2_GGUF");
  if (path == nullptr) FAIL("IGLENS_SMOLLM2_GGUF is not set: run the test through ctest (fixture smollm2)");
  auto model = load_gguf_decoder(path);
  const std::vector<std::int64_t> ids{1, 504, 3575, 282, 4649, 314, 5465, 30};
  const std::int64_t position = static_cast<std::int64_t>(ids.size()) - 1;
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const double tolerance = dtype == torch::kFloat32 ? 1e-6 : 1e-12;
    CAPTURE(tolerance);
    model.to(dtype);
    const auto target = model.logits(ids_tensor(ids))[0][position].argmax().item<std::int64_t>();
    const auto c = model.components(ids_tensor(ids));
    const auto head = model.norm_head();
    const auto L = c.n_layer(), H = c.n_head();
    const auto result = attribute_one(c, position, target, head, 7);
    CHECK(std::abs(result.credits.sum().item<double>() - result.delta) <= tolerance);
    // f_final is the model's own probability for its top token, up to float32 rounding.
    CHECK(result.f_final ==
          Approx(torch::softmax(model.logits(ids_tensor(ids))[0][position], -1)[target].item<double>())
              .margin(dtype == torch::kFloat32 ? 1e-5 : 1e-12));
    // Each block adds up to the layer map's credit of that block, computed by
    // the engine (in float32 up to rounding: its products and softmax group
    // the sums differently, measured 2.2e-6).
    Options options;
    options.baseline = Baseline::zero();
    options.dtype = dtype;
    const auto map = iglens::attribute(c.resid_pre, Targets{{position}, {target}, {}}, model.readout(), options);
    for (std::int64_t l = 0; l <= L; ++l) {
      CAPTURE(l);
      const auto credits =
          l == 0 ? result.credits.narrow(0, 0, 1) : result.credits.narrow(0, block_start(l - 1, H), H + 2);
      CHECK(std::abs(credits.sum().item<double>() - map.ig[0][l].item<double>()) <=
            (dtype == torch::kFloat32 ? 1e-5 : 1e-12));
    }
    if (dtype != torch::kFloat64) continue;
    // Convergence on the block whose attention moves f the most.
    const auto pre = c.resid_pre.select(1, position), mid = c.resid_mid.select(1, position);
    std::int64_t block = 0;
    double largest_move = -1.0;
    for (std::int64_t l = 0; l < L; ++l) {
      const double move = std::abs(probability(head, mid[l], target) - probability(head, pre[l], target));
      if (move > largest_move) largest_move = move, block = l;
    }
    CAPTURE(block, largest_move);
    const auto parts = torch::cat({c.head_results[block][position], c.attn_bias[block][position].unsqueeze(0)});
    const auto reference = gauss_legendre_integral(head, pre[block], mid[block], parts, target, 48);
    // The reference itself has converged: twice the nodes agree.
    CHECK(max_abs_diff(reference, gauss_legendre_integral(head, pre[block], mid[block], parts, target, 96)) <= 1e-12);
    CHECK(reference.abs().max().item<double>() > 1e-3);
    const auto error_at = [&](Estimator estimator, std::int64_t steps) {
      const auto credits = attribute_one(one_block(c, block), position, target, head, steps, {}, estimator).credits;
      return max_abs_diff(credits.narrow(0, 1, H + 1), reference);
    };
    // This block moves f by about 0.7, so the 1/m^2 error of the second-order
    // rules is larger than on the tiny models (observed delta measured:
    // 1.4e-4, 9.0e-6, 5.6e-7).
    for (const auto estimator :
         {Estimator::observed_delta, Estimator::riemann_midpoint, Estimator::riemann_trapezoid}) {
      const double e16 = error_at(estimator, 16), e64 = error_at(estimator, 64), e256 = error_at(estimator, 256);
      CAPTURE(estimator_name(estimator), e16, e64, e256);
      std::printf("%s %.3e %.3e %.3e\n", estimator_name(estimator).c_str(), e16, e64, e256);
      CHECK(e256 <= 5e-6);
      CHECK(e64 < e16 / 8);
      CHECK(e256 < e64 / 8);
    }
    const double g8 = error_at(Estimator::gauss_legendre, 8), g24 = error_at(Estimator::gauss_legendre, 24);
    std::printf("GL %.3e %.3e\n", g8, g24);
    CAPTURE(g8, g24);
    CHECK(g24 < g8 / 100);
    CHECK(g24 <= 1e-10);
  }
}

TEST_CASE("source attribution: each head's write is the sum of what it reads from every source",
          "[components][sources]") {
  for (const auto& [name, group] : norm_kinds_and_cap) {
    CAPTURE(name);
    const auto test = tiny_case(name, torch::kFloat64, group);
    const auto& c = test.components;
    REQUIRE(c.has_sources());
    const auto L = c.n_layer(), S = c.length(), H = c.n_head(), d = c.d_model();
    REQUIRE(c.attn_pattern.sizes() == torch::IntArrayRef({L, H, S, S}));
    // Causal rows that sum to one.
    CHECK(max_abs_diff(c.attn_pattern.sum(-1), torch::ones({L, H, S}, torch::kFloat64)) <= 1e-12);
    CHECK(c.attn_pattern.triu(1).abs().max().item<double>() == 0.0);
    const auto read = torch::einsum("lhij,ljhd->lihd", {c.attn_pattern, c.head_values}) * c.head_scale.unsqueeze(2);
    CHECK(max_abs_diff(read, c.head_results) <= 1e-12 * std::max(1.0, c.head_results.abs().max().item<double>()));
    (void)d;
  }
}

TEST_CASE("source attribution: a head's sources add up to its credit at any m and converge to the integral",
          "[components][sources]") {
  for (const auto& [name, group] : norm_kinds_and_cap) {
    CAPTURE(name);
    const auto test = tiny_case(name, torch::kFloat64, group);
    const auto& c = test.components;
    const auto head = test.model.norm_head();
    const auto L = c.n_layer(), H = c.n_head(), S = c.length();
    // The last position, and position 1 whose sources 2.. are in its future.
    const Targets targets{{test.position, 1}, {test.target, test.target}, {}};
    Options options;
    options.dtype = torch::kFloat64;
    for (const std::int64_t steps : {1, 2, 7, 64}) {
      CAPTURE(steps);
      options.steps = steps;
      const auto result = attribute_sources(c, targets, head, options);
      // The same head split attribute_components gives.
      CHECK(max_abs_diff(result.components.credits, attribute_components(c, targets, head, options).credits) == 0.0);
      for (std::int64_t t = 0; t < 2; ++t) {
        for (std::int64_t l = 0; l < L; ++l) {
          const auto heads = result.components.credits[t].narrow(0, block_start(l, H), H);
          CHECK(max_abs_diff(result.credits[t][l].sum(-1), heads) <= 1e-12);
        }
      }
      CHECK(result.credits[1].narrow(2, 2, S - 2).abs().max().item<double>() == 0.0);
    }
    // Against autograd on the block whose attention moves f the most: every
    // (head, source) direction, integrated point by point.
    const auto pre = c.resid_pre.select(1, test.position), mid = c.resid_mid.select(1, test.position);
    std::int64_t block = 0;
    double largest_move = -1.0;
    for (std::int64_t l = 0; l < L; ++l) {
      const double move = std::abs(probability(head, mid[l], test.target) - probability(head, pre[l], test.target));
      if (move > largest_move) largest_move = move, block = l;
    }
    const auto n = test.position + 1;
    const auto sources = (c.attn_pattern[block].select(1, test.position).narrow(1, 0, n).unsqueeze(2) *
                          c.head_values[block].narrow(0, 0, n).transpose(0, 1) * c.head_scale[block][test.position])
                             .reshape({H * n, -1});
    const Targets last{{test.position}, {test.target}, {}};
    const auto credits_at = [&](Estimator estimator, std::int64_t steps) {
      options.estimator = estimator;
      options.steps = steps;
      return attribute_sources(c, last, head, options).credits[0][block].narrow(1, 0, n).reshape({H * n});
    };
    // Gauss-Legendre on both sides: the closed-form gradient equals autograd's.
    const auto exact = gauss_legendre_integral(head, pre[block], mid[block], sources, test.target, 48);
    CHECK(max_abs_diff(credits_at(Estimator::gauss_legendre, 48), exact) <= 1e-13);
    CHECK(exact.abs().max().item<double>() > 1e-6);  // not a comparison of zeros
    // The midpoint rule against the same rule by autograd, one pass per point.
    const auto midpoint = reference_integral(head, pre[block], mid[block], sources, test.target, 256);
    CHECK(max_abs_diff(credits_at(Estimator::riemann_midpoint, 256), midpoint) <= 1e-8);
    // Observed delta: within 1/m^2 of the integral.
    const double e16 = max_abs_diff(credits_at(Estimator::observed_delta, 16), exact),
                 e64 = max_abs_diff(credits_at(Estimator::observed_delta, 64), exact),
                 e256 = max_abs_diff(credits_at(Estimator::observed_delta, 256), exact);
    CAPTURE(e16, e64, e256);
    CHECK(e64 < e16 / 8);
    CHECK(e256 < e64 / 8);
    CHECK(e256 <= 1e-8);
  }
}

TEST_CASE("source attribution: in float32 a head's sources add up to its credit within float32 rounding",
          "[components][sources]") {
  for (const auto& [name, group] : norm_kinds_and_cap) {
    CAPTURE(name);
    const auto test = tiny_case(name, torch::kFloat32, group);
    const auto& c = test.components;
    const auto head = test.model.norm_head();
    const auto L = c.n_layer(), H = c.n_head();
    const Targets targets{{test.position}, {test.target}, {}};
    for (const std::int64_t steps : {1, 2, 7, 64}) {
      CAPTURE(steps);
      Options options;
      options.steps = steps;
      const auto result = attribute_sources(c, targets, head, options);
      for (std::int64_t l = 0; l < L; ++l) {
        // The model and its slopes in float32: its rounding (2^-24 relative on terms of size <= 1) bounds this.
        const auto heads = result.components.credits[0].narrow(0, block_start(l, H), H);
        CHECK(max_abs_diff(result.credits[0][l].sum(-1), heads) <= 1e-6);
      }
    }
  }
}

TEST_CASE("source attribution: components without the heads' reads are a one-line error", "[components][sources]") {
  const auto test = tiny_case("gpt2", torch::kFloat64);
  auto c = test.components;
  c.attn_pattern = torch::Tensor();
  Options options;
  options.dtype = torch::kFloat64;
  CHECK(iglens::testing::error_of([&] {
          attribute_sources(c, Targets{{0}, {0}, {}}, test.model.norm_head(), options);
        }).find("the split by source position needs the attention patterns") != std::string::npos);
}
