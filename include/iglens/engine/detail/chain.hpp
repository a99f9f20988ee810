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

#include "iglens/detail/finite.hpp"
#include "iglens/detail/tensor_text.hpp"
#include "iglens/detail/torch_call.hpp"
#include "iglens/engine/detail/fused_softmax.hpp"
#include "iglens/engine/objective.hpp"
#include "iglens/engine/readout.hpp"
#include "iglens/error.hpp"

namespace iglens::detail {

enum class SegmentWork { none, values, derivatives };

struct ChainRequest {
  Objective objective = Objective::probability;
  SegmentWork work = SegmentWork::none;
  torch::Tensor nodes;  // [Q] in the run's dtype and device
  std::size_t budget_bytes = 0;
};

struct ChainValues {
  torch::Tensor vertex;        // [R, K+1]
  torch::Tensor segment;       // [R, K, Q], undefined when no segment work was asked for
  torch::Tensor through_zero;  // [R, K] bool: the segment passes through a point where the
                               // readout is undefined (h = 0 with norm eps 0); may be undefined
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

// Norm + head readout in closed form (derivation: docs/closed-form-readout.md):
// with c the (centred) residual, s = sqrt(|c|^2 / d + eps) its
// norm's scale and u = W (g * c / s) the logit lens of a vertex, the logits
// along the segment c(t) = (1 - t) ca + t cb are
//   z(t) = alpha(t) ua + beta(t) ub + z0,
//   alpha = (1 - t) sa / s(t),  beta = t sb / s(t),  z0 = W beta_norm + c_head,
// so each point costs O(V) and the whole map K + 1 products with W per row.
// The norm's scalars (s at the vertices, s(t) and s'(t) at the nodes) are a
// few numbers per segment, computed in float64 and from the segment's point
// nearest 0: in float32 |c|^2 overflows once the residual's RMS nears 1e19,
// and |c(t)|^2 expanded in t loses (|ca| / |cb|)^2 ulps on a segment that
// shrinks from ca to cb (4e-2 of a log-probability's credit at 1 / 300).
// The O(V) sweeps run fused (fused_softmax.hpp) for float32 and float64 on
// the CPU and as tensor expressions otherwise.
class ClosedFormChain {
 public:
  // `head` must already be in the run's dtype and device.
  explicit ClosedFormChain(NormHead head) : head_(std::move(head)) {}

  // Memory one row of K + 1 vertices and Q nodes per segment holds at once:
  // its V-vectors u (with the tensor-expression sweeps, also their
  // temporaries), float64 copies of its vertices and a few [K, Q] float64
  // node arrays.
  std::size_t bytes_per_row(std::int64_t K, std::int64_t Q, std::int64_t d) const {
    const auto element = static_cast<std::size_t>(head_.weight.element_size());
    const auto u_bytes = static_cast<std::size_t>((K + 1) * head_.vocab_size()) * element;
    const auto vertex_bytes = static_cast<std::size_t>(8 * (K + 1) * d) * sizeof(double);
    const auto node_bytes = static_cast<std::size_t>(12 * K * Q) * sizeof(double);
    return (fused_softmax_applies(head_.weight) ? u_bytes : 4 * u_bytes) + vertex_bytes + node_bytes;
  }

