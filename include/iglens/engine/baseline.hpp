#pragma once
// Where the attribution path starts: the residual-stream point that stands
// for "no information" about the target.

#include <string>
#include <string_view>
#include <utility>

#include <torch/torch.h>

#include "iglens/detail/finite.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/error.hpp"

namespace iglens {

class Baseline {
 public:
  enum class Kind { zero, mean, causal_mean, custom };

  static Baseline zero() { return Baseline(Kind::zero, {}); }
  // Mean over all positions of the sequence at the lowest chosen layer (the
  // reference tool's choice; later tokens leak into earlier positions).
  static Baseline mean() { return Baseline(Kind::mean, {}); }
  // Mean over positions <= i at the lowest chosen layer: nothing from the
  // future reaches position i.
  static Baseline causal_mean() { return Baseline(Kind::causal_mean, {}); }
  // A caller's point: [d] for every position or [S, d] per position.
  static Baseline custom(torch::Tensor point) { return Baseline(Kind::custom, std::move(point)); }

  static Baseline parse(std::string_view name) {
    if (name == "zero") return zero();
    if (name == "mean") return mean();
    if (name == "causal-mean") return causal_mean();
    fail("unknown baseline '{}' (expected zero, mean or causal-mean)", name);
  }

  Kind kind() const { return kind_; }
  const torch::Tensor& point() const { return point_; }

  std::string name() const {
    switch (kind_) {
      case Kind::zero:
        return "zero";
      case Kind::mean:
        return "mean";
      case Kind::causal_mean:
        return "causal-mean";
      case Kind::custom:
        return "custom";
    }
    return "?";
  }

  // Baseline points [B, S, d] for a sequence batch [B, S, d] taken at the
  // lowest chosen layer.
  torch::Tensor points_for(const torch::Tensor& lowest_layer) const {
    const auto B = lowest_layer.size(0), S = lowest_layer.size(1), d = lowest_layer.size(2);
    switch (kind_) {
      case Kind::zero:
        return torch::zeros_like(lowest_layer);
      case Kind::mean:
        return lowest_layer.mean(1, /*keepdim=*/true).expand({B, S, d});
      case Kind::causal_mean: {
        auto counts = torch::arange(1, S + 1, lowest_layer.options()).view({1, S, 1});
        return lowest_layer.cumsum(1) / counts;
      }
      case Kind::custom: {
        require(point_.defined(), "custom baseline: no tensor was given");
        const bool per_model = point_.dim() == 1 && point_.size(0) == d;
        const bool per_position = point_.dim() == 2 && point_.size(0) == S && point_.size(1) == d;
        require(per_model || per_position, "custom baseline: shape {} does not fit; expected [{}] or [{}, {}]",
                detail::shape_string(point_), d, S, d);
        require(point_.is_floating_point(), "custom baseline: dtype {} is not floating point",
                detail::dtype_name(point_.scalar_type()));
        require(detail::all_finite(point_), "custom baseline: contains NaN or Inf");
        auto p = point_.to(lowest_layer.options());
        return (per_model ? p.view({1, 1, d}) : p.view({1, S, d})).expand({B, S, d});
      }
    }
    fail("baseline: unknown kind");
  }

 private:
  Baseline(Kind kind, torch::Tensor point) : kind_(kind), point_(std::move(point)) {}

  Kind kind_;
  torch::Tensor point_;
};

}  // namespace iglens
