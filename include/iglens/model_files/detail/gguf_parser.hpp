#pragma once
// Parsing a GGUF file (versions 2 and 3, little-endian) from its bytes:
//
//   "GGUF" | uint32 version | uint64 tensor count | uint64 metadata count
//   metadata: string key, uint32 value type, value          (count times)
//   tensor infos: string name, uint32 n_dims, uint64 dims[n_dims],
//                 uint32 ggml type, uint64 offset in the data section
//   padding to general.alignment (default 32), then the data section
//
// where a string is a uint64 length and its bytes, and an array a uint32
// element type, a uint64 count and the elements. Every count and length is
// checked against the bytes left before anything is allocated for it, so a
// bad file costs at most a few times its own size in memory.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "iglens/error.hpp"
#include "iglens/model_files/detail/ggml_blocks.hpp"
#include "iglens/model_files/detail/gguf_value.hpp"

namespace iglens {

struct GgufTensor {
  std::string name;
  std::vector<std::int64_t> shape;  // ggml order: ne[0] (the contiguous, innermost dimension) first
  GgmlType type = GgmlType::F32;
  std::uint64_t offset = 0;   // of its data from the start of the file
  std::uint64_t n_bytes = 0;  // of its data

  std::int64_t numel() const {
    std::int64_t count = 1;
    for (const std::int64_t dim : shape) count *= dim;  // checked against overflow when parsed
    return count;
  }
};

namespace detail {

inline constexpr int kMaxArrayNesting = 16;  // deeper nesting is no model's metadata, only a stack risk

struct GgufContents {
  std::uint32_t version = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata;  // in file order
  std::unordered_map<std::string, std::size_t> metadata_index;
  std::vector<GgufTensor> tensors;  // in file order
  std::unordered_map<std::string, std::size_t> tensor_index;
  std::uint64_t alignment = 32;
  std::uint64_t data_offset = 0;  // start of the data section
};

// Reads the file front to back; every read is checked against the end.
class GgufCursor {
 public:
  GgufCursor(const std::uint8_t* data, std::size_t size, std::string_view path)
      : data_(data), size_(size), path_(path) {}

  std::size_t position() const { return position_; }
  std::size_t left() const { return size_ - position_; }

  template <class... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    fail("model file '{}': {}", path_, fmt::format(format, std::forward<Args>(args)...));
  }

  const std::uint8_t* take(std::size_t n_bytes, std::string_view what) {
    if (n_bytes > left()) {
      error("the file ends inside {} (byte {} needs {} more bytes; size {})", what, position_, n_bytes, size_);
    }
    const std::uint8_t* bytes = data_ + position_;
    position_ += n_bytes;
    return bytes;
  }

  template <class T>
  T read(std::string_view what) {
    return load_little_endian<T>(take(sizeof(T), what));
  }

  std::string read_string(std::string_view what) {
    const auto length = read<std::uint64_t>(what);
    if (length > left()) {
      error("{} has length {}, more than the {} bytes left in the file", what, length, left());
    }
    const std::uint8_t* bytes = take(length, what);
    return std::string(reinterpret_cast<const char*>(bytes), length);
  }

  GgufValue read_value(GgufValueType type, std::string_view what, int nesting) {
    using Storage = GgufValue::Storage;
    if (type == GgufValueType::string) return GgufValue(Storage(std::in_place_index<8>, read_string(what)));
    if (type == GgufValueType::array) return GgufValue(Storage(std::in_place_index<9>, read_array(what, nesting)));
    const std::uint8_t* bytes = take(fixed_size_of(type), what);
    if (type == GgufValueType::boolean) check_bool(bytes[0], what);
    return fixed_value(type, bytes);
  }

  GgufValueType read_value_type(std::string_view what) {
    const auto id = read<std::uint32_t>(what);
    if (id >= kGgufValueTypeCount) error("{} has value type {}, which GGUF does not define", what, id);
    return static_cast<GgufValueType>(id);
  }

