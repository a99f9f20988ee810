#pragma once
// Whether a model's weights fit in the memory this process may use, checked
// from the file's tensor list before any weight is read: a model that cannot
// fit is a one-line error saying what it needs and what is available, not
// the kernel's OOM killer (or swapping) partway through a load. Only the
// weights are counted; a run needs its activations on top.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "iglens/error.hpp"
#include "iglens/models/detail/available_memory.hpp"
#include "iglens/weights/stored_weight.hpp"

namespace iglens {

namespace detail {

// Sums and products that saturate: a file's shapes are checked against its
// bytes, but a sum or product of them need not fit in 64 bits.
inline std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
inline std::uint64_t saturating_multiply(std::uint64_t a, std::uint64_t b) {
  return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

}  // namespace detail

// One tensor of a model file.
struct TensorSize {
  std::vector<std::int64_t> shape;  // torch order: [rows, cols] for a matrix
  std::uint64_t stored_bytes = 0;   // what the file holds for it
};

// Bytes a model's weights take in memory, held as `storage` says. Float
// copies hold every value as float32. Kept ones hold each matrix's pages of
// the file (read while it is multiplied) and the vectors (norms, biases) as
// float32.
inline std::uint64_t weight_memory(const std::vector<TensorSize>& tensors, WeightStorage storage) {
  std::uint64_t bytes = 0;
  for (const auto& tensor : tensors) {
    std::uint64_t values = 1;
    for (const auto size : tensor.shape) {
      values = detail::saturating_multiply(values, static_cast<std::uint64_t>(size < 0 ? 0 : size));
    }
    if (storage == WeightStorage::float_copy || tensor.shape.size() != 2) {
      bytes = detail::saturating_add(bytes, detail::saturating_multiply(values, 4));
    } else {
      bytes = detail::saturating_add(bytes, tensor.stored_bytes);
    }
  }
  return bytes;
}

namespace detail {

// "29.90 GiB", "513.2 MiB", "12.0 KiB", "800 bytes".
inline std::string memory_text(std::uint64_t bytes) {
  const auto value = static_cast<double>(bytes);
  if (bytes >= std::uint64_t{1} << 30) return fmt::format("{:.2f} GiB", value / (std::uint64_t{1} << 30));
  if (bytes >= std::uint64_t{1} << 20) return fmt::format("{:.1f} MiB", value / (std::uint64_t{1} << 20));
  if (bytes >= std::uint64_t{1} << 10) return fmt::format("{:.1f} KiB", value / (std::uint64_t{1} << 10));
  return fmt::format("{} bytes", bytes);
}

}  // namespace detail

// An Error naming `model` (e.g. "model file 'x.gguf'") when its weights, held
// as `storage` says, need more than `available`; where keeping them as
// stored would fit, the message says so.
inline void require_weights_fit(const std::string& model, const std::vector<TensorSize>& tensors, WeightStorage storage,
                                const std::optional<AvailableMemory>& available) {
  if (!available) return;
  const auto needed = weight_memory(tensors, storage);
  if (needed <= available->bytes) return;
  const auto memory =
      fmt::format("{} of memory is available ({})", detail::memory_text(available->bytes), available->source);
  if (storage == WeightStorage::as_stored) {
    fail("{}: even kept as stored, its weights need about {}, but {}", model, detail::memory_text(needed), memory);
  }
  const auto kept = weight_memory(tensors, WeightStorage::as_stored);
  if (kept <= available->bytes) {
    fail("{}: its weights as float32 need about {}, but {}; kept as stored (--weights stored) they need about {}",
         model, detail::memory_text(needed), memory, detail::memory_text(kept));
  }
  fail("{}: its weights need about {} as float32 and {} even kept as stored, but {}", model,
       detail::memory_text(needed), detail::memory_text(kept), memory);
}

// An Error naming `model` when widening its `float32_values` to float64
// needs more than `available`. Each tensor is replaced as it is converted, so
// the wider copies take 4 more bytes a value than the process holds now.
inline void require_float64_fits(const std::string& model, std::uint64_t float32_values,
                                 const std::optional<AvailableMemory>& available) {
  if (!available) return;
  const auto extra = detail::saturating_multiply(float32_values, 4);
  require(extra <= available->bytes,
          "{}: its weights as float64 need about {} more than as float32, but {} of memory is available ({}); "
          "float32 (--dtype float32) needs none",
          model, detail::memory_text(extra), detail::memory_text(available->bytes), available->source);
}

}  // namespace iglens
