#pragma once
// Evaluating f along the attribution chain baseline -> h_L1 -> ... -> h_Lk.
//
// A chain of one row is K + 1 vertices [K+1, d]; segment j runs from vertex j
// to vertex j + 1. Each backend returns f at every vertex and, on request, f
// or df/dt at the nodes t of every segment.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/detail/tensor_text.hpp"
#include "iglens/detail/torch_call.hpp"
#include "iglens/error.hpp"
#include "iglens/objective.hpp"
#include "iglens/readout.hpp"

namespace iglens::detail {

enum class SegmentWork { none, values, derivatives };

struct ChainRequest {
  Objective objective = Objective::probability;
  SegmentWork work = SegmentWork::none;
  torch::Tensor nodes;  // [Q] in the run's dtype and device
  std::size_t budget_bytes = 0;
};

struct ChainValues {
  torch::Tensor vertex;   // [R, K+1]
  torch::Tensor segment;  // [R, K, Q], undefined when no segment work was asked for
};

// How many items fit in `budget` bytes when each needs `bytes_each` (at least one).
inline std::int64_t count_within(std::size_t budget, std::size_t bytes_each) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(budget / std::max<std::size_t>(1, bytes_each)));
}

// Rows [begin, begin + n) of an optional tensor: foils are undefined unless
// the objective needs them.
inline torch::Tensor optional_rows(const torch::Tensor& t, std::int64_t begin, std::int64_t n) {
  return t.defined() ? t.narrow(0, begin, n) : t;
}

// Each id repeated `copies` times in a row: [R] -> [R * copies]; an undefined
// tensor stays undefined.
inline torch::Tensor repeat_each(const torch::Tensor& ids, std::int64_t copies) {
  return ids.defined() ? ids.unsqueeze(1).expand({ids.size(0), copies}).reshape({-1}) : ids;
}

// Applies `work(begin, end)` to consecutive slices of [0, total) of at most
// `chunk` items and concatenates the results along dimension 0.
template <class Work>
torch::Tensor map_chunks(std::int64_t total, std::int64_t chunk, Work&& work) {
  if (total <= chunk) return work(0, total);
  std::vector<torch::Tensor> parts;
  for (std::int64_t begin = 0; begin < total; begin += chunk) {
    parts.push_back(work(begin, std::min(total, begin + chunk)));
  }
  return torch::cat(parts, 0);
}

// Norm + head readout in closed form (see the notes on the closed-form
// readout): with c the (centred) residual, u = W (g * c) and
// s(t)^2 = |c(t)|^2 / d + eps, the logits along a segment are
//   z(t) = ((1 - t) ua + t ub) / s(t) + z0,   z0 = W beta + c_head,
// so each point costs O(V) and the whole map K + 1 products with W per row.
class ClosedFormChain {
 public:
  // `head` must already be in the run's dtype and device.
  explicit ClosedFormChain(NormHead head) : head_(std::move(head)) {
    const auto V = head_.vocab_size();
    auto opts = head_.unembedding.options();
    z0_ = head_.bias.defined() ? torch::mv(head_.unembedding, head_.bias) : torch::zeros({V}, opts);
    if (head_.head_bias.defined()) z0_ = z0_ + head_.head_bias;
  }

