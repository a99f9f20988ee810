#pragma once
// Directional derivatives of f = p_target along one straight segment of the
// residual stream, one per part of the segment's direction, in closed form:
// no backward pass, one product with the unembedding per part.
//
// With P the norm's projection (centring for LayerNorm, identity for RMSNorm),
// g its gain, s(h)^2 = |P h|^2 / d + eps and W the unembedding:
//   z(h)   = W (g ⊙ P h) / s(h) + z0,                       z0 = W beta + c
//   D_v z  = u_v / s - W (g ⊙ P h) (P h · P v) / (d s^3),   u_v = W (g ⊙ P v)
//   D_v f  = p_y (D_v z_y - p · D_v z)
// With a soft-cap c the logits are c tanh(z / c), whose derivative is
// w ⊙ D_v z with w = 1 - tanh^2(z / c): D_v f = p_y (w_y D_v z_y - (p ⊙ w) · D_v z).
// Along h(t) = a + t (b - a), W (g ⊙ P h(t)) = (1 - t) u_a + t u_b, so the
// segment needs u_a, u_b and one u_c per part; each point then costs O(V).
// s(t) and P h(t) · P d_c are computed from the point itself rather than
// from their quadratic and affine forms in t, which cancel on segments whose
// norm shrinks. (derivation: docs/component-attribution.md)

#include <algorithm>
#include <cstdint>
#include <utility>

#include <torch/torch.h>

#include "iglens/engine/readout.hpp"

namespace iglens::detail {

// Points evaluated together: bounds the [points, V] tensors in memory.
constexpr std::int64_t part_slope_points_per_pass = 256;

inline torch::Tensor project(const NormHead& head, const torch::Tensor& h) {
  return head.kind == NormKind::layer_norm ? h - h.mean(-1, true) : h;
}

// W (g ⊙ P x) [N, V] for x [N, d]: the logits before the norm's scale and the
// offset. Linear in x, so one pass over the unembedding serves many vectors.
inline torch::Tensor unscaled_logits(const NormHead& head, const torch::Tensor& x) {
  return torch::matmul(project(head, x) * head.weight, head.unembedding.t());
}

// The norm's scale s(h) [N] for h [N, d].
inline torch::Tensor norm_scale(const NormHead& head, const torch::Tensor& h) {
  return (project(head, h).square().mean(-1) + head.eps).sqrt();
}

// z0 = W beta + c [V]: the logits' part that does not depend on h.
inline torch::Tensor logit_offset(const NormHead& head) {
  auto offset = torch::zeros({head.vocab_size()}, head.unembedding.options());
  if (head.bias.defined()) offset += torch::mv(head.unembedding, head.bias);
  if (head.head_bias.defined()) offset += head.head_bias;
  return offset;
}

// A segment start -> end whose direction is the sum of parts [C, d], with
// the unscaled logits of its ends [V] and of its parts [C, V].
struct PartedSegment {
  torch::Tensor start, end, parts;
  torch::Tensor u_start, u_end, u_parts;
};

class PartSlopes {
 public:
  // head and offset (logit_offset) in the segment's dtype.
  PartSlopes(const NormHead& head, std::int64_t target, torch::Tensor offset, PartedSegment segment)
      : head_(head),
        target_(target),
        offset_(std::move(offset)),
        segment_(std::move(segment)),
        direction_(segment_.end - segment_.start),
        projected_parts_(project(head, segment_.parts)) {}

  // f at the points t [n] (float64) of the segment: [n] float64.
  torch::Tensor values(const torch::Tensor& t) const {
    torch::NoGradGuard no_grad;
    auto out = torch::empty({t.size(0)}, torch::kFloat64);
    for_each_pass(t, [&](std::int64_t first, const torch::Tensor& tt) {
      const auto logits = head_.cap(unscaled_along(tt) / norm_scale(head_, point(tt)).unsqueeze(1) + offset_);
      out.narrow(0, first, tt.size(0)).copy_(torch::softmax(logits, -1).select(1, target_));
    });
    return out;
  }

