#pragma once
// Reading GGUF model files (llama.cpp's format) without LibTorch: the file is
// memory-mapped and checked once when opened; metadata is read through typed
// getters, and tensors are converted to float32 on request.
//
//   auto file = iglens::GgufFile::open("SmolLM2-135M-Instruct.Q4_1.gguf");
//   file.get_string("general.architecture");             // "llama"
//   const auto& embedding = file.tensor("token_embd.weight");
//   std::vector<float> values = file.dequantize(embedding);  // shape[1] rows of shape[0]
//
// Every error is an iglens::Error whose one line names the file and the problem.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "iglens/error.hpp"
#include "iglens/model_files/detail/ggml_blocks.hpp"
#include "iglens/model_files/detail/gguf_parser.hpp"
#include "iglens/model_files/detail/gguf_value.hpp"
#include "iglens/model_files/detail/mapped_file.hpp"

namespace iglens {

namespace detail {

inline constexpr std::string_view kDequantizableTypes =
    "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K";

// The tensor's block layout, once it is checked against the file: a type
// IG-Lens dequantizes, a valid shape of `numel` values, and bytes inside the
// file that hold exactly its blocks. So a GgufTensor from another file
// cannot read out of bounds.
inline const GgmlTypeLayout& checked_layout(std::size_t file_size, std::string_view path, const GgufTensor& tensor,
                                            std::uint64_t& numel) {
  const GgmlTypeLayout* layout = ggml_type_layout(static_cast<std::uint32_t>(tensor.type));
  if (layout == nullptr || !layout->dequantizable) {
    fail("model file '{}': tensor '{}' has type {}, which IG-Lens cannot dequantize (supported: {})", path, tensor.name,
         type_name(tensor.type), kDequantizableTypes);
  }
  numel = 1;
  for (const std::int64_t dim : tensor.shape) {
    const bool fits = dim > 0 && numel <= static_cast<std::uint64_t>(INT64_MAX) / static_cast<std::uint64_t>(dim);
    require(fits, "model file '{}': tensor '{}' has an invalid shape", path, tensor.name);
    numel *= static_cast<std::uint64_t>(dim);
  }
  const std::uint64_t n_blocks = numel / layout->block_size;
  const bool in_file = numel % layout->block_size == 0 && n_blocks * layout->type_size == tensor.n_bytes &&
                       tensor.offset <= file_size && tensor.n_bytes <= file_size - tensor.offset;
  require(in_file, "model file '{}': tensor '{}' does not describe data of this file", path, tensor.name);
  return *layout;
}

// Converts a tensor of the file `file_data` to float32, splitting its blocks
// over up to `threads` threads when it is large.
inline void dequantize_tensor(const std::uint8_t* file_data, std::size_t file_size, std::string_view path,
                              const GgufTensor& tensor, float* out, unsigned threads) {
  std::uint64_t numel = 0;
  const GgmlTypeLayout* layout = &checked_layout(file_size, path, tensor, numel);
  const std::uint64_t n_blocks = numel / layout->block_size;

  const std::uint8_t* blocks = file_data + tensor.offset;
  // Below this many values per thread, starting a thread costs more than it saves.
  constexpr std::uint64_t kValuesPerThread = std::uint64_t{1} << 16;
  const std::uint64_t useful_threads = std::max<std::uint64_t>(1, numel / kValuesPerThread);
  const auto n_parts = static_cast<std::size_t>(std::min<std::uint64_t>(std::max(1u, threads), useful_threads));
  const auto convert = [&](std::uint64_t first_block, std::uint64_t end_block) {
    dequantize_blocks(tensor.type, blocks + first_block * layout->type_size, end_block - first_block,
                      out + first_block * layout->block_size);
  };
  std::vector<std::thread> workers;
  for (std::size_t part = 1; part < n_parts; ++part) {
    const std::uint64_t first = n_blocks * part / n_parts;
    const std::uint64_t end = n_blocks * (part + 1) / n_parts;
    try {
      workers.emplace_back(convert, first, end);
    } catch (const std::system_error&) {  // no thread to be had: do this part here
      convert(first, end);
    }
  }
  convert(0, n_blocks / n_parts);
  for (std::thread& worker : workers) worker.join();
}

// Converts rows [first_row, first_row + n_rows) of a matrix (ggml shape
// [columns, rows]) whose rows are whole blocks: an embedding's rows for
// some tokens, without the rest of the table.
inline void dequantize_tensor_rows(const std::uint8_t* file_data, std::size_t file_size, std::string_view path,
                                   const GgufTensor& tensor, std::int64_t first_row, std::int64_t n_rows, float* out) {
  std::uint64_t numel = 0;
  const GgmlTypeLayout& layout = checked_layout(file_size, path, tensor, numel);
  require(tensor.shape.size() == 2 && tensor.shape[0] % layout.block_size == 0,
          "model file '{}': tensor '{}' is not a matrix of whole blocks per row", path, tensor.name);
  const std::int64_t rows = tensor.shape[1];
  require(first_row >= 0 && n_rows >= 0 && first_row <= rows && n_rows <= rows - first_row,
          "model file '{}': rows {} to {} of tensor '{}' are outside its {} rows", path, first_row, first_row + n_rows,
          tensor.name, rows);
  if (n_rows == 0) return;  // `out` may be null then
  const std::uint64_t blocks_per_row = static_cast<std::uint64_t>(tensor.shape[0]) / layout.block_size;
  dequantize_blocks(
      tensor.type,
      file_data + tensor.offset + static_cast<std::uint64_t>(first_row) * blocks_per_row * layout.type_size,
      static_cast<std::uint64_t>(n_rows) * blocks_per_row, out);
}

inline unsigned default_thread_count() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace detail

class GgufFile {
 public:
  // Maps and checks the whole file: header, metadata, tensor infos, and that
  // each tensor's data lies inside the file.
  static GgufFile open(const std::string& path) {
    detail::MappedFile mapping = detail::MappedFile::open(path, fmt::format("model file '{}'", path));
    require(mapping.size() > 0, "model file '{}' is empty", path);
    detail::GgufContents contents = detail::parse_gguf(mapping.data(), mapping.size(), path);
    return GgufFile(path, std::move(mapping), std::move(contents));
  }

