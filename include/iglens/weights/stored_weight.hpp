#pragma once
// A weight matrix of a model (a layer's, the embedding, the unembedding),
// either in memory as a tensor or kept as its model file stores it
// (quantised GGUF blocks or 16-bit safetensors in the mapped file) and turned
// into float32 or float64 values only while it is multiplied. Kept matrices
// make a model take about its file's memory instead of its float32 copy's (a
// 7B model in Q4_K: 4.7 GB against 30 GB), at the cost of converting each
// matrix on every pass through it. On a GPU a kept matrix is a tensor in
// the narrowest dtype that holds its values exactly (16 bits a weight where
// the file stores F16 or BF16), widened to the model's dtype as it is used.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "iglens/detail/finite.hpp"
#include "iglens/error.hpp"

namespace iglens {

// How a model file's matrices (layers, embedding, head) are held once it is loaded.
enum class WeightStorage {
  float_copy,  // converted to float32 as the model loads: the fastest runs, 4 bytes a weight
  as_stored,   // kept as the file stores them, converted while multiplied: about the file's memory
};

class StoredWeight {
 public:
  // Writes rows [first, first + count) in the file's order as float32 into
  // `out` (count * cols floats). Called from several threads at once.
  using FillRows = std::function<void(std::int64_t first, std::int64_t count, float* out)>;

  // Values per tile of linear(), measured on a 7B model's 14336 x 4096 Q4_K
  // matrix (2 cores): one vector (a generation step) takes 256 KiB tiles,
  // one at a time per thread, that stay in its core's cache (0.34 ns a
  // weight, as fast as the float32 matrix read from memory); several
  // vectors need 16 MiB tiles for BLAS to run near its full speed (64
  // vectors: 1.4x the float32 product).
  static constexpr std::int64_t kVectorTileValues = std::int64_t{1} << 16;
  static constexpr std::int64_t kMatrixTileValues = std::int64_t{1} << 22;

  StoredWeight() = default;
  // A matrix in memory, as given. Implicit: a tensor is a weight held in memory.
  StoredWeight(torch::Tensor values) : values_(std::move(values)) {}  // NOLINT(google-explicit-constructor)
  // A matrix of `shape` kept as stored: `fill_rows` converts its rows as the
  // file orders them, and row r of the matrix is file row row_order[r]
  // (undefined: the file's order); `stored_bytes` is what the file holds for
  // it; `exact_dtype` the narrowest dtype that holds every value the fill
  // writes exactly: kHalf or kBFloat16 where the file stores them so, else
  // float32 (quantised blocks, F32).
  StoredWeight(std::vector<std::int64_t> shape, FillRows fill_rows, torch::Tensor row_order, std::uint64_t stored_bytes,
               torch::ScalarType exact_dtype = torch::kFloat32)
      : shape_(std::move(shape)),
        fill_rows_(std::make_shared<const FillRows>(std::move(fill_rows))),
        row_order_(std::move(row_order)),
        stored_bytes_(stored_bytes),
        exact_dtype_(exact_dtype) {
    require(shape_.size() == 2 && *fill_rows_, "stored weight: a kept matrix needs a [rows, cols] shape and a fill");
    require(exact_dtype_ == torch::kFloat32 || exact_dtype_ == torch::kHalf || exact_dtype_ == torch::kBFloat16,
            "stored weight: a kept matrix's exact dtype is float32, float16 or bfloat16");
    require(!row_order_.defined() ||
                (row_order_.dim() == 1 && row_order_.size(0) == shape_[0] && row_order_.scalar_type() == torch::kLong),
            "stored weight: the row order must list each of the {} rows", shape_[0]);
  }

  // Row fills of several blocks of rows stacked into one fill, each block {its rows, its fill}: the fill of a
  // matrix whose file stores it as several tensors (Q, K and V; gate and up; shards).
  static FillRows stacked_fill(std::vector<std::pair<std::int64_t, FillRows>> parts, std::int64_t cols) {
    return [parts = std::move(parts), cols](std::int64_t first, std::int64_t count, float* out) {
      std::int64_t part_first = 0;
      for (const auto& [rows, fill] : parts) {
        const auto begin = std::max(first, part_first), end = std::min(first + count, part_first + rows);
        if (begin < end) fill(begin - part_first, end - begin, out + (begin - first) * cols);
        part_first += rows;
      }
    };
  }

