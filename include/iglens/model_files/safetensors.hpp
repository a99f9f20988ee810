#pragma once
// Reading safetensors files without LibTorch: the file is mapped, its JSON
// header checked entry by entry (dtype, shape, byte range), and tensors are
// read in place or converted to float32 / float64 on request.
//
// Layout: 8 bytes little-endian N, N bytes of JSON header, then the data
// section. The header maps each tensor name to {dtype, shape, data_offsets
// [begin, end)} relative to the data section, plus an optional
// "__metadata__" object of strings.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/model_files/detail/mapped_file.hpp"
#include "iglens/model_files/detail/safetensors_values.hpp"

namespace iglens {

enum class SafetensorsDtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

// The dtype as the header spells it: "F32", "BOOL", ...
inline const char* dtype_name(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::f64:
      return "F64";
    case SafetensorsDtype::f32:
      return "F32";
    case SafetensorsDtype::f16:
      return "F16";
    case SafetensorsDtype::bf16:
      return "BF16";
    case SafetensorsDtype::i64:
      return "I64";
    case SafetensorsDtype::i32:
      return "I32";
    case SafetensorsDtype::i16:
      return "I16";
    case SafetensorsDtype::i8:
      return "I8";
    case SafetensorsDtype::u8:
      return "U8";
    case SafetensorsDtype::boolean:
      return "BOOL";
  }
  return "?";
}

inline std::size_t dtype_size(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::f64:
    case SafetensorsDtype::i64:
      return 8;
    case SafetensorsDtype::f32:
    case SafetensorsDtype::i32:
      return 4;
    case SafetensorsDtype::f16:
    case SafetensorsDtype::bf16:
    case SafetensorsDtype::i16:
      return 2;
    case SafetensorsDtype::i8:
    case SafetensorsDtype::u8:
    case SafetensorsDtype::boolean:
      return 1;
  }
  return 1;
}

// One tensor of a mapped file. `data` points into the mapping and stays
// valid as long as the SafetensorsFile that made it.
struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::f32;
  std::vector<std::int64_t> shape;  // empty for a scalar
  std::int64_t element_count = 0;
  const unsigned char* data = nullptr;  // little-endian elements, not necessarily aligned
  std::size_t byte_size = 0;
};

class SafetensorsFile {
 public:
  // Longer headers are refused before parsing: real ones are a few MB at most.
  static constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

  static SafetensorsFile open(const std::string& path) {
    SafetensorsFile file;
    file.path_ = path;
    file.mapping_ = detail::MappedFile::open(path, path + ":");
    file.read_header();
    return file;
  }

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // In the order of their bytes in the data section.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }

  const SafetensorsTensor* find(std::string_view name) const {
    const auto found = index_by_name_.find(std::string(name));
    return found == index_by_name_.end() ? nullptr : &tensors_[found->second];
  }

  const SafetensorsTensor& tensor(std::string_view name) const {
    const auto* found = find(name);
    if (found == nullptr) fail("{}: has no tensor named '{}'", path_, name);
    return *found;
  }

  // Writes tensor.element_count values to `out`. F32, F16, BF16 and F64 only;
  // F16 and BF16 convert exactly, F64 rounds to nearest.
  void to_float32(const SafetensorsTensor& tensor, float* out) const {
    checked(tensor, "to_float32");
    convert(tensor, tensor.data, static_cast<std::size_t>(tensor.element_count), out);
  }
  // F16, BF16 and F32 widen exactly.
  void to_float64(const SafetensorsTensor& tensor, double* out) const {
    checked(tensor, "to_float64");
    convert(tensor, tensor.data, static_cast<std::size_t>(tensor.element_count), out);
  }

  // Rows [first_row, first_row + rows) and columns [first_col, first_col + cols) of a matrix, row after row into
  // `out` (rows * cols floats), as to_float32 converts them: what a matrix kept in the file reads while it is used.
  // Safe to call from several threads at once.
  void window_to_float32(const SafetensorsTensor& tensor, std::int64_t first_row, std::int64_t rows,
                         std::int64_t first_col, std::int64_t cols, float* out) const {
    checked(tensor, "window_to_float32");
    require(tensor.shape.size() == 2, "{}: tensor '{}' is not a matrix", path_, tensor.name);
    const auto height = tensor.shape[0], width = tensor.shape[1];
    require(first_row >= 0 && rows >= 0 && first_row <= height - rows && first_col >= 0 && cols >= 0 &&
                first_col <= width - cols,
            "{}: rows [{}, +{}) and columns [{}, +{}) lie outside tensor '{}' of shape [{}, {}]", path_, first_row,
            rows, first_col, cols, tensor.name, height, width);
    const auto element_size = dtype_size(tensor.dtype);
    for (std::int64_t r = 0; r < rows; ++r) {
      const auto first = static_cast<std::size_t>((first_row + r) * width + first_col);
      convert(tensor, tensor.data + first * element_size, static_cast<std::size_t>(cols),
              out + static_cast<std::size_t>(r * cols));
    }
  }

