#pragma once
// A GGUF metadata value: one of the 13 value types, arrays included (of any
// type, nested arrays too). Public, through iglens/model_files/gguf.hpp.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

namespace iglens {

// The type ids GGUF writes before each value; also the GgufValue variant's index.
enum class GgufValueType : std::uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

inline constexpr std::uint32_t kGgufValueTypeCount = 13;

inline std::string_view type_name(GgufValueType type) {
  static constexpr std::string_view names[kGgufValueTypeCount] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                                                  "int32",  "float32", "bool",   "string", "array",
                                                                  "uint64", "int64",   "float64"};
  const auto id = static_cast<std::uint32_t>(type);
  return id < kGgufValueTypeCount ? names[id] : std::string_view("unknown");
}

// Bytes per value of the fixed-size types, 0 for string and array.
inline std::size_t fixed_size_of(GgufValueType type) {
  static constexpr std::size_t sizes[kGgufValueTypeCount] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  return sizes[static_cast<std::uint32_t>(type)];
}

inline bool is_integer_type(GgufValueType type) {
  switch (type) {
    case GgufValueType::uint8:
    case GgufValueType::int8:
    case GgufValueType::uint16:
    case GgufValueType::int16:
    case GgufValueType::uint32:
    case GgufValueType::int32:
    case GgufValueType::uint64:
    case GgufValueType::int64:
      return true;
    default:
      return false;
  }
}

inline bool is_number_type(GgufValueType type) {
  return is_integer_type(type) || type == GgufValueType::float32 || type == GgufValueType::float64;
}

class GgufValue;

// An array's elements: fixed-size ones kept as the file's little-endian bytes
// (so an array never takes more memory than the file), strings and nested
// arrays as objects.
struct GgufArray {
  GgufValueType element_type = GgufValueType::uint8;
  std::vector<std::uint8_t> fixed_bytes;
  std::vector<std::string> strings;
  std::vector<GgufArray> arrays;

  std::size_t size() const {
    if (element_type == GgufValueType::string) return strings.size();
    if (element_type == GgufValueType::array) return arrays.size();
    return fixed_bytes.size() / fixed_size_of(element_type);
  }
  GgufValue at(std::size_t index) const;  // index < size()
};

class GgufValue {
 public:
  // Alternative i holds GgufValueType i.
  using Storage = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t, std::int32_t,
                               float, bool, std::string, GgufArray, std::uint64_t, std::int64_t, double>;

  explicit GgufValue(Storage storage) : storage_(std::move(storage)) {}

  GgufValueType type() const { return static_cast<GgufValueType>(storage_.index()); }
  const Storage& storage() const { return storage_; }

  // The value of an integer type, widened; false in `fits` for a uint64 above
  // INT64_MAX. Only for is_integer_type(type()).
  std::int64_t integer(bool& fits) const {
    fits = true;
    return std::visit(
        [&](const auto& value) -> std::int64_t {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::uint64_t>) {
            fits = value <= static_cast<std::uint64_t>(INT64_MAX);
            return static_cast<std::int64_t>(value);
          } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            return value;
          } else {
            return 0;
          }
        },
        storage_);
  }

  // Any number as a double. Only for is_number_type(type()).
  double number() const {
    return std::visit(
        [](const auto& value) -> double {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
            return static_cast<double>(value);
          } else {
            return 0.0;
          }
        },
        storage_);
  }

 private:
  Storage storage_;
};

namespace detail {

template <class T>
T load_little_endian(const std::uint8_t* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

// A fixed-size value from its little-endian bytes (type is not string/array).
inline GgufValue fixed_value(GgufValueType type, const std::uint8_t* bytes) {
  using Storage = GgufValue::Storage;
  switch (type) {
    case GgufValueType::uint8:
      return GgufValue(Storage(std::in_place_index<0>, bytes[0]));
    case GgufValueType::int8:
      return GgufValue(Storage(std::in_place_index<1>, load_little_endian<std::int8_t>(bytes)));
    case GgufValueType::uint16:
      return GgufValue(Storage(std::in_place_index<2>, load_little_endian<std::uint16_t>(bytes)));
    case GgufValueType::int16:
      return GgufValue(Storage(std::in_place_index<3>, load_little_endian<std::int16_t>(bytes)));
    case GgufValueType::uint32:
      return GgufValue(Storage(std::in_place_index<4>, load_little_endian<std::uint32_t>(bytes)));
    case GgufValueType::int32:
      return GgufValue(Storage(std::in_place_index<5>, load_little_endian<std::int32_t>(bytes)));
    case GgufValueType::float32:
      return GgufValue(Storage(std::in_place_index<6>, load_little_endian<float>(bytes)));
    case GgufValueType::boolean:
      return GgufValue(Storage(std::in_place_index<7>, bytes[0] != 0));
    case GgufValueType::uint64:
      return GgufValue(Storage(std::in_place_index<10>, load_little_endian<std::uint64_t>(bytes)));
    case GgufValueType::int64:
      return GgufValue(Storage(std::in_place_index<11>, load_little_endian<std::int64_t>(bytes)));
    default:
      return GgufValue(Storage(std::in_place_index<12>, load_little_endian<double>(bytes)));
  }
}

// A string for one line of `iglens info`: at most max_bytes of it, cut at a
// UTF-8 character boundary, quoted and escaped.
inline std::string quoted_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return fmt::format("{:?}", text);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{:?}...", text.substr(0, cut));
}

}  // namespace detail

inline GgufValue GgufArray::at(std::size_t index) const {
  if (element_type == GgufValueType::string) {
    return GgufValue(GgufValue::Storage(std::in_place_index<8>, strings[index]));
  }
  if (element_type == GgufValueType::array) {
    return GgufValue(GgufValue::Storage(std::in_place_index<9>, arrays[index]));
  }
  return detail::fixed_value(element_type, fixed_bytes.data() + index * fixed_size_of(element_type));
}

// A short printable form: scalars as written ("3", "1e-05", "true"), strings
// quoted and cut after 60 bytes, arrays by type and length ("[string x 49152]").
inline std::string describe(const GgufValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return detail::quoted_prefix(v, 60);
        } else if constexpr (std::is_same_v<T, GgufArray>) {
          return fmt::format("[{} x {}]", type_name(v.element_type), v.size());
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::int8_t>) {
          return fmt::format("{}", static_cast<int>(v));
        } else {
          return fmt::format("{}", v);
        }
      },
      value.storage());
}

}  // namespace iglens
