#pragma once
// The vocabulary sweeps behind the fused softmax (fused_softmax.hpp), on raw
// float arrays: 8 lanes at a time with GCC/Clang vector extensions, a
// vectorised exp, and sums kept accurate by flushing float lanes into double
// every 1024 entries. No LibTorch here, so it can be timed and tested alone.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

namespace iglens::detail {

// Lanes never cross a call by value (helpers take references and are always
// inlined): passing 32-byte vectors by value would differ between the
// baseline and AVX2 builds of the sweeps, and GCC and Clang warn about it.
#define IGLENS_LANE_HELPER inline __attribute__((always_inline))
// The sweeps themselves are inlined into each instruction-set entry point
// below by `flatten`. Clang's flatten does not reach calls nested in the
// inlined code, so there they are forced inline as well (GCC's flatten does;
// forcing it there made GCC's code slower).
#if defined(__clang__)
#define IGLENS_SWEEP_STEP inline __attribute__((always_inline))
#else
#define IGLENS_SWEEP_STEP inline
#endif

using Lanes = float __attribute__((vector_size(32)));
using LaneInts = std::int32_t __attribute__((vector_size(32)));
constexpr std::int64_t kLanes = 8;

// 8 floats from any address: memcpy is one unaligned load, where a cast to
// a vector type would let the compiler assume 32-byte alignment.
IGLENS_LANE_HELPER void load_lanes(Lanes& out, const float* p) { std::memcpy(&out, p, sizeof out); }
IGLENS_LANE_HELPER void keep_max(Lanes& m, const Lanes& x) { m = m > x ? m : x; }
IGLENS_LANE_HELPER float horizontal_max(const Lanes& v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = std::max(m, v[i]);
  return m;
}
IGLENS_LANE_HELPER double horizontal_sum(const Lanes& v) {
  double s = 0;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// exp, in place, for x <= 0 (arguments here are x - max): Cody-Waite
// reduction x = n ln2 + r, |r| <= ln2 / 2, a degree-7 Taylor polynomial
// (truncation below 3e-9 relative), scaled by 2^n built in the exponent
// bits. Below -87 the result is held at exp(-87) ~ 1.6e-38, far under a
// float sum that already holds the maximum's 1.
IGLENS_LANE_HELPER void exp_nonpositive(Lanes& x) {
  const Lanes floor = Lanes{} - 87.0f;
  x = x < floor ? floor : x;
  constexpr float round_shift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const Lanes n = (x * 1.44269504088896341f + round_shift) - round_shift;
  const Lanes r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-6f;
  Lanes p = Lanes{} + 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const LaneInts exponent = (__builtin_convertvector(n, LaneInts) + 127) << 23;
  x = p * (Lanes)exponent;  // a vector cast keeps the bits: 2^n as a float
}

namespace sweeps {

// log sum_v exp(scale * row[v] + z0[v]).
IGLENS_SWEEP_STEP float row_logsumexp(const float* row, float scale, const float* z0, std::int64_t V) {
  const std::int64_t vector_end = V / kLanes * kLanes;
  Lanes m = Lanes{} - std::numeric_limits<float>::infinity();
  Lanes rv, zv;
  for (std::int64_t v = 0; v < vector_end; v += kLanes) {
    load_lanes(rv, row + v);
    load_lanes(zv, z0 + v);
    keep_max(m, scale * rv + zv);
  }
  float mx = horizontal_max(m);
  for (std::int64_t v = vector_end; v < V; ++v) mx = std::max(mx, scale * row[v] + z0[v]);
  constexpr std::int64_t kFlushEvery = 128 * kLanes;
  double total = 0;
  for (std::int64_t block = 0; block < vector_end; block += kFlushEvery) {
    Lanes sum{};
    const auto block_end = std::min(vector_end, block + kFlushEvery);
    for (std::int64_t v = block; v < block_end; v += kLanes) {
      load_lanes(rv, row + v);
      load_lanes(zv, z0 + v);
      Lanes e = scale * rv + zv - mx;
      exp_nonpositive(e);
      sum += e;
    }
    total += horizontal_sum(sum);
  }
  for (std::int64_t v = vector_end; v < V; ++v) total += std::exp(double(scale * row[v] + z0[v] - mx));
  return mx + static_cast<float>(std::log(total));
}

// Count nodes of one segment, x_q = alpha_q a + beta_q b + z0, swept
// together so each vocabulary entry is loaded once: lse_q and, with
// Moments, the softmax means of a and b.
template <int Count, bool Moments>
IGLENS_SWEEP_STEP void segment_nodes(const float* a, const float* b, const float* z0, std::int64_t V, const float* alpha,
                   const float* beta, float* lse, float* mean_a, float* mean_b) {
  const std::int64_t vector_end = V / kLanes * kLanes;
  Lanes m[Count], av, bv, zv;
  for (int q = 0; q < Count; ++q) m[q] = Lanes{} - std::numeric_limits<float>::infinity();
  for (std::int64_t v = 0; v < vector_end; v += kLanes) {
    load_lanes(av, a + v);
    load_lanes(bv, b + v);
    load_lanes(zv, z0 + v);
    for (int q = 0; q < Count; ++q) keep_max(m[q], alpha[q] * av + beta[q] * bv + zv);
  }
  float mx[Count];
  for (int q = 0; q < Count; ++q) {
    mx[q] = horizontal_max(m[q]);
    for (std::int64_t v = vector_end; v < V; ++v) mx[q] = std::max(mx[q], alpha[q] * a[v] + beta[q] * b[v] + z0[v]);
  }
  constexpr std::int64_t kFlushEvery = 128 * kLanes;
  double total[Count] = {}, total_a[Count] = {}, total_b[Count] = {};
  for (std::int64_t block = 0; block < vector_end; block += kFlushEvery) {
    Lanes s[Count] = {}, sa[Count] = {}, sb[Count] = {};
    const auto block_end = std::min(vector_end, block + kFlushEvery);
    for (std::int64_t v = block; v < block_end; v += kLanes) {
      load_lanes(av, a + v);
      load_lanes(bv, b + v);
      load_lanes(zv, z0 + v);
      for (int q = 0; q < Count; ++q) {
        Lanes e = alpha[q] * av + beta[q] * bv + zv - mx[q];
        exp_nonpositive(e);
        s[q] += e;
        if constexpr (Moments) {
          sa[q] += e * av;
          sb[q] += e * bv;
        }
      }
    }
    for (int q = 0; q < Count; ++q) {
      total[q] += horizontal_sum(s[q]);
      if constexpr (Moments) {
        total_a[q] += horizontal_sum(sa[q]);
        total_b[q] += horizontal_sum(sb[q]);
      }
    }
  }
  for (int q = 0; q < Count; ++q) {
    for (std::int64_t v = vector_end; v < V; ++v) {
      const double e = std::exp(double(alpha[q] * a[v] + beta[q] * b[v] + z0[v] - mx[q]));
      total[q] += e;
      if constexpr (Moments) {
        total_a[q] += e * a[v];
        total_b[q] += e * b[v];
      }
    }
    lse[q] = mx[q] + static_cast<float>(std::log(total[q]));
    if constexpr (Moments) {
      mean_a[q] = static_cast<float>(total_a[q] / total[q]);
      mean_b[q] = static_cast<float>(total_b[q] / total[q]);
    }
  }
}

// All Q nodes of one segment, in blocks that share each load of a, b, z0;
// mean_a / mean_b are touched only with Moments (they may be null without).
template <bool Moments>
IGLENS_SWEEP_STEP void segment(const float* a, const float* b, const float* z0, std::int64_t V, const float* alpha,
                               const float* beta, std::int64_t Q, float* lse, float* mean_a, float* mean_b) {
  constexpr int kBlock = 4;
  std::int64_t q = 0;
  for (; q + kBlock <= Q; q += kBlock) {
    segment_nodes<kBlock, Moments>(a, b, z0, V, alpha + q, beta + q, lse + q, Moments ? mean_a + q : nullptr,
                                   Moments ? mean_b + q : nullptr);
  }
  for (; q < Q; ++q) {
    segment_nodes<1, Moments>(a, b, z0, V, alpha + q, beta + q, lse + q, Moments ? mean_a + q : nullptr,
                              Moments ? mean_b + q : nullptr);
  }
}

// Entry points, compiled once per instruction set: `flatten` inlines the
// whole sweep into each, so the AVX2 ones get their own AVX2 code, and the
// CPU picks at run time (about 6x apart), so a portable build still runs at
// full speed on a machine that has AVX2.
struct Variant {
  const char* name;
  float (*row_logsumexp)(const float* row, float scale, const float* z0, std::int64_t V);
  void (*segment_values)(const float* a, const float* b, const float* z0, std::int64_t V, const float* alpha,
                         const float* beta, std::int64_t Q, float* lse, float* mean_a, float* mean_b);
  decltype(segment_values) segment_moments;
};

#define IGLENS_SWEEP_VARIANT(attributes, suffix)                                                              \
  attributes inline float row_logsumexp_##suffix(const float* row, float scale, const float* z0,              \
                                                 std::int64_t V) {                                            \
    return row_logsumexp(row, scale, z0, V);                                                                  \
  }                                                                                                           \
  attributes inline void segment_values_##suffix(const float* a, const float* b, const float* z0,             \
                                                 std::int64_t V, const float* alpha, const float* beta,       \
                                                 std::int64_t Q, float* lse, float* mean_a, float* mean_b) {  \
    segment<false>(a, b, z0, V, alpha, beta, Q, lse, mean_a, mean_b);                                         \
  }                                                                                                           \
  attributes inline void segment_moments_##suffix(const float* a, const float* b, const float* z0,            \
                                                  std::int64_t V, const float* alpha, const float* beta,      \
                                                  std::int64_t Q, float* lse, float* mean_a, float* mean_b) { \
    segment<true>(a, b, z0, V, alpha, beta, Q, lse, mean_a, mean_b);                                          \
  }                                                                                                           \
  constexpr Variant suffix##_variant{#suffix, row_logsumexp_##suffix, segment_values_##suffix,                \
                                     segment_moments_##suffix};

IGLENS_SWEEP_VARIANT(__attribute__((flatten)), baseline)
#if defined(__x86_64__)
IGLENS_SWEEP_VARIANT(__attribute__((target("avx2,fma"), flatten)), avx2)
#endif
#undef IGLENS_SWEEP_VARIANT

// Every variant this CPU can run, slowest first.
inline std::vector<Variant> runnable_variants() {
  std::vector<Variant> out{baseline_variant};
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out.push_back(avx2_variant);
#endif
  return out;
}

inline const Variant& fastest_variant() {
  static const Variant chosen = runnable_variants().back();
  return chosen;
}

}  // namespace sweeps

}  // namespace iglens::detail

#undef IGLENS_LANE_HELPER
#undef IGLENS_SWEEP_STEP
