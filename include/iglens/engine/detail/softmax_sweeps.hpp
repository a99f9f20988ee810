#pragma once
// The vocabulary sweeps behind the fused softmax (fused_softmax.hpp), on raw
// float or double arrays: 32 bytes of lanes at a time (8 floats, 4 doubles)
// with GCC/Clang vector extensions, a vectorised exp, and float sums kept
// accurate by flushing float lanes into double every 1024 entries. No
// LibTorch here, so it can be timed and tested alone.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

template <class Scalar>
struct LaneTypes;
template <>
struct LaneTypes<float> {
  using Lanes = float __attribute__((vector_size(32)));
  using Ints = std::int32_t __attribute__((vector_size(32)));
};
template <>
struct LaneTypes<double> {
  using Lanes = double __attribute__((vector_size(32)));
  using Ints = std::int64_t __attribute__((vector_size(32)));
};
template <class Scalar>
using Lanes = typename LaneTypes<Scalar>::Lanes;
template <class Scalar>
using LaneInts = typename LaneTypes<Scalar>::Ints;
template <class Scalar>
constexpr std::int64_t kLanes = 32 / sizeof(Scalar);

// 32 bytes from any address: memcpy is one unaligned load, where a cast to
// a vector type would let the compiler assume 32-byte alignment.
template <class Scalar>
IGLENS_LANE_HELPER void load_lanes(Lanes<Scalar>& out, const Scalar* p) {
  std::memcpy(&out, p, sizeof out);
}
template <class L>
IGLENS_LANE_HELPER void keep_max(L& m, const L& x) {
  m = m > x ? m : x;
}
template <class Scalar>
IGLENS_LANE_HELPER Scalar horizontal_max(const Lanes<Scalar>& v) {
  Scalar m = v[0];
  for (int i = 1; i < kLanes<Scalar>; ++i) m = std::max(m, v[i]);
  return m;
}
template <class Scalar>
IGLENS_LANE_HELPER double horizontal_sum(const Lanes<Scalar>& v) {
  double s = 0;
  for (int i = 0; i < kLanes<Scalar>; ++i) s += v[i];
  return s;
}

// exp, in place, for x <= 0 (arguments here are x - max): Cody-Waite
// reduction x = n ln2 + r, |r| <= ln2 / 2, a Taylor polynomial, scaled by
// 2^n built in the exponent bits.
//
// float: degree 7 (truncation below 3e-9 relative). Below -87 the result is
// held at exp(-87) ~ 1.6e-38, far under a float sum that already holds the
// maximum's 1.
IGLENS_LANE_HELPER void exp_nonpositive(Lanes<float>& x) {
  using L = Lanes<float>;
  const L floor = L{} - 87.0f;
  x = x < floor ? floor : x;
  constexpr float round_shift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const L n = (x * 1.44269504088896341f + round_shift) - round_shift;
  const L r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-6f;
  L p = L{} + 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const LaneInts<float> exponent = (__builtin_convertvector(n, LaneInts<float>) + 127) << 23;
  x = p * (L)exponent;  // a vector cast keeps the bits: 2^n as a float
}

// double: degree 13 (truncation below 5e-18 relative), held at exp(-708)
// below -708. AVX2 has no double -> int64 conversion, so n comes from the
// bits of x / ln2 + 1.5 * 2^52, whose low mantissa bits hold it.
IGLENS_LANE_HELPER void exp_nonpositive(Lanes<double>& x) {
  using L = Lanes<double>;
  const L floor = L{} - 708.0;
  x = x < floor ? floor : x;
  constexpr double round_shift = 6755399441055744.0;  // 1.5 * 2^52
  const L shifted = x * 1.4426950408889634 + round_shift;
  const L n = shifted - round_shift;
  const L r = (x - n * 0.693147180369123816490) - n * 1.90821492927058770002e-10;
  constexpr double inverse_factorials[] = {
      1.0 / 6227020800, 1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040,
      1.0 / 720,        1.0 / 120,       1.0 / 24,       1.0 / 6,       0.5,          1.0,         1.0};
  L p = L{} + inverse_factorials[0];
  for (int k = 1; k < 14; ++k) p = p * r + inverse_factorials[k];
  const LaneInts<double> n_bits = (LaneInts<double>)shifted - (LaneInts<double>)(L{} + round_shift);
  x = p * (L)((n_bits + 1023) << 52);
}

