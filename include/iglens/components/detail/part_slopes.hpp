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
#include <limits>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/engine/readout.hpp"

namespace iglens::detail {

// Points evaluated together: bounds the [points, V] tensors in memory.
constexpr std::int64_t part_slope_points_per_pass = 256;

// x with its entries below the dtype's smallest normal number set to zero.
// A softmax over a large vocabulary has many such entries, and denormal
// operands slow a product with the unembedding by an order of magnitude
// (measured 7x on SmolLM2); in a row of p ⊙ w (logit_weights) they weigh
// together less than V * 2^-126 against the row's largest entry (>= 1/V).
inline torch::Tensor without_denormals(const torch::Tensor& x) {
  const double smallest_normal =
      x.scalar_type() == torch::kFloat64 ? std::numeric_limits<double>::min() : std::numeric_limits<float>::min();
  return x.masked_fill(x.abs() < smallest_normal, 0.0);
}

inline torch::Tensor project(const NormHead& head, const torch::Tensor& h) {
  return head.kind == NormKind::layer_norm ? h - h.mean(-1, true) : h;
}

// W (g ⊙ P x) [N, V] for x [N, d]: the logits before the norm's scale and the
// offset. Linear in x, so one pass over the unembedding serves many vectors.
inline torch::Tensor unscaled_logits(const NormHead& head, const torch::Tensor& x) {
  return head.unembedding.linear(project(head, x) * head.weight, {});
}

// The norm's scale s(h) [N] for h [N, d].
inline torch::Tensor norm_scale(const NormHead& head, const torch::Tensor& h) {
  return (project(head, h).square().mean(-1) + head.eps).sqrt();
}

// z0 = W beta + c [V]: the logits' part that does not depend on h.
inline torch::Tensor logit_offset(const NormHead& head) {
  auto offset = torch::zeros({head.vocab_size()}, head.weight.options());
  if (head.bias.defined()) offset += head.unembedding.linear(head.bias, {});
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
  // so grad f · v equals D_v f above for every v. gradients_along() shares
  // the product with W^T among several segments.
  torch::Tensor gradients(const torch::Tensor& t) const {
    torch::NoGradGuard no_grad;
    auto out = torch::empty({t.size(0), head_.d_model()}, torch::kFloat64);
    for_each_pass(t, [&](std::int64_t first, const torch::Tensor& tt) {
      const auto weights = logit_weights(tt);
      out.narrow(0, first, tt.size(0))
          .copy_(gradients_from(tt, weights.p_target, head_.unembedding.linear_transposed(weights.rows)));
    });
    return out;
  }

  // a / p_y = w_y e_y - p ⊙ w at the points t [n] (segment dtype): rows [n, V], and p_y [n, 1].
  struct LogitWeights {
    torch::Tensor rows, p_target;
  };
  LogitWeights logit_weights(const torch::Tensor& t) const {
    const auto s = norm_scale(head_, point(t)).unsqueeze(1);  // [n, 1]
    const auto z = unscaled_along(t) / s + offset_;
    const auto p = torch::softmax(head_.cap(z), -1);
    const bool capped = head_.softcap > 0.0;
    auto rows = capped ? -(p * (1 - (z / head_.softcap).tanh().square())) : -p;  // -(p ⊙ w)
    const auto w_target =
        capped ? 1 - (z.select(1, target_) / head_.softcap).tanh().square() : torch::ones({t.size(0)}, z.options());
    rows.select(1, target_) += w_target;
    return {without_denormals(rows), p.select(1, target_).unsqueeze(1)};
  }

  // grad f at the points t [n] (segment dtype) from p_y and (a / p_y) W [n, d] (logit_weights).
  torch::Tensor gradients_from(const torch::Tensor& t, const torch::Tensor& p_target,
                               const torch::Tensor& through_unembedding) const {
    const double d = static_cast<double>(head_.d_model());
    const auto projected = project(head_, point(t));                               // P h(t) [n, d]
    const auto s = (projected.square().mean(-1) + head_.eps).sqrt().unsqueeze(1);  // [n, 1]
    const auto gained = p_target * through_unembedding * head_.weight;             // g ⊙ a [n, d]
    const auto along_h = (gained * projected).sum(1, true);
    return ((project(head_, gained) - along_h * projected / (d * s.square())) / s).to(torch::kFloat64);
  }

  torch::Tensor points_dtype(const torch::Tensor& t) const { return t.to(segment_.start.options()); }

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

// grad f at the points t [n] (float64) of every segment: [segments, n, d]
// float64. Segments that fit in one pass of part_slope_points_per_pass
// points share one product with the unembedding, which is read once per pass
// rather than once per segment.
inline torch::Tensor gradients_along(const std::vector<PartSlopes>& segments, const NormHead& head,
                                     const torch::Tensor& t) {
  torch::NoGradGuard no_grad;
  const auto K = static_cast<std::int64_t>(segments.size()), n = t.size(0);
  auto out = torch::empty({K, n, head.d_model()}, torch::kFloat64);
  if (K == 0) return out;
  const auto per_pass = std::max<std::int64_t>(1, part_slope_points_per_pass / std::max<std::int64_t>(n, 1));
  if (per_pass == 1) {  // many points: each segment passes its own
    for (std::int64_t k = 0; k < K; ++k) out[k].copy_(segments[static_cast<std::size_t>(k)].gradients(t));
    return out;
  }
  const auto tt = segments.front().points_dtype(t);
  for (std::int64_t first = 0; first < K; first += per_pass) {
    const auto count = std::min(per_pass, K - first);
    std::vector<PartSlopes::LogitWeights> weights;
    std::vector<torch::Tensor> rows;
    for (std::int64_t k = first; k < first + count; ++k) {
      weights.push_back(segments[static_cast<std::size_t>(k)].logit_weights(tt));
      rows.push_back(weights.back().rows);
    }
    const auto through = head.unembedding.linear_transposed(torch::cat(rows));  // [count * n, d]
    for (std::int64_t k = 0; k < count; ++k) {
      out[first + k].copy_(segments[static_cast<std::size_t>(first + k)].gradients_from(
          tt, weights[static_cast<std::size_t>(k)].p_target, through.narrow(0, k * n, n)));
    }
  }
  return out;
}

}  // namespace iglens::detail