  ChainValues evaluate(const torch::Tensor& chain, const torch::Tensor& target, const torch::Tensor& foil,
                       const ChainRequest& request) const {
    const auto R = chain.size(0), K1 = chain.size(1), K = K1 - 1, d = chain.size(2), V = head_.vocab_size();
    const auto dtype = chain.scalar_type();
    const double dd = static_cast<double>(d);
    auto wide = chain.to(torch::kDouble);
    auto centred = head_.kind == NormKind::layer_norm ? wide - wide.mean(-1, true) : wide;  // [R, K+1, d]
    auto s = (centred.square().sum(-1) / dd + head_.eps).sqrt();                            // [R, K+1]
    ChainValues out;
    SegmentLines line;
    if (head_.eps == 0.0 || request.work != SegmentWork::none) line = segment_lines(centred);
    // With eps 0 the norm is undefined at h = 0 and f jumps across it.
    if (head_.eps == 0.0) out.through_zero = line.nearest_squared <= kThroughZero * line.end_squared;
    // u for every vertex, and z0 = W beta from the same pass over W as one extra row.
    auto scaled = ((centred / s.unsqueeze(-1)).to(dtype) * head_.weight).reshape({R * K1, d});
    if (head_.bias.defined()) scaled = torch::cat({scaled, head_.bias.view({1, d})});
    auto products = head_.unembedding.linear(scaled, {});
    auto u = products.narrow(0, 0, R * K1).view({R, K1, V});  // [R, K+1, V]
    auto z0 = head_.bias.defined() ? products[R * K1] : torch::zeros({V}, products.options());
    if (head_.head_bias.defined()) z0 = z0 + head_.head_bias;
    const bool needs_softmax = request.objective != Objective::logit;

    // Each row's token entry of u at every vertex: ids [R] -> [R, K+1].
    auto u_of = [&](const torch::Tensor& ids) {
      return u.gather(2, ids.view({R, 1, 1}).expand({R, K1, 1})).squeeze(2);
    };
    // The logits of given tokens at every vertex: ids [R] -> [R, K+1].
    auto vertex_logits_of = [&](const torch::Tensor& ids) {
      return ids.defined() ? u_of(ids) + z0.index_select(0, ids).view({R, 1}) : ids;
    };
    torch::Tensor vertex_lse;
    if (needs_softmax) vertex_lse = vertex_logsumexp(u, z0);
    out.vertex = objective_from_parts(request.objective, vertex_logits_of(target), vertex_logits_of(foil), vertex_lse);
    if (request.work == SegmentWork::none) return out;

    // z(t) = alpha(t) ua + beta(t) ub + z0 at the nodes, one row per segment.
    // |c(t)|^2 = |p|^2 + |dc|^2 (t - t0)^2 about the line's point p = c(t0)
    // nearest 0: two terms that never cancel, exact at both ends.
    const auto G = R * K, Q = request.nodes.size(0);
    auto t = request.nodes.to(torch::kDouble).view({1, Q});
    auto from_p = t - line.t0.reshape({G, 1});
    auto dc2 = line.dc_squared.reshape({G, 1});
    auto st = ((line.p_squared.reshape({G, 1}) + dc2 * from_p.square()) / dd + head_.eps).sqrt();  // [G, Q]
    auto sa = s.narrow(1, 0, K).reshape({G, 1}), sb = s.narrow(1, 1, K).reshape({G, 1});
    auto alpha = ((1.0 - t) * sa / st).to(dtype), beta = (t * sb / st).to(dtype);
    const bool want_derivative = request.work == SegmentWork::derivatives;
    torch::Tensor alpha_dot, beta_dot;
    if (want_derivative) {
      auto st_dot = dc2 * from_p / (dd * st);
      alpha_dot = (-sa * (1.0 / st + (1.0 - t) * st_dot / st.square())).to(dtype);
      beta_dot = (sb * (1.0 / st - t * st_dot / st.square())).to(dtype);
    }
    // A token's logit along each segment, and its derivative: ids [R] -> [G, Q].
    auto segment_logits_of = [&](const torch::Tensor& ids) {
      if (!ids.defined()) return std::make_pair(ids, ids);
      auto picked = u_of(ids);
      auto a = picked.narrow(1, 0, K).reshape({G, 1}), b = picked.narrow(1, 1, K).reshape({G, 1});
      auto z = alpha * a + beta * b + z0.index_select(0, repeat_each(ids, K)).view({G, 1});
      auto z_dot = want_derivative ? alpha_dot * a + beta_dot * b : torch::Tensor();
      return std::make_pair(z, z_dot);
    };
    auto [z_target, zdot_target] = segment_logits_of(target);
    auto [z_foil, zdot_foil] = segment_logits_of(foil);
    torch::Tensor segment;
    if (!needs_softmax) {
      segment = want_derivative ? zdot_target : z_target;
    } else {
      auto moments = segment_moments(u, z0, alpha, beta, want_derivative, request.budget_bytes);
      if (want_derivative) {
        // sum_v p_v zdot_v = alpha_dot (p . ua) + beta_dot (p . ub).
        auto mean_zdot = alpha_dot * moments.mean_a + beta_dot * moments.mean_b;
        segment = objective_derivative_from_parts(request.objective, z_target, zdot_target, z_foil, zdot_foil,
                                                  moments.lse, mean_zdot);
      } else {
        segment = objective_from_parts(request.objective, z_target, z_foil, moments.lse);
      }
    }
    out.segment = segment.view({R, K, Q});
    return out;
  }

