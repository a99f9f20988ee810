// iglens-bench: IG-Lens against the logit-lens floor and the per-point
// reference, timed side by side in one run, on a GPT-2-small-sized readout
// (d 768, V 50257, final LayerNorm, seeded random weights). Prints tables of
// times (median of repeats) and ratios with each target next to them.
//
//   iglens-bench [--repeats N] [--threads N] [--bundle FILE --program PATH]
//                [--real-model FILE.gguf --program PATH --transformers-python PATH --hf-folder PATH]
//
// --bundle/--program add the end-to-end row: `iglens attribute` on a
// GPT-2-small-sized bundle against one forward of that model plus the floor.
// --real-model adds the real-model table (scripts/bench-real-model.sh runs
// it on SmolLM2-135M, or on Gemma 3 270M): loading, forward against
// transformers', the map against the logit lens, and the program's peak memory.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "iglens/iglens.hpp"
#include "openblas_core.hpp"

namespace {

constexpr std::int64_t kDModel = 768, kVocab = 50257, kLayers = 12;

// A residual stream [L+1, T, d] that drifts from layer to layer, a readout
// whose logits spread like a trained model's, and as targets each position's
// final-layer favourite, so probabilities are far from uniform. The readout
// is made once, as a user makes it once per model (it checks W on creation).
struct Problem {
  explicit Problem(iglens::NormHead norm_head)
      : head(std::move(norm_head)), readout(iglens::Readout::norm_head(head)) {}

  iglens::NormHead head;
  iglens::Readout readout;
  torch::Tensor residual;
  iglens::Targets targets;
};

Problem make_problem(std::int64_t T, std::uint64_t seed = 0) {
  torch::manual_seed(seed);
  iglens::NormHead head;
  head.kind = iglens::NormKind::layer_norm;
  head.weight = 1 + 0.1 * torch::randn({kDModel});
  head.bias = 0.1 * torch::randn({kDModel});
  head.unembedding = 0.12 * torch::randn({kVocab, kDModel});
  head.eps = 1e-5;
  Problem p(std::move(head));
  auto steps = torch::randn({kLayers + 1, T, kDModel});
  steps.slice(0, 1) *= 0.6;
  p.residual = steps.cumsum(0);
  auto final_logits = torch::layer_norm(p.residual[kLayers], {kDModel}, p.head.weight, p.head.bias, p.head.eps)
                          .matmul(p.head.unembedding.tensor().t());
  auto best = final_logits.argmax(-1);
  for (std::int64_t i = 0; i < T; ++i) {
    p.targets.positions.push_back(i);
    p.targets.ids.push_back(best[i].item<std::int64_t>());
  }
  return p;
}

std::vector<std::int64_t> chosen_layers(std::int64_t K) {
  return iglens::LayerSelection::evenly_spaced(K).resolve(kLayers);
}

// Norm + head as plainly as LibTorch computes it: the floor's readout, for
// either norm kind.
torch::Tensor readout_logits(const iglens::NormHead& head, const torch::Tensor& h) {
  auto normed = head.kind == iglens::NormKind::layer_norm
                    ? torch::layer_norm(h, {h.size(-1)}, head.weight, head.bias, head.eps)
                    : h * torch::rsqrt(h.square().mean(-1, true) + head.eps) * head.weight;
  return head.cap(torch::nn::functional::linear(normed, head.unembedding.tensor(), head.head_bias));
}

torch::Tensor probability(const torch::Tensor& logits, const torch::Tensor& target) {
  return (logits.gather(1, target.view({-1, 1})).squeeze(1) - logits.logsumexp(1)).exp();
}

// The chain vertices [T, K+1, d]: the mean baseline, then each chosen layer.
torch::Tensor chain_vertices(const Problem& p, const std::vector<std::int64_t>& layers) {
  auto chosen = p.residual.index_select(0, torch::tensor(layers)).transpose(0, 1);  // [T, K, d]
  auto baseline = p.residual[layers.front()].mean(0).expand({chosen.size(0), 1, chosen.size(2)});
  return torch::cat({baseline, chosen}, 1).contiguous();
}

torch::Tensor target_tensor(const Problem& p) { return torch::tensor(p.targets.ids, torch::kLong); }

// The least an exact method pays: every vertex once through norm + head.
torch::Tensor floor_lens(const Problem& p, const torch::Tensor& vertices) {
  torch::NoGradGuard no_grad;
  const auto K1 = vertices.size(1);
  auto rows = vertices.reshape({-1, vertices.size(2)});
  auto target = target_tensor(p).repeat_interleave(K1);
  return probability(readout_logits(p.head, rows), target).view({-1, K1});
}

constexpr std::int64_t kReferenceChunk = 2048;  // points per readout call in the per-point reference

// The reference algorithm, observed-delta: all T x K x (m+1) path points
// through the readout, each segment credited the sum of its steps.
torch::Tensor per_point_observed_delta(const Problem& p, const torch::Tensor& vertices, std::int64_t m) {
  torch::NoGradGuard no_grad;
  const auto T = vertices.size(0), K = vertices.size(1) - 1;
  auto t = torch::arange(m + 1, torch::kFloat) / m;
  auto start = vertices.narrow(1, 0, K).unsqueeze(2), end = vertices.narrow(1, 1, K).unsqueeze(2);
  auto points = (start + t.view({1, 1, -1, 1}) * (end - start)).reshape({-1, kDModel});
  auto target = target_tensor(p).repeat_interleave(K * (m + 1));
  std::vector<torch::Tensor> f;
  for (std::int64_t b = 0; b < points.size(0); b += kReferenceChunk) {
    const auto n = std::min(kReferenceChunk, points.size(0) - b);
    f.push_back(probability(readout_logits(p.head, points.narrow(0, b, n)), target.narrow(0, b, n)));
  }
  auto path = torch::cat(f).view({T, K, m + 1});
  return (path.narrow(2, 1, m) - path.narrow(2, 0, m)).sum(2);
}

// The reference algorithm, midpoint Riemann sum: m gradients per segment by autograd.
torch::Tensor per_point_midpoint(const Problem& p, const torch::Tensor& vertices, std::int64_t m) {
  const auto T = vertices.size(0), K = vertices.size(1) - 1;
  auto t = (torch::arange(m, torch::kFloat) + 0.5) / m;
  auto start = vertices.narrow(1, 0, K).unsqueeze(2), direction = vertices.narrow(1, 1, K).unsqueeze(2) - start;
  auto points = (start + t.view({1, 1, -1, 1}) * direction).reshape({-1, kDModel});
  auto directions = direction.expand({T, K, m, kDModel}).reshape({-1, kDModel});
  auto target = target_tensor(p).repeat_interleave(K * m);
  std::vector<torch::Tensor> slopes;
  for (std::int64_t b = 0; b < points.size(0); b += kReferenceChunk) {
    const auto n = std::min(kReferenceChunk, points.size(0) - b);
    auto x = points.narrow(0, b, n).detach().requires_grad_(true);
    auto f = probability(readout_logits(p.head, x), target.narrow(0, b, n));
    auto grad = torch::autograd::grad({f.sum()}, {x})[0];
    slopes.push_back((grad * directions.narrow(0, b, n)).sum(1).detach());
  }
  return torch::cat(slopes).view({T, K, m}).mean(2);
}

iglens::Options engine_options(std::int64_t K, std::int64_t m, iglens::Estimator estimator) {
  iglens::Options options;
  options.layers = iglens::LayerSelection::evenly_spaced(K);
  options.baseline = iglens::Baseline::mean();
  options.estimator = estimator;
  options.steps = m;
  return options;
}

iglens::Attribution engine(const Problem& p, std::int64_t K, std::int64_t m, iglens::Estimator estimator) {
  return iglens::attribute(p.residual, p.targets, p.readout, engine_options(K, m, estimator));
}

// Median wall time of `repeats` runs, after one warm-up run unless the run
// is long enough (the per-point references) for warm-up not to matter.
double median_seconds(int repeats, const std::function<void()>& run, bool warm_up = true) {
  if (warm_up) run();
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    const auto begin = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

std::string verdict(bool met) { return met ? "met" : "NOT MET"; }

std::int64_t status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(std::string(field).size()));
  }
  return -1;
}

