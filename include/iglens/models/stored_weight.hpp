#pragma once
// A decoder's weight matrix, either in memory as a tensor or kept as its
// model file stores it (quantised GGUF blocks in the mapped file) and turned
// into float32 or float64 values only while a layer runs. Kept matrices make
// a model take about its file's memory instead of its float32 copy's (a 7B
// model in Q4_K: 4.7 GB against 30 GB), at the cost of converting each
// layer's matrices on every forward pass.

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/error.hpp"

namespace iglens {

// How a model file's layer matrices are held once it is loaded.
enum class WeightStorage {
  float_copy,  // converted to float32 as the model loads: the fastest runs, 4 bytes a weight
  as_stored,   // kept as the file stores them, converted while each layer runs: about the file's memory
};

class StoredWeight {
 public:
  // Writes the matrix's float32 values into `out`, a contiguous CPU tensor of its shape.
  using Fill = std::function<void(const torch::Tensor& out)>;
  // Writes rows [first, first + count) as float32 into `out` (count * cols floats).
  using FillRows = std::function<void(std::int64_t first, std::int64_t count, float* out)>;

  StoredWeight() = default;
  // A matrix in memory, as given. Implicit: a tensor is a weight held in memory.
  StoredWeight(torch::Tensor values) : values_(std::move(values)) {}  // NOLINT(google-explicit-constructor)
  // A matrix of `shape` that `fill` writes when it is used, and `fill_rows`
  // (where given) row by row for rows(); `stored_bytes` is what the file holds for it.
  StoredWeight(std::vector<std::int64_t> shape, Fill fill, std::uint64_t stored_bytes, FillRows fill_rows = {})
      : shape_(std::move(shape)),
        fill_(std::move(fill)),
        fill_rows_(std::move(fill_rows)),
        stored_bytes_(stored_bytes) {
    require(shape_.size() == 2 && fill_, "stored weight: a kept matrix needs a [rows, cols] shape and a fill");
  }

  bool defined() const { return values_.defined() || static_cast<bool>(fill_); }
  bool in_memory() const { return values_.defined(); }
  std::vector<std::int64_t> sizes() const { return in_memory() ? values_.sizes().vec() : shape_; }
  // The in-memory tensor (undefined for a kept matrix).
  const torch::Tensor& tensor() const { return values_; }
  // Bytes held for it: the tensor's, or the file's blocks for a kept matrix.
  std::uint64_t bytes() const {
    return in_memory() ? static_cast<std::uint64_t>(values_.numel() * values_.element_size()) : stored_bytes_;
  }

  // The values as `dtype` on `device`: the tensor itself where it is in
  // memory (the decoder keeps those in its dtype), else a new tensor, freed
  // when its layer is done with it. A new one each time, because autograd
  // may keep what a layer multiplied by for a backward pass.
  torch::Tensor values(torch::ScalarType dtype, torch::Device device) const {
    if (in_memory()) return values_;
    auto converted = torch::empty(shape_, torch::kFloat32);
    fill_(converted);
    return dtype == torch::kFloat32 && device.is_cpu() ? converted : converted.to(device, dtype);
  }

  // The rows that `ids` name, [ids..., cols] as `dtype` on `device` (ids
  // within [0, rows), on that device): an embedding lookup that converts
  // only those rows of a kept matrix.
  torch::Tensor rows(const torch::Tensor& ids, torch::ScalarType dtype, torch::Device device) const {
    if (in_memory()) return torch::embedding(values_, ids);
    require(static_cast<bool>(fill_rows_), "stored weight: this kept matrix cannot be read row by row");
    const auto flat = ids.reshape({-1}).to(torch::kCPU).contiguous();
    const auto cols = shape_[1];
    auto out = torch::empty({flat.numel(), cols}, torch::kFloat32);
    const auto* id = flat.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < flat.numel(); ++i) fill_rows_(id[i], 1, out.data_ptr<float>() + i * cols);
    auto sizes = ids.sizes().vec();
    sizes.push_back(cols);
    out = out.view(sizes);
    return dtype == torch::kFloat32 && device.is_cpu() ? out : out.to(device, dtype);
  }

  // Applies a change of dtype or device to a matrix in memory; a kept one
  // converts on use to whatever the decoder asks.
  template <class Change>
  void change_in_memory(Change&& change) {
    if (values_.defined()) values_ = change(values_);
  }

 private:
  torch::Tensor values_;
  std::vector<std::int64_t> shape_;
  Fill fill_;
  FillRows fill_rows_;
  std::uint64_t stored_bytes_ = 0;
};

}  // namespace iglens