 private:
  // Closer to 0 than a millionth of its longer end, a segment counts as
  // passing through 0: f turns there within a stretch of t no rule resolves.
  static constexpr double kThroughZero = 1e-12;

  // Each segment c(t) = ca + t dc of centred vertices [R, K+1, d] (float64)
  // as a line: the parameter t0 of its point p nearest 0 (0 for a segment of
  // length 0), |p|^2, |dc|^2, and |c|^2 at its point nearest 0 within
  // [0, 1] and at its longer end; all [R, K].
  struct SegmentLines {
    torch::Tensor t0, p_squared, dc_squared, nearest_squared, end_squared;
  };
  static SegmentLines segment_lines(const torch::Tensor& centred) {
    const auto K = centred.size(1) - 1;
    auto ca = centred.narrow(1, 0, K), cb = centred.narrow(1, 1, K), dc = cb - ca;
    SegmentLines line;
    line.dc_squared = dc.square().sum(-1);
    line.t0 =
        torch::where(line.dc_squared > 0, -(ca * dc).sum(-1) / line.dc_squared, torch::zeros_like(line.dc_squared));
    line.p_squared = (ca + line.t0.unsqueeze(-1) * dc).square().sum(-1);
    line.nearest_squared = line.p_squared + line.dc_squared * (line.t0.clamp(0.0, 1.0) - line.t0).square();
    line.end_squared = torch::maximum(ca.square().sum(-1), cb.square().sum(-1));
    return line;
  }

  // log sum_v exp(u[r, k, v] + z0[v]): [R, K+1].
  static torch::Tensor vertex_logsumexp(const torch::Tensor& u, const torch::Tensor& z0) {
#if IGLENS_HAS_FUSED_SOFTMAX
    if (fused_softmax_applies(u)) return rows_logsumexp(u.view({-1, u.size(2)}), z0).view({u.size(0), u.size(1)});
#endif
    return (u + z0).logsumexp(-1);
  }

  // lse and softmax means of ua, ub at every node of every segment [G, Q].
  static SoftmaxMoments segment_moments(const torch::Tensor& u, const torch::Tensor& z0, const torch::Tensor& alpha,
                                        const torch::Tensor& beta, bool moments, std::size_t budget_bytes) {
#if IGLENS_HAS_FUSED_SOFTMAX
    if (fused_softmax_applies(u)) return segment_softmax_moments(u, alpha, beta, z0, moments);
#endif
    // Full logits [G, Q, V] as a scaled sum of each segment's two V-vectors,
    // a chunk of segments at a time.
    const auto R = u.size(0), K = u.size(1) - 1, V = u.size(2), G = R * K, Q = alpha.size(1);
    auto uu = torch::stack({u.narrow(1, 0, K), u.narrow(1, 1, K)}, 2).reshape({G, 2, V});
    auto weights = torch::stack({alpha, beta}, -1);  // [G, Q, 2]
    const auto per_segment = static_cast<std::size_t>(Q * V * u.element_size() * 3);
    SoftmaxMoments out;
    std::vector<torch::Tensor> lse, mean_a, mean_b;
    const auto chunk = count_within(budget_bytes, per_segment);
    for (std::int64_t begin = 0; begin < G; begin += chunk) {
      const auto n = std::min(G, begin + chunk) - begin;
      auto part_uu = uu.narrow(0, begin, n);
      auto logits = torch::baddbmm(z0.view({1, 1, -1}), weights.narrow(0, begin, n), part_uu);
      lse.push_back(logits.logsumexp(-1));
      if (!moments) continue;
      auto probs = logits.sub_(lse.back().unsqueeze(-1)).exp_();
      auto means = torch::bmm(probs, part_uu.transpose(1, 2));  // [n, Q, 2]
      mean_a.push_back(means.select(2, 0));
      mean_b.push_back(means.select(2, 1));
    }
    out.lse = torch::cat(lse, 0);
    if (moments) {
      out.mean_a = torch::cat(mean_a, 0);
      out.mean_b = torch::cat(mean_b, 0);
    }
    return out;
  }