// Extra peak resident memory of `run` in MiB: the peak counter is reset
// (clear_refs 5) and compared with the resident size before the run.
double extra_peak_mib(const std::function<void()>& run) {
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  const auto before = status_kib("VmRSS:");
  run();
  return static_cast<double>(status_kib("VmHWM:") - before) / 1024.0;
}

void main_table(int repeats) {
  const std::int64_t T = 32, K = 12, m = 64;
  const auto p = make_problem(T);
  const auto vertices = chain_vertices(p, chosen_layers(K));
  fmt::print("\n## Against the floor and the per-point reference (T {}, K {}, m {}, float32)\n\n", T, K, m);
  const double floor_s = median_seconds(repeats, [&] { floor_lens(p, vertices); });
  fmt::print("floor (logit lens of the {} vertices): {:.1f} ms\n\n", T * (K + 1), floor_s * 1e3);
  fmt::print(
      "| estimator | engine ms | per-point ms | engine/floor | target | per-point/engine | target | max diff | target "
      "|\n");
  fmt::print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  // Each reference runs once per three engine runs; Gauss-Legendre is
  // compared with the midpoint reference's result and time.
  struct Reference {
    torch::Tensor ig;
    double seconds = 0;
  };
  auto time_reference = [&](const std::function<torch::Tensor()>& run) {
    Reference r;
    r.seconds = median_seconds(
        std::max(1, repeats / 3), [&] { r.ig = run(); }, false);
    return r;
  };
  const auto observed_reference = time_reference([&] { return per_point_observed_delta(p, vertices, m); });
  const auto midpoint_reference = time_reference([&] { return per_point_midpoint(p, vertices, m); });
  struct Row {
    iglens::Estimator estimator;
    double engine_floor_target, speedup_target;
    const Reference& reference;
  };
  const std::vector<Row> rows{
      {iglens::Estimator::observed_delta, 1.2, 50, observed_reference},
      {iglens::Estimator::riemann_midpoint, 3, 100, midpoint_reference},
      {iglens::Estimator::gauss_legendre, 3, 100, midpoint_reference},
  };
  for (const auto& row : rows) {
    iglens::Attribution result;
    const double engine_s = median_seconds(repeats, [&] { result = engine(p, K, m, row.estimator); });
    const double reference_s = row.reference.seconds;
    const double diff = max_abs_diff(result.ig, row.reference.ig);
    const double ratio = engine_s / floor_s, speedup = reference_s / engine_s;
    // Gauss-Legendre is a different rule from the midpoint reference: its
    // difference is the midpoint rule's own error, shown but not a target.
    const bool same_rule = row.estimator != iglens::Estimator::gauss_legendre;
    fmt::print("| {} | {:.1f} | {:.1f} | {:.2f} | <= {} {} | {:.0f} | >= {} {} | {:.1e} | {} |\n",
               iglens::estimator_name(row.estimator), engine_s * 1e3, reference_s * 1e3, ratio, row.engine_floor_target,
               verdict(ratio <= row.engine_floor_target), speedup, row.speedup_target,
               verdict(speedup >= row.speedup_target), diff,
               same_rule ? fmt::format("<= 1e-5 {}", verdict(diff <= 1e-5)) : std::string("(vs midpoint)"));
  }
}

void step_table(int repeats) {
  const std::int64_t T = 32, K = 12;
  const auto p = make_problem(T);
  fmt::print("\n## Engine time against the step count m (T {}, K {})\n\n", T, K);
  fmt::print(
      "| estimator | m = 1 | m = 16 | m = 64 | m = 256 | 256 vs 1 | 256 vs 16 |\n| --- | --- | --- | --- | --- | --- | "
      "--- |\n");
  for (auto estimator :
       {iglens::Estimator::observed_delta, iglens::Estimator::riemann_midpoint, iglens::Estimator::gauss_legendre}) {
    std::vector<double> ms;
    for (std::int64_t m : {1, 16, 64, 256}) {
      ms.push_back(1e3 * median_seconds(repeats, [&] { engine(p, K, m, estimator); }));
    }
    const bool constant = estimator == iglens::Estimator::observed_delta;
    fmt::print("| {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.2f}{} | {:.2f} |\n", iglens::estimator_name(estimator),
               ms[0], ms[1], ms[2], ms[3], ms[3] / ms[0],
               constant ? fmt::format(" (target within 10 %: {})", verdict(std::abs(ms[3] / ms[0] - 1) <= 0.1)) : "",
               ms[3] / ms[1]);
  }
}

void scaling_table(int repeats) {
  fmt::print("\n## Scaling in T x (K+1) (observed-delta, m 64)\n\n");
  fmt::print(
      "| T | K | T x (K+1) | engine ms | floor ms | us per vertex (engine) |\n| --- | --- | --- | --- | --- | --- |\n");
  for (std::int64_t T : {16, 64, 256}) {
    const auto p = make_problem(T);
    for (std::int64_t K : {4, 12}) {
      const auto vertices = chain_vertices(p, chosen_layers(K));
      const double engine_s = median_seconds(repeats, [&] { engine(p, K, 64, iglens::Estimator::observed_delta); });
      const double floor_s = median_seconds(repeats, [&] { floor_lens(p, vertices); });
      fmt::print("| {} | {} | {} | {:.1f} | {:.1f} | {:.1f} |\n", T, K, T * (K + 1), engine_s * 1e3, floor_s * 1e3,
                 engine_s * 1e6 / static_cast<double>(T * (K + 1)));
    }
  }
}

void memory_table() {
  const std::int64_t T = 512, K = 12, m = 64;
  const auto p = make_problem(T);
  fmt::print("\n## Extra peak memory (T {}, K {}, m {}, default memory budget)\n\n", T, K, m);
  fmt::print("| run | extra peak RSS MiB | target |\n| --- | --- | --- |\n");
  for (auto estimator : {iglens::Estimator::observed_delta, iglens::Estimator::riemann_midpoint}) {
    const double mib = extra_peak_mib([&] { engine(p, K, m, estimator); });
    fmt::print("| engine {} | {:.0f} | < 512 {} |\n", iglens::estimator_name(estimator), mib, verdict(mib < 512));
  }
  const auto small = make_problem(32);
  const auto vertices = chain_vertices(small, chosen_layers(K));
  const double reference_mib = extra_peak_mib([&] { per_point_midpoint(small, vertices, m); });
  fmt::print("| per-point midpoint, T 32 only, chunks of {} points | {:.0f} | (reference) |\n", kReferenceChunk,
             reference_mib);
  fmt::print("\nUnchunked, the per-point path would hold T x K x m x V logits: {:.0f} GiB at T {}.\n",
             static_cast<double>(T * K * m) * kVocab * 4 / (1 << 30), T);
}

