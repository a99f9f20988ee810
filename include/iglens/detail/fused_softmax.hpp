#pragma once
// Log-sum-exp and softmax moments over the vocabulary for the closed-form
// readout, fused into one sweep per point (softmax_sweeps.hpp): no
// [points, V] buffer is ever allocated, which is what costs most once V is
// GPT-2's 50257 (every fresh buffer is a round of page faults, every extra
// pass a trip to memory).
//
// float32 on the CPU with GCC or Clang; rows are spread over as many threads
// as LibTorch's intra-op setting, each row swept by the fastest variant this
// CPU runs. Other dtypes and devices use the tensor expressions in chain.hpp.

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include <torch/torch.h>

#if defined(__GNUC__) || defined(__clang__)
#define IGLENS_HAS_FUSED_SOFTMAX 1
#include "iglens/detail/softmax_sweeps.hpp"
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
  return t.scalar_type() == torch::kFloat32 && t.device().is_cpu();
}

// lse_n = log sum_v exp(scale_n * u[n, v] + z0[v]) for rows u [N, V].
inline torch::Tensor scaled_row_logsumexp(const torch::Tensor& u_rows, const torch::Tensor& scale,
                                          const torch::Tensor& z0) {
  const auto u = u_rows.contiguous(), s = scale.contiguous(), bias = z0.contiguous();
  const auto N = u.size(0), V = u.size(1);
  auto lse = torch::empty({N}, u.options());
  const float* u_data = u.data_ptr<float>();
  const float* s_data = s.data_ptr<float>();
  const float* z_data = bias.data_ptr<float>();
  float* out = lse.data_ptr<float>();
  const auto sweep = sweeps::fastest_variant().row_logsumexp;
  split_across_threads(N, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t n = begin; n < end; ++n) out[n] = sweep(u_data + n * V, s_data[n], z_data, V);
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
  float* mean_a = nullptr;
  float* mean_b = nullptr;
  if (moments) {
    out.mean_a = torch::empty({G, Q}, u.options());
    out.mean_b = torch::empty({G, Q}, u.options());
    mean_a = out.mean_a.data_ptr<float>();
    mean_b = out.mean_b.data_ptr<float>();
  }
  const float* u_data = u.data_ptr<float>();
  const float* z_data = bias.data_ptr<float>();
  const float* alpha_data = al.data_ptr<float>();
  const float* beta_data = be.data_ptr<float>();
  float* lse = out.lse.data_ptr<float>();
  const auto sweep = moments ? sweeps::fastest_variant().segment_moments : sweeps::fastest_variant().segment_values;
  split_across_threads(G, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t g = begin; g < end; ++g) {
      const float* a = u_data + ((g / K) * (K + 1) + g % K) * V;
      const auto at = g * Q;
      sweep(a, a + V, z_data, V, alpha_data + at, beta_data + at, Q, lse + at, moments ? mean_a + at : nullptr,
            moments ? mean_b + at : nullptr);
    }
  });
  return out;
}

#else
inline bool fused_softmax_applies(const torch::Tensor&) { return false; }
#endif

}  // namespace iglens::detail