  NormHead head_;
};

// Any logits function: every point goes through it, gradients by autograd.
class BlackBoxChain {
 public:
  BlackBoxChain(LogitsFunction logits, std::int64_t vocab_size, std::int64_t element_size)
      : logits_(std::move(logits)), vocab_size_(vocab_size), element_size_(element_size) {}

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
    require(all_finite(z), "readout produced NaN or Inf logits");
    return z;
  }

  // The path points of one row's segments (and their directions); the
  // readout's logits are chunked by the budget on their own.
  std::size_t bytes_per_row(std::int64_t K, std::int64_t Q, std::int64_t d) const {
    return static_cast<std::size_t>(2 * K * Q * d * element_size_);
  }

  ChainValues evaluate(const torch::Tensor& chain, const torch::Tensor& target, const torch::Tensor& foil,
                       const ChainRequest& request) const {
    const auto R = chain.size(0), K1 = chain.size(1), d = chain.size(2), K = K1 - 1;
    const auto per_point = static_cast<std::size_t>(vocab_size_ * chain.element_size() * 4);
    const auto chunk = count_within(request.budget_bytes, per_point);

    ChainValues out;
    out.vertex =
        values(chain.reshape({R * K1, d}), repeat_each(target, K1), repeat_each(foil, K1), request.objective, chunk)
            .view({R, K1});
    if (request.work == SegmentWork::none) return out;

    const auto Q = request.nodes.size(0);
    auto start = chain.narrow(1, 0, K).unsqueeze(2);              // [R, K, 1, d]
    auto direction = chain.narrow(1, 1, K).unsqueeze(2) - start;  // [R, K, 1, d]
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
  torch::Tensor values(const torch::Tensor& points, const torch::Tensor& target, const torch::Tensor& foil,
                       Objective objective, std::int64_t chunk) const {
    torch::NoGradGuard no_grad;
    return map_chunks(points.size(0), chunk, [&](std::int64_t begin, std::int64_t end) {
      const auto n = end - begin;
      return objective_value(objective, checked_logits(points.narrow(0, begin, n)), target.narrow(0, begin, n),
                             optional_rows(foil, begin, n));
    });
  }

  // <grad f(p), direction> for every point, by autograd through the readout.
  torch::Tensor derivatives(const torch::Tensor& points, const torch::Tensor& direction, const torch::Tensor& target,
                            const torch::Tensor& foil, Objective objective, std::int64_t chunk) const {
    torch::AutoGradMode enable_grad(true);
    return map_chunks(points.size(0), chunk, [&](std::int64_t begin, std::int64_t end) {
      const auto n = end - begin;
      auto p = points.narrow(0, begin, n).detach().requires_grad_(true);
      auto f = objective_value(objective, checked_logits(p), target.narrow(0, begin, n), optional_rows(foil, begin, n));
      auto grad = torch::autograd::grad({f.sum()}, {p})[0];
      return (grad * direction.narrow(0, begin, n)).sum(-1).detach();
    });
  }

  LogitsFunction logits_;
  std::int64_t vocab_size_;
  std::int64_t element_size_;  // of the run's dtype
};

}  // namespace iglens::detail