namespace sweeps {

// log sum_v exp(row[v] + z0[v]).
template <class Scalar>
IGLENS_SWEEP_STEP Scalar row_logsumexp(const Scalar* row, const Scalar* z0, std::int64_t V) {
  constexpr auto lanes = kLanes<Scalar>;
  const std::int64_t vector_end = V / lanes * lanes;
  Lanes<Scalar> m = Lanes<Scalar>{} - std::numeric_limits<Scalar>::infinity();
  Lanes<Scalar> rv, zv;
  for (std::int64_t v = 0; v < vector_end; v += lanes) {
    load_lanes(rv, row + v);
    load_lanes(zv, z0 + v);
    keep_max(m, rv + zv);
  }
  Scalar mx = horizontal_max<Scalar>(m);
  for (std::int64_t v = vector_end; v < V; ++v) mx = std::max(mx, row[v] + z0[v]);
  constexpr std::int64_t kFlushEvery = 1024;
  double total = 0;
  for (std::int64_t block = 0; block < vector_end; block += kFlushEvery) {
    Lanes<Scalar> sum{};
    const auto block_end = std::min(vector_end, block + kFlushEvery);
    for (std::int64_t v = block; v < block_end; v += lanes) {
      load_lanes(rv, row + v);
      load_lanes(zv, z0 + v);
      Lanes<Scalar> e = rv + zv - mx;
      exp_nonpositive(e);
      sum += e;
    }
    total += horizontal_sum<Scalar>(sum);
  }
  for (std::int64_t v = vector_end; v < V; ++v) total += std::exp(double(row[v] + z0[v] - mx));
  return mx + static_cast<Scalar>(std::log(total));
}

// Count nodes of one segment, x_q = alpha_q a + beta_q b + z0, swept
// together so each vocabulary entry is loaded once: lse_q and, with
// Moments, the softmax means of a and b.
template <class Scalar, int Count, bool Moments>
IGLENS_SWEEP_STEP void segment_nodes(const Scalar* a, const Scalar* b, const Scalar* z0, std::int64_t V,
                                     const Scalar* alpha, const Scalar* beta, Scalar* lse, Scalar* mean_a,
                                     Scalar* mean_b) {
  using L = Lanes<Scalar>;
  constexpr auto lanes = kLanes<Scalar>;
  const std::int64_t vector_end = V / lanes * lanes;
  L m[Count], av, bv, zv;
  for (int q = 0; q < Count; ++q) m[q] = L{} - std::numeric_limits<Scalar>::infinity();
  for (std::int64_t v = 0; v < vector_end; v += lanes) {
    load_lanes(av, a + v);
    load_lanes(bv, b + v);
    load_lanes(zv, z0 + v);
    for (int q = 0; q < Count; ++q) keep_max(m[q], alpha[q] * av + beta[q] * bv + zv);
  }
  Scalar mx[Count];
  for (int q = 0; q < Count; ++q) {
    mx[q] = horizontal_max<Scalar>(m[q]);
    for (std::int64_t v = vector_end; v < V; ++v) mx[q] = std::max(mx[q], alpha[q] * a[v] + beta[q] * b[v] + z0[v]);
  }
  constexpr std::int64_t kFlushEvery = 1024;
  double total[Count] = {}, total_a[Count] = {}, total_b[Count] = {};
  for (std::int64_t block = 0; block < vector_end; block += kFlushEvery) {
    L s[Count] = {}, sa[Count] = {}, sb[Count] = {};
    const auto block_end = std::min(vector_end, block + kFlushEvery);
    for (std::int64_t v = block; v < block_end; v += lanes) {
      load_lanes(av, a + v);
      load_lanes(bv, b + v);
      load_lanes(zv, z0 + v);
      for (int q = 0; q < Count; ++q) {
        L e = alpha[q] * av + beta[q] * bv + zv - mx[q];
        exp_nonpositive(e);
        s[q] += e;
        if constexpr (Moments) {
          sa[q] += e * av;
          sb[q] += e * bv;
        }
      }
    }
    for (int q = 0; q < Count; ++q) {
      total[q] += horizontal_sum<Scalar>(s[q]);
      if constexpr (Moments) {
        total_a[q] += horizontal_sum<Scalar>(sa[q]);
        total_b[q] += horizontal_sum<Scalar>(sb[q]);
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
    lse[q] = mx[q] + static_cast<Scalar>(std::log(total[q]));
    if constexpr (Moments) {
      mean_a[q] = static_cast<Scalar>(total_a[q] / total[q]);
      mean_b[q] = static_cast<Scalar>(total_b[q] / total[q]);
    }
  }
}

// All Q nodes of one segment, in blocks that share each load of a, b, z0;
// mean_a / mean_b are touched only with Moments (they may be null without).
template <class Scalar, bool Moments>
IGLENS_SWEEP_STEP void segment(const Scalar* a, const Scalar* b, const Scalar* z0, std::int64_t V, const Scalar* alpha,
                               const Scalar* beta, std::int64_t Q, Scalar* lse, Scalar* mean_a, Scalar* mean_b) {
  constexpr int kBlock = 4;
  std::int64_t q = 0;
  for (; q + kBlock <= Q; q += kBlock) {
    segment_nodes<Scalar, kBlock, Moments>(a, b, z0, V, alpha + q, beta + q, lse + q, Moments ? mean_a + q : nullptr,
                                           Moments ? mean_b + q : nullptr);
  }
  for (; q < Q; ++q) {
    segment_nodes<Scalar, 1, Moments>(a, b, z0, V, alpha + q, beta + q, lse + q, Moments ? mean_a + q : nullptr,
                                      Moments ? mean_b + q : nullptr);
  }
}

// Entry points, compiled once per instruction set and scalar type:
// `flatten` inlines the whole sweep into each, so the AVX2 ones get their
// own AVX2 code, and the CPU picks at run time (about 6x apart), so a
// portable build still runs at full speed on a machine that has AVX2.
template <class Scalar>
struct Variant {
  const char* name;
  Scalar (*row_logsumexp)(const Scalar* row, const Scalar* z0, std::int64_t V);
  void (*segment_values)(const Scalar* a, const Scalar* b, const Scalar* z0, std::int64_t V, const Scalar* alpha,
                         const Scalar* beta, std::int64_t Q, Scalar* lse, Scalar* mean_a, Scalar* mean_b);
  decltype(segment_values) segment_moments;
};

#define IGLENS_SWEEP_VARIANT(attributes, suffix)                                                                       \
  template <class Scalar>                                                                                              \
  attributes inline Scalar row_logsumexp_##suffix(const Scalar* row, const Scalar* z0, std::int64_t V) {               \
    return row_logsumexp(row, z0, V);                                                                                  \
  }                                                                                                                    \
  template <class Scalar>                                                                                              \
  attributes inline void segment_values_##suffix(const Scalar* a, const Scalar* b, const Scalar* z0, std::int64_t V,   \
                                                 const Scalar* alpha, const Scalar* beta, std::int64_t Q, Scalar* lse, \
                                                 Scalar* mean_a, Scalar* mean_b) {                                     \
    segment<Scalar, false>(a, b, z0, V, alpha, beta, Q, lse, mean_a, mean_b);                                          \
  }                                                                                                                    \
  template <class Scalar>                                                                                              \
  attributes inline void segment_moments_##suffix(const Scalar* a, const Scalar* b, const Scalar* z0, std::int64_t V,  \
                                                  const Scalar* alpha, const Scalar* beta, std::int64_t Q,             \
                                                  Scalar* lse, Scalar* mean_a, Scalar* mean_b) {                       \
    segment<Scalar, true>(a, b, z0, V, alpha, beta, Q, lse, mean_a, mean_b);                                           \
  }                                                                                                                    \
  template <class Scalar>                                                                                              \
  constexpr Variant<Scalar> suffix##_variant{#suffix, row_logsumexp_##suffix<Scalar>, segment_values_##suffix<Scalar>, \
                                             segment_moments_##suffix<Scalar>};

IGLENS_SWEEP_VARIANT(__attribute__((flatten)), baseline)
#if defined(__x86_64__)
IGLENS_SWEEP_VARIANT(__attribute__((target("avx2,fma"), flatten)), avx2)
#endif
#undef IGLENS_SWEEP_VARIANT

// Every variant this CPU can run, slowest first.
template <class Scalar>
std::vector<Variant<Scalar>> runnable_variants() {
  std::vector<Variant<Scalar>> out{baseline_variant<Scalar>};
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out.push_back(avx2_variant<Scalar>);
#endif
  return out;
}

template <class Scalar>
const Variant<Scalar>& fastest_variant() {
  static const Variant<Scalar> chosen = runnable_variants<Scalar>().back();
  return chosen;
}

}  // namespace sweeps

}  // namespace iglens::detail

#undef IGLENS_LANE_HELPER
#undef IGLENS_SWEEP_STEP