// float64 against float32 on the same head, timed side by side: the
// reference-grade run, with the readout made in float64 once (as the program
// does for --dtype float64).
void dtype_table(int repeats) {
  const std::int64_t T = 32, K = 12, m = 64;
  const auto p = make_problem(T);
  const auto readout64 = iglens::Readout::norm_head(p.head.to(torch::TensorOptions().dtype(torch::kFloat64)));
  fmt::print("\n## float64 against float32 (T {}, K {}, m {})\n\n", T, K, m);
  fmt::print(
      "| estimator | float32 ms | float64 ms | float64/float32 | target | extra peak MiB float32 | float64 | "
      "max diff |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (auto estimator :
       {iglens::Estimator::observed_delta, iglens::Estimator::riemann_midpoint, iglens::Estimator::gauss_legendre}) {
    auto options64 = engine_options(K, m, estimator);
    options64.dtype = torch::kFloat64;
    iglens::Attribution result32, result64;
    const double seconds32 = median_seconds(repeats, [&] { result32 = engine(p, K, m, estimator); });
    const double seconds64 =
        median_seconds(repeats, [&] { result64 = iglens::attribute(p.residual, p.targets, readout64, options64); });
    const double mib32 = extra_peak_mib([&] { engine(p, K, m, estimator); });
    const double mib64 = extra_peak_mib([&] { iglens::attribute(p.residual, p.targets, readout64, options64); });
    const double ratio = seconds64 / seconds32;
    fmt::print("| {} | {:.1f} | {:.1f} | {:.2f} | <= 4 {} | {:.0f} | {:.0f} | {:.1e} |\n",
               iglens::estimator_name(estimator), seconds32 * 1e3, seconds64 * 1e3, ratio, verdict(ratio <= 4), mib32,
               mib64, max_abs_diff(result32.ig, result64.ig));
  }
}

// Runs the program with `args` and waits; a failure stops the benchmark.
// What 12 heads, a bias and an MLP per block write into p's residual stream:
// the heads and the bias carry resid_mid - resid_pre, the MLP the rest.
iglens::ResidualComponents make_components(const Problem& p, std::int64_t heads) {
  torch::manual_seed(1);
  const auto T = p.residual.size(1);
  iglens::ResidualComponents c;
  c.resid_pre = p.residual;
  c.head_results = 0.6 / std::sqrt(static_cast<double>(heads)) * torch::randn({kLayers, T, heads, kDModel});
  c.attn_bias = (0.05 * torch::randn({kLayers, 1, kDModel})).expand({kLayers, T, kDModel}).contiguous();
  c.resid_mid = p.residual.narrow(0, 0, kLayers) + c.head_results.sum(2) + c.attn_bias;
  c.mlp_out = p.residual.narrow(0, 1, kLayers) - c.resid_mid;
  return c;
}

// The per-point reference of the head split: for every attention segment of
// one token, the midpoint rule with one autograd pass through norm + head per
// point, credits_c = (1/m) sum_k <grad f(h(t_k)), d_c>.
torch::Tensor per_point_head_split(const Problem& p, const iglens::ResidualComponents& c, std::int64_t position,
                                   std::int64_t m) {
  const auto target = p.targets.ids[position];
  std::vector<torch::Tensor> credits;
  for (std::int64_t l = 0; l < kLayers; ++l) {
    const auto start = c.resid_pre[l][position], end = c.resid_mid[l][position];
    const auto parts = torch::cat({c.head_results[l][position], c.attn_bias[l][position].unsqueeze(0)});
    auto total = torch::zeros({parts.size(0)});
    for (std::int64_t k = 0; k < m; ++k) {
      const double t = (static_cast<double>(k) + 0.5) / static_cast<double>(m);
      auto h = (start + t * (end - start)).detach().unsqueeze(0).requires_grad_(true);
      const auto f = probability(readout_logits(p.head, h), torch::tensor({target}));
      total += torch::mv(parts, torch::autograd::grad({f.sum()}, {h})[0][0]);
    }
    credits.push_back(total / static_cast<double>(m));
  }
  return torch::stack(credits);  // [L, H + 1]
}

void components_table(int repeats) {
  const std::int64_t T = 32, heads = 12, m = 16;
  const auto p = make_problem(T);
  const auto c = make_components(p, heads);
  const auto baseline = p.residual[0].mean(0);  // the layer map's mean baseline at layer 0
  fmt::print("\n## Components: every head, bias and MLP (T {}, {} layers x {} heads, m {}, float32)\n\n", T, kLayers,
             heads, m);
  auto components = [&](iglens::Estimator estimator) {
    iglens::Options options;
    options.steps = m;
    options.estimator = estimator;
    options.baseline = iglens::Baseline::custom(baseline);
    return iglens::attribute_components(c, p.targets, p.head, options);
  };
  // Memory first, before earlier runs leave freed pages in the allocator.
  const double extra_mib = extra_peak_mib([&] { components(iglens::Estimator::observed_delta); });
  iglens::ComponentCredits observed, midpoint;
  iglens::Attribution layer_map;
  iglens::Options all_layers;  // layers 0..12 with the mean baseline: one credit per block, like the components
  all_layers.steps = m;
  const double layer_s =
      median_seconds(repeats, [&] { layer_map = iglens::attribute(p.residual, p.targets, p.readout, all_layers); });
  const double observed_s = median_seconds(repeats, [&] { observed = components(iglens::Estimator::observed_delta); });
  const double midpoint_s =
      median_seconds(repeats, [&] { midpoint = components(iglens::Estimator::riemann_midpoint); });
  // The per-point reference takes seconds per token: timed on token 0 and
  // compared per token with the components' time over T tokens / T.
  torch::Tensor reference;
  const double reference_s = median_seconds(
      1, [&] { reference = per_point_head_split(p, c, 0, m); }, false);
  double block_error = 0;  // per-block sums against the layer map
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t l = 0; l < kLayers; ++l) {
      const double block = observed.credits[i].narrow(0, 1 + l * (heads + 2), heads + 2).sum().item<double>();
      block_error = std::max(block_error, std::abs(block - layer_map.ig[i][l + 1].item<double>()));
    }
  }
  auto head_credits = midpoint.credits[0].narrow(0, 1, kLayers * (heads + 2)).view({kLayers, heads + 2});
  const double reference_diff = max_abs_diff(head_credits.narrow(1, 0, heads + 1), reference);
  const double per_token_s = observed_s / static_cast<double>(T);
  const double map_ratio = observed_s / layer_s, speedup = reference_s / per_token_s;
  fmt::print("| run | ms | ratio | target |\n| --- | --- | --- | --- |\n");
  fmt::print("| layer map, observed-delta, all {} layers | {:.1f} | 1 | |\n", kLayers, layer_s * 1e3);
  fmt::print("| components, observed-delta | {:.1f} | {:.1f}x the layer map | <= 20 {} |\n", observed_s * 1e3,
             map_ratio, verdict(map_ratio <= 20));
  fmt::print("| components, riemann-midpoint | {:.1f} | {:.1f}x the layer map | |\n", midpoint_s * 1e3,
             midpoint_s / layer_s);
  fmt::print(
      "| per-point autograd head split (midpoint), per token | {:.1f} | {:.0f}x the components per token | >= 30 {} "
      "|\n",
      reference_s * 1e3, speedup, verdict(speedup >= 30));
  fmt::print(
      "\nmidpoint split vs per-point autograd, token 0: max diff {:.1e} (target <= 1e-5: {}); "
      "observed-delta block sums vs the layer map: max diff {:.1e} (target <= 1e-5: {})\n",
      reference_diff, verdict(reference_diff <= 1e-5), block_error, verdict(block_error <= 1e-5));
  fmt::print("extra peak RSS of the components over T {}: {:.0f} MiB (target < 1024: {})\n", T, extra_mib,
             verdict(extra_mib < 1024));
}

