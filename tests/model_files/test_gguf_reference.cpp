// GgufFile against files written by gguf-py (write_gguf_fixtures.py): every
// metadata value type, every dequantizable tensor type on random blocks, a
// version 2 file and a file aligned to 64 bytes.

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "gguf_test_support.hpp"
#include "iglens/model_files/gguf.hpp"

using Catch::Matchers::Contains;

TEST_CASE("metadata of every value type reads back as gguf-py wrote it", "[gguf][reference]") {
  const auto file = iglens::GgufFile::open(fixture_path("metadata.gguf"));
  CHECK(file.version() == 3);
  CHECK(file.alignment() == 32);
  CHECK(file.tensors().empty());
  CHECK(file.get_string("general.architecture") == "testarch");
  CHECK(file.metadata().front().first == "general.architecture");
  CHECK(file.metadata().back().first == "test.nested");

  CHECK(file.value("test.u8").type() == iglens::GgufValueType::uint8);
  CHECK(file.get_integer("test.u8") == 200);
  CHECK(file.get_integer("test.i8") == -100);
  CHECK(file.get_integer("test.u16") == 60000);
  CHECK(file.get_integer("test.i16") == -30000);
  CHECK(file.get_integer("test.u32") == 4000000000);
  CHECK(file.get_integer("test.i32") == -2000000000);
  CHECK(file.get_integer("test.u64") == 12345678901);
  CHECK(file.get_integer("test.i64") == -(std::int64_t{1} << 62));
  CHECK(file.value("test.u64").type() == iglens::GgufValueType::uint64);
  CHECK(file.value("test.i64").type() == iglens::GgufValueType::int64);
  CHECK(file.get_number("test.f32") == 1.5);
  CHECK(file.get_number("test.f64") == 3.141592653589793);
  CHECK(file.get_number("test.i8") == -100.0);
  CHECK(file.value("test.f64").type() == iglens::GgufValueType::float64);
  CHECK(file.get_bool("test.bool"));
  CHECK_FALSE(file.get_bool("test.false"));
  CHECK(file.get_string("test.string") == "h\xC3\xA9llo w\xC3\xB6rld");
  CHECK(file.get_number("test.u64_huge") == 9223372036854775813.0);
  REQUIRE_THROWS_WITH(
      file.get_integer("test.u64_huge"),
      Contains("metadata.gguf") && Contains("'test.u64_huge' = 9223372036854775813 does not fit in int64"));

  CHECK(file.get_integer_array("test.ints") == std::vector<std::int64_t>{1, -2, 3});
  CHECK(file.get_integer_array("test.u8s") == std::vector<std::int64_t>{0, 255});
  CHECK(file.get_integer_array("test.i16s") == std::vector<std::int64_t>{-32768, 32767});
  CHECK(file.get_integer_array("test.i64s") ==
        std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()});
  REQUIRE_THROWS_WITH(file.get_integer_array("test.u64s"), Contains("element 1 = 18446744073709551615 does not fit"));
  CHECK(file.get_number_array("test.floats") == std::vector<double>{0.5, -1.25});
  CHECK(file.get_number_array("test.f64s") == std::vector<double>{0.1, -1e300});
  CHECK(file.get_number_array("test.ints") == std::vector<double>{1, -2, 3});
  CHECK(file.get_string_array("test.strings") == std::vector<std::string>{"a", "",
                                                                          "\xC3\xA7"
                                                                          "a"});
  const auto& bools = std::get<iglens::GgufArray>(file.value("test.bools").storage());
  REQUIRE(bools.size() == 3);
  CHECK(std::get<bool>(bools.at(0).storage()));
  CHECK_FALSE(std::get<bool>(bools.at(1).storage()));

  const auto& nested = std::get<iglens::GgufArray>(file.value("test.nested").storage());
  REQUIRE(nested.element_type == iglens::GgufValueType::array);
  REQUIRE(nested.size() == 3);
  CHECK(nested.arrays[0].element_type == iglens::GgufValueType::int16);
  bool fits = false;
  CHECK(nested.arrays[0].at(1).integer(fits) == -2);
  CHECK(nested.arrays[1].strings == std::vector<std::string>{"x", "y", "z"});
  REQUIRE(nested.arrays[2].arrays.size() == 1);
  CHECK(std::get<std::uint32_t>(nested.arrays[2].arrays[0].at(0).storage()) == 7);

  CHECK(file.describe("test.u8") == "200");
  CHECK(file.describe("test.i8") == "-100");
  CHECK(file.describe("test.f32") == "1.5");
  CHECK(file.describe("test.bool") == "true");
  CHECK(file.describe("test.string") == "\"h\xC3\xA9llo w\xC3\xB6rld\"");
  CHECK(file.describe("test.strings") == "[string x 3]");
  CHECK(file.describe("test.nested") == "[array x 3]");
  std::string thirty_e_acutes;  // test.long is 100 of them, cut at 60 bytes
  for (int i = 0; i < 30; ++i) thirty_e_acutes += "\xC3\xA9";
  CHECK(file.describe("test.long") == "\"" + thirty_e_acutes + "\"...");

  CHECK(file.has("test.u8"));
  CHECK_FALSE(file.has("test.missing"));
  CHECK_FALSE(file.find_string("test.missing").has_value());
  CHECK_FALSE(file.find_integer("test.missing").has_value());
  CHECK_FALSE(file.find_number("test.missing").has_value());
  CHECK_FALSE(file.find_bool("test.missing").has_value());
  CHECK(file.find_integer("test.u16") == std::int64_t{60000});
  CHECK(file.find_bool("test.bool") == true);
  CHECK(file.find_string("test.string").has_value());
  CHECK(file.find_number("test.f64") == 3.141592653589793);
}

