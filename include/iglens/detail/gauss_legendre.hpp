#pragma once
// Gauss-Legendre nodes and weights by Golub-Welsch: the nodes are the
// eigenvalues of the symmetric tridiagonal Jacobi matrix of the Legendre
// recurrence, each weight 2 v0^2 from its normalised eigenvector.

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <Eigen/Dense>

namespace iglens::detail {

// n nodes (ascending) and weights on [0, 1]; the weights sum to 1.
inline std::pair<std::vector<double>, std::vector<double>> gauss_legendre_unit_interval(
    std::int64_t n) {
  Eigen::MatrixXd jacobi = Eigen::MatrixXd::Zero(n, n);
  for (std::int64_t k = 1; k < n; ++k) {
    const double kk = static_cast<double>(k);
    const double beta = kk / std::sqrt(4.0 * kk * kk - 1.0);
    jacobi(k, k - 1) = beta;
    jacobi(k - 1, k) = beta;
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(jacobi);
  std::vector<double> nodes(n), weights(n);
  for (std::int64_t i = 0; i < n; ++i) {
    const double v0 = solver.eigenvectors()(0, i);
    // Map [-1, 1] to [0, 1]: t = (x + 1) / 2, w = 2 v0^2 / 2.
    nodes[i] = 0.5 * (solver.eigenvalues()(i) + 1.0);
    weights[i] = v0 * v0;
  }
  // Eigen returns eigenvalues ascending; symmetrise so mirrored nodes are
  // exact mirrors, which keeps odd rules' middle node at exactly 1/2.
  for (std::int64_t i = 0; i < n / 2; ++i) {
    const std::int64_t j = n - 1 - i;
    const double t = 0.5 * (nodes[i] + (1.0 - nodes[j]));
    const double w = 0.5 * (weights[i] + weights[j]);
    nodes[i] = t;
    nodes[j] = 1.0 - t;
    weights[i] = weights[j] = w;
  }
  if (n % 2 == 1) nodes[n / 2] = 0.5;
  return {nodes, weights};
}

}  // namespace iglens::detail
