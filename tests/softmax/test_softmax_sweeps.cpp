// The fused sweeps (detail/softmax_sweeps.hpp) against plain double or long
// double sums: every variant this CPU runs, in float and double, vocabulary
// sizes around the lane width and the 1024-entry flush, node counts around
// the block of 4, and logits whose range spans far more than float's exp.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "iglens/engine/detail/softmax_sweeps.hpp"

namespace {

using iglens::detail::sweeps::runnable_variants;

template <class Scalar>
std::vector<Scalar> random_vector(std::int64_t n, Scalar spread, std::mt19937& rng) {
  std::normal_distribution<Scalar> normal(0, spread);
  std::vector<Scalar> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = normal(rng);
  return v;
}

struct Reference {
  long double lse, mean_a, mean_b;
};

// x_v = alpha a_v + beta b_v + z0_v in long double.
template <class Scalar>
Reference reference(const std::vector<Scalar>& a, const std::vector<Scalar>& b, const std::vector<Scalar>& z0,
                    long double alpha, long double beta) {
  long double mx = -INFINITY;
  for (std::size_t v = 0; v < a.size(); ++v) mx = std::max(mx, alpha * a[v] + beta * b[v] + z0[v]);
  long double total = 0, total_a = 0, total_b = 0;
  for (std::size_t v = 0; v < a.size(); ++v) {
    const long double e = std::exp(alpha * a[v] + beta * b[v] + z0[v] - mx);
    total += e;
    total_a += e * a[v];
    total_b += e * b[v];
  }
  return {mx + std::log(total), total_a / total, total_b / total};
}

// Relative accuracy of a sum in each scalar type: float's exp polynomial
// and rounding, double's rounding over 50257 terms.
template <class Scalar>
constexpr double kRelative = std::is_same_v<Scalar, float> ? 2e-7 : 1e-14;

}  // namespace

// The CPU's flags as the kernel reports them, not as the library detects
// them: on x86-64 Linux, the "flags" line of /proc/cpuinfo.
bool cpuinfo_has_flags(std::initializer_list<std::string> wanted) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags{std::istream_iterator<std::string>(words), {}};
    return std::all_of(wanted.begin(), wanted.end(), [&](const auto& flag) { return flags.count(flag) > 0; });
  }
  return false;
}

TEMPLATE_TEST_CASE("the engine sweeps with AVX2 exactly where the CPU has AVX2 and FMA", "[softmax]", float, double) {
  const std::string chosen = iglens::detail::sweeps::fastest_variant<TestType>().name;
#if defined(__x86_64__) && defined(__linux__)
  CHECK(chosen == (cpuinfo_has_flags({"avx2", "fma"}) ? "avx2" : "baseline"));
#else
  CHECK(chosen == "baseline");
#endif
}

TEMPLATE_TEST_CASE("row log-sum-exp matches an exact sum", "[softmax]", float, double) {
  std::mt19937 rng(7);
  for (const auto& variant : runnable_variants<TestType>()) {
    for (std::int64_t V : {1, 5, 8, 9, 1023, 1024, 1031, 50257}) {
      for (TestType spread : {0.5, 8.0, 60.0}) {
        INFO(variant.name << " V " << V << " spread " << spread);
        const auto row = random_vector(V, spread, rng), z0 = random_vector(V, spread, rng);
        const auto expected = static_cast<double>(reference(row, row, z0, 1, 0).lse);
        const TestType got = variant.row_logsumexp(row.data(), z0.data(), V);
        CHECK(got == Approx(expected).epsilon(kRelative<TestType>).margin(10 * kRelative<TestType>));
      }
    }
  }
}

TEMPLATE_TEST_CASE("segment sweeps match exact sums at every node", "[softmax]", float, double) {
  std::mt19937 rng(11);
  for (const auto& variant : runnable_variants<TestType>()) {
    for (std::int64_t V : {3, 8, 1025, 50257}) {
      for (std::int64_t Q : {1, 3, 4, 9}) {
        INFO(variant.name << " V " << V << " Q " << Q);
        const auto a = random_vector<TestType>(V, 20, rng), b = random_vector<TestType>(V, 20, rng),
                   z0 = random_vector<TestType>(V, 3, rng);
        std::vector<TestType> alpha(Q), beta(Q);
        for (std::int64_t q = 0; q < Q; ++q) {
          const TestType t = (q + TestType(0.5)) / Q;
          alpha[q] = TestType(1.3) * (1 - t);
          beta[q] = TestType(0.8) * t;
        }
        std::vector<TestType> lse(Q), mean_a(Q), mean_b(Q), lse_only(Q);
        variant.segment_moments(a.data(), b.data(), z0.data(), V, alpha.data(), beta.data(), Q, lse.data(),
                                mean_a.data(), mean_b.data());
        variant.segment_values(a.data(), b.data(), z0.data(), V, alpha.data(), beta.data(), Q, lse_only.data(), nullptr,
                               nullptr);
        for (std::int64_t q = 0; q < Q; ++q) {
          const auto expected = reference(a, b, z0, alpha[q], beta[q]);
          CHECK(lse[q] == Approx(double(expected.lse)).epsilon(kRelative<TestType>).margin(10 * kRelative<TestType>));
          CHECK(lse_only[q] == lse[q]);
          // Means of values of size ~20: rounding of the sums.
          CHECK(mean_a[q] == Approx(double(expected.mean_a)).margin(100 * kRelative<TestType>));
          CHECK(mean_b[q] == Approx(double(expected.mean_b)).margin(100 * kRelative<TestType>));
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("a dominant logit far above the rest gives its own value", "[softmax]", float, double) {
  // Everything else sits below exp's range relative to the maximum.
  std::vector<TestType> row(100, -800), z0(100, 0);
  row[42] = 100;
  for (const auto& variant : runnable_variants<TestType>()) {
    INFO(variant.name);
    CHECK(variant.row_logsumexp(row.data(), z0.data(), 100) == Approx(100.0).margin(1e-6));
  }
}

TEMPLATE_TEST_CASE("the vectorised exp is accurate across its range", "[softmax]", float, double) {
  // Down to where each type holds it at its floor (exp(-87) and exp(-708)).
  const double lowest = std::is_same_v<TestType, float> ? -87 : -708;
  iglens::detail::Lanes<TestType> x;
  constexpr auto lanes = iglens::detail::kLanes<TestType>;
  for (double start = lowest; start <= 0; start += 0.37 * lanes) {
    for (int i = 0; i < lanes; ++i) x[i] = static_cast<TestType>(std::min(0.0, start + 0.37 * i));
    auto e = x;
    iglens::detail::exp_nonpositive(e);
    for (int i = 0; i < lanes; ++i) {
      INFO("x " << x[i]);
      CHECK(e[i] == Approx(std::exp(static_cast<long double>(x[i]))).epsilon(kRelative<TestType>).margin(0));
    }
  }
}
