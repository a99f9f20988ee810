// The fused sweeps (detail/softmax_sweeps.hpp) against plain double sums:
// every variant this CPU runs, vocabulary sizes around the 8-lane width and
// the 1024-entry flush, node counts around the block of 4, and logits whose
// range spans far more than float's exp.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "iglens/detail/softmax_sweeps.hpp"

namespace {

using iglens::detail::sweeps::Variant;

std::vector<float> random_vector(std::int64_t n, float spread, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = normal(rng);
  return v;
}

struct Reference {
  double lse, mean_a, mean_b;
};

// x_v = alpha a_v + beta b_v + z0_v in double.
Reference reference(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& z0,
                    double alpha, double beta) {
  double mx = -INFINITY;
  for (std::size_t v = 0; v < a.size(); ++v) mx = std::max(mx, alpha * a[v] + beta * b[v] + z0[v]);
  double total = 0, total_a = 0, total_b = 0;
  for (std::size_t v = 0; v < a.size(); ++v) {
    const double e = std::exp(alpha * a[v] + beta * b[v] + z0[v] - mx);
    total += e;
    total_a += e * a[v];
    total_b += e * b[v];
  }
  return {mx + std::log(total), total_a / total, total_b / total};
}

}  // namespace

TEST_CASE("the fastest sweep variant is one this CPU runs", "[softmax]") {
  const auto variants = iglens::detail::sweeps::runnable_variants();
  REQUIRE_FALSE(variants.empty());
  const auto& fastest = iglens::detail::sweeps::fastest_variant();
  CHECK(fastest.row_logsumexp == variants.back().row_logsumexp);
  for (const auto& variant : variants) INFO("runnable: " << variant.name);
  SUCCEED();
}

TEST_CASE("row log-sum-exp matches a double sum", "[softmax]") {
  std::mt19937 rng(7);
  for (const Variant& variant : iglens::detail::sweeps::runnable_variants()) {
    for (std::int64_t V : {1, 5, 8, 9, 1023, 1024, 1031, 50257}) {
      for (float spread : {0.5f, 8.0f, 60.0f}) {
        INFO(variant.name << " V " << V << " spread " << spread);
        const auto row = random_vector(V, spread, rng), z0 = random_vector(V, spread, rng);
        const float scale = 0.37f;
        const auto expected = reference(row, row, z0, scale, 0.0).lse;
        const float got = variant.row_logsumexp(row.data(), scale, z0.data(), V);
        CHECK(got == Approx(expected).epsilon(2e-7).margin(2e-6));
      }
    }
  }
}

TEST_CASE("segment sweeps match double sums at every node", "[softmax]") {
  std::mt19937 rng(11);
  for (const Variant& variant : iglens::detail::sweeps::runnable_variants()) {
    for (std::int64_t V : {3, 8, 1025, 50257}) {
      for (std::int64_t Q : {1, 3, 4, 9}) {
        INFO(variant.name << " V " << V << " Q " << Q);
        const auto a = random_vector(V, 20.0f, rng), b = random_vector(V, 20.0f, rng), z0 = random_vector(V, 3.0f, rng);
        std::vector<float> alpha(Q), beta(Q);
        for (std::int64_t q = 0; q < Q; ++q) {
          const float t = (q + 0.5f) / Q;
          alpha[q] = 1.3f * (1 - t);
          beta[q] = 0.8f * t;
        }
        std::vector<float> lse(Q), mean_a(Q), mean_b(Q), lse_only(Q);
        variant.segment_moments(a.data(), b.data(), z0.data(), V, alpha.data(), beta.data(), Q, lse.data(),
                                mean_a.data(), mean_b.data());
        variant.segment_values(a.data(), b.data(), z0.data(), V, alpha.data(), beta.data(), Q, lse_only.data(),
                               nullptr, nullptr);
        for (std::int64_t q = 0; q < Q; ++q) {
          const auto expected = reference(a, b, z0, alpha[q], beta[q]);
          CHECK(lse[q] == Approx(expected.lse).epsilon(2e-7).margin(2e-6));
          CHECK(lse_only[q] == lse[q]);
          // Means of values of size ~20: float rounding of the sums.
          CHECK(mean_a[q] == Approx(expected.mean_a).margin(2e-5));
          CHECK(mean_b[q] == Approx(expected.mean_b).margin(2e-5));
        }
      }
    }
  }
}

TEST_CASE("a dominant logit far above the rest gives its own value", "[softmax]") {
  // Everything else sits below exp's float range relative to the maximum.
  std::vector<float> row(100, -500.0f), z0(100, 0.0f);
  row[42] = 100.0f;
  for (const Variant& variant : iglens::detail::sweeps::runnable_variants()) {
    INFO(variant.name);
    CHECK(variant.row_logsumexp(row.data(), 1.0f, z0.data(), 100) == Approx(100.0f).margin(1e-6));
  }
}
