#pragma once
// Tensor shapes and dtypes as text, for error messages.

#include <string>

#include <torch/torch.h>

namespace iglens::detail {

inline std::string shape_string(torch::IntArrayRef sizes) {
  std::string s = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

inline std::string shape_string(const torch::Tensor& t) {
  return t.defined() ? shape_string(t.sizes()) : "(undefined)";
}

// Python-style names (float32, int64) as users write them.
inline std::string dtype_name(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat16:
      return "float16";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat32:
      return "float32";
    case torch::kFloat64:
      return "float64";
    case torch::kInt32:
      return "int32";
    case torch::kInt64:
      return "int64";
    case torch::kBool:
      return "bool";
    default:
      return c10::toString(type);
  }
}

}  // namespace iglens::detail