  ChainValues evaluate(const torch::Tensor& chain, const torch::Tensor& target,
                       const torch::Tensor& foil, const ChainRequest& request) const {
    const auto R = chain.size(0), K1 = chain.size(1), d = chain.size(2);
    const double dd = static_cast<double>(d);
    auto centred = head_.kind == NormKind::layer_norm ? chain - chain.mean(-1, true) : chain;
    auto squared_norm = centred.square().sum(-1);                                  // [R, K+1]
    auto u = torch::matmul(centred * head_.weight, head_.unembedding.t());         // [R, K+1, V]
    auto vertex_logits = u / (squared_norm / dd + head_.eps).sqrt().unsqueeze(-1) + z0_;
    ChainValues out;
    auto as_rows = [&](const torch::Tensor& ids) { return ids.defined() ? ids.view({R, K1}) : ids; };
    out.vertex = objective_value(request.objective, vertex_logits, as_rows(repeat_each(target, K1)),
                                 as_rows(repeat_each(foil, K1)));
    vertex_logits = torch::Tensor();
    if (request.work == SegmentWork::none) return out;

    // Segment geometry: c(t) = ca + t dc, so |c(t)|^2 is a quadratic in t.
    const auto K = K1 - 1;
    auto ca = centred.narrow(1, 0, K);
    auto dc = centred.narrow(1, 1, K) - ca;
    auto ca2 = squared_norm.narrow(1, 0, K).reshape({R * K, 1});
    auto ca_dc = (ca * dc).sum(-1).reshape({R * K, 1});
    auto dc2 = dc.square().sum(-1).reshape({R * K, 1});
    // [G, 2, V]: the two V-vectors of each segment (shared with neighbours in u).
    auto uu = torch::stack({u.narrow(1, 0, K), u.narrow(1, 1, K)}, 2).reshape({R * K, 2, -1});
    u = torch::Tensor();
    auto seg_target = repeat_each(target, K);
    auto seg_foil = repeat_each(foil, K);

    const auto Q = request.nodes.size(0), V = head_.vocab_size();
    const auto per_segment = static_cast<std::size_t>(Q * V * chain.element_size() * 3);
    auto segments = map_chunks(R * K, count_within(request.budget_bytes, per_segment),
                               [&](std::int64_t begin, std::int64_t end) {
                                 const auto n = end - begin;
                                 return segment_chunk(uu.narrow(0, begin, n), ca2.narrow(0, begin, n),
                                                      ca_dc.narrow(0, begin, n), dc2.narrow(0, begin, n),
                                                      seg_target.narrow(0, begin, n),
                                                      optional_rows(seg_foil, begin, n),
                                                      dd, request);
                               });
    out.segment = segments.view({R, K, Q});
    return out;
  }

 private:
  // f or df/dt at the nodes of G segments: [G, Q].
  torch::Tensor segment_chunk(const torch::Tensor& uu, const torch::Tensor& ca2,
                              const torch::Tensor& ca_dc, const torch::Tensor& dc2,
                              const torch::Tensor& target, const torch::Tensor& foil, double d,
                              const ChainRequest& request) const {
    const auto G = uu.size(0), Q = request.nodes.size(0);
    auto t = request.nodes.view({1, Q});
    auto s = ((ca2 + 2.0 * t * ca_dc + t.square() * dc2) / d + head_.eps).sqrt();  // [G, Q]
    auto alpha = (1.0 - t) / s, beta = t / s;
    const bool want_derivative = request.work == SegmentWork::derivatives;
    torch::Tensor alpha_dot, beta_dot;
    if (want_derivative) {
      auto s_dot = (ca_dc + t * dc2) / (d * s);
      alpha_dot = -1.0 / s - (1.0 - t) * s_dot / s.square();
      beta_dot = 1.0 / s - t * s_dot / s.square();
    }

    // A token's logit along the segment, and its derivative, from uu alone.
    auto logit_of = [&](const torch::Tensor& ids) {
      auto ends = uu.gather(2, ids.view({G, 1, 1}).expand({G, 2, 1})).view({G, 2});
      auto z0 = z0_.index_select(0, ids).view({G, 1});
      auto a = ends.select(1, 0).view({G, 1}), b = ends.select(1, 1).view({G, 1});
      auto z = alpha * a + beta * b + z0;
      auto z_dot = want_derivative ? alpha_dot * a + beta_dot * b : torch::Tensor();
      return std::make_pair(z, z_dot);
    };
    auto [z_target, zdot_target] = logit_of(target);
    torch::Tensor z_foil, zdot_foil;
    if (needs_foil(request.objective)) std::tie(z_foil, zdot_foil) = logit_of(foil);

    if (request.objective == Objective::logit) return want_derivative ? zdot_target : z_target;

    // Full logits [G, Q, V] as a scaled sum of the segment's two V-vectors.
    auto logits = torch::baddbmm(z0_.view({1, 1, -1}), torch::stack({alpha, beta}, -1), uu);
    auto lse = logits.logsumexp(-1);
    if (!want_derivative) return objective_from_parts(request.objective, z_target, z_foil, lse);
    // sum_v p_v zdot_v = alpha_dot (p . ua) + beta_dot (p . ub).
    auto probs = logits.sub_(lse.unsqueeze(-1)).exp_();
    auto p_dot_u = torch::bmm(probs, uu.transpose(1, 2));  // [G, Q, 2]
    auto mean_zdot = alpha_dot * p_dot_u.select(2, 0) + beta_dot * p_dot_u.select(2, 1);
    return objective_derivative_from_parts(request.objective, z_target, zdot_target, z_foil,
                                           zdot_foil, lse, mean_zdot);
  }