  // The exact dtype of a matrix stacked from parts of these exact dtypes: 16
  // bits where every part stores 16 bits of one kind; float32 holds any other mix exactly.
  static torch::ScalarType stacked_exact_dtype(const std::vector<torch::ScalarType>& parts) {
    const bool one_kind = !parts.empty() && std::all_of(parts.begin(), parts.end(), [&](torch::ScalarType dtype) {
      return dtype == parts.front();
    });
    return one_kind ? parts.front() : torch::kFloat32;
  }

  // This weight as `storage` holds it: a kept matrix as it is, or converted now into float32 memory.
  StoredWeight held_as(WeightStorage storage) const {
    if (storage == WeightStorage::as_stored || in_memory()) return *this;
    return StoredWeight(values(torch::kFloat32, torch::kCPU));
  }

  // A kept matrix on `device` for a model in `options`' dtype: the same, or
  // (on a device other than the CPU, which cannot read the mapped file) a
  // tensor there in its exact dtype, 16 bits a weight where the file stores
  // 16, that the products widen as they use it. A matrix in memory moves
  // there and takes the dtype, unless it was such an exact copy.
  StoredWeight to(const torch::TensorOptions& options) const {
    if (in_memory()) {
      auto moved = *this;
      moved.values_ = widens_on_use_ ? values_.to(options.device()) : values_.to(options);
      return moved;
    }
    return options.device().is_cpu() ? *this : exact_copy(options.device());
  }

  // A kept matrix copied into `device`'s memory in its exact dtype (a tile
  // at a time: no float32 copy of the whole), widened by every product that
  // uses it. What to() puts on a GPU; on the CPU it is the same numbers as
  // the kept matrix, from memory instead of the mapped file.
  StoredWeight exact_copy(torch::Device device) const {
    require(!in_memory(), "stored weight: only a kept matrix has an exact copy");
    auto copy = torch::empty(shape_, exact_dtype_);
    for_each_tile(kMatrixTileValues, [&](std::int64_t first, const torch::Tensor& tile) {
      copy.narrow(0, first, tile.size(0)).copy_(tile);
    });
    if (row_order_.defined()) copy = copy.index_select(0, row_order_);
    StoredWeight held(copy.to(device));
    held.widens_on_use_ = true;
    return held;
  }

  bool defined() const { return values_.defined() || fill_rows_ != nullptr; }
  bool in_memory() const { return values_.defined(); }
  // An exact copy in memory (exact_copy()): held in its own dtype, widened to the model's as it is used.
  bool widens_on_use() const { return widens_on_use_; }
  std::vector<std::int64_t> sizes() const { return in_memory() ? values_.sizes().vec() : shape_; }
  std::int64_t size(std::int64_t dim) const { return sizes().at(static_cast<std::size_t>(dim)); }
  // Whether both are the one matrix (a head tied to its embedding): the same tensor, or the same kept blocks.
  bool is_same(const StoredWeight& other) const {
    return in_memory() ? values_.is_same(other.values_) : fill_rows_ != nullptr && fill_rows_ == other.fill_rows_;
  }
  // The in-memory tensor (undefined for a kept matrix).
  const torch::Tensor& tensor() const { return values_; }
  // Bytes held for it: the tensor's, or the file's blocks for a kept matrix.
  std::uint64_t bytes() const {
    return in_memory() ? static_cast<std::uint64_t>(values_.numel() * values_.element_size()) : stored_bytes_;
  }

  // The whole matrix as `dtype` on `device`: the tensor itself where it is
  // in memory (the decoder keeps those in its dtype; an exact copy is
  // widened), else a new tensor,
  // freed when its user is done with it. A new one each time, because
  // autograd may keep what a layer multiplied by for a backward pass.
  torch::Tensor values(torch::ScalarType dtype, torch::Device device) const {
    if (in_memory()) return widens_on_use_ ? values_.to(device, dtype) : values_;
    auto converted = torch::empty(shape_, torch::kFloat32);
    fill_file_rows(0, shape_[0], converted.data_ptr<float>());
    if (row_order_.defined()) converted = converted.index_select(0, row_order_);
    return dtype == torch::kFloat32 && device.is_cpu() ? converted : converted.to(device, dtype);
  }

