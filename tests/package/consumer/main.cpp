// Uses the public API the way a consumer would; exits 0 when the map
// telescopes.
#include <cstdio>

#include <iglens/iglens.hpp>

int main() {
  torch::manual_seed(0);
  const int64_t layers = 3, positions = 5, d = 8, vocab = 20;
  iglens::NormHead head{iglens::NormKind::rms_norm, torch::rand({d}) + 0.5, {}, 1e-6,
                        torch::randn({vocab, d}),   torch::randn({vocab})};
  auto residual = torch::randn({layers + 1, positions, d});
  iglens::Targets targets{{0, 2, 4}, {3, 7, 11}, {}};
  auto map = iglens::attribute(residual, targets, iglens::Readout::norm_head(head), iglens::Options{});
  std::printf("consumer: map %ld x %ld, completeness error %.2e\n", static_cast<long>(map.ig.size(0)),
              static_cast<long>(map.ig.size(1)), map.completeness_error);
  return map.completeness_error <= 1e-6 ? 0 : 1;
}