// make_components with what the split by source needs: causal attention
// patterns over all S positions and each source's value through each head,
// the heads' writes being exactly what they read.
iglens::ResidualComponents make_components_with_sources(const Problem& p, std::int64_t heads) {
  auto c = make_components(p, heads);
  const auto S = p.residual.size(1);
  torch::manual_seed(2);
  const auto causal = torch::ones({S, S}, torch::kBool).tril();
  c.attn_pattern = torch::softmax(torch::randn({kLayers, heads, S, S}).masked_fill(~causal, -INFINITY), -1);
  c.head_values = 0.6 / std::sqrt(static_cast<double>(heads)) * torch::randn({kLayers, S, heads, kDModel});
  c.head_scale = torch::ones({kLayers, S, kDModel});
  c.head_results = torch::einsum("lhij,ljhd->lihd", {c.attn_pattern, c.head_values});
  c.resid_mid = p.residual.narrow(0, 0, kLayers) + c.head_results.sum(2) + c.attn_bias;
  c.mlp_out = p.residual.narrow(0, 1, kLayers) - c.resid_mid;
  return c;
}

void sources_table(int repeats) {
  const std::int64_t S = 64, T = 32, heads = 12, m = 16;
  auto p = make_problem(S);
  // The last T positions are attributed: each reads up to 64 sources.
  p.targets.positions.erase(p.targets.positions.begin(), p.targets.positions.begin() + (S - T));
  p.targets.ids.erase(p.targets.ids.begin(), p.targets.ids.begin() + (S - T));
  const auto c = make_components_with_sources(p, heads);
  fmt::print(
      "\n## Sources: every head's credit by source position (T {}, {} layers x {} heads, {} positions, m {}, "
      "float32)\n\n",
      T, kLayers, heads, S, m);
  iglens::Options options;
  options.steps = m;
  options.baseline = iglens::Baseline::custom(p.residual[0].mean(0));
  // Memory first, before earlier runs leave freed pages in the allocator.
  const double extra_mib = extra_peak_mib([&] { iglens::attribute_sources(c, p.targets, p.head, options); });
  iglens::ComponentCredits components;
  iglens::SourceCredits sources;
  const double components_s =
      median_seconds(repeats, [&] { components = iglens::attribute_components(c, p.targets, p.head, options); });
  const double sources_s =
      median_seconds(repeats, [&] { sources = iglens::attribute_sources(c, p.targets, p.head, options); });
  // A head's sources add up to its credit.
  double sum_error = 0, largest = 0;
  for (std::int64_t t = 0; t < T; ++t) {
    for (std::int64_t l = 0; l < kLayers; ++l) {
      const auto head_credits = components.credits[t].narrow(0, 1 + l * (heads + 2), heads);
      sum_error = std::max(sum_error, max_abs_diff(sources.credits[t][l].sum(-1), head_credits));
      largest = std::max(largest, head_credits.abs().max().item<double>());
    }
  }
  const double ratio = sources_s / components_s;
  fmt::print("| run | ms | ratio | target |\n| --- | --- | --- | --- |\n");
  fmt::print("| components (heads, bias, MLP), observed-delta | {:.1f} | 1 | |\n", components_s * 1e3);
  fmt::print("| components and every head's sources, observed-delta | {:.1f} | {:.2f}x the components | <= 3 {} |\n",
             sources_s * 1e3, ratio, verdict(ratio <= 3));
  fmt::print(
      "\nsources summed vs their head's credit: max diff {:.1e} (largest head credit {:.1e}; target <= 1e-6: {})\n",
      sum_error, largest, verdict(sum_error <= 1e-6));
  fmt::print("extra peak RSS of the source split over T {}: {:.0f} MiB (target < 1024: {})\n", T, extra_mib,
             verdict(extra_mib < 1024));
}

// Runs `program args` to its end, its standard output thrown away.
void run_program(const std::string& program, std::vector<std::string> args) {
  std::vector<char*> argv{const_cast<char*>(program.c_str())};
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t child = fork();
  if (child == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  iglens::require(WIFEXITED(status) && WEXITSTATUS(status) == 0, "{} {} failed", program, args.front());
}

// `iglens attribute` as a user runs it, against one forward of the same
// model on the same tokens plus the floor for those tokens; in process (the
// model loaded) and as a whole process.
void end_to_end_table(const std::string& bundle_path, const std::string& program, int repeats) {
  const std::int64_t m = 64;
  iglens::Lens<iglens::Bundle> lens(iglens::Bundle::load(bundle_path));
  auto& bundle = lens.model();
  const auto& tokenizer = bundle.tokenizer();
  const std::string prompt = "The";
  // 64 teacher-forced target tokens after a one-token prompt: 64 rows.
  std::string target;
  while (static_cast<std::int64_t>(tokenizer.encode(target).size()) < 64)
    target += " the quick brown fox jumps over the lazy dog";
  auto target_ids = tokenizer.encode(target);
  target_ids.resize(64);
  target = tokenizer.decode(target_ids);
  // What `iglens attribute --target` runs: the prompt and all but the last
  // target token, each position read for the next token.
  auto ids = tokenizer.encode(prompt + target);
  const std::vector<std::int64_t> sequence(ids.begin(), ids.end() - 1);
  const auto T = static_cast<std::int64_t>(sequence.size());
  auto id_tensor = torch::tensor(sequence, torch::kLong);
  const auto n = bundle.info().n_layer;
  fmt::print("\n## End to end: iglens attribute, {} tokens, all {} layers, m {}\n\n", T, n, m);
  torch::Tensor residual;
  const double forward_s = median_seconds(repeats, [&] {
    torch::NoGradGuard no_grad;
    residual = bundle.residual_stream(id_tensor.unsqueeze(0));
  });
  Problem p(bundle.norm_head());
  p.residual = residual.squeeze(1);
  for (std::int64_t i = 0; i < T; ++i) {
    p.targets.positions.push_back(i);
    p.targets.ids.push_back(ids[i + 1]);
  }
  std::vector<std::int64_t> all_layers;
  for (std::int64_t l = 0; l <= n; ++l) all_layers.push_back(l);
  const auto vertices = chain_vertices(p, all_layers);
  const double floor_s = median_seconds(repeats, [&] { floor_lens(p, vertices); });
  iglens::Options options;  // the program's defaults: all layers, mean baseline, observed-delta
  options.steps = m;
  const double in_process_s = median_seconds(repeats, [&] { lens.attribute(id_tensor, p.targets, options); });
  const double load_s = median_seconds(repeats, [&] { iglens::Bundle::load(bundle_path); });
  const double start_s = median_seconds(repeats, [&] { run_program(program, {"--help"}); });
  const double program_s = median_seconds(repeats, [&] {
    run_program(program, {"attribute", prompt, "--target", target, "--model", bundle_path, "--steps", std::to_string(m),
                          "--format", "json", "--out", "/dev/null"});
  });
  const double base_s = forward_s + floor_s;
  fmt::print(
      "| part | ms |\n| --- | --- |\n| one forward (residual stream) | {:.0f} |\n| floor | {:.0f} |\n"
      "| attribution in process (forward, readout, map; model loaded) | {:.0f} |\n"
      "| LibTorch process start (`iglens --help`) | {:.0f} |\n| loading the bundle | {:.0f} |\n"
      "| iglens attribute, whole process | {:.0f} |\n\n",
      forward_s * 1e3, floor_s * 1e3, in_process_s * 1e3, start_s * 1e3, load_s * 1e3, program_s * 1e3);
  fmt::print("in process: attribution / (forward + floor) = {:.2f} (target <= 1.5: {})\n", in_process_s / base_s,
             verdict(in_process_s / base_s <= 1.5));
  fmt::print(
      "whole process / (forward + floor) = {:.2f} (target <= 1.5: {}); without LibTorch's start and the "
      "file load, which one forward does not include: {:.2f}\n",
      program_s / base_s, verdict(program_s / base_s <= 1.5), (program_s - start_s - load_s) / base_s);
}

// A real English text for the real-model table (written for this benchmark).
constexpr const char* kRealText =
    "The old lighthouse stood at the end of the harbour wall, and every evening the keeper climbed its "
    "hundred and twelve steps to light the lamp. Fishermen coming home in the dark steered by its beam, and "
    "children in the village learned to count by watching it turn. When the council decided to replace the "
    "keeper with an automatic light, the whole town gathered on the quay to protest, carrying lanterns of "
    "their own and singing the songs their grandparents had sung on stormy nights.";

// Reads the whole file into `buffer` with read(): the least any loader pays.
void read_file(const std::string& path, std::vector<char>& buffer) {
  const int fd = open(path.c_str(), O_RDONLY);
  iglens::require(fd >= 0, "cannot open '{}'", path);
  std::size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t got = read(fd, buffer.data() + done, buffer.size() - done);
    if (got <= 0) break;
    done += static_cast<std::size_t>(got);
  }
  close(fd);
  iglens::require(done == buffer.size(), "'{}' ended after {} of {} bytes", path, done, buffer.size());
}