 private:
  GgufArray read_array(std::string_view what, int nesting) {
    if (nesting >= kMaxArrayNesting) error("{} nests arrays more than {} deep", what, kMaxArrayNesting);
    GgufArray array;
    array.element_type = read_value_type(what);
    const auto count = read<std::uint64_t>(what);
    // The least each element takes in the file: a string its length, an array its type and count.
    const std::size_t fixed_size = fixed_size_of(array.element_type);
    const std::size_t least_bytes = array.element_type == GgufValueType::string  ? 8
                                    : array.element_type == GgufValueType::array ? 12
                                                                                 : fixed_size;
    if (count > left() / least_bytes) {
      error("{} is an array of {} {} values, more than the {} bytes left in the file can hold", what, count,
            type_name(array.element_type), left());
    }
    if (fixed_size != 0) {
      const std::uint8_t* bytes = take(count * fixed_size, what);
      if (array.element_type == GgufValueType::boolean) {
        for (std::size_t i = 0; i < count; ++i) check_bool(bytes[i], what);
      }
      array.fixed_bytes.assign(bytes, bytes + count * fixed_size);
    } else if (array.element_type == GgufValueType::string) {
      for (std::uint64_t i = 0; i < count; ++i) array.strings.push_back(read_string(what));
    } else {
      for (std::uint64_t i = 0; i < count; ++i) array.arrays.push_back(read_array(what, nesting + 1));
    }
    return array;
  }

  void check_bool(std::uint8_t byte, std::string_view what) const {
    if (byte > 1) error("{} has bool value {}; a bool is 0 or 1", what, byte);
  }

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
  std::string_view path_;
};

inline void read_header(GgufCursor& cursor, GgufContents& contents, std::size_t size) {
  if (size < 4) cursor.error("{} bytes are too few for a GGUF file", size);
  const std::uint8_t* magic = cursor.take(4, "the magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    cursor.error("not a GGUF file: it starts with bytes {:02X} {:02X} {:02X} {:02X}, not \"GGUF\"", magic[0], magic[1],
                 magic[2], magic[3]);
  }
  contents.version = cursor.read<std::uint32_t>("the version");
  if (contents.version == 0x02000000u || contents.version == 0x03000000u) {
    cursor.error("big-endian GGUF files are not supported");
  }
  if (contents.version != 2 && contents.version != 3) {
    cursor.error("GGUF version {} is not supported (only versions 2 and 3)", contents.version);
  }
}

inline void read_metadata(GgufCursor& cursor, GgufContents& contents, std::uint64_t count) {
  for (std::uint64_t entry = 0; entry < count; ++entry) {
    std::string key = cursor.read_string(fmt::format("the key of metadata entry {}", entry));
    const std::string what = fmt::format("metadata '{}'", key);
    if (contents.metadata_index.count(key) != 0) cursor.error("metadata key '{}' appears twice", key);
    const GgufValueType type = cursor.read_value_type(what);
    GgufValue value = cursor.read_value(type, what, 0);
    contents.metadata_index.emplace(key, contents.metadata.size());
    contents.metadata.emplace_back(std::move(key), std::move(value));
  }
}

inline void read_alignment(GgufCursor& cursor, GgufContents& contents) {
  const auto found = contents.metadata_index.find("general.alignment");
  if (found == contents.metadata_index.end()) return;
  const GgufValue& value = contents.metadata[found->second].second;
  if (!is_integer_type(value.type())) {
    cursor.error("general.alignment is a {}, not an integer", type_name(value.type()));
  }
  bool fits = false;
  const std::int64_t alignment = value.integer(fits);
  if (!fits || alignment <= 0 || (alignment & (alignment - 1)) != 0) {
    cursor.error("general.alignment {} is not a power of two", describe(value));
  }
  contents.alignment = static_cast<std::uint64_t>(alignment);
}