  GgufFile(GgufFile&&) noexcept = default;
  GgufFile& operator=(GgufFile&&) noexcept = default;
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  std::uint32_t version() const { return contents_.version; }
  std::uint64_t alignment() const { return contents_.alignment; }
  std::uint64_t data_offset() const { return contents_.data_offset; }
  std::size_t file_size() const { return mapping_.size(); }

  // ---- metadata ----

  // Every key and value, in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return contents_.metadata; }
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const GgufValue* find(std::string_view key) const {
    const auto found = contents_.metadata_index.find(std::string(key));
    return found == contents_.metadata_index.end() ? nullptr : &contents_.metadata[found->second].second;
  }
  const GgufValue& value(std::string_view key) const {
    const GgufValue* found = find(key);
    if (found == nullptr) fail("model file '{}' has no metadata key '{}'", path_, key);
    return *found;
  }
  // The value in one short line, for `iglens info` (see iglens::describe).
  std::string describe(std::string_view key) const { return iglens::describe(value(key)); }

  // The find_ getters return nothing for a missing key; all getters fail on a
  // key of another type.
  std::string get_string(std::string_view key) const { return string_of(key, value(key)); }
  std::optional<std::string> find_string(std::string_view key) const {
    const GgufValue* found = find(key);
    return found ? std::optional<std::string>(string_of(key, *found)) : std::nullopt;
  }
  // Any integer type; fails for a uint64 above INT64_MAX.
  std::int64_t get_integer(std::string_view key) const { return integer_of(key, value(key)); }
  std::optional<std::int64_t> find_integer(std::string_view key) const {
    const GgufValue* found = find(key);
    return found ? std::optional<std::int64_t>(integer_of(key, *found)) : std::nullopt;
  }
  // Any integer or float type.
  double get_number(std::string_view key) const { return number_of(key, value(key)); }
  std::optional<double> find_number(std::string_view key) const {
    const GgufValue* found = find(key);
    return found ? std::optional<double>(number_of(key, *found)) : std::nullopt;
  }
  bool get_bool(std::string_view key) const { return bool_of(key, value(key)); }
  std::optional<bool> find_bool(std::string_view key) const {
    const GgufValue* found = find(key);
    return found ? std::optional<bool>(bool_of(key, *found)) : std::nullopt;
  }

  const std::vector<std::string>& get_string_array(std::string_view key) const {
    const GgufArray& array = array_of(key, "strings", [](GgufValueType type) { return type == GgufValueType::string; });
    return array.strings;
  }
  std::vector<std::int64_t> get_integer_array(std::string_view key) const {
    const GgufArray& array = array_of(key, "integers", is_integer_type);
    std::vector<std::int64_t> values(array.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      bool fits = false;
      values[i] = array.at(i).integer(fits);
      if (!fits) {
        fail("model file '{}': metadata '{}' element {} = {} does not fit in int64", path_, key, i,
             static_cast<std::uint64_t>(values[i]));
      }
    }
    return values;
  }
  std::vector<double> get_number_array(std::string_view key) const {
    const GgufArray& array = array_of(key, "numbers", is_number_type);
    std::vector<double> values(array.size());
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = array.at(i).number();
    return values;
  }

  // ---- tensors ----

