#pragma once
// An IG-Lens model bundle: one TorchScript file (*.pt) holding the model and
// its iglens.json and tokenizer files, as docs/bundle-format.md specifies.
// python/export_gpt2.py writes them.
//
// A bundle is an IG-Lens model. When iglens.json names a LayerNorm or RMSNorm
// and a linear head, its readout is the closed-form norm + head built from
// those parameters; the TorchScript `readout` method stays available as a
// black box.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include "iglens/detail/tensor_text.hpp"
#include "iglens/detail/torch_call.hpp"
#include "iglens/engine/readout.hpp"
#include "iglens/error.hpp"
#include "iglens/model_files/bundle_info.hpp"
#include "iglens/models/script_model.hpp"
#include "iglens/text/tokenizer.hpp"

namespace iglens {

class Bundle {
 public:
  // Loads and validates a bundle file; every problem names the file.
  static Bundle load(const std::string& path) {
    require(!std::filesystem::is_directory(path), "model file '{}' is a folder, not a file", path);
    {
      std::ifstream file(path, std::ios::binary | std::ios::ate);
      require(file.good(), "model file '{}' does not exist or is not readable", path);
      require(file.tellg() > 0, "model file '{}' is empty", path);
    }
    torch::jit::ExtraFilesMap extra{{"iglens.json", ""}, {"vocab.json", ""}, {"merges.txt", ""}};
    torch::jit::Module module;
    try {
      module = torch::jit::load(path, torch::kCPU, extra);
    } catch (const std::exception& e) {
      fail("model file '{}' is not a readable TorchScript archive (truncated or another format?): {}", path,
           detail::first_line(e.what()));
    }
    require(!extra["iglens.json"].empty(), "model file '{}' has no iglens.json inside", path);
    auto info = BundleInfo::parse(extra["iglens.json"], path);
    for (const auto& name : {info.vocab_file, info.merges_file}) {
      require(extra.count(name) && !extra[name].empty(), "model file '{}' has no tokenizer file '{}' inside", path,
              name);
    }
    auto tokenizer = [&] {
      try {
        return Tokenizer::from_strings(extra[info.vocab_file], extra[info.merges_file]);
      } catch (const Error& e) {
        fail("model file '{}': tokenizer: {}", path, e.what());
      }
    }();
    require(tokenizer.vocab_size() == info.vocab_size,
            "model file '{}': the tokenizer has {} tokens but iglens.json says vocab_size {}", path,
            tokenizer.vocab_size(), info.vocab_size);
    try {
      return Bundle(path, ScriptModel(std::move(module)), std::move(info), std::move(tokenizer));
    } catch (const Error& e) {
      fail("model file '{}': {}", path, e.what());
    }
  }

  const std::string& path() const { return path_; }
  const BundleInfo& info() const { return info_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  ScriptModel& script() { return script_; }

  torch::Tensor residual_stream(const torch::Tensor& ids) { return script_.residual_stream(check_length(ids)); }
  torch::Tensor logits(const torch::Tensor& ids) { return script_.logits(check_length(ids)); }

  // What every block writes for ids [1, S] (ResidualComponents), with what
  // each head reads where asked and the bundle has `head_reads`. Bundles exported
  // before the `components` method existed say how to re-export.
  ResidualComponents components(const torch::Tensor& ids, bool with_sources = true) {
    require(script_.has_components(),
            "model file '{}' was exported before component attribution existed (it has no 'components' "
            "method); re-export it: /usr/bin/python3 python/export_gpt2.py --bundle {} -o NEW.pt",
            path_, path_);
    require(ids.defined() && ids.dim() == 2 && ids.size(0) == 1,
            "components: token ids must be one sequence [1, S], got {}", detail::shape_string(ids));
    auto components = script_.components(check_length(ids));
    if (with_sources && script_.has_head_reads()) script_.add_head_reads(components, ids);
    return components;
  }

  // Whether components() carries what each head reads (bundles exported
  // before the `head_reads` method existed do not).
  bool has_sources() const { return script_.has_head_reads(); }

  // The closed-form norm + head read from the parameters iglens.json names.
  Readout readout() { return Readout::norm_head(norm_head()); }

  NormHead norm_head() {
    const auto d = info_.d_model, V = info_.vocab_size;
    NormHead head;
    head.kind = info_.norm_kind;
    head.eps = info_.norm_eps;
    head.weight = parameter(info_.norm_weight, {d});
    if (!info_.norm_bias.empty()) head.bias = parameter(info_.norm_bias, {d});
    head.unembedding = parameter(info_.unembedding_weight, {V, d});
    if (!info_.unembedding_bias.empty()) head.head_bias = parameter(info_.unembedding_bias, {V});
    return head;
  }

  // Moves the model's parameters, e.g. to float64 for reference-grade runs.
  void to(torch::ScalarType dtype) { script_.to(dtype); }
  std::uint64_t float32_values_in_memory() const { return script_.float32_values_in_memory(); }
  // Moves the model to a device (e.g. CUDA); the closed-form readout follows.
  void to(torch::Device device) { script_.to(device); }

 private:
  Bundle(std::string path, ScriptModel script, BundleInfo info, Tokenizer tokenizer)
      : path_(std::move(path)), script_(std::move(script)), info_(std::move(info)), tokenizer_(std::move(tokenizer)) {
    norm_head();  // every named parameter exists with the right shape
    for (const auto& method : info_.methods) {
      require(script_.module().find_method(method).has_value(),
              "iglens.json lists method '{}', which the TorchScript module does not have", method);
    }
  }

  const torch::Tensor& check_length(const torch::Tensor& ids) const {
    require(ids.dim() < 1 || ids.size(-1) <= info_.context_length, "{} tokens exceed the model's context length of {}",
            ids.size(-1), info_.context_length);
    return ids;
  }

  torch::Tensor parameter(const std::string& name, std::vector<std::int64_t> shape) {
    for (const auto& p : script_.module().named_parameters(/*recurse=*/true)) {
      if (p.name != name) continue;
      require(p.value.sizes() == torch::IntArrayRef(shape),
              "model file '{}': parameter '{}' has shape {}; iglens.json implies {}", path_, name,
              detail::shape_string(p.value), detail::shape_string(shape));
      return p.value.detach();
    }
    fail("model file '{}': iglens.json names parameter '{}', which the model does not have", path_, name);
  }

  std::string path_;
  ScriptModel script_;
  BundleInfo info_;
  Tokenizer tokenizer_;
};

}  // namespace iglens