namespace {

struct TypeCase {
  const char* name;
  iglens::GgmlType type;
  std::vector<std::int64_t> shape;  // ggml order
  bool exact;
};

}  // namespace

TEST_CASE("every dequantizable type matches gguf.quants.dequantize on random blocks", "[gguf][reference]") {
  const auto file = iglens::GgufFile::open(fixture_path("quant_types.gguf"));
  using T = iglens::GgmlType;
  const std::vector<TypeCase> cases = {
      {"F32", T::F32, {100, 64}, true},     {"F16", T::F16, {256, 256}, true},    {"BF16", T::BF16, {256, 256}, true},
      {"Q4_0", T::Q4_0, {960, 10}, false},  {"Q4_1", T::Q4_1, {960, 10}, false},  {"Q5_0", T::Q5_0, {960, 10}, false},
      {"Q5_1", T::Q5_1, {960, 10}, false},  {"Q8_0", T::Q8_0, {960, 10}, false},  {"Q4_K", T::Q4_K, {12800, 4}, false},
      {"Q5_K", T::Q5_K, {12800, 4}, false}, {"Q6_K", T::Q6_K, {12800, 4}, false},
  };
  CHECK(file.tensors().size() == cases.size());
  for (const TypeCase& type_case : cases) {
    INFO("type " << type_case.name);
    const iglens::GgufTensor& tensor = file.tensor(type_case.name);
    CHECK(tensor.type == type_case.type);
    CHECK(iglens::type_name(tensor.type) == type_case.name);
    CHECK(tensor.shape == type_case.shape);
    CHECK(tensor.offset % 32 == 0);
    const std::vector<float> expected = read_floats(fixture_path(std::string("expected_") + type_case.name + ".f32"));
    REQUIRE(static_cast<std::int64_t>(expected.size()) == tensor.numel());
    for (const unsigned threads : {1u, 3u}) {
      const std::vector<float> actual = file.dequantize(tensor, threads);
      REQUIRE(actual.size() == expected.size());
      if (type_case.exact) {
        require_same_bits(actual.data(), expected);
      } else {
        require_close(actual.data(), expected);
      }
    }
  }
}