  // D_c f at the points t [n] (float64): [n, C] float64.
  torch::Tensor slopes(const torch::Tensor& t) const {
    torch::NoGradGuard no_grad;
    const double d = static_cast<double>(head_.d_model());
    const auto& u_parts = segment_.u_parts;
    auto out = torch::empty({t.size(0), u_parts.size(0)}, torch::kFloat64);
    for_each_pass(t, [&](std::int64_t first, const torch::Tensor& tt) {
      const auto projected = project(head_, point(tt));                              // P h(t) [n, d]
      const auto s = (projected.square().mean(-1) + head_.eps).sqrt().unsqueeze(1);  // [n, 1]
      const auto unscaled = unscaled_along(tt);                                      // W (g ⊙ P h(t)) [n, V]
      const auto z = unscaled / s + offset_;
      const auto p = torch::softmax(head_.cap(z), -1);
      const auto p_target = p.select(1, target_).unsqueeze(1);
      const auto overlap = torch::matmul(projected, projected_parts_.t());  // P h · P d_c [n, C]
      // w_y D_c z_y - (p ⊙ w) · D_c z, term by term (w = 1 without a cap).
      const bool capped = head_.softcap > 0.0;
      const auto w = capped ? 1 - (z / head_.softcap).tanh().square() : torch::Tensor();
      const auto q = capped ? p * w : p;
      const auto w_target = capped ? w.select(1, target_).unsqueeze(1) : torch::ones_like(p_target);
      const auto direct = w_target * u_parts.select(1, target_).unsqueeze(0) - torch::matmul(q, u_parts.t());
      const auto through_scale = w_target * unscaled.select(1, target_).unsqueeze(1) - (q * unscaled).sum(1, true);
      const auto slope = p_target / s * (direct - through_scale * overlap / (d * s.square()));
      out.narrow(0, first, tt.size(0)).copy_(slope);
    });
    return out;
  }

  // grad f at the points t [n] (float64): [n, d] float64, for directions
  // too many for one product with the unembedding each. With g ⊙ a =
  // g ⊙ W^T (p_y (w_y e_y - p ⊙ w)):
  //   grad f = (P (g ⊙ a) - ((g ⊙ a) · P h) P h / (d s^2)) / s,
  // so grad f · v equals D_v f above for every v.
  torch::Tensor gradients(const torch::Tensor& t) const {
    torch::NoGradGuard no_grad;
    const double d = static_cast<double>(head_.d_model());
    auto out = torch::empty({t.size(0), head_.d_model()}, torch::kFloat64);
    for_each_pass(t, [&](std::int64_t first, const torch::Tensor& tt) {
      const auto projected = project(head_, point(tt));                              // P h(t) [n, d]
      const auto s = (projected.square().mean(-1) + head_.eps).sqrt().unsqueeze(1);  // [n, 1]
      const auto z = unscaled_along(tt) / s + offset_;
      const auto p = torch::softmax(head_.cap(z), -1);
      const auto p_target = p.select(1, target_).unsqueeze(1);
      const bool capped = head_.softcap > 0.0;
      auto weighted = capped ? -(p * (1 - (z / head_.softcap).tanh().square())) : -p;  // -(p ⊙ w)
      const auto w_target =
          capped ? 1 - (z.select(1, target_) / head_.softcap).tanh().square() : torch::ones({tt.size(0)}, z.options());
      weighted.select(1, target_) += w_target;
      const auto gained = torch::matmul(p_target * weighted, head_.unembedding) * head_.weight;  // g ⊙ a [n, d]
      const auto along_h = (gained * projected).sum(1, true);
      out.narrow(0, first, tt.size(0)).copy_((project(head_, gained) - along_h * projected / (d * s.square())) / s);
    });
    return out;
  }

 private:
  torch::Tensor point(const torch::Tensor& t) const { return segment_.start + t.unsqueeze(1) * direction_; }
  torch::Tensor unscaled_along(const torch::Tensor& t) const {
    const auto tt = t.unsqueeze(1);
    return (1 - tt) * segment_.u_start + tt * segment_.u_end;
  }

  // Calls body(first, t_chunk) with t_chunk in the segment's dtype.
  template <class Body>
  void for_each_pass(const torch::Tensor& t, Body&& body) const {
    for (std::int64_t first = 0; first < t.size(0); first += part_slope_points_per_pass) {
      const auto count = std::min(part_slope_points_per_pass, t.size(0) - first);
      body(first, t.narrow(0, first, count).to(segment_.start.options()));
    }
  }

  const NormHead& head_;
  std::int64_t target_;
  torch::Tensor offset_;
  PartedSegment segment_;
  torch::Tensor direction_, projected_parts_;
};

}  // namespace iglens::detail
