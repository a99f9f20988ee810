#include <iostream>

#include <iglens/iglens.hpp>

// usage: readme_usage MODEL.pt  (TorchScript with forward, residual_stream, readout)
int main(int argc, char** argv) try {
  if (argc != 2) throw iglens::Error("usage: readme_usage MODEL.pt");
  iglens::Lens<iglens::ScriptModel> lens{iglens::ScriptModel(torch::jit::load(argv[1]))};

  std::vector<std::int64_t> ids{3, 10, 17, 24, 31, 38};
  iglens::Options options;
  options.layers = iglens::LayerSelection::evenly_spaced(2);  // plus the final layer
  options.baseline = iglens::Baseline::causal_mean();

  // Position i is read for its prediction of ids[i + 1].
  auto map = lens.attribute(torch::tensor(ids), iglens::Targets::next_tokens(ids), options);
  std::cout << "layers:";
  for (auto layer : map.layers) std::cout << ' ' << layer;
  std::cout << "\nIG (tokens x layers):\n" << map.ig << '\n';
  std::cout << "row sums:\n" << map.ig.sum(1) << "\ndelta p:\n" << map.delta << '\n';
  std::cout << "completeness error " << map.completeness_error << '\n';
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << '\n';
  return 1;
}