  const std::vector<GgufTensor>& tensors() const { return contents_.tensors; }
  const GgufTensor* find_tensor(std::string_view name) const {
    const auto found = contents_.tensor_index.find(std::string(name));
    return found == contents_.tensor_index.end() ? nullptr : &contents_.tensors[found->second];
  }
  const GgufTensor& tensor(std::string_view name) const {
    const GgufTensor* found = find_tensor(name);
    if (found == nullptr) fail("model file '{}' has no tensor '{}'", path_, name);
    return *found;
  }
  // The tensor's bytes as stored (tensor.n_bytes of them).
  const std::uint8_t* tensor_data(const GgufTensor& tensor) const {
    const bool in_file = tensor.offset <= file_size() && tensor.n_bytes <= file_size() - tensor.offset;
    require(in_file, "model file '{}': tensor '{}' does not describe data of this file", path_, tensor.name);
    return mapping_.data() + tensor.offset;
  }

  // Writes tensor.numel() floats in ggml order (ne[0] fastest).
  void dequantize(const GgufTensor& tensor, float* out, unsigned threads = detail::default_thread_count()) const {
    require_unchanged(tensor);
    detail::dequantize_tensor(mapping_.data(), mapping_.size(), path_, tensor, out, threads);
  }
  // Rows [first_row, first_row + n_rows) of a matrix: n_rows * shape[0] floats.
  void dequantize_rows(const GgufTensor& tensor, std::int64_t first_row, std::int64_t n_rows, float* out) const {
    require_unchanged(tensor);
    detail::dequantize_tensor_rows(mapping_.data(), mapping_.size(), path_, tensor, first_row, n_rows, out);
  }
  std::vector<float> dequantize(const GgufTensor& tensor, unsigned threads = detail::default_thread_count()) const {
    // Sized from the tensor's bytes, which must lie in this file, so a bad
    // GgufTensor cannot ask for a huge allocation; dequantize_tensor checks
    // the type and that the shape matches the bytes before writing.
    const detail::GgmlTypeLayout* layout = detail::ggml_type_layout(static_cast<std::uint32_t>(tensor.type));
    std::vector<float> values;
    if (layout != nullptr && layout->dequantizable) {
      tensor_data(tensor);
      values.resize(tensor.n_bytes / layout->type_size * layout->block_size);
    }
    dequantize(tensor, values.data(), threads);
    return values;
  }

 private:
  // Matrices kept as stored are read from the mapped file for a whole run:
  // one written to since it was opened would give other numbers, and one
  // shortened would kill the process at the first page past its end. Each
  // read checks first (one fstat, under a microsecond), so either ends the
  // run with this error; only a change in the microseconds of one read
  // itself goes unseen.
  void require_unchanged(const GgufTensor& tensor) const {
    require(mapping_.unchanged(), "model file '{}' was changed on disk while tensor '{}' was to be read from it", path_,
            tensor.name);
  }

  GgufFile(std::string path, detail::MappedFile mapping, detail::GgufContents contents)
      : path_(std::move(path)), mapping_(std::move(mapping)), contents_(std::move(contents)) {}

  [[noreturn]] void wrong_type(std::string_view key, const GgufValue& value, std::string_view wanted) const {
    fail("model file '{}': metadata '{}' is a {}, not {}", path_, key, type_name(value.type()), wanted);
  }

  std::string string_of(std::string_view key, const GgufValue& value) const {
    if (value.type() != GgufValueType::string) wrong_type(key, value, "a string");
    return std::get<std::string>(value.storage());
  }
  std::int64_t integer_of(std::string_view key, const GgufValue& value) const {
    if (!is_integer_type(value.type())) wrong_type(key, value, "an integer");
    bool fits = false;
    const std::int64_t integer = value.integer(fits);
    if (!fits) fail("model file '{}': metadata '{}' = {} does not fit in int64", path_, key, iglens::describe(value));
    return integer;
  }
  double number_of(std::string_view key, const GgufValue& value) const {
    if (!is_number_type(value.type())) wrong_type(key, value, "a number");
    return value.number();
  }
  bool bool_of(std::string_view key, const GgufValue& value) const {
    if (value.type() != GgufValueType::boolean) wrong_type(key, value, "a bool");
    return std::get<bool>(value.storage());
  }
  template <class ElementCheck>
  const GgufArray& array_of(std::string_view key, std::string_view wanted, ElementCheck element_fits) const {
    const GgufValue& found = value(key);
    if (found.type() != GgufValueType::array) wrong_type(key, found, fmt::format("an array of {}", wanted));
    const auto& array = std::get<GgufArray>(found.storage());
    if (!element_fits(array.element_type)) {
      fail("model file '{}': metadata '{}' is an array of {}, not of {}", path_, key, type_name(array.element_type),
           wanted);
    }
    return array;
  }

  std::string path_;
  detail::MappedFile mapping_;
  detail::GgufContents contents_;
};

}  // namespace iglens
