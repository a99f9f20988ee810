#pragma once
// Log-sum-exp and softmax moments over the vocabulary for the closed-form
// readout, fused into one sweep per point (softmax_sweeps.hpp): no
// [points, V] buffer is ever allocated, which is what costs most once V is
// GPT-2's 50257 (every fresh buffer is a round of page faults, every extra
// pass a trip to memory).
//
// float32 and float64 on the CPU with GCC or Clang; rows are spread over as
// many threads as LibTorch's intra-op setting, each row swept by the fastest
// variant this CPU runs. Other dtypes and devices use the tensor expressions
// in chain.hpp.

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include <torch/torch.h>

#if defined(__GNUC__) || defined(__clang__)
#define IGLENS_HAS_FUSED_SOFTMAX 1
#include "iglens/engine/detail/softmax_sweeps.hpp"
#else
#define IGLENS_HAS_FUSED_SOFTMAX 0
#endif

namespace iglens::detail {

// Per node of every segment: log-sum-exp of the logits and, for df/dt, the
// softmax means of the segment's two V-vectors.
struct SoftmaxMoments {
  torch::Tensor lse;     // [G, Q]
  torch::Tensor mean_a;  // [G, Q] E_p[a]; undefined unless asked for
  torch::Tensor mean_b;  // [G, Q] E_p[b]
};

#if IGLENS_HAS_FUSED_SOFTMAX

// Runs work(begin, end) on consecutive parts of [0, count), one per thread
// of LibTorch's intra-op count. Not at::parallel_for: with LibTorch's OpenMP
// backend that is a header template which runs serially unless the caller
// is itself compiled with -fopenmp.
template <class Work>
void split_across_threads(std::int64_t count, const Work& work) {
  const auto threads = std::min<std::int64_t>(count, std::max(1, at::get_num_threads()));
  if (threads <= 1) {
    work(std::int64_t{0}, count);
    return;
  }
  auto bound = [&](std::int64_t part) { return count * part / threads; };
  std::vector<std::thread> helpers;
  for (std::int64_t part = 1; part < threads; ++part) helpers.emplace_back(work, bound(part), bound(part + 1));
  work(std::int64_t{0}, bound(1));
  for (auto& helper : helpers) helper.join();
}

inline bool fused_softmax_applies(const torch::Tensor& t) {
  return (t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kFloat64) && t.device().is_cpu();
}

// Calls work with a value of the C++ type of a float32 or float64 tensor's elements.
template <class Work>
auto with_scalar_type(const torch::Tensor& t, const Work& work) {
  return t.scalar_type() == torch::kFloat64 ? work(double{}) : work(float{});
}

// lse_n = log sum_v exp(u[n, v] + z0[v]) for rows u [N, V].
inline torch::Tensor rows_logsumexp(const torch::Tensor& u_rows, const torch::Tensor& z0) {
  const auto u = u_rows.contiguous(), bias = z0.contiguous();
  const auto N = u.size(0), V = u.size(1);
  auto lse = torch::empty({N}, u.options());
  with_scalar_type(u, [&](auto zero) {
    using Scalar = decltype(zero);
    const Scalar* u_data = u.data_ptr<Scalar>();
    const Scalar* z_data = bias.data_ptr<Scalar>();
    Scalar* out = lse.data_ptr<Scalar>();
    const auto sweep = sweeps::fastest_variant<Scalar>().row_logsumexp;
    split_across_threads(N, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t n = begin; n < end; ++n) out[n] = sweep(u_data + n * V, z_data, V);
    });
  });
  return lse;
}

// For each segment g = (r, j) of rows u [R, K+1, V], with a = u[r, j] and
// b = u[r, j + 1], and its nodes' weights alpha, beta [R * K, Q]:
// x = alpha a + beta b + z0, giving lse(x) and, with `moments`, the softmax
// means of a and b (what df/dt needs).
inline SoftmaxMoments segment_softmax_moments(const torch::Tensor& u_rows, const torch::Tensor& alpha,
                                              const torch::Tensor& beta, const torch::Tensor& z0, bool moments) {
  const auto u = u_rows.contiguous(), al = alpha.contiguous(), be = beta.contiguous(), bias = z0.contiguous();
  const auto R = u.size(0), K = u.size(1) - 1, V = u.size(2), G = R * K, Q = al.size(1);
  SoftmaxMoments out;
  out.lse = torch::empty({G, Q}, u.options());
  if (moments) {
    out.mean_a = torch::empty({G, Q}, u.options());
    out.mean_b = torch::empty({G, Q}, u.options());
  }
  with_scalar_type(u, [&](auto zero) {
    using Scalar = decltype(zero);
    Scalar* mean_a = moments ? out.mean_a.data_ptr<Scalar>() : nullptr;
    Scalar* mean_b = moments ? out.mean_b.data_ptr<Scalar>() : nullptr;
    const Scalar* u_data = u.data_ptr<Scalar>();
    const Scalar* z_data = bias.data_ptr<Scalar>();
    const Scalar* alpha_data = al.data_ptr<Scalar>();
    const Scalar* beta_data = be.data_ptr<Scalar>();
    Scalar* lse = out.lse.data_ptr<Scalar>();
    const auto& variant = sweeps::fastest_variant<Scalar>();
    const auto sweep = moments ? variant.segment_moments : variant.segment_values;
    split_across_threads(G, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t g = begin; g < end; ++g) {
        const Scalar* a = u_data + ((g / K) * (K + 1) + g % K) * V;
        const auto at = g * Q;
        sweep(a, a + V, z_data, V, alpha_data + at, beta_data + at, Q, lse + at, moments ? mean_a + at : nullptr,
              moments ? mean_b + at : nullptr);
      }
    });
  });
  return out;
}

#else
inline bool fused_softmax_applies(const torch::Tensor&) { return false; }
#endif

}  // namespace iglens::detail