std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The timing scripts sit in the source tree's scripts/ folder; this file's
// own path (absolute in CMake builds) leads there from any build folder.
std::string timing_script(const char* name) {
  const auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  const auto script = root / "scripts" / name;
  iglens::require(std::filesystem::is_regular_file(script), "cannot find '{}'", script.string());
  return script.string();
}

// The BLAS library this process runs on, from its memory map ("" if none is
// mapped by name).
std::string loaded_blas_path() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto at = line.find('/');
    if (at != std::string::npos && line.find("libopenblas", at) != std::string::npos) return line.substr(at);
  }
  return "";
}

// What a shell command prints on its standard output, or an Error naming
// `what` where it cannot start or does not exit with 0.
std::string command_output(const std::string& command, const std::string& what) {
  FILE* child = popen(command.c_str(), "r");
  iglens::require(child != nullptr, "cannot start {}", what);
  std::string output;
  char chunk[4096];
  while (const auto n = std::fread(chunk, 1, sizeof chunk, child)) output.append(chunk, n);
  const int status = pclose(child);
  iglens::require(status == 0, "{} failed (status {})", what, status);
  return output;
}

// The peak resident memory in KiB of `program args`, started by a small
// Python process: a child forked from this one would report this process's
// peak instead wherever it is larger (Linux keeps, as the child's peak, that
// of the memory image its exec replaced: a copy of this process's).
long peak_kib(const std::string& program, const std::vector<std::string>& args) {
  static const char* const script =
      "import resource, subprocess, sys\n"
      "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
      "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if done.returncode == 0 else -1)\n";
  auto command = fmt::format("python3 -c {} {}", shell_quoted(script), shell_quoted(program));
  for (const auto& arg : args) command += " " + shell_quoted(arg);
  const auto output = command_output(command, fmt::format("{} {}", program, args.front()));
  const long kib = std::stol(output);
  iglens::require(kib > 0, "{} {} failed", program, args.front());
  return kib;
}

// The JSON line a timing script in scripts/ prints last, run by `python`
// with `arguments` in a child process. The child preloads this process's
// BLAS: Debian's torch otherwise gets the pthread OpenBLAS, whose second
// thread pool fights OpenMP's on a small machine (4x slower on 2 cores),
// which would time the packaging rather than the code.
nlohmann::json timing_script_output(const std::string& python, const char* script, const std::string& arguments) {
  const auto blas = loaded_blas_path();
  const auto preload = blas.empty() ? std::string() : "LD_PRELOAD=" + shell_quoted(blas) + " ";
  const auto command =
      fmt::format("{}{} {} {}", preload, shell_quoted(python), shell_quoted(timing_script(script)), arguments);
  const auto output = command_output(command, fmt::format("the timing script {}", script));
  const auto last_line = output.substr(output.find_last_of('\n', output.size() - 2) + 1);
  return nlohmann::json::parse(last_line);
}

// transformers' forward of `ids` (median ms), timed in a child process on the same thread count.
nlohmann::json transformers_timing(const std::string& python, const std::string& hf_folder,
                                   const std::vector<std::int64_t>& ids, int repeats, std::int64_t generate = 0) {
  std::string id_list;
  for (const auto id : ids) id_list += (id_list.empty() ? "" : ",") + std::to_string(id);
  return timing_script_output(
      python, "time_transformers_forward.py",
      fmt::format("{} --ids {} --threads {} --repeats {} --generate {}", shell_quoted(hf_folder), id_list,
                  torch::get_num_threads(), repeats, generate));
}

double transformers_forward_ms(const std::string& python, const std::string& hf_folder,
                               const std::vector<std::int64_t>& ids, int repeats) {
  return transformers_timing(python, hf_folder, ids, repeats).at("median_ms").get<double>();
}

// 80 greedy tokens of an instruct model's answer in its chat format: with
// the key/value cache, without it, and transformers' own cached loop on the
// same weights and threads.
void generation_table(const std::string& path, const std::string& python, const std::string& hf_folder, int repeats) {
  const std::int64_t N = 80;
  auto pretrained = iglens::load_pretrained(path);
  const auto& tokenizer = pretrained.tokenizer;
  // SmolLM2-Instruct's chat format with its default system message, written out.
  const std::string chat =
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
      "<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n<|im_start|>assistant\n";
  const auto prompt = tokenizer.encode(chat, {true, tokenizer.adds_bos()});
  iglens::GreedyOptions options;
  options.max_new_tokens = N;  // no end token: every row generates N tokens
  std::vector<iglens::GreedyAnswer> cached, uncached;
  const double cached_s =
      median_seconds(repeats, [&] { cached = iglens::greedy_answers(pretrained.model, {prompt}, options); });
  auto without_cache = options;
  without_cache.use_cache = false;
  const double uncached_s = median_seconds(
      std::max(1, repeats / 3), [&] { uncached = iglens::greedy_answers(pretrained.model, {prompt}, without_cache); });
  const auto reference = transformers_timing(python, hf_folder, prompt, std::max(1, repeats / 3), N);
  const double transformers_s = reference.at("median_ms").get<double>() / 1e3;
  const auto same = [&](const std::vector<std::int64_t>& ids) {
    const auto theirs = reference.at("new_ids").get<std::vector<std::int64_t>>();
    std::size_t n = 0;
    while (n < ids.size() && n < theirs.size() && ids[n] == theirs[n]) ++n;
    return n;
  };
  fmt::print("\n## Greedy generation: {} tokens after a {}-token chat prompt ({} threads, float32)\n\n", N,
             prompt.size(), torch::get_num_threads());
  fmt::print("| generation | s | tokens equal to transformers' |\n| --- | --- | --- |\n");
  fmt::print("| transformers generate() (its key/value cache) | {:.2f} | |\n", transformers_s);
  fmt::print("| IG-Lens greedy_answers with the key/value cache | {:.2f} | {} of {} |\n", cached_s, same(cached[0].ids),
             N);
  fmt::print("| IG-Lens greedy_answers re-running the sequence | {:.2f} | {} of {} |\n\n", uncached_s,
             same(uncached[0].ids), N);
  fmt::print("uncached / cached = {:.2f} (target >= 5: {})\n", uncached_s / cached_s,
             verdict(uncached_s / cached_s >= 5));
  fmt::print("cached / transformers = {:.2f} (target <= 0.5: {})\n", cached_s / transformers_s,
             verdict(cached_s / transformers_s <= 0.5));
}