  // x W^T + bias, for x [..., cols] in the decoder's dtype. A kept matrix on
  // the CPU, with no graph to record, is converted a tile of rows at a time
  // into one buffer that is multiplied before the next tile: the float32
  // matrix never exists whole. Tiles change how the products are blocked,
  // not what is summed, so results equal values()'s within rounding. A tile
  // is `tile_values` values (whole rows, at least one); 0 chooses by the
  // number of vectors x holds.
  torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& bias, std::int64_t tile_values = 0) const {
    if (in_memory()) return torch::nn::functional::linear(x, widened(x.scalar_type()), bias);
    if ((torch::GradMode::is_enabled() && x.requires_grad()) || !x.device().is_cpu()) {
      return torch::nn::functional::linear(x, values(x.scalar_type(), x.device()), bias);
    }
    const auto rows = shape_[0], cols = shape_[1];
    const auto flat = x.reshape({-1, cols});
    const auto n = flat.size(0);
    auto out = torch::empty({n, rows}, x.options());  // columns in the file's row order
    if (n == 1) {
      multiply_vector(flat, out, tile_values > 0 ? tile_values : kVectorTileValues);
      return finish(out, x, bias);
    }
    for_each_tile(tile_values > 0 ? tile_values : kMatrixTileValues,
                  [&](std::int64_t first, const torch::Tensor& tile) {
                    auto columns = out.narrow(1, first, tile.size(0));
                    torch::mm_out(columns, flat, tile.to(x.scalar_type()).t());
                  });
    return finish(out, x, bias);
  }