inline GgufTensor read_tensor_info(GgufCursor& cursor, const GgufContents& contents, std::uint64_t index) {
  GgufTensor tensor;
  tensor.name = cursor.read_string(fmt::format("the name of tensor {}", index));
  const std::string what = fmt::format("the info of tensor '{}'", tensor.name);
  if (contents.tensor_index.count(tensor.name) != 0) cursor.error("tensor '{}' appears twice", tensor.name);

  const auto n_dims = cursor.read<std::uint32_t>(what);
  if (n_dims > 4) cursor.error("tensor '{}' has {} dimensions; GGUF allows at most 4", tensor.name, n_dims);
  std::int64_t numel = 1;
  for (std::uint32_t d = 0; d < n_dims; ++d) {
    const auto dim = cursor.read<std::uint64_t>(what);
    if (dim == 0 || dim > static_cast<std::uint64_t>(INT64_MAX)) {
      cursor.error("tensor '{}' has dimension {} of size {}; sizes must be positive", tensor.name, d, dim);
    }
    const auto size = static_cast<std::int64_t>(dim);
    if (numel > INT64_MAX / size) cursor.error("tensor '{}' has too many elements: they overflow int64", tensor.name);
    numel *= size;
    tensor.shape.push_back(size);
  }

  const auto type_id = cursor.read<std::uint32_t>(what);
  const GgmlTypeLayout* layout = ggml_type_layout(type_id);
  if (layout == nullptr)
    cursor.error("tensor '{}' has ggml type id {}, which IG-Lens does not know", tensor.name, type_id);
  tensor.type = static_cast<GgmlType>(type_id);
  const std::int64_t row = tensor.shape.empty() ? 1 : tensor.shape[0];
  if (row % layout->block_size != 0) {
    cursor.error("tensor '{}' rows of {} values are not a whole number of {} blocks ({} values each)", tensor.name, row,
                 layout->name, layout->block_size);
  }
  const auto n_blocks = static_cast<std::uint64_t>(numel) / layout->block_size;
  if (n_blocks > UINT64_MAX / layout->type_size)
    cursor.error("tensor '{}' is too large: its byte size overflows", tensor.name);
  tensor.n_bytes = n_blocks * layout->type_size;

  tensor.offset = cursor.read<std::uint64_t>(what);  // within the data section until the section is placed
  if (tensor.offset % contents.alignment != 0) {
    cursor.error("tensor '{}' data offset {} is not a multiple of the alignment {}", tensor.name, tensor.offset,
                 contents.alignment);
  }
  return tensor;
}

// Places each tensor's data: inside the file, after the (aligned) infos.
inline void place_tensor_data(GgufCursor& cursor, GgufContents& contents, std::size_t size) {
  const std::uint64_t end_of_infos = cursor.position();
  contents.data_offset = (end_of_infos + contents.alignment - 1) / contents.alignment * contents.alignment;
  for (GgufTensor& tensor : contents.tensors) {
    const std::uint64_t section_left = contents.data_offset <= size ? size - contents.data_offset : 0;
    if (contents.data_offset > size || tensor.offset > section_left || tensor.n_bytes > section_left - tensor.offset) {
      cursor.error(
          "tensor '{}' data ({} bytes at offset {} of the data section, which starts at byte {}) runs "
          "past the end of the file (size {})",
          tensor.name, tensor.n_bytes, tensor.offset, contents.data_offset, size);
    }
    tensor.offset += contents.data_offset;
  }
}

inline GgufContents parse_gguf(const std::uint8_t* data, std::size_t size, std::string_view path) {
  GgufCursor cursor(data, size, path);
  GgufContents contents;
  read_header(cursor, contents, size);
  const auto tensor_count = cursor.read<std::uint64_t>("the tensor count");
  const auto metadata_count = cursor.read<std::uint64_t>("the metadata count");
  // The least an entry takes: a metadata key length, type and 1-byte value
  // (13 bytes); a tensor name length, n_dims, type and offset (24 bytes).
  if (metadata_count > cursor.left() / 13) {
    cursor.error("metadata count {} is more than the {} bytes left in the file can hold", metadata_count,
                 cursor.left());
  }
  if (tensor_count > cursor.left() / 24) {
    cursor.error("tensor count {} is more than the {} bytes left in the file can hold", tensor_count, cursor.left());
  }
  read_metadata(cursor, contents, metadata_count);
  read_alignment(cursor, contents);
  for (std::uint64_t index = 0; index < tensor_count; ++index) {
    GgufTensor tensor = read_tensor_info(cursor, contents, index);
    contents.tensor_index.emplace(tensor.name, contents.tensors.size());
    contents.tensors.push_back(std::move(tensor));
  }
  place_tensor_data(cursor, contents, size);
  return contents;
}

}  // namespace detail
}  // namespace iglens