  NormHead head_;
  torch::Tensor z0_;  // [V]
};

// Any logits function: every point goes through it, gradients by autograd.
class BlackBoxChain {
 public:
  BlackBoxChain(LogitsFunction logits, std::int64_t vocab_size)
      : logits_(std::move(logits)), vocab_size_(vocab_size) {}

  // Logits for points [N, d], checked: a model that answers with the wrong
  // shape, dtype or non-finite values must not produce a number.
  torch::Tensor checked_logits(const torch::Tensor& points) const {
    auto z = guarded_call("readout", [&] { return logits_(points); });
    require(z.defined() && z.dim() == 2 && z.size(0) == points.size(0) && z.size(1) == vocab_size_,
            "readout returned logits of shape {} for input {}; expected [{}, {}]", shape_string(z),
            shape_string(points), points.size(0), vocab_size_);
    require(z.scalar_type() == points.scalar_type(),
            "readout returned {} logits for {} input; the model must run in the requested dtype",
            dtype_name(z.scalar_type()), dtype_name(points.scalar_type()));
    require(torch::isfinite(z).all().item<bool>(), "readout produced NaN or Inf logits");
    return z;
  }

  ChainValues evaluate(const torch::Tensor& chain, const torch::Tensor& target,
                       const torch::Tensor& foil, const ChainRequest& request) const {
    const auto R = chain.size(0), K1 = chain.size(1), d = chain.size(2), K = K1 - 1;
    const auto per_point = static_cast<std::size_t>(vocab_size_ * chain.element_size() * 4);
    const auto chunk = count_within(request.budget_bytes, per_point);

    ChainValues out;
    out.vertex = values(chain.reshape({R * K1, d}), repeat_each(target, K1), repeat_each(foil, K1),
                        request.objective, chunk)
                     .view({R, K1});
    if (request.work == SegmentWork::none) return out;

    const auto Q = request.nodes.size(0);
    auto start = chain.narrow(1, 0, K).unsqueeze(2);                  // [R, K, 1, d]
    auto direction = chain.narrow(1, 1, K).unsqueeze(2) - start;      // [R, K, 1, d]
    auto t = request.nodes.view({1, 1, Q, 1});
    auto points = (start + t * direction).reshape({R * K * Q, d});
    auto point_target = repeat_each(target, K * Q);  // row-major [R, K, Q]
    auto point_foil = repeat_each(foil, K * Q);
    torch::Tensor segment;
    if (request.work == SegmentWork::values) {
      segment = values(points, point_target, point_foil, request.objective, chunk);
    } else {
      auto point_direction = direction.expand({R, K, Q, d}).reshape({R * K * Q, d});
      segment = derivatives(points, point_direction, point_target, point_foil, request.objective, chunk);
    }
    out.segment = segment.view({R, K, Q});
    return out;
  }

 private:
  torch::Tensor values(const torch::Tensor& points, const torch::Tensor& target,
                       const torch::Tensor& foil, Objective objective, std::int64_t chunk) const {
    torch::NoGradGuard no_grad;
    return map_chunks(points.size(0), chunk, [&](std::int64_t begin, std::int64_t end) {
      const auto n = end - begin;
      return objective_value(objective, checked_logits(points.narrow(0, begin, n)),
                             target.narrow(0, begin, n),
                             optional_rows(foil, begin, n));
    });
  }

  // <grad f(p), direction> for every point, by autograd through the readout.
  torch::Tensor derivatives(const torch::Tensor& points, const torch::Tensor& direction,
                            const torch::Tensor& target, const torch::Tensor& foil,
                            Objective objective, std::int64_t chunk) const {
    torch::AutoGradMode enable_grad(true);
    return map_chunks(points.size(0), chunk, [&](std::int64_t begin, std::int64_t end) {
      const auto n = end - begin;
      auto p = points.narrow(0, begin, n).detach().requires_grad_(true);
      auto f = objective_value(objective, checked_logits(p), target.narrow(0, begin, n),
                               optional_rows(foil, begin, n));
      auto grad = torch::autograd::grad({f.sum()}, {p})[0];
      return (grad * direction.narrow(0, begin, n)).sum(-1).detach();
    });
  }

  LogitsFunction logits_;
  std::int64_t vocab_size_;
};

}  // namespace iglens::detail
