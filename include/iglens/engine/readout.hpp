#pragma once
// The readout maps residual vectors [N, d] to logits [N, V]: final norm, then
// unembedding. IG-Lens reads every point of the path through it.
//
// Two kinds sit behind one interface:
// - black box: any callable (a TorchScript method, a torch::nn::Module);
//   gradients come from autograd.
// - norm + head: a LayerNorm or RMSNorm followed by a linear head, known
//   parameter by parameter, so values and derivatives along a straight
//   segment follow in closed form from two V-vectors per segment.

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include <torch/torch.h>

#include "iglens/detail/finite.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/engine/norm_kind.hpp"
#include "iglens/error.hpp"
#include "iglens/weights/stored_weight.hpp"

namespace iglens {

// A logit soft-cap c > 0 (Gemma 2): c tanh(z / c); z itself where c is 0.
inline torch::Tensor soft_cap(const torch::Tensor& z, double c) { return c > 0.0 ? (z / c).tanh() * c : z; }

struct NormHead {
  NormKind kind = NormKind::layer_norm;
  torch::Tensor weight;  // [d] norm gain
  torch::Tensor bias;    // [d] norm shift (LayerNorm; may be undefined)
  double eps = 1e-5;
  // [V, d]: a tensor, or a matrix a model file keeps as stored (converted a
  // tile of rows at a time while it is multiplied).
  StoredWeight unembedding;
  torch::Tensor head_bias;  // [V] (may be undefined)
  // Final-logit soft-cap c > 0: logits become c tanh(z / c) (Gemma 2); 0: none.
  double softcap = 0.0;

  std::int64_t d_model() const { return unembedding.size(1); }
  std::int64_t vocab_size() const { return unembedding.size(0); }

  void validate() const {
    require(unembedding.defined() && unembedding.sizes().size() == 2,
            "norm+head readout: unembedding must be [V, d], got {}",
            unembedding.defined() ? detail::shape_string(unembedding.sizes()) : "(undefined)");
    const auto d = d_model(), V = vocab_size();
    require(weight.defined() && weight.dim() == 1 && weight.size(0) == d,
            "norm+head readout: norm weight must be [{}], got {}", d, detail::shape_string(weight));
    require(!bias.defined() || (bias.dim() == 1 && bias.size(0) == d),
            "norm+head readout: norm bias must be [{}], got {}", d, detail::shape_string(bias));
    require(kind == NormKind::layer_norm || !bias.defined(), "norm+head readout: RMSNorm takes no bias");
    require(!head_bias.defined() || (head_bias.dim() == 1 && head_bias.size(0) == V),
            "norm+head readout: head bias must be [{}], got {}", V, detail::shape_string(head_bias));
    require(eps >= 0.0, "norm+head readout: eps must be >= 0, got {}", eps);
    require(softcap >= 0.0 && std::isfinite(softcap), "norm+head readout: softcap must be >= 0 and finite, got {}",
            softcap);
    for (const auto* t : {&weight, &bias, &head_bias}) {
      if (t->defined()) {
        require(detail::all_finite(*t), "norm+head readout: parameters contain NaN or Inf");
      }
    }
    require(unembedding.all_finite(), "norm+head readout: parameters contain NaN or Inf");
  }

  // The same readout with every parameter in `options`' dtype and device; a
  // kept unembedding is converted as it is multiplied (StoredWeight::to).
  NormHead to(const torch::TensorOptions& options) const {
    auto convert = [&](const torch::Tensor& t) { return t.defined() ? t.to(options) : t; };
    return {kind, convert(weight), convert(bias), eps, unembedding.to(options), convert(head_bias), softcap};
  }

  // norm(h): "a linear map divided by a scalar" for both kinds; the scalar
  // in float64, where float32's mean square overflows once the RMS nears 1e19.
  torch::Tensor normalize(const torch::Tensor& h) const {
    auto centred = kind == NormKind::layer_norm ? h - h.mean(-1, true) : h;
    auto scale = (centred.to(torch::kDouble).square().mean(-1, true) + eps).sqrt().to(centred.scalar_type());
    auto out = centred / scale * weight;
    return bias.defined() ? out + bias : out;
  }

  // The soft-cap applied to logits z (z itself without one).
  torch::Tensor cap(const torch::Tensor& z) const { return soft_cap(z, softcap); }

  // Plain evaluation point by point: logits [N, V] for h [N, d].
  torch::Tensor logits(const torch::Tensor& h) const { return cap(unembedding.linear(normalize(h), head_bias)); }
};

using LogitsFunction = std::function<torch::Tensor(const torch::Tensor&)>;

class Readout {
 public:
  static Readout black_box(LogitsFunction logits) {
    require(static_cast<bool>(logits), "black-box readout: no function was given");
    Readout r;
    r.logits_ = std::move(logits);
    return r;
  }

  // Closed form, unless the logits are soft-capped: the layer map's chain
  // has no closed form through the cap, so then every point goes through
  // the norm, the head and the cap, with autograd's gradients (exact too).
  static Readout norm_head(NormHead head) {
    head.validate();
    auto shared = std::make_shared<const NormHead>(std::move(head));
    Readout r;
    r.logits_ = [shared](const torch::Tensor& h) { return shared->logits(h); };
    if (shared->softcap == 0.0) r.head_ = std::move(shared);
    return r;
  }

  // True when values and derivatives along segments come in closed form.
  bool is_closed_form() const { return head_ != nullptr; }
  const NormHead& head() const {
    require(is_closed_form(), "readout: a black-box readout has no norm+head parameters");
    return *head_;
  }

  // Evaluates logits [N, V] for residual vectors [N, d].
  torch::Tensor logits(const torch::Tensor& h) const { return logits_(h); }

  // The same function seen as a black box: every point goes through it and
  // gradients come from autograd. Used to check the closed form.
  Readout as_black_box() const { return black_box(logits_); }

 private:
  Readout() = default;

  std::shared_ptr<const NormHead> head_;
  LogitsFunction logits_;
};

}  // namespace iglens