 private:
  // A tensor of another file would be read through a mapping this file does not own; a file written to or
  // shortened since it was mapped would give other values, or SIGBUS past its new end.
  void checked(const SafetensorsTensor& tensor, const char* operation) const {
    const bool ours = tensor.byte_size == 0 || (tensor.data >= mapping_.data() &&
                                                tensor.data + tensor.byte_size <= mapping_.data() + mapping_.size());
    require(ours, "{}: {} was given tensor '{}', which is not from this file", path_, operation, tensor.name);
    require(mapping_.unchanged(), "{} was changed on disk while tensor '{}' was to be read from it", path_,
            tensor.name);
  }

  // `count` elements of `tensor` from `bytes` (within its data) into `out`.
  template <class Float>
  void convert(const SafetensorsTensor& tensor, const unsigned char* bytes, std::size_t count, Float* out) const {
    switch (tensor.dtype) {
      case SafetensorsDtype::f32:
        for (std::size_t i = 0; i < count; ++i)
          out[i] = static_cast<Float>(detail::float_from_bits(detail::load_le32(bytes + 4 * i)));
        return;
      case SafetensorsDtype::f16:
        for (std::size_t i = 0; i < count; ++i)
          out[i] = static_cast<Float>(detail::half_to_float(detail::load_le16(bytes + 2 * i)));
        return;
      case SafetensorsDtype::bf16:
        for (std::size_t i = 0; i < count; ++i)
          out[i] = static_cast<Float>(detail::bf16_to_float(detail::load_le16(bytes + 2 * i)));
        return;
      case SafetensorsDtype::f64:
        for (std::size_t i = 0; i < count; ++i)
          out[i] = static_cast<Float>(detail::double_from_bits(detail::load_le64(bytes + 8 * i)));
        return;
      default:
        fail("{}: tensor '{}' has dtype {}; only F32, F16, BF16 and F64 are read as numbers", path_, tensor.name,
             dtype_name(tensor.dtype));
    }
  }