// SmolLM2 (or any GGUF decoder) as users run it: loading, one forward
// against transformers', the map against the logit lens, the program's peak
// memory against the float32 weights.
void real_model_table(const std::string& path, const std::string& program, const std::string& python,
                      const std::string& hf_folder, int repeats, double peak_target) {
  const int threads = torch::get_num_threads();
  fmt::print("\n## Real model: {} ({} threads, float32)\n\n", std::filesystem::path(path).filename().string(), threads);

  // 1. Loading against reading the bytes once (the warm-up run warms the page cache).
  std::vector<char> bytes(std::filesystem::file_size(path));
  const double read_s = median_seconds(repeats, [&] { read_file(path, bytes); });
  const double open_s = median_seconds(repeats, [&] { iglens::GgufFile::open(path); });
  const auto file = iglens::GgufFile::open(path);
  const double tokenizer_s = median_seconds(repeats, [&] { iglens::gguf_tokenizer(file); });
  const double decoder_s = median_seconds(repeats, [&] { iglens::load_gguf_decoder(file); });
  const double load_s = median_seconds(repeats, [&] { iglens::load_pretrained(path); });
  const double load_stored_s =
      median_seconds(repeats, [&] { iglens::load_pretrained(path, iglens::WeightStorage::as_stored); });
  std::int64_t weight_values = 0;
  for (const auto& tensor : file.tensors()) weight_values += tensor.numel();
  // What the float32 model's memory costs before any value is computed: the
  // kernel's page faults on first touch.
  const double touch_s = median_seconds(repeats, [&] { torch::empty({weight_values}).zero_(); });
  const double weight_mib = static_cast<double>(weight_values) * 4 / (1 << 20);
  fmt::print("### Loading ({:.0f} MiB file, {:.0f} MiB of float32 weights)\n\n", bytes.size() / double(1 << 20),
             weight_mib);
  fmt::print(
      "| part | ms |\n| --- | --- |\n| read() the file once (page cache warm) | {:.1f} |\n"
      "| open: mmap + parse | {:.1f} |\n| tokenizer from the open file | {:.1f} |\n"
      "| decoder from the open file (dequantise every tensor) | {:.1f} |\n"
      "| of which the floor: touch fresh memory of the float32 weights' size | {:.1f} |\n"
      "| load_pretrained | {:.1f} |\n| load_pretrained, matrices kept as stored | {:.1f} |\n\n",
      read_s * 1e3, open_s * 1e3, tokenizer_s * 1e3, decoder_s * 1e3, touch_s * 1e3, load_s * 1e3, load_stored_s * 1e3);
  fmt::print("load_pretrained / read = {:.2f} (target <= 2.0: {}); without the first-touch floor: {:.2f}\n",
             load_s / read_s, verdict(load_s / read_s <= 2.0), (load_s - touch_s) / read_s);
  fmt::print("load_pretrained with matrices kept as stored / read = {:.2f} (target <= 2.0: {})\n",
             load_stored_s / read_s, verdict(load_stored_s / read_s <= 2.0));

  auto pretrained = iglens::load_pretrained(path);
  const auto& model = pretrained.model;
  const auto& tokenizer = pretrained.tokenizer;

  // 2. Forward on 64 tokens of the text, ours against transformers'.
  auto text_ids = tokenizer.encode(kRealText, {false, tokenizer.adds_bos()});
  iglens::require(text_ids.size() >= 64, "the benchmark text has only {} tokens", text_ids.size());
  text_ids.resize(64);
  const auto text_tensor = torch::tensor(text_ids, torch::kLong).unsqueeze(0);
  const double residual_s = median_seconds(repeats, [&] {
    torch::NoGradGuard no_grad;
    model.residual_stream(text_tensor);
  });
  const double logits_s = median_seconds(repeats, [&] {
    torch::NoGradGuard no_grad;
    model.logits(text_tensor);
  });
  const auto kept = iglens::load_pretrained(path, iglens::WeightStorage::as_stored);
  const double kept_residual_s = median_seconds(repeats, [&] {
    torch::NoGradGuard no_grad;
    kept.model.residual_stream(text_tensor);
  });
  const double transformers_s = transformers_forward_ms(python, hf_folder, text_ids, repeats) / 1e3;
  fmt::print("\n### Forward, 64 tokens\n\n| forward | ms | / transformers | target |\n| --- | --- | --- | --- |\n");
  fmt::print("| transformers (output_hidden_states, no_grad) | {:.1f} | 1.00 | |\n", transformers_s * 1e3);
  const std::vector<std::pair<const char*, double>> ours{{"IG-Lens residual_stream", residual_s},
                                                         {"IG-Lens logits", logits_s}};
  for (const auto& [name, seconds] : ours) {
    fmt::print("| {} | {:.1f} | {:.2f} | <= 1.0 {} |\n", name, seconds * 1e3, seconds / transformers_s,
               verdict(seconds / transformers_s <= 1.0));
  }
  fmt::print("| IG-Lens residual_stream, matrices kept as stored | {:.1f} | {:.2f} | |\n\n", kept_residual_s * 1e3,
             kept_residual_s / transformers_s);
  fmt::print("kept as stored / float32 weights loaded = {:.2f} (aim <= 1.5: {})\n", kept_residual_s / residual_s,
             verdict(kept_residual_s / residual_s <= 1.5));

  // 3. The map against the logit lens: a short prompt, the text's first 64
  // tokens after it as the teacher-forced target, as `iglens attribute` reads them.
  const std::int64_t m = 64;
  const std::string prompt = "Story:";
  auto target_ids = tokenizer.encode(std::string(" ") + kRealText);
  target_ids.resize(64);
  const auto target = tokenizer.decode(target_ids);
  iglens::require(tokenizer.encode(target) == target_ids, "the 64 target tokens do not re-encode alike");
  auto sequence = tokenizer.encode(prompt, {false, tokenizer.adds_bos()});
  const auto P = static_cast<std::int64_t>(sequence.size());
  sequence.insert(sequence.end(), target_ids.begin(), target_ids.end() - 1);
  Problem p(model.norm_head());
  {
    torch::NoGradGuard no_grad;
    p.residual = model.residual_stream(torch::tensor(sequence, torch::kLong).unsqueeze(0)).squeeze(1);
  }
  for (std::int64_t i = 0; i < 64; ++i) {
    p.targets.positions.push_back(P - 1 + i);
    p.targets.ids.push_back(target_ids[i]);
  }
  const auto n = model.config().n_layer;
  const auto all_layers = iglens::LayerSelection::all().resolve(n);
  const auto vertices = chain_vertices(p, all_layers).index_select(0, torch::tensor(p.targets.positions, torch::kLong));
  const double floor_s = median_seconds(repeats, [&] { floor_lens(p, vertices); });
  iglens::Options options;  // all layers, mean baseline, observed-delta
  options.steps = m;
  const auto readout = model.readout();
  const double map_s = median_seconds(repeats, [&] { iglens::attribute(p.residual, p.targets, readout, options); });
  fmt::print("\n### The map, 64 target tokens ({} rows), all {} layers, observed-delta, m {}\n\n", p.residual.size(1),
             n, m);
  fmt::print("| part | ms |\n| --- | --- |\n| logit lens of the {} vertices | {:.1f} |\n| engine | {:.1f} |\n\n",
             vertices.size(0) * vertices.size(1), floor_s * 1e3, map_s * 1e3);
  fmt::print("engine / logit lens = {:.2f} (target <= 1.3: {})\n", map_s / floor_s, verdict(map_s / floor_s <= 1.3));

  // 4. The whole program's peak memory on that target, with either storage,
  // with a small attribution budget, and the floor: the program doing nothing.
  const auto peak_mib = [&](const char* weights, const std::vector<std::string>& extra) {
    std::vector<std::string> args{"attribute", prompt,    "--target",        target,      "--model",
                                  path,        "--steps", std::to_string(m), "--threads", std::to_string(threads),
                                  "--weights", weights,   "--format",        "json",      "--out",
                                  "/dev/null"};
    args.insert(args.end(), extra.begin(), extra.end());
    return static_cast<double>(peak_kib(program, args)) / 1024;
  };
  const double float_peak = peak_mib("float", {}), stored_peak = peak_mib("stored", {});
  const double small_peak = peak_mib("stored", {"--attribution-memory", "16"});
  const double floor_peak = static_cast<double>(peak_kib(program, {"--version"})) / 1024;
  const double file_mib = static_cast<double>(bytes.size()) / (1 << 20);
  fmt::print("\n### Peak memory of `iglens attribute --model` on that target\n\n");
  fmt::print("| run | peak RSS MiB | / float32 weights | / file |\n| --- | --- | --- | --- |\n");
  for (const auto& [name, peak] : {std::pair{"--weights float", float_peak}, std::pair{"--weights stored", stored_peak},
                                   std::pair{"--weights stored --attribution-memory 16", small_peak},
                                   std::pair{"`iglens --version`", floor_peak}}) {
    fmt::print("| {} | {:.0f} | {:.2f} | {:.2f} |\n", name, peak, peak / weight_mib, peak / file_mib);
  }
  fmt::print("\nfloat: peak RSS / float32 weights = {:.2f} (target <= {:.1f}: {})\n", float_peak / weight_mib,
             peak_target, verdict(float_peak / weight_mib <= peak_target));
  fmt::print("stored: peak RSS / file = {:.2f} (target <= 2.5: {}); with --attribution-memory 16: {:.2f}\n",
             stored_peak / file_mib, verdict(stored_peak / file_mib <= 2.5), small_peak / file_mib);
  fmt::print("the program's floor (`iglens --version`) / file = {:.2f}; stored above it / file = {:.2f} and {:.2f}\n",
             floor_peak / file_mib, (stored_peak - floor_peak) / file_mib, (small_peak - floor_peak) / file_mib);
}

