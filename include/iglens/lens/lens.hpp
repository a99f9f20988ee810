#pragma once
// IG-Lens over a model, the library's front door: token ids in, the layer
// map and, where the model exposes its blocks' writes, the split of each
// block among its heads, attention bias and MLP out. Every setting (layers,
// baseline, estimator, steps, dtype) comes from Options.

#include <cstdint>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/components/component_attribution.hpp"
#include "iglens/components/components.hpp"
#include "iglens/components/source_attribution.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/detail/torch_call.hpp"
#include "iglens/engine/attribution.hpp"
#include "iglens/engine/engine.hpp"
#include "iglens/engine/options.hpp"
#include "iglens/engine/targets.hpp"
#include "iglens/error.hpp"
#include "iglens/lens/model.hpp"

namespace iglens {

// The layer map of a sequence and, from the same forward pass, each target's
// credits per component.
struct ComponentMap {
  Attribution layers;
  ComponentCredits components;
};

// The same with each head's credit split among its source positions.
struct SourceMap {
  Attribution layers;
  SourceCredits sources;
};

template <class Model>
class Lens {
  static_assert(detail::has_residual_stream<Model>::value,
                "iglens::Lens<Model>: Model needs `torch::Tensor residual_stream(const torch::Tensor& "
                "ids)` returning [L+1, B, S, d]");
  static_assert(detail::has_readout<Model>::value,
                "iglens::Lens<Model>: Model needs `iglens::Readout readout()` (final norm + "
                "unembedding)");

 public:
  // Model is held by value: pass a handle type (torch::nn::ModuleHolder,
  // torch::jit::Module, a class holding either) to share one model.
  explicit Lens(Model model) : model_(std::move(model)) {}

  Model& model() { return model_; }
  const Model& model() const { return model_; }

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

  // One sequence of ids [S]: the layer map over options.layers and every
  // target's component credits, both from the blocks' writes of one forward
  // pass. With all layers chosen, block l's parts add up to the map's credit
  // of layer l + 1, and the embedding's to layer 0's. options.progress
  // hears the map's rows, then the components' tokens: 2T in all.
  ComponentMap attribute_components(const torch::Tensor& ids, const Targets& targets, const Options& options) {
    ComponentMap result;
    result.layers = map_and_split(ids, targets, options, false, [&](const ResidualComponents& c, const Options& split) {
      result.components = iglens::attribute_components(c, targets, model_.norm_head(), split);
    });
    return result;
  }

  // The same, with every head's credit split among the source positions it
  // reads (the native decoders, and bundles exported with `head_reads`).
  SourceMap attribute_sources(const torch::Tensor& ids, const Targets& targets, const Options& options) {
    SourceMap result;
    result.layers = map_and_split(ids, targets, options, true, [&](const ResidualComponents& c, const Options& split) {
      result.sources = iglens::attribute_sources(c, targets, model_.norm_head(), split);
    });
    return result;
  }

 private:
  // The blocks' writes of one forward pass, the layer map from their
  // residual stream, then `split(components, options)`; progress over 2T.
  // Without `sources`, models that can leave out what each head reads do.
  template <class Split>
  Attribution map_and_split(const torch::Tensor& ids, const Targets& targets, const Options& options, bool sources,
                            Split&& split) {
    static_assert(detail::has_components<Model>::value,
                  "iglens::Lens<Model>: splitting by component needs `iglens::ResidualComponents "
                  "components(const torch::Tensor& ids)` and `iglens::NormHead norm_head()`");
    check_ids(ids, 1);
    options.validate();
    ResidualComponents components;
    {
      torch::NoGradGuard no_grad;
      components = detail::guarded_call("model components", [&] {
        if constexpr (detail::chooses_sources<Model>::value) {
          return model_.components(ids.unsqueeze(0), sources);
        } else {
          (void)sources;
          return model_.components(ids.unsqueeze(0));
        }
      });
    }
    require(components.resid_pre.defined() && components.resid_pre.dim() == 3 &&
                components.resid_pre.size(1) == ids.size(0),
            "model returned components whose resid_pre is {} for {} ids; expected [L+1, {}, d]",
            detail::shape_string(components.resid_pre), ids.size(0), ids.size(0));
    const auto T = static_cast<std::int64_t>(targets.size());
    auto phase = [&](std::int64_t before) {
      auto each = options;
      if (options.progress)
        each.progress = [&, before](std::int64_t done, std::int64_t) { options.progress(before + done, 2 * T); };
      return each;
    };
    auto layers = iglens::attribute(components.resid_pre, targets, model_.readout(), phase(0));
    split(components, phase(T));
    return layers;
  }

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
