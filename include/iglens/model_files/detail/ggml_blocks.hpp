#pragma once
// ggml's tensor types: the block layout of each (for checking tensor sizes in
// a GGUF file) and dequantization to float32 of the ones IG-Lens reads. A
// quantized type stores blocks of block_size values in type_size bytes, each
// with its own f16 scale(s). GgmlType and type_name are public, through
// iglens/model_files/gguf.hpp.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "iglens/model_files/detail/half_float.hpp"

namespace iglens {

// ggml's type ids, as written in GGUF tensor infos (4 and 5 were retired).
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  Q4_0_4_4 = 31,
  Q4_0_4_8 = 32,
  Q4_0_8_8 = 33,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

namespace detail {

struct GgmlTypeLayout {
  std::string_view name;         // empty: an id ggml does not define
  std::uint32_t block_size = 0;  // values per block
  std::uint32_t type_size = 0;   // bytes per block
  bool dequantizable = false;    // IG-Lens converts it to float32
};

inline constexpr std::uint32_t kSuperBlock = 256;  // the K-quants' QK_K

inline constexpr std::array<GgmlTypeLayout, 40> kGgmlTypeLayouts = [] {
  std::array<GgmlTypeLayout, 40> table{};
  const auto set = [&](GgmlType type, std::string_view name, std::uint32_t block_size, std::uint32_t type_size,
                       bool dequantizable = false) {
    table[static_cast<std::uint32_t>(type)] = {name, block_size, type_size, dequantizable};
  };
  set(GgmlType::F32, "F32", 1, 4, true);
  set(GgmlType::F16, "F16", 1, 2, true);
  set(GgmlType::Q4_0, "Q4_0", 32, 2 + 16, true);
  set(GgmlType::Q4_1, "Q4_1", 32, 2 + 2 + 16, true);
  set(GgmlType::Q5_0, "Q5_0", 32, 2 + 4 + 16, true);
  set(GgmlType::Q5_1, "Q5_1", 32, 2 + 2 + 4 + 16, true);
  set(GgmlType::Q8_0, "Q8_0", 32, 2 + 32, true);
  set(GgmlType::Q8_1, "Q8_1", 32, 4 + 4 + 32);
  set(GgmlType::Q2_K, "Q2_K", kSuperBlock, 2 + 2 + 16 + 64);
  set(GgmlType::Q3_K, "Q3_K", kSuperBlock, 2 + 64 + 32 + 12);
  set(GgmlType::Q4_K, "Q4_K", kSuperBlock, 2 + 2 + 12 + 128, true);
  set(GgmlType::Q5_K, "Q5_K", kSuperBlock, 2 + 2 + 12 + 32 + 128, true);
  set(GgmlType::Q6_K, "Q6_K", kSuperBlock, 128 + 64 + 16 + 2, true);
  set(GgmlType::Q8_K, "Q8_K", kSuperBlock, 4 + 256 + 32);
  set(GgmlType::IQ2_XXS, "IQ2_XXS", kSuperBlock, 2 + 64);
  set(GgmlType::IQ2_XS, "IQ2_XS", kSuperBlock, 2 + 64 + 8);
  set(GgmlType::IQ3_XXS, "IQ3_XXS", kSuperBlock, 2 + 64 + 32);
  set(GgmlType::IQ1_S, "IQ1_S", kSuperBlock, 2 + 32 + 16);
  set(GgmlType::IQ4_NL, "IQ4_NL", 32, 2 + 16);
  set(GgmlType::IQ3_S, "IQ3_S", kSuperBlock, 2 + 64 + 32 + 8 + 4);
  set(GgmlType::IQ2_S, "IQ2_S", kSuperBlock, 2 + 64 + 16);
  set(GgmlType::IQ4_XS, "IQ4_XS", kSuperBlock, 2 + 2 + 128 + 4);
  set(GgmlType::I8, "I8", 1, 1);
  set(GgmlType::I16, "I16", 1, 2);
  set(GgmlType::I32, "I32", 1, 4);
  set(GgmlType::I64, "I64", 1, 8);
  set(GgmlType::F64, "F64", 1, 8);
  set(GgmlType::IQ1_M, "IQ1_M", kSuperBlock, 32 + 16 + 8);
  set(GgmlType::BF16, "BF16", 1, 2, true);
  set(GgmlType::Q4_0_4_4, "Q4_0_4_4", 32, 2 + 16);
  set(GgmlType::Q4_0_4_8, "Q4_0_4_8", 32, 2 + 16);
  set(GgmlType::Q4_0_8_8, "Q4_0_8_8", 32, 2 + 16);
  set(GgmlType::TQ1_0, "TQ1_0", kSuperBlock, 2 + 48 + 4);
  set(GgmlType::TQ2_0, "TQ2_0", kSuperBlock, 2 + 64);
  set(GgmlType::MXFP4, "MXFP4", 32, 1 + 16);
  return table;
}();

// The layout of a type id read from a file, or nullptr for an unknown id.
inline const GgmlTypeLayout* ggml_type_layout(std::uint32_t id) {
  if (id >= kGgmlTypeLayouts.size() || kGgmlTypeLayouts[id].name.empty()) return nullptr;
  return &kGgmlTypeLayouts[id];
}

inline const GgmlTypeLayout& ggml_type_layout(GgmlType type) {
  return kGgmlTypeLayouts[static_cast<std::uint32_t>(type)];
}

inline std::uint16_t load_u16(const std::uint8_t* bytes) {
  return static_cast<std::uint16_t>(bytes[0] | (bytes[1] << 8));
}

inline float load_half(const std::uint8_t* bytes) { return half_to_float(load_u16(bytes)); }

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block,
// packed into 12 bytes: j < 4 in the low bits of bytes j and j + 4, j >= 4 in
// a nibble of byte j + 4 plus the top two bits of bytes j - 4 and j.
inline void k_scale_min(const std::uint8_t* scales, int j, float& scale, float& min) {
  if (j < 4) {
    scale = static_cast<float>(scales[j] & 0x3F);
    min = static_cast<float>(scales[j + 4] & 0x3F);
  } else {
    scale = static_cast<float>((scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4));
    min = static_cast<float>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// The block kernels below write block_size floats per block, each half of
// a block in its own loop so that the compiler vectorizes the stores. They
// read the quants from a local copy: a store through `out` may alias the
// block's bytes as far as the compiler knows, and reading them in place
// kept GCC 12 from vectorizing at all (SmolLM2's Q4_1 matrices: 0.59 ns a
// value, scalar). Their arithmetic is gguf-py's, in the same order (d * q,
// then + m or - dm), so the results match it to the last bit unless the
// compiler fuses a multiply-add.

// n bytes of a block, copied where stores to the output cannot alias them.
template <std::size_t n>
std::array<std::uint8_t, n> block_bytes(const std::uint8_t* bytes) {
  std::array<std::uint8_t, n> copy;
  std::memcpy(copy.data(), bytes, n);
  return copy;
}

inline void dequantize_q4_0(const std::uint8_t* block, float* out) {
  const float d = load_half(block);
  const auto qs = block_bytes<16>(block + 2);
  for (int i = 0; i < 16; ++i) out[i] = d * static_cast<float>((qs[i] & 0x0F) - 8);
  for (int i = 0; i < 16; ++i) out[i + 16] = d * static_cast<float>((qs[i] >> 4) - 8);
}

inline void dequantize_q4_1(const std::uint8_t* block, float* out) {
  const float d = load_half(block);
  const float m = load_half(block + 2);
  const auto qs = block_bytes<16>(block + 4);
  for (int i = 0; i < 16; ++i) out[i] = d * static_cast<float>(qs[i] & 0x0F) + m;
  for (int i = 0; i < 16; ++i) out[i + 16] = d * static_cast<float>(qs[i] >> 4) + m;
}

// Q5_0/Q5_1: 32 high bits in a little-endian uint32, then the low nibbles.
// Value i's fifth bit, as 16 or 0, is tested against a constant mask per
// lane: `high >> i` shifts each lane by its own amount, which SSE2 cannot,
// and GCC kept those loops scalar (Gemma 3's Q5_0 matrices: 0.94 ns a
// value against 0.2 to 0.3 for Q4_K, Q6_K and Q8_0).
inline constexpr std::array<std::uint32_t, 32> kBitOf = [] {
  std::array<std::uint32_t, 32> bits{};
  for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = 1u << i;
  return bits;
}();

inline int fifth_bit(std::uint32_t high, int i) { return (high & kBitOf[static_cast<std::size_t>(i)]) != 0 ? 16 : 0; }

inline void dequantize_q5_0(const std::uint8_t* block, float* out) {
  const float d = load_half(block);
  std::uint32_t high;
  std::memcpy(&high, block + 2, sizeof high);
  const auto qs = block_bytes<16>(block + 6);
  for (int i = 0; i < 16; ++i) out[i] = d * static_cast<float>(((qs[i] & 0x0F) | fifth_bit(high, i)) - 16);
  for (int i = 0; i < 16; ++i) out[i + 16] = d * static_cast<float>(((qs[i] >> 4) | fifth_bit(high, i + 16)) - 16);
}

inline void dequantize_q5_1(const std::uint8_t* block, float* out) {
  const float d = load_half(block);
  const float m = load_half(block + 2);
  std::uint32_t high;
  std::memcpy(&high, block + 4, sizeof high);
  const auto qs = block_bytes<16>(block + 8);
  for (int i = 0; i < 16; ++i) out[i] = d * static_cast<float>((qs[i] & 0x0F) | fifth_bit(high, i)) + m;
  for (int i = 0; i < 16; ++i) out[i + 16] = d * static_cast<float>((qs[i] >> 4) | fifth_bit(high, i + 16)) + m;
}

inline void dequantize_q8_0(const std::uint8_t* block, float* out) {
  const float d = load_half(block);
  const auto qs = block_bytes<32>(block + 2);
  for (int i = 0; i < 32; ++i) out[i] = static_cast<float>(static_cast<std::int8_t>(qs[i])) * d;
}

// Q4_K: d, dmin, 12 bytes of scales, then 4 groups of 32 bytes: the low
// nibbles are sub-block 2g, the high nibbles sub-block 2g + 1.
inline void dequantize_q4_k(const std::uint8_t* block, float* out) {
  const float d = load_half(block);
  const float dmin = load_half(block + 2);
  const auto scales = block_bytes<12>(block + 4);
  const auto all_qs = block_bytes<128>(block + 16);
  const std::uint8_t* qs = all_qs.data();
  for (int group = 0; group < 4; ++group, qs += 32) {
    for (int nibble = 0; nibble < 2; ++nibble, out += 32) {
      float scale, min;
      k_scale_min(scales.data(), 2 * group + nibble, scale, min);
      const float d_scale = d * scale;
      const float d_min = dmin * min;
      const int shift = 4 * nibble;
      for (int i = 0; i < 32; ++i) out[i] = d_scale * static_cast<float>((qs[i] >> shift) & 0x0F) - d_min;
    }
  }
}

// Q5_K: as Q4_K with a fifth bit per value: bit j of qh[i] for sub-block j.
inline void dequantize_q5_k(const std::uint8_t* block, float* out) {
  const float d = load_half(block);
  const float dmin = load_half(block + 2);
  const auto scales = block_bytes<12>(block + 4);
  const auto qh = block_bytes<32>(block + 16);
  const auto all_qs = block_bytes<128>(block + 48);
  const std::uint8_t* qs = all_qs.data();
  for (int group = 0; group < 4; ++group, qs += 32) {
    for (int nibble = 0; nibble < 2; ++nibble, out += 32) {
      const int sub_block = 2 * group + nibble;
      float scale, min;
      k_scale_min(scales.data(), sub_block, scale, min);
      const float d_scale = d * scale;
      const float d_min = dmin * min;
      const int shift = 4 * nibble;
      for (int i = 0; i < 32; ++i) {
        const int q = ((qs[i] >> shift) & 0x0F) | (((qh[i] >> sub_block) & 1) << 4);
        out[i] = d_scale * static_cast<float>(q) - d_min;
      }
    }
  }
}

// Q6_K: two halves of 128 values; in half h, value 32s + i takes its low
// nibble from ql[64h + (32s + i) % 64] (high nibble for s >= 2) and two high
// bits from qh[32h + i] at bit 2s; 16 int8 scales, one per 16 values; d last.
inline void dequantize_q6_k(const std::uint8_t* block, float* out) {
  const auto all_ql = block_bytes<128>(block);
  const auto all_qh = block_bytes<64>(block + 128);
  const auto all_scales = block_bytes<16>(block + 192);
  const std::uint8_t* ql = all_ql.data();
  const std::uint8_t* qh = all_qh.data();
  const auto* scales = reinterpret_cast<const std::int8_t*>(all_scales.data());
  const float d = load_half(block + 208);
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, scales += 8) {
    for (int quarter = 0; quarter < 4; ++quarter, out += 32) {
      const std::uint8_t* low = ql + 32 * (quarter & 1);
      const int low_shift = 4 * (quarter >> 1);
      const int high_shift = 2 * quarter;
      const float d_first = d * static_cast<float>(scales[2 * quarter]);
      const float d_second = d * static_cast<float>(scales[2 * quarter + 1]);
      for (int i = 0; i < 32; ++i) {
        const int q = (((low[i] >> low_shift) & 0x0F) | (((qh[i] >> high_shift) & 3) << 4)) - 32;
        out[i] = (i < 16 ? d_first : d_second) * static_cast<float>(q);
      }
    }
  }
}

template <void (*kernel)(const std::uint8_t*, float*)>
void dequantize_each_block(const std::uint8_t* blocks, std::size_t n_blocks, std::size_t type_size,
                           std::size_t block_size, float* out) {
  for (std::size_t b = 0; b < n_blocks; ++b) kernel(blocks + b * type_size, out + b * block_size);
}

// Converts n_blocks blocks of a dequantizable type; the caller has checked
// the type and that all the bytes are there.
inline void dequantize_blocks(GgmlType type, const std::uint8_t* blocks, std::size_t n_blocks, float* out) {
  const GgmlTypeLayout& layout = ggml_type_layout(type);
  const std::size_t ts = layout.type_size;
  const std::size_t bs = layout.block_size;
  switch (type) {
    case GgmlType::F32:
      std::memcpy(out, blocks, n_blocks * sizeof(float));
      return;
    case GgmlType::F16:
      for (std::size_t i = 0; i < n_blocks; ++i) out[i] = load_half(blocks + 2 * i);
      return;
    case GgmlType::BF16:
      for (std::size_t i = 0; i < n_blocks; ++i) out[i] = bf16_to_float(load_u16(blocks + 2 * i));
      return;
    case GgmlType::Q4_0:
      return dequantize_each_block<dequantize_q4_0>(blocks, n_blocks, ts, bs, out);
    case GgmlType::Q4_1:
      return dequantize_each_block<dequantize_q4_1>(blocks, n_blocks, ts, bs, out);
    case GgmlType::Q5_0:
      return dequantize_each_block<dequantize_q5_0>(blocks, n_blocks, ts, bs, out);
    case GgmlType::Q5_1:
      return dequantize_each_block<dequantize_q5_1>(blocks, n_blocks, ts, bs, out);
    case GgmlType::Q8_0:
      return dequantize_each_block<dequantize_q8_0>(blocks, n_blocks, ts, bs, out);
    case GgmlType::Q4_K:
      return dequantize_each_block<dequantize_q4_k>(blocks, n_blocks, ts, bs, out);
    case GgmlType::Q5_K:
      return dequantize_each_block<dequantize_q5_k>(blocks, n_blocks, ts, bs, out);
    case GgmlType::Q6_K:
      return dequantize_each_block<dequantize_q6_k>(blocks, n_blocks, ts, bs, out);
    default:
      return;  // not dequantizable: rejected before this is called
  }
}

}  // namespace detail

// ggml's name of a type ("Q4_K"), or "unknown".
inline std::string_view type_name(GgmlType type) {
  const detail::GgmlTypeLayout* layout = detail::ggml_type_layout(static_cast<std::uint32_t>(type));
  return layout ? layout->name : std::string_view("unknown");
}

}  // namespace iglens