// llama.cpp's own prompt processing of `tokens` tokens of the file at
// `path` (llama-bench, CPU, `threads` threads): its mean seconds.
double llama_cpp_prompt_seconds(const std::string& llama_bench, const std::string& path, int tokens, int threads) {
  const auto command = fmt::format("{} -m {} -p {} -n 0 -t {} -r 3 -o json 2>/dev/null", shell_quoted(llama_bench),
                                   shell_quoted(path), tokens, threads);
  const auto runs = nlohmann::json::parse(command_output(command, fmt::format("llama-bench on '{}'", path)));
  iglens::require(runs.is_array() && runs.size() == 1, "llama-bench printed {} results, expected 1", runs.size());
  return runs[0].at("avg_ns").get<double>() / 1e9;
}

// The bytes a model file or folder holds for its tensors, and how many values they are.
struct StoredSize {
  std::uint64_t bytes = 0, values = 0;
};

StoredSize stored_size(const std::string& path) {
  StoredSize size;
  if (std::filesystem::is_directory(path)) {
    const auto folder = iglens::HfFolder::open(path);
    for (const auto& file : folder.files()) {
      size.bytes += std::filesystem::file_size(file.path());
      for (const auto& tensor : file.tensors()) size.values += static_cast<std::uint64_t>(tensor.element_count);
    }
    return size;
  }
  const auto file = iglens::GgufFile::open(path);
  size.bytes = file.file_size();
  for (const auto& tensor : file.tensors()) size.values += static_cast<std::uint64_t>(tensor.numel());
  return size;
}

// A model too large for its float32 copy (the synthetic 7B-shaped file or
// bf16 folder of scripts/bench-large-model.sh), its matrices kept as stored:
// a forward of 64 tokens in this process against llama.cpp's prompt
// processing of the same file (with `llama_bench`; GGUF only), then
// `iglens attribute` as a whole process (a 32-token prompt, 8 greedy
// tokens, K 8): its wall time and peak memory against the file's size.
void large_model_table(const std::string& path, const std::string& program, const std::string& llama_bench) {
  const auto tokenizer = iglens::load_model_tokenizer(path);
  auto text_ids = tokenizer.encode(kRealText);
  iglens::require(text_ids.size() >= 64, "the benchmark text has only {} tokens", text_ids.size());
  auto prompt_ids = text_ids;
  prompt_ids.resize(32);
  text_ids.resize(64);
  const auto prompt = tokenizer.decode(prompt_ids);
  iglens::require(tokenizer.encode(prompt) == prompt_ids, "the 32 prompt tokens do not re-encode alike");
  const auto size = stored_size(path);
  const double file_gib = static_cast<double>(size.bytes) / (1 << 30);
  const double float_gib = static_cast<double>(size.values) * 4 / (1 << 30);
  const int threads = torch::get_num_threads();
  fmt::print("\n## Large model: {} ({} threads, float32, matrices kept as stored)\n\n",
             std::filesystem::path(path).filename().string(), threads);

  // 1. One forward of 64 tokens, and what converting the layer matrices alone costs.
  std::int64_t layers = 0;
  {
    const auto decoder = iglens::load_pretrained(path, iglens::WeightStorage::as_stored).model;
    layers = decoder.config().n_layer;
    torch::NoGradGuard no_grad;
    const auto ids = torch::tensor(text_ids, torch::kLong).unsqueeze(0);
    const double forward_s = median_seconds(3, [&] { decoder.residual_stream(ids); });
    auto cache = decoder.start_cache(1, 64);
    decoder.logits(ids.narrow(1, 0, 60), cache);
    std::vector<double> steps;  // three cached steps, one token each
    for (std::int64_t position = 60; position < 63; ++position) {
      const auto begin = std::chrono::steady_clock::now();
      decoder.logits(ids.narrow(1, position, 1), cache);
      steps.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count());
    }
    std::sort(steps.begin(), steps.end());
    const double step_s = steps[1];
    // Tile by tile into one reused buffer, as the forward converts them: a
    // product with no rows converts every tile and multiplies nothing. Whole
    // float32 copies would time the kernel faulting in 30 GiB of fresh pages.
    const double convert_s = median_seconds(
        1,
        [&] {
          for (const auto& layer : decoder.weights().layers) {
            for (const auto* m : layer.matrices()) m->linear(torch::empty({0, m->size(1)}), torch::Tensor());
          }
        },
        false);
    fmt::print("| part | s |\n| --- | --- |\n| IG-Lens forward, 64 tokens | {:.2f} |\n", forward_s);
    fmt::print("| IG-Lens one cached step after 60 tokens (logits; median of 3) | {:.2f} |\n", step_s);
    fmt::print("| of either: converting every layer matrix to float32 once, a tile at a time | {:.2f} |\n", convert_s);
    if (!llama_bench.empty() && !std::filesystem::is_directory(path)) {
      const double llama_s = llama_cpp_prompt_seconds(llama_bench, path, 64, threads);
      fmt::print("| llama.cpp prompt processing, 64 tokens (llama-bench) | {:.2f} |\n\n", llama_s);
      fmt::print("IG-Lens forward / llama.cpp prompt processing = {:.2f} (aim <= 3: {})\n", forward_s / llama_s,
                 verdict(forward_s / llama_s <= 3.0));
    }
  }

  // 2. The whole program, once.
  // K 8, or every layer of a smaller file.
  const auto k = std::min<std::int64_t>(8, layers);
  const auto begin = std::chrono::steady_clock::now();
  const auto peak = peak_kib(
      program, {"attribute", prompt, "--model", path, "--weights", "stored", "--generate", "8", "--k",
                std::to_string(k), "--threads", std::to_string(threads), "--format", "json", "--out", "/dev/null"});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  const double peak_gib = static_cast<double>(peak) / (1 << 20);
  fmt::print("\n`iglens attribute --weights stored`, a 32-token prompt, 8 generated tokens, K {} (float32)\n\n", k);
  fmt::print("| file GiB | float32 weights GiB | wall s | peak RSS GiB |\n| --- | --- | --- | --- |\n");
  fmt::print("| {:.2f} | {:.2f} | {:.1f} | {:.2f} |\n\n", file_gib, float_gib, seconds, peak_gib);
  fmt::print("peak RSS / file = {:.2f} (target <= 1.5: {})\n", peak_gib / file_gib,
             verdict(peak_gib / file_gib <= 1.5));
}

