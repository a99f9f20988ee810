// Layer selection, quadrature rules, baselines, onset and name parsing.

#include <catch2/catch.hpp>

#include <cmath>

#include "iglens/iglens.hpp"

using iglens::LayerSelection;
using Layers = std::vector<std::int64_t>;

TEST_CASE("evenly spaced layers match round(linspace(1, n, k)) with halves to even", "[layers]") {
  CHECK(LayerSelection::evenly_spaced(5).resolve(12) == Layers{1, 4, 6, 9, 12});  // 6.5 -> 6
  CHECK(LayerSelection::evenly_spaced(4).resolve(12) == Layers{1, 5, 8, 12});
  CHECK(LayerSelection::evenly_spaced(3).resolve(6) == Layers{1, 4, 6});  // 3.5 -> 4
  CHECK(LayerSelection::evenly_spaced(3).resolve(4) == Layers{1, 2, 4});  // 2.5 -> 2
  CHECK(LayerSelection::evenly_spaced(1).resolve(12) == Layers{12});      // k layers, not k + 1
  CHECK(LayerSelection::evenly_spaced(2).resolve(12) == Layers{1, 12});
  CHECK(LayerSelection::evenly_spaced(12).resolve(12) == Layers{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
}

TEST_CASE("explicit layers are sorted, de-duplicated and end with the final layer", "[layers]") {
  CHECK(LayerSelection::explicit_list({3, 0, 3, 1}).resolve(4) == Layers{0, 1, 3, 4});
  CHECK(LayerSelection::explicit_list({4}).resolve(4) == Layers{4});
  CHECK(LayerSelection::all().resolve(3) == Layers{0, 1, 2, 3});
}

TEST_CASE("bad layer selections name the problem", "[layers][errors]") {
  CHECK_THROWS_WITH(LayerSelection::explicit_list({5}).resolve(4), Catch::Contains("layer 5 is out of range [0, 4]"));
  CHECK_THROWS_WITH(LayerSelection::explicit_list({-1}).resolve(4), Catch::Contains("layer -1 is out of range"));
  CHECK_THROWS_WITH(LayerSelection::explicit_list({}).resolve(4), Catch::Contains("empty"));
  CHECK_THROWS_WITH(LayerSelection::evenly_spaced(0).resolve(4), Catch::Contains("k = 0"));
  CHECK_THROWS_WITH(LayerSelection::evenly_spaced(5).resolve(4), Catch::Contains("k = 5"));
}

TEST_CASE("Gauss-Legendre nodes and weights match known values", "[quadrature]") {
  auto two = iglens::quadrature_rule(iglens::Estimator::gauss_legendre, 2);
  CHECK(two.nodes[0] == Approx(0.5 - 0.5 / std::sqrt(3.0)).epsilon(1e-14));
  CHECK(two.nodes[1] == Approx(0.5 + 0.5 / std::sqrt(3.0)).epsilon(1e-14));
  CHECK(two.weights[0] == Approx(0.5).epsilon(1e-14));
  auto three = iglens::quadrature_rule(iglens::Estimator::gauss_legendre, 3);
  CHECK(three.nodes[0] == Approx(0.5 - 0.5 * std::sqrt(0.6)).epsilon(1e-14));
  CHECK(three.nodes[1] == 0.5);
  CHECK(three.weights[0] == Approx(5.0 / 18.0).epsilon(1e-14));
  CHECK(three.weights[1] == Approx(8.0 / 18.0).epsilon(1e-14));
  // Published 5-point node on [-1, 1]: 0.9061798459386640.
  auto five = iglens::quadrature_rule(iglens::Estimator::gauss_legendre, 5);
  CHECK(five.nodes[4] == Approx(0.5 * (1.0 + 0.9061798459386640)).epsilon(1e-14));
  CHECK(five.weights[4] == Approx(0.5 * 0.2369268850561891).epsilon(1e-13));
}

TEST_CASE("an m-point Gauss-Legendre rule integrates polynomials of degree 2m-1 exactly", "[quadrature]") {
  for (std::int64_t m : {1, 4, 9, 20}) {
    auto rule = iglens::quadrature_rule(iglens::Estimator::gauss_legendre, m);
    for (int degree = 0; degree <= 2 * m - 1; ++degree) {
      double sum = 0.0;
      for (std::size_t i = 0; i < rule.nodes.size(); ++i) sum += rule.weights[i] * std::pow(rule.nodes[i], degree);
      CHECK(sum == Approx(1.0 / (degree + 1)).epsilon(1e-12));
    }
  }
}

TEST_CASE("large Gauss-Legendre rules stay exact and symmetric", "[quadrature]") {
  for (std::int64_t m : {64, 1000, 10000}) {
    CAPTURE(m);
    const auto [nodes, weights] = iglens::detail::gauss_legendre_unit_interval(m);
    double sum = 0.0, integral = 0.0;
    for (std::int64_t i = 0; i < m; ++i) {
      REQUIRE(nodes[i] > 0.0);
      REQUIRE(nodes[i] < 1.0);
      REQUIRE(weights[i] > 0.0);
      if (i > 0) REQUIRE(nodes[i] > nodes[i - 1]);
      REQUIRE(nodes[i] + nodes[m - 1 - i] == 1.0);
      sum += weights[i];
      integral += weights[i] * std::cos(40.0 * nodes[i]);
    }
    CHECK(sum == Approx(1.0).epsilon(1e-13));
    // A smooth integrand is exact to rounding at every size.
    CHECK(integral == Approx(std::sin(40.0) / 40.0).margin(1e-13));
  }
}

TEST_CASE("Riemann rules place their nodes as named", "[quadrature]") {
  using iglens::Estimator;
  CHECK(iglens::quadrature_rule(Estimator::riemann_left, 4).nodes == std::vector<double>{0, 0.25, 0.5, 0.75});
  CHECK(iglens::quadrature_rule(Estimator::riemann_right, 4).nodes == std::vector<double>{0.25, 0.5, 0.75, 1});
  CHECK(iglens::quadrature_rule(Estimator::riemann_midpoint, 2).nodes == std::vector<double>{0.25, 0.75});
  auto trapezoid = iglens::quadrature_rule(Estimator::riemann_trapezoid, 2);
  CHECK(trapezoid.nodes == std::vector<double>{0, 0.5, 1});
  CHECK(trapezoid.weights == std::vector<double>{0.25, 0.5, 0.25});
  CHECK_THROWS_WITH(iglens::quadrature_rule(Estimator::riemann_left, 0), Catch::Contains("steps must be at least 1"));
}

TEST_CASE("baselines: zero, mean over all positions, causal mean over positions <= i", "[baseline]") {
  auto layer = torch::tensor({1.0, 2.0, 3.0, 4.0, 8.0, 9.0}, torch::kDouble).view({1, 3, 2});
  CHECK(iglens::Baseline::zero().points_for(layer).abs().sum().item<double>() == 0.0);
  auto mean = iglens::Baseline::mean().points_for(layer);
  CHECK(torch::allclose(mean[0][0], torch::tensor({4.0, 5.0}, torch::kDouble)));
  CHECK(torch::allclose(mean[0][2], torch::tensor({4.0, 5.0}, torch::kDouble)));
  auto causal = iglens::Baseline::causal_mean().points_for(layer);
  CHECK(torch::allclose(causal[0][0], torch::tensor({1.0, 2.0}, torch::kDouble)));
  CHECK(torch::allclose(causal[0][1], torch::tensor({2.0, 3.0}, torch::kDouble)));
  CHECK(torch::allclose(causal[0][2], torch::tensor({4.0, 5.0}, torch::kDouble)));
  auto custom = iglens::Baseline::custom(torch::tensor({7.0, 8.0})).points_for(layer);
  CHECK(torch::allclose(custom[0][1], torch::tensor({7.0, 8.0}, torch::kDouble)));
  CHECK_THROWS_WITH(iglens::Baseline::custom(torch::ones({3})).points_for(layer),
                    Catch::Contains("shape [3] does not fit"));
  CHECK_THROWS_WITH(iglens::Baseline::parse("median"), Catch::Contains("unknown baseline 'median'"));
}

TEST_CASE("onset is the earliest layer where cumulative |IG| reaches the fraction", "[onset]") {
  auto ig = torch::tensor({0.1, -0.1, 0.6, 0.2, 0.0, 0.0, 0.0, 0.0}, torch::kDouble).view({2, 4});
  Layers layers{2, 5, 7, 9};
  auto half = iglens::detail::onset_layers(ig, layers, 0.5);
  CHECK(half[0].item<std::int64_t>() == 7);   // 0.1, 0.2, 0.8 of 1.0
  CHECK(half[1].item<std::int64_t>() == -1);  // no mass
  CHECK(iglens::detail::onset_layers(ig, layers, 0.1)[0].item<std::int64_t>() == 2);
  CHECK(iglens::detail::onset_layers(ig, layers, 1.0)[0].item<std::int64_t>() == 9);
}

TEST_CASE("names parse both ways and unknown names are errors", "[names]") {
  for (auto e :
       {iglens::Estimator::observed_delta, iglens::Estimator::riemann_left, iglens::Estimator::riemann_right,
        iglens::Estimator::riemann_midpoint, iglens::Estimator::riemann_trapezoid, iglens::Estimator::gauss_legendre}) {
    CHECK(iglens::parse_estimator(iglens::estimator_name(e)) == e);
  }
  for (auto o : {iglens::Objective::probability, iglens::Objective::log_probability,
                 iglens::Objective::probability_difference, iglens::Objective::logit}) {
    CHECK(iglens::parse_objective(iglens::objective_name(o)) == o);
  }
  CHECK_THROWS_WITH(iglens::parse_estimator("simpson"), Catch::Contains("unknown estimator 'simpson'"));
  CHECK_THROWS_WITH(iglens::parse_objective("entropy"), Catch::Contains("unknown objective 'entropy'"));
}

TEST_CASE("next-token targets pair position i with token i + 1", "[targets]") {
  auto t = iglens::Targets::next_tokens({5, 6, 7, 8}, 1);
  CHECK(t.positions == Layers{1, 2});
  CHECK(t.ids == Layers{7, 8});
  CHECK_THROWS_WITH(iglens::Targets::next_tokens({5}), Catch::Contains("at least 2 tokens"));
}