  // The rows that `ids` name, [ids..., cols] as `dtype` on `device` (ids
  // within [0, rows), on that device): an embedding lookup that converts
  // only those rows of a kept matrix.
  torch::Tensor rows(const torch::Tensor& ids, torch::ScalarType dtype, torch::Device device) const {
    if (in_memory()) {
      const auto found = torch::embedding(values_, ids);
      return widens_on_use_ ? found.to(device, dtype) : found;
    }
    auto flat = ids.reshape({-1}).to(torch::kCPU).contiguous();
    if (row_order_.defined()) flat = row_order_.index_select(0, flat);
    const auto cols = shape_[1];
    auto out = torch::empty({flat.numel(), cols}, torch::kFloat32);
    const auto* id = flat.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < flat.numel(); ++i) (*fill_rows_)(id[i], 1, out.data_ptr<float>() + i * cols);
    auto sizes = ids.sizes().vec();
    sizes.push_back(cols);
    out = out.view(sizes);
    return dtype == torch::kFloat32 && device.is_cpu() ? out : out.to(device, dtype);
  }

  // g W for g [..., rows] in the decoder's dtype: the product linear()'s
  // gradient takes (the unembedding's, for the closed-form readout). A kept
  // matrix on the CPU, with no graph to record, is converted a tile of rows
  // at a time, each tile's product added into the result.
  torch::Tensor linear_transposed(const torch::Tensor& g, std::int64_t tile_values = kMatrixTileValues) const {
    if (in_memory()) return torch::matmul(g, widened(g.scalar_type()));
    if ((torch::GradMode::is_enabled() && g.requires_grad()) || !g.device().is_cpu()) {
      return torch::matmul(g, values(g.scalar_type(), g.device()));
    }
    const auto rows = shape_[0], cols = shape_[1];
    auto flat = g.reshape({-1, rows});
    // Columns in the file's row order, as the tiles come.
    if (row_order_.defined()) flat = torch::empty_like(flat).index_copy_(1, row_order_, flat);
    auto out = torch::zeros({flat.size(0), cols}, g.options());
    for_each_tile(tile_values, [&](std::int64_t first, const torch::Tensor& tile) {
      out.addmm_(flat.narrow(1, first, tile.size(0)), tile.to(g.scalar_type()));
    });
    auto sizes = g.sizes().vec();
    sizes.back() = cols;
    return out.view(sizes);
  }

  // Whether every value is finite, a tile at a time for a kept matrix.
  bool all_finite(std::int64_t tile_values = kMatrixTileValues) const {
    if (widens_on_use_) {
      // A row block at a time, widened: LibTorch's CPU min/max take no 16-bit values.
      const auto block = std::max<std::int64_t>(1, tile_values / values_.size(1));
      for (std::int64_t first = 0; first < values_.size(0); first += block) {
        const auto count = std::min(block, values_.size(0) - first);
        if (!detail::all_finite(values_.narrow(0, first, count).to(torch::kFloat32))) return false;
      }
      return true;
    }
    if (in_memory()) return detail::all_finite(values_);
    bool finite = true;
    for_each_tile(tile_values,
                  [&](std::int64_t, const torch::Tensor& tile) { finite = finite && detail::all_finite(tile); });
    return finite;
  }

 private:
  // The matrix in memory as `dtype`: itself, or an exact copy widened for one product.
  torch::Tensor widened(torch::ScalarType dtype) const {
    return widens_on_use_ && values_.scalar_type() != dtype ? values_.to(dtype) : values_;
  }

  // One vector x [1, cols] times the matrix into out [1, rows] (the file's
  // row order): each thread converts a tile of its rows into its own buffer
  // and takes their dot products with x while the tile is in its cache. One
  // parallel region, no BLAS: BLAS's threads and the conversion's would take
  // turns on the same cores.
  void multiply_vector(const torch::Tensor& x, const torch::Tensor& out, std::int64_t tile_values) const {
    const auto rows = shape_[0], cols = shape_[1];
    const std::int64_t tile_rows = std::max<std::int64_t>(1, tile_values / cols);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "StoredWeight::linear", [&] {
      const auto vector = x.contiguous();
      const auto* v = vector.data_ptr<scalar_t>();
      auto* y = out.data_ptr<scalar_t>();
      at::parallel_for(0, rows, tile_rows, [&](std::int64_t begin, std::int64_t end) {
        std::vector<float> tile(static_cast<std::size_t>(std::min(tile_rows, end - begin) * cols));
        for (std::int64_t first = begin; first < end; first += tile_rows) {
          const auto count = std::min(tile_rows, end - first);
          (*fill_rows_)(first, count, tile.data());
          for (std::int64_t r = 0; r < count; ++r) y[first + r] = dot<scalar_t>(tile.data() + r * cols, v, cols);
        }
      });
    });
  }

  // sum_k w[k] x[k] in eight running sums, which the compiler keeps in vector registers.
  template <class T>
  static T dot(const float* w, const T* x, std::int64_t cols) {
    T sums[8] = {};
    std::int64_t k = 0;
    for (; k + 8 <= cols; k += 8) {
      for (int lane = 0; lane < 8; ++lane) sums[lane] += static_cast<T>(w[k + lane]) * x[k + lane];
    }
    for (; k < cols; ++k) sums[0] += static_cast<T>(w[k]) * x[k];
    T total = 0;
    for (const T sum : sums) total += sum;
    return total;
  }

  // out [N, rows] in the file's row order as linear()'s result: rows in the matrix's order, x's shape, the bias added.
  torch::Tensor finish(torch::Tensor out, const torch::Tensor& x, const torch::Tensor& bias) const {
    if (row_order_.defined()) out = out.index_select(1, row_order_);
    auto sizes = x.sizes().vec();
    sizes.back() = shape_[0];
    out = out.view(sizes);
    return bias.defined() ? out + bias : out;
  }

  // Hands visit(first, tile) the file's rows as float32 tiles [count, cols]
  // of `tile_values` values (whole rows, at least one), each converted into
  // one reused buffer after the previous visit returned.
  template <class Visit>
  void for_each_tile(std::int64_t tile_values, Visit&& visit) const {
    const auto rows = shape_[0], cols = shape_[1];
    const std::int64_t tile_rows = std::max<std::int64_t>(1, tile_values / cols);
    auto buffer = torch::empty({std::min(tile_rows, rows), cols}, torch::kFloat32);
    for (std::int64_t first = 0; first < rows; first += tile_rows) {
      const auto count = std::min(tile_rows, rows - first);
      auto tile = buffer.narrow(0, 0, count);
      fill_file_rows(first, count, tile.data_ptr<float>());
      visit(first, tile);
    }
  }

  // File rows [first, first + count) into `out`, split over the intra-op threads.
  void fill_file_rows(std::int64_t first, std::int64_t count, float* out) const {
    const auto cols = shape_[1];
    const std::int64_t grain = std::max<std::int64_t>(1, (std::int64_t{1} << 14) / cols);
    at::parallel_for(0, count, grain, [&](std::int64_t begin, std::int64_t end) {
      (*fill_rows_)(first + begin, end - begin, out + begin * cols);
    });
  }

  torch::Tensor values_;
  std::vector<std::int64_t> shape_;
  std::shared_ptr<const FillRows> fill_rows_;  // shared by copies: a tied head is its embedding
  torch::Tensor row_order_;
  std::uint64_t stored_bytes_ = 0;
  torch::ScalarType exact_dtype_ = torch::kFloat32;
  bool widens_on_use_ = false;
};

}  // namespace iglens