// The Python package's model.attribute (python/binding, imported by
// `python`) against the same PromptLens::attribute in this process: a short
// prompt and the text's first 64 tokens teacher-forced, every layer, m 64,
// float32, on the same threads and BLAS.
void python_table(const std::string& path, const std::string& python, int repeats) {
  const auto tokenizer = iglens::load_model_tokenizer(path);
  auto target_ids = tokenizer.encode(std::string(" ") + kRealText);
  target_ids.resize(64);
  const iglens::PromptRequest request{"Story:", tokenizer.decode(target_ids), {}};
  iglens::PromptLens lens(iglens::load_model(path), iglens::PromptSettings{});
  iglens::Report report;
  const double cpp_s = median_seconds(repeats, [&] { report = lens.attribute(request); });
  double delta_sum = 0;
  for (const auto& row : report.tokens) delta_sum += row.delta;
  const auto theirs = timing_script_output(
      python, "time_python_attribute.py",
      fmt::format("{} --prompt {} --target {} --steps 64 --threads {} --repeats {}", shell_quoted(path),
                  shell_quoted(request.prompt), shell_quoted(*request.target), torch::get_num_threads(), repeats));
  const double python_s = theirs.at("median_s").get<double>();
  fmt::print("\n## Python: model.attribute against PromptLens::attribute, {} target tokens, all layers, m 64\n\n",
             report.tokens.size());
  fmt::print(
      "| call | s |\n| --- | --- |\n| C++ PromptLens::attribute | {:.2f} |\n| Python model.attribute | {:.2f} |\n\n",
      cpp_s, python_s);
  fmt::print("Python / C++ = {:.3f} (target <= 1.05: {}); sum of delta: C++ {:.9f}, Python {:.9f}\n", python_s / cpp_s,
             verdict(python_s / cpp_s <= 1.05), delta_sum, theirs.at("delta_sum").get<double>());
}

}  // namespace

int main(int argc, char** argv) try {
  iglens::apps::restart_with_openblas_core(argv);
  CLI::App app{"iglens-bench: IG-Lens against the logit-lens floor and the per-point reference"};
  int repeats = 5;
  std::optional<int> threads;
  std::string bundle, program, real_model, transformers_python, hf_folder, binding_python, large_model, llama_bench;
  double peak_target = 3.0;
  std::vector<std::string> only;
  app.add_option("--repeats", repeats, "Timed runs per measurement (median); references run a third as often")
      ->check(CLI::PositiveNumber)
      ->default_val(repeats);
  app.add_option("--threads", threads, "LibTorch intra-op threads (default: one per core, like iglens)")
      ->check(CLI::PositiveNumber);
  app.add_option("--bundle", bundle, "GPT-2-small-sized bundle for the end-to-end row")->check(CLI::ExistingFile);
  app.add_option("--program", program, "The iglens program for the end-to-end row")->check(CLI::ExistingFile);
  app.add_option("--real-model", real_model, "GGUF file for the real-model table (with --program)")
      ->check(CLI::ExistingFile);
  app.add_option("--transformers-python", transformers_python,
                 "Python with transformers, for the real-model table's forward row")
      ->check(CLI::ExistingFile);
  app.add_option("--hf-folder", hf_folder,
                 "The real model's weights for transformers: a Hugging Face folder, or the GGUF file itself "
                 "(a current transformers with gguf and accelerate reads it)")
      ->check(CLI::ExistingPath);
  app.add_option("--large-model", large_model,
                 "A GGUF file or Hugging Face folder too large for a float32 copy, for the large-model table (with "
                 "--program)")
      ->check(CLI::ExistingPath);
  app.add_option("--llama-bench", llama_bench,
                 "llama.cpp's llama-bench, for the large-model table's prompt-processing row")
      ->check(CLI::ExistingFile);
  app.add_option("--binding-python", binding_python,
                 "Python that imports the iglens package, for the python table (with --real-model)")
      ->check(CLI::ExistingFile);
  app.add_option("--peak-target", peak_target, "The real-model table's target for peak RSS / float32 weights")
      ->default_val(peak_target);
  app.add_option("--only", only,
                 "Run only these tables: main, steps, scaling, memory, dtypes, components, sources, e2e, real, "
                 "generation, python, large");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // tables appear as they are measured, also in a log file
  if (!bundle.empty() && program.empty()) throw iglens::Error("--bundle needs --program");
  if (!binding_python.empty() && real_model.empty()) throw iglens::Error("--binding-python needs --real-model");
  if (!large_model.empty() && program.empty()) throw iglens::Error("--large-model needs --program");
  if (!real_model.empty() && binding_python.empty() &&
      (program.empty() || transformers_python.empty() || hf_folder.empty()))
    throw iglens::Error("--real-model needs --program, --transformers-python and --hf-folder");
  torch::set_num_threads(threads.value_or(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
  auto wanted = [&](const char* name) { return only.empty() || std::count(only.begin(), only.end(), name) > 0; };
  fmt::print("# iglens-bench: {} threads, median of {} runs; synthetic tables: d {}, V {}, {} layers, float32\n",
             torch::get_num_threads(), repeats, kDModel, kVocab, kLayers);
  if (wanted("main")) main_table(repeats);
  if (wanted("steps")) step_table(repeats);
  if (wanted("scaling")) scaling_table(repeats);
  if (wanted("memory")) memory_table();
  if (wanted("dtypes")) dtype_table(repeats);
  if (wanted("components")) components_table(repeats);
  if (wanted("sources")) sources_table(repeats);
  if (wanted("e2e") && !bundle.empty()) end_to_end_table(bundle, program, repeats);
  if (wanted("real") && !real_model.empty() && !transformers_python.empty())
    real_model_table(real_model, program, transformers_python, hf_folder, repeats, peak_target);
  if (wanted("generation") && !real_model.empty() && !transformers_python.empty())
    generation_table(real_model, transformers_python, hf_folder, repeats);
  if (wanted("python") && !binding_python.empty()) python_table(real_model, binding_python, repeats);
  if (wanted("large") && !large_model.empty()) large_model_table(large_model, program, llama_bench);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "iglens-bench: error: {}\n", e.what());
  return 1;
}
