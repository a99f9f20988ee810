#pragma once
// Which residual-stream layers the attribution path visits.
//
// Layer indices follow the residual stream: 0 is the embedding output and n
// (the model's layer count) the residual before the final norm. The chosen
// list is always sorted, de-duplicated and ends with n, so the path ends at
// the model's own answer.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "iglens/error.hpp"

namespace iglens {

class LayerSelection {
 public:
  enum class Kind { all, evenly_spaced, explicit_list };

  // Every layer 0..n, the embeddings included.
  static LayerSelection all() { return LayerSelection(Kind::all, 0, {}); }

  // k layers spread over 1..n, the last being n: for k >= 2 exactly as the
  // reference tool picks them, round(linspace(1, n, k)) with halves to even
  // (torch.round); k = 1 is n alone (the reference's linspace gives 1 there,
  // and 1 plus the appended n would be two layers).
  static LayerSelection evenly_spaced(std::int64_t k) { return LayerSelection(Kind::evenly_spaced, k, {}); }

  static LayerSelection explicit_list(std::vector<std::int64_t> layers) {
    return LayerSelection(Kind::explicit_list, 0, std::move(layers));
  }

  Kind kind() const { return kind_; }

  // The chosen layers for a model with n_layers blocks, ascending, unique,
  // final layer included.
  std::vector<std::int64_t> resolve(std::int64_t n_layers) const {
    require(n_layers >= 1, "layer selection: the model has {} layers; need at least 1", n_layers);
    std::vector<std::int64_t> chosen;
    switch (kind_) {
      case Kind::all:
        for (std::int64_t l = 0; l <= n_layers; ++l) chosen.push_back(l);
        break;
      case Kind::evenly_spaced:
        chosen = evenly_spaced_layers(k_, n_layers);
        break;
      case Kind::explicit_list:
        require(!layers_.empty(), "layer selection: the list of layers is empty");
        for (std::int64_t l : layers_) {
          require(l >= 0 && l <= n_layers, "layer selection: layer {} is out of range [0, {}]", l, n_layers);
        }
        chosen = layers_;
        break;
    }
    chosen.push_back(n_layers);
    std::sort(chosen.begin(), chosen.end());
    chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
    return chosen;
  }

 private:
  LayerSelection(Kind kind, std::int64_t k, std::vector<std::int64_t> layers)
      : kind_(kind), k_(k), layers_(std::move(layers)) {}

  static std::vector<std::int64_t> evenly_spaced_layers(std::int64_t k, std::int64_t n) {
    require(k >= 1 && k <= n, "layer selection: k = {} evenly spaced layers is out of range [1, {}]", k, n);
    std::vector<std::int64_t> layers;
    for (std::int64_t j = 0; j < k; ++j) {
      // linspace in double, as torch.linspace(1, n, k) computes it.
      const double x = k == 1 ? static_cast<double>(n)
                              : 1.0 + static_cast<double>(j) * static_cast<double>(n - 1) / static_cast<double>(k - 1);
      layers.push_back(static_cast<std::int64_t>(std::nearbyint(x)));  // ties to even
    }
    return layers;
  }

  Kind kind_;
  std::int64_t k_;
  std::vector<std::int64_t> layers_;
};

}  // namespace iglens