TEST_CASE("rows of every type dequantize as the same rows of the whole tensor", "[gguf][reference]") {
  const auto file = iglens::GgufFile::open(fixture_path("quant_types.gguf"));
  for (const auto& tensor : file.tensors()) {
    INFO("type " << iglens::type_name(tensor.type));
    const std::vector<float> whole = file.dequantize(tensor);
    const std::int64_t cols = tensor.shape[0], rows = tensor.shape[1];
    for (const auto& [first, count] :
         {std::pair<std::int64_t, std::int64_t>{0, 1}, {rows - 1, 1}, {1, rows - 2}, {0, rows}, {rows, 0}}) {
      std::vector<float> part(static_cast<std::size_t>(count * cols));
      file.dequantize_rows(tensor, first, count, part.data());
      // Bit for bit: the random F32, F16 and BF16 bytes include NaNs.
      CHECK((part.empty() || std::memcmp(part.data(), whole.data() + first * cols, part.size() * sizeof(float)) == 0));
    }
    for (const auto& [first, count] : {std::pair<std::int64_t, std::int64_t>{rows, 1}, {-1, 1}, {0, rows + 1}}) {
      CHECK_THROWS_WITH(file.dequantize_rows(tensor, first, count, nullptr),
                        Catch::Contains("are outside its " + std::to_string(rows) + " rows"));
    }
  }
}

TEST_CASE("F16 and BF16 cover subnormals, infinities and NaNs", "[gguf][reference]") {
  // The fixture holds all 65536 bit patterns in order; spot-check the special ones.
  const auto file = iglens::GgufFile::open(fixture_path("quant_types.gguf"));
  const std::vector<float> half = file.dequantize(file.tensor("F16"));
  CHECK(half[0x0001] == 0x1p-24f);         // smallest subnormal
  CHECK(half[0x03FF] == 1023 * 0x1p-24f);  // largest subnormal
  CHECK(half[0x7C00] == std::numeric_limits<float>::infinity());
  CHECK(half[0xFC00] == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(half[0x7E00]));
  CHECK(bits_of(half[0x8000]) == 0x80000000u);  // -0
  CHECK(half[0x3C00] == 1.0f);
  const std::vector<float> brain = file.dequantize(file.tensor("BF16"));
  CHECK(brain[0x3F80] == 1.0f);
  CHECK(brain[0x7F80] == std::numeric_limits<float>::infinity());
  CHECK(bits_of(brain[0x7FC1]) == 0x7FC10000u);
}

TEST_CASE("a version 2 file reads like version 3", "[gguf][reference]") {
  const auto file = iglens::GgufFile::open(fixture_path("v2.gguf"));
  CHECK(file.version() == 2);
  CHECK(file.get_integer("test.answer") == 42);
  const iglens::GgufTensor& weights = file.tensor("weights");
  CHECK(weights.shape == std::vector<std::int64_t>{2, 2});
  CHECK(file.dequantize(weights) == std::vector<float>{1.0f, -2.0f, 0.25f, 8.0f});
}

TEST_CASE("general.alignment 64 places the data section and every tensor on 64 bytes", "[gguf][reference]") {
  const auto file = iglens::GgufFile::open(fixture_path("aligned64.gguf"));
  CHECK(file.alignment() == 64);
  CHECK(file.data_offset() % 64 == 0);
  REQUIRE(file.tensors().size() == 3);
  for (const auto& tensor : file.tensors()) CHECK(tensor.offset % 64 == 0);
  CHECK(file.tensor("b").offset - file.tensor("a").offset == 64);
  CHECK(file.dequantize(file.tensor("a")) == std::vector<float>{1.5f, -2.0f, 3.25f});
  CHECK(file.dequantize(file.tensor("b")) == std::vector<float>{0.5f, 1.0f, 2.0f, 4.0f, 8.0f});
  const std::vector<float> c = file.dequantize(file.tensor("c"));
  require_close(c.data(), read_floats(fixture_path("expected_aligned64_c.f32")));
}