  void read_header() {
    const std::size_t file_size = mapping_.size();
    require(file_size >= 8, "{}: is {} bytes, too short for a safetensors file (8-byte header length)", path_,
            file_size);
    const std::uint64_t header_size = detail::load_le64(mapping_.data());
    require(header_size <= file_size - 8, "{}: safetensors header length {} runs past the end of the file ({} bytes)",
            path_, header_size, file_size);
    require(header_size <= kMaxHeaderBytes, "{}: safetensors header length {} is over the limit of {} bytes", path_,
            header_size, kMaxHeaderBytes);
    const std::string_view header_text(reinterpret_cast<const char*>(mapping_.data() + 8), header_size);
    const unsigned char* data_section = mapping_.data() + 8 + header_size;
    const std::uint64_t data_size = file_size - 8 - header_size;

    const nlohmann::json header = parse_header(header_text);
    require(header.is_object(), "{}: safetensors header must be a JSON object, found {}", path_, header.type_name());
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") {
        read_metadata(entry);
        continue;
      }
      tensors_.push_back(read_tensor(name, entry, data_section, data_size));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
      return a.data != b.data ? a.data < b.data : a.byte_size < b.byte_size;
    });
    // Sorted by start, a tensor overlaps another exactly when it starts
    // before the end of the furthest-reaching one before it. Empty tensors
    // hold no bytes and overlap nothing.
    const SafetensorsTensor* furthest = nullptr;
    for (const auto& tensor : tensors_) {
      if (tensor.byte_size == 0) continue;
      if (furthest != nullptr) {
        require(tensor.data >= furthest->data + furthest->byte_size,
                "{}: tensors '{}' and '{}' overlap in the data section", path_, furthest->name, tensor.name);
      }
      furthest = &tensor;
    }
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_by_name_.emplace(tensors_[i].name, i);
  }

  nlohmann::json parse_header(std::string_view text) const {
    // nlohmann::json keeps only the last of repeated keys; a repeated tensor
    // name would silently hide one tensor, so it is an error.
    std::unordered_set<std::string> seen_names;
    const auto reject_repeated_names = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      if (event == nlohmann::json::parse_event_t::key && depth == 1) {
        const auto& name = parsed.get_ref<const std::string&>();
        require(seen_names.insert(name).second, "{}: safetensors header names '{}' more than once", path_, name);
      }
      return true;
    };
    try {
      return nlohmann::json::parse(text, reject_repeated_names);
    } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for a number too large
      fail("{}: safetensors header is not valid JSON ({})", path_, error.what());
    }
  }

  void read_metadata(const nlohmann::json& entry) {
    require(entry.is_object(), "{}: safetensors __metadata__ must be a JSON object, found {}", path_,
            entry.type_name());
    for (const auto& [key, value] : entry.items()) {
      require(value.is_string(), "{}: safetensors __metadata__ '{}' must be a string, found {}", path_, key,
              value.type_name());
      metadata_.emplace(key, value.get<std::string>());
    }
  }

  // A non-negative integer of the header that fits in int64; `what` names it.
  std::uint64_t count_of(const nlohmann::json& value, const std::string& name, const char* what) const {
    require(value.is_number_integer(), "{}: tensor '{}' {} {} is not an integer", path_, name, what, value.dump());
    require(value.is_number_unsigned(), "{}: tensor '{}' {} {} is negative", path_, name, what, value.dump());
    const auto count = value.get<std::uint64_t>();
    require(count <= std::uint64_t(INT64_MAX), "{}: tensor '{}' {} {} is too large", path_, name, what, count);
    return count;
  }

  SafetensorsDtype dtype_of(const nlohmann::json& entry, const std::string& name) const {
    const auto found = entry.find("dtype");
    require(found != entry.end() && found->is_string(), "{}: tensor '{}' has no dtype string", path_, name);
    const auto& spelling = found->get_ref<const std::string&>();
    for (const auto dtype :
         {SafetensorsDtype::f64, SafetensorsDtype::f32, SafetensorsDtype::f16, SafetensorsDtype::bf16,
          SafetensorsDtype::i64, SafetensorsDtype::i32, SafetensorsDtype::i16, SafetensorsDtype::i8,
          SafetensorsDtype::u8, SafetensorsDtype::boolean}) {
      if (spelling == dtype_name(dtype)) return dtype;
    }
    fail("{}: tensor '{}' has dtype '{}', which is not read (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL are)",
         path_, name, spelling);
  }

  SafetensorsTensor read_tensor(const std::string& name, const nlohmann::json& entry, const unsigned char* data_section,
                                std::uint64_t data_size) const {
    require(entry.is_object(), "{}: tensor '{}' must be a JSON object, found {}", path_, name, entry.type_name());
    SafetensorsTensor tensor;
    tensor.name = name;
    tensor.dtype = dtype_of(entry, name);

    const auto shape = entry.find("shape");
    require(shape != entry.end() && shape->is_array(), "{}: tensor '{}' has no shape array", path_, name);
    for (const auto& dimension : *shape) {
      tensor.shape.push_back(static_cast<std::int64_t>(count_of(dimension, name, "dimension")));
    }
    // Checked products; a zero anywhere makes the tensor empty however large the rest.
    const std::uint64_t element_size = dtype_size(tensor.dtype);
    std::uint64_t element_count = 1;
    if (std::find(tensor.shape.begin(), tensor.shape.end(), 0) != tensor.shape.end()) element_count = 0;
    for (const auto size : tensor.shape) {
      if (element_count == 0) break;
      require(element_count <= UINT64_MAX / element_size / std::uint64_t(size),
              "{}: tensor '{}' shape [{}] has too many elements", path_, name, fmt::join(tensor.shape, ", "));
      element_count *= std::uint64_t(size);
    }
    const std::uint64_t byte_size = element_count * element_size;

    const auto offsets = entry.find("data_offsets");
    require(offsets != entry.end() && offsets->is_array() && offsets->size() == 2,
            "{}: tensor '{}' has no data_offsets [begin, end]", path_, name);
    const std::uint64_t begin = count_of((*offsets)[0], name, "data offset");
    const std::uint64_t end = count_of((*offsets)[1], name, "data offset");
    require(begin <= end, "{}: tensor '{}' data_offsets [{}, {}] end before they begin", path_, name, begin, end);
    require(end - begin == byte_size,
            "{}: tensor '{}' data_offsets [{}, {}] hold {} bytes, but dtype {} and shape [{}] need {}", path_, name,
            begin, end, end - begin, dtype_name(tensor.dtype), fmt::join(tensor.shape, ", "), byte_size);
    require(end <= data_size,
            "{}: tensor '{}' data_offsets [{}, {}] run past the end of the file (data section of {} "
            "bytes)",
            path_, name, begin, end, data_size);
    tensor.element_count = static_cast<std::int64_t>(element_count);
    tensor.data = data_section + begin;
    tensor.byte_size = static_cast<std::size_t>(byte_size);
    return tensor;
  }

  std::string path_;
  detail::MappedFile mapping_;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensor> tensors_;
  std::unordered_map<std::string, std::size_t> index_by_name_;
};

}  // namespace iglens
