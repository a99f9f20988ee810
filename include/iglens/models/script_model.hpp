#pragma once
// A TorchScript module as an IG-Lens model. The module provides the methods
//   forward(ids [B, S]) -> logits [B, S, V]
//   residual_stream(ids) -> [L+1, B, S, d]  (index L before the final norm)
//   readout(h [N, d]) -> logits [N, V]      (final norm + unembedding)
// and is read through its `readout` method as a black box. It may also provide
//   components(ids [1, S]) -> (resid_pre, resid_mid, head_results, attn_bias, mlp_out)
// with the shapes of ResidualComponents, for component attribution.

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include <torch/script.h>
#include <torch/torch.h>

#include "iglens/components/components.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/detail/torch_call.hpp"
#include "iglens/engine/readout.hpp"
#include "iglens/error.hpp"

namespace iglens {

class ScriptModel {
 public:
  explicit ScriptModel(torch::jit::Module module) : module_(std::move(module)) {
    for (const char* method : {"forward", "residual_stream", "readout"}) {
      require(module_.find_method(method).has_value(),
              "TorchScript module has no method '{}' (IG-Lens needs forward, residual_stream "
              "and readout)",
              method);
    }
    module_.eval();
  }

  torch::Tensor residual_stream(const torch::Tensor& ids) { return call("residual_stream", ids); }
  torch::Tensor logits(const torch::Tensor& ids) { return call("forward", ids); }

  Readout readout() {
    auto module = module_;  // a handle: shares the parameters
    return Readout::black_box([module](const torch::Tensor& h) mutable {
      return tensor_result(
          detail::guarded_call("TorchScript method 'readout'", [&] { return module.get_method("readout")({h}); }),
          "readout");
    });
  }

  // Whether the module provides `components` (bundles exported before it existed do not).
  bool has_components() const { return module_.find_method("components").has_value(); }

  ResidualComponents components(const torch::Tensor& ids) {
    require(has_components(), "TorchScript module has no method 'components'");
    torch::NoGradGuard no_grad;
    const auto value = detail::guarded_call("TorchScript method 'components'",
                                            [&] { return module_.get_method("components")({ids}); });
    require(value.isTuple() && value.toTupleRef().elements().size() == 5,
            "TorchScript method 'components' must return 5 tensors (resid_pre, resid_mid, head_results, "
            "attn_bias, mlp_out), got {}",
            value.tagKind());
    const auto& parts = value.toTupleRef().elements();
    for (const auto& part : parts) {
      require(part.isTensor(), "TorchScript method 'components' returned a {}, not a tensor", part.tagKind());
    }
    ResidualComponents c{parts[0].toTensor(), parts[1].toTensor(), parts[2].toTensor(), parts[3].toTensor(),
                         parts[4].toTensor()};
    require(c.resid_pre.dim() == 3 && c.resid_mid.dim() == 3 && c.head_results.dim() == 4,
            "TorchScript method 'components' returned resid_pre {}, resid_mid {}, head_results {}; "
            "expected [L+1, S, d], [L, S, d] and [L, S, n_head, d]",
            detail::shape_string(c.resid_pre), detail::shape_string(c.resid_mid), detail::shape_string(c.head_results));
    return c;
  }

  // Whether the module provides `head_reads`, what the split by source
  // position needs (bundles exported before it existed do not).
  bool has_head_reads() const { return module_.find_method("head_reads").has_value(); }

  // Adds to components `c` of the same ids what every head reads:
  // attn_pattern [L, H, S, S], head_values [L, S, H, d], and a head_scale of
  // ones (no norm on the attention output).
  void add_head_reads(ResidualComponents& c, const torch::Tensor& ids) {
    require(has_head_reads(), "TorchScript module has no method 'head_reads'");
    torch::NoGradGuard no_grad;
    const auto value = detail::guarded_call("TorchScript method 'head_reads'",
                                            [&] { return module_.get_method("head_reads")({ids}); });
    require(value.isTuple() && value.toTupleRef().elements().size() == 2 &&
                value.toTupleRef().elements()[0].isTensor() && value.toTupleRef().elements()[1].isTensor(),
            "TorchScript method 'head_reads' must return 2 tensors (attn_pattern, head_values), got {}",
            value.tagKind());
    const auto pattern = value.toTupleRef().elements()[0].toTensor();
    const auto values = value.toTupleRef().elements()[1].toTensor();
    const auto L = c.n_layer(), S = c.length(), H = c.n_head(), d = c.d_model();
    require(pattern.sizes() == torch::IntArrayRef({L, H, S, S}) && values.sizes() == torch::IntArrayRef({L, S, H, d}),
            "TorchScript method 'head_reads' returned attn_pattern {} and head_values {}; expected [{}, {}, {}, {}] "
            "and [{}, {}, {}, {}]",
            detail::shape_string(pattern), detail::shape_string(values), L, H, S, S, L, S, H, d);
    c.attn_pattern = pattern;
    c.head_values = values;
    c.head_scale = torch::ones_like(c.resid_mid);
  }

  // Moves the parameters, e.g. to float64 for reference-grade runs.
  void to(torch::ScalarType dtype) { module_.to(dtype); }
  // float32 values of the parameters and buffers, each storage once (GPT-2 ties its head to its embedding).
  std::uint64_t float32_values_in_memory() const {
    std::set<const void*> seen;
    std::uint64_t values = 0;
    const auto count = [&](const torch::Tensor& t) {
      if (t.scalar_type() == torch::kFloat32 && seen.insert(t.storage().data()).second)
        values += static_cast<std::uint64_t>(t.storage().nbytes() / sizeof(float));
    };
    for (const auto& parameter : module_.parameters()) count(parameter);
    for (const auto& buffer : module_.buffers()) count(buffer);
    return values;
  }
  // Moves the parameters to a device; ids given to the methods must follow.
  void to(torch::Device device) { module_.to(device); }

  torch::jit::Module& module() { return module_; }

 private:
  torch::Tensor call(const char* method, const torch::Tensor& input) {
    return tensor_result(detail::guarded_call(fmt::format("TorchScript method '{}'", method),
                                              [&] { return module_.get_method(method)({input}); }),
                         method);
  }

  static torch::Tensor tensor_result(const c10::IValue& value, const char* method) {
    require(value.isTensor(), "TorchScript method '{}' returned {}, not a tensor", method, value.tagKind());
    return value.toTensor();
  }

  torch::jit::Module module_;
};

}  // namespace iglens
