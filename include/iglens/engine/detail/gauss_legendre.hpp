#pragma once
// Gauss-Legendre nodes and weights by Newton's method on the Legendre
// recurrence: each root of P_n from Tricomi's estimate in a few steps of O(n),
// so a rule costs O(n^2) time and O(n) memory (an eigenvalue solver of the
// Jacobi matrix costs O(n^3) time and O(n^2) memory: 10.8 GB at n = 30000),
// and the weights keep their relative accuracy near the ends, where
// eigenvector weights lose it (1e-10 at n = 1000).

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace iglens::detail {

// P_n(x) and P_n'(x) by the three-term recurrence.
inline std::pair<double, double> legendre_with_derivative(std::int64_t n, double x) {
  double previous = 1.0, current = x;
  for (std::int64_t k = 1; k < n; ++k) {
    const double kk = static_cast<double>(k);
    const double next = ((2.0 * kk + 1.0) * x * current - kk * previous) / (kk + 1.0);
    previous = current;
    current = next;
  }
  const double nn = static_cast<double>(n);
  // (1 - x^2) P_n' = n (P_{n-1} - x P_n), with 1 - x^2 factored to keep digits near the ends.
  const double derivative = nn * (previous - x * current) / ((1.0 - x) * (1.0 + x));
  return {current, derivative};
}

// n nodes (ascending) and weights on [0, 1]; the weights sum to 1. Mirrored
// nodes are exact mirrors, and an odd rule's middle node is exactly 1/2.
inline std::pair<std::vector<double>, std::vector<double>> gauss_legendre_unit_interval(std::int64_t n) {
  std::vector<double> nodes(n), weights(n);
  const double nn = static_cast<double>(n);
  const double pi = std::acos(-1.0);
  for (std::int64_t i = 0; i < (n + 1) / 2; ++i) {
    // The (i+1)-th largest root of P_n on [-1, 1].
    const double theta = pi * (4.0 * static_cast<double>(i) + 3.0) / (4.0 * nn + 2.0);
    double x = (1.0 - (nn - 1.0) / (8.0 * nn * nn * nn)) * std::cos(theta);
    double derivative = 0.0;
    for (int iteration = 0; iteration < 100; ++iteration) {
      const auto [value, slope] = legendre_with_derivative(n, x);
      const double step = value / slope;
      x -= step;
      derivative = slope;  // after a step this small, P' at x agrees to rounding
      if (std::abs(step) <= 1e-16) break;
    }
    const double weight = 1.0 / ((1.0 - x) * (1.0 + x) * derivative * derivative);  // 2 / (...) on [-1, 1], halved
    const std::int64_t upper = n - 1 - i;
    nodes[upper] = 0.5 * (1.0 + x);
    nodes[i] = 1.0 - nodes[upper];
    weights[i] = weights[upper] = weight;
  }
  if (n % 2 == 1) nodes[n / 2] = 0.5;
  return {nodes, weights};
}

}  // namespace iglens::detail
