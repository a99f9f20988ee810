#pragma once
// IG-Lens over a model: token ids in, attribution map out.

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/engine/attribution.hpp"
#include "iglens/engine/detail/tensor_text.hpp"
#include "iglens/engine/detail/torch_call.hpp"
#include "iglens/engine/engine.hpp"
#include "iglens/engine/model.hpp"
#include "iglens/engine/options.hpp"
#include "iglens/engine/targets.hpp"
#include "iglens/error.hpp"

namespace iglens {

template <class Model>
class Lens {
  static_assert(detail::has_residual_stream<Model>::value,
                "iglens::Lens<Model>: Model needs `torch::Tensor residual_stream(const torch::Tensor& "
                "ids)` returning [L+1, B, S, d]");
  static_assert(detail::has_logits<Model>::value,
                "iglens::Lens<Model>: Model needs `torch::Tensor logits(const torch::Tensor& ids)` "
                "returning [B, S, V]");
  static_assert(detail::has_readout<Model>::value,
                "iglens::Lens<Model>: Model needs `iglens::Readout readout()` (final norm + "
                "unembedding)");

 public:
  // Model is held by value: pass a handle type (torch::nn::ModuleHolder,
  // torch::jit::Module, a class holding either) to share one model.
  explicit Lens(Model model) : model_(std::move(model)) {}

  Model& model() { return model_; }

  // The model's residual stream [L+1, B, S, d] for ids [B, S], checked.
  torch::Tensor residual_stream(const torch::Tensor& ids) {
    check_ids(ids, 2);
    torch::NoGradGuard no_grad;
    auto stream = detail::guarded_call("model residual_stream", [&] { return model_.residual_stream(ids); });
    require(stream.defined() && stream.dim() == 4 && stream.size(1) == ids.size(0) && stream.size(2) == ids.size(1),
            "model returned a residual stream of shape {} for ids {}; expected [L+1, {}, {}, d]",
            detail::shape_string(stream), detail::shape_string(ids), ids.size(0), ids.size(1));
    require(stream.is_floating_point(), "model returned a {} residual stream; expected floating point",
            detail::dtype_name(stream.scalar_type()));
    return stream;
  }

  // One sequence of ids [S].
  Attribution attribute(const torch::Tensor& ids, const Targets& targets, const Options& options) {
    check_ids(ids, 1);
    return iglens::attribute(residual_stream(ids.unsqueeze(0)).squeeze(1), targets, model_.readout(), options);
  }

  // A batch of equally long sequences, ids [B, S], one Targets per sequence.
  Attribution attribute_batch(const torch::Tensor& ids, const std::vector<Targets>& targets, const Options& options) {
    return iglens::attribute_batch(residual_stream(ids), targets, model_.readout(), options);
  }

 private:
  static void check_ids(const torch::Tensor& ids, int64_t dims) {
    require(ids.defined() && ids.dim() == dims, "token ids must have {} dimension(s), got {}", dims,
            detail::shape_string(ids));
    require(ids.scalar_type() == torch::kLong, "token ids must be int64, got {}",
            detail::dtype_name(ids.scalar_type()));
    require(ids.numel() > 0, "empty sequence: no token ids");
  }

  Model model_;
};

}  // namespace iglens
