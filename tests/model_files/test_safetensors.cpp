// iglens::SafetensorsFile against files that safetensors.numpy and
// safetensors.torch wrote (write_hf_fixtures.py): every dtype's bytes and
// values bit for bit, then a table of broken files made by editing a valid one.

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/model_files/safetensors.hpp"

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = IGLENS_TEST_HF_FIXTURES;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

std::string le64(std::uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return bytes;
}

// small.safetensors split into its header JSON and its data section.
struct SmallFile {
  nlohmann::json header;
  std::string data;
};

SmallFile small_file() {
  const auto bytes = read_bytes(kFixtures / "small.safetensors");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(bytes[i]);
  return {nlohmann::json::parse(bytes.substr(8, header_size)), bytes.substr(8 + header_size)};
}

std::string assemble(const std::string& header_text, const std::string& data) {
  return le64(header_text.size()) + header_text + data;
}

}  // namespace

TEST_CASE("every dtype reads as numpy and torch wrote it, bit for bit", "[safetensors]") {
  const auto manifest = nlohmann::json::parse(read_bytes(kFixtures / "dtypes.json"));
  std::map<std::string, iglens::SafetensorsFile> files;
  std::map<std::string, std::size_t> tensors_per_file;
  for (const auto& entry : manifest["tensors"]) {
    const auto file_name = entry["file"].get<std::string>();
    const auto name = entry["name"].get<std::string>();
    INFO(file_name << " " << name);
    if (files.count(file_name) == 0) {
      files.emplace(file_name, iglens::SafetensorsFile::open((kFixtures / file_name).string()));
    }
    ++tensors_per_file[file_name];
    const auto& file = files.at(file_name);
    const auto& tensor = file.tensor(name);
    CHECK(tensor.name == name);
    CHECK(iglens::dtype_name(tensor.dtype) == entry["dtype"].get<std::string>());
    CHECK(tensor.shape == entry["shape"].get<std::vector<std::int64_t>>());
    const auto raw = read_bytes(kFixtures / entry["raw"].get<std::string>());
    REQUIRE(tensor.byte_size == raw.size());
    CHECK(std::memcmp(tensor.data, raw.data(), raw.size()) == 0);
    REQUIRE(tensor.element_count * std::int64_t(iglens::dtype_size(tensor.dtype)) == std::int64_t(tensor.byte_size));

    if (!entry.contains("f32")) {
      std::vector<float> unused(tensor.element_count + 1);
      CHECK_THROWS_WITH(
          file.to_float32(tensor, unused.data()),
          Contains(file_name) && Contains("tensor '" + name + "' has dtype " + entry["dtype"].get<std::string>() +
                                          "; only F32, F16, BF16 and F64 are read as numbers"));
      continue;
    }
    // Compared as bits: NaN payloads and signed zeros must match too.
    const auto expected_f32 = read_bytes(kFixtures / entry["f32"].get<std::string>());
    const auto expected_f64 = read_bytes(kFixtures / entry["f64"].get<std::string>());
    std::vector<float> as_f32(tensor.element_count);
    std::vector<double> as_f64(tensor.element_count);
    file.to_float32(tensor, as_f32.data());
    file.to_float64(tensor, as_f64.data());
    REQUIRE(expected_f32.size() == as_f32.size() * sizeof(float));
    REQUIRE(expected_f64.size() == as_f64.size() * sizeof(double));
    std::size_t f32_mismatches = 0, f64_mismatches = 0;
    for (std::size_t i = 0; i < as_f32.size(); ++i) {
      f32_mismatches += std::memcmp(&as_f32[i], expected_f32.data() + 4 * i, 4) != 0;
      f64_mismatches += std::memcmp(&as_f64[i], expected_f64.data() + 8 * i, 8) != 0;
    }
    CHECK(f32_mismatches == 0);
    CHECK(f64_mismatches == 0);
    // A window of a matrix (a kept matrix's tile: rows, or a transposed matrix's columns) holds the same bits.
    if (tensor.shape.size() == 2 && tensor.shape[0] >= 2 && tensor.shape[1] >= 2) {
      const auto height = tensor.shape[0], width = tensor.shape[1];
      for (const auto [row, rows, col, cols] :
           {std::array<std::int64_t, 4>{0, height, 0, width}, std::array<std::int64_t, 4>{1, height - 1, 1, width - 1},
            std::array<std::int64_t, 4>{height - 1, 1, 0, 1}}) {
        CAPTURE(row, rows, col, cols);
        std::vector<float> window(static_cast<std::size_t>(rows * cols));
        file.window_to_float32(tensor, row, rows, col, cols, window.data());
        std::size_t window_mismatches = 0;
        for (std::int64_t r = 0; r < rows; ++r) {
          for (std::int64_t k = 0; k < cols; ++k) {
            window_mismatches += std::memcmp(&window[r * cols + k], &as_f32[(row + r) * width + col + k], 4) != 0;
          }
        }
        CHECK(window_mismatches == 0);
      }
      std::vector<float> unused(2);
      CHECK_THROWS_WITH(file.window_to_float32(tensor, height - 1, 2, 0, 1, unused.data()),
                        Contains("lie outside tensor '" + name + "'"));
    }
  }
  // No tensor in the files that the writers did not put there.
  for (const auto& [file_name, file] : files) CHECK(file.tensors().size() == tensors_per_file[file_name]);
  CHECK(files.at("dtypes.safetensors").metadata() ==
        std::map<std::string, std::string>{{"format", "np"}, {"writer", "write_hf_fixtures.py"}});
  CHECK(files.at("dtypes.safetensors").find("no such tensor") == nullptr);
  CHECK(files.at("dtypes.safetensors").tensor("f32_empty").byte_size == 0);
  CHECK(files.at("dtypes.safetensors").tensor("f32_scalar").shape.empty());
}

TEST_CASE("tensors are listed in data order and looked up by name", "[safetensors]") {
  const auto path = (kFixtures / "small.safetensors").string();
  const auto file = iglens::SafetensorsFile::open(path);
  REQUIRE(file.tensors().size() == 2);
  CHECK(file.tensors()[0].name == "a");
  CHECK(file.tensors()[1].name == "b");
  CHECK(file.tensors()[1].data == file.tensors()[0].data + 16);
  CHECK(&file.tensor("b") == &file.tensors()[1]);
  float a[4];
  file.to_float32(file.tensor("a"), a);
  CHECK(std::vector<float>(a, a + 4) == std::vector<float>{0.0f, 1.0f, 2.0f, 3.0f});
  REQUIRE_THROWS_WITH(file.tensor("c"), Contains(path + ": has no tensor named 'c'"));
  // A tensor of another file is refused, not read through the wrong mapping.
  const auto other = iglens::SafetensorsFile::open(path);
  REQUIRE_THROWS_WITH(file.to_float32(other.tensor("a"), a),
                      Contains(path + ": to_float32 was given tensor 'a', which is not from this file"));
}

TEST_CASE("broken safetensors files are one-line errors naming the file and the problem", "[safetensors]") {
  const fs::path broken = kFixtures / "broken_safetensors";
  fs::create_directories(broken);
  const auto valid = read_bytes(kFixtures / "small.safetensors");
  const auto small = small_file();
  // Writes `bytes` as a file of its own and returns its path.
  const auto file_of = [&](const std::string& name, const std::string& bytes) {
    const auto path = (broken / (name + ".safetensors")).string();
    write_bytes(path, bytes);
    return path;
  };
  // small.safetensors with its header edited.
  const auto with_header = [&](const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
    auto header = small.header;
    edit(header);
    return file_of(name, assemble(header.dump(), small.data));
  };
  const auto with_header_text = [&](const std::string& name, const std::string& text) {
    return file_of(name, assemble(text, small.data));
  };
  const auto with_length = [&](const std::string& name, std::uint64_t header_size) {
    return file_of(name, le64(header_size) + valid.substr(8));
  };
  const auto sparse_file_with_length = [&](std::uint64_t header_size, std::uintmax_t file_size) {
    const auto path = file_of("over_the_cap", le64(header_size));
    fs::resize_file(path, file_size);  // sparse: no disk space used
    return path;
  };

  struct Case {
    const char* name;
    std::function<std::string()> make;  // writes the file, returns its path
    std::string message;
  };
  const std::vector<Case> cases{
      {"missing file", [&] { return (broken / "does_not_exist.safetensors").string(); },
       "cannot be opened: No such file"},
      {"folder given as file", [&] { return broken.string(); }, "is a folder, not a file"},
      {"a FIFO (must not wait for a writer)",
       [&] {
         const auto path = (broken / "fifo.safetensors").string();
         fs::remove(path);
         REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
         return path;
       },
       "is not a regular file"},
      {"empty file", [&] { return file_of("empty", ""); }, "is 0 bytes, too short for a safetensors file"},
      {"shorter than the length", [&] { return file_of("short", valid.substr(0, 5)); }, "is 5 bytes, too short"},
      {"header length 2^62", [&] { return with_length("length_2_62", std::uint64_t(1) << 62); },
       "safetensors header length 4611686018427387904 runs past the end of the file (142 bytes)"},
      {"header length past the end", [&] { return with_length("length_past_end", valid.size() - 7); },
       "safetensors header length 135 runs past the end of the file (142 bytes)"},
      {"header length over the cap", [&] { return sparse_file_with_length(150'000'000, 200'000'000); },
       "safetensors header length 150000000 is over the limit of 100000000 bytes"},
      {"header not JSON", [&] { return with_header_text("not_json", "{\"a\": {\"dtype\": \"F32\","); },
       "safetensors header is not valid JSON"},
      {"header of zero bytes", [&] { return with_header_text("zero_header", ""); },
       "safetensors header is not valid JSON"},
      {"JSON number 1e999",
       [&] {
         return with_header_text("number_overflow",
                                 R"({"a": {"dtype": "F32", "shape": [1e999], "data_offsets": [0, 16]}})");
       },
       "safetensors header is not valid JSON"},
      {"header an array", [&] { return with_header_text("array", "[1, 2]"); },
       "safetensors header must be a JSON object, found array"},
      {"repeated name",
       [&] {
         return with_header_text(
             "repeated",
             R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})");
       },
       "safetensors header names 'a' more than once"},
      {"dtype F8_E4M3", [&] { return with_header("f8", [](auto& h) { h["a"]["dtype"] = "F8_E4M3"; }); },
       "tensor 'a' has dtype 'F8_E4M3', which is not read (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL are)"},
      {"dtype Q4", [&] { return with_header("q4", [](auto& h) { h["b"]["dtype"] = "Q4"; }); },
       "tensor 'b' has dtype 'Q4', which is not read"},
      {"dtype not a string", [&] { return with_header("dtype_number", [](auto& h) { h["a"]["dtype"] = 32; }); },
       "tensor 'a' has no dtype string"},
      {"tensor not an object", [&] { return with_header("tensor_array", [](auto& h) {
                                       h["a"] = {1, 2};
                                     }); },
       "tensor 'a' must be a JSON object, found array"},
      {"no shape", [&] { return with_header("no_shape", [](auto& h) { h["a"].erase("shape"); }); },
       "tensor 'a' has no shape array"},
      {"shape/offset mismatch", [&] { return with_header("mismatch", [](auto& h) {
                                        h["a"]["shape"] = {2, 3};
                                      }); },
       "tensor 'a' data_offsets [0, 16] hold 16 bytes, but dtype F32 and shape [2, 3] need 24"},
      {"dtype/offset mismatch", [&] { return with_header("dtype_mismatch", [](auto& h) { h["a"]["dtype"] = "F64"; }); },
       "tensor 'a' data_offsets [0, 16] hold 16 bytes, but dtype F64 and shape [2, 2] need 32"},
      {"data past the end of the file", [&] { return file_of("truncated", valid.substr(0, valid.size() - 2)); },
       "tensor 'b' data_offsets [16, 22] run past the end of the file (data section of 20 bytes)"},
      {"offsets beyond the data",
       [&] { return with_header("far_offsets", [](auto& h) {
               h["b"]["data_offsets"] = {1000016, 1000022};
             }); },
       "tensor 'b' data_offsets [1000016, 1000022] run past the end of the file"},
      {"overlapping tensors",
       [&] { return with_header("overlap", [](auto& h) {
               h["b"]["data_offsets"] = {10, 16};
             }); },
       "tensors 'a' and 'b' overlap in the data section"},
      {"the same bytes twice", [&] { return with_header("same_bytes", [](auto& h) { h["b"] = h["a"]; }); },
       "tensors 'a' and 'b' overlap in the data section"},
      {"offsets reversed", [&] { return with_header("reversed", [](auto& h) {
                                   h["a"]["data_offsets"] = {16, 0};
                                 }); },
       "tensor 'a' data_offsets [16, 0] end before they begin"},
      {"three offsets",
       [&] { return with_header("three_offsets", [](auto& h) {
               h["a"]["data_offsets"] = {0, 8, 16};
             }); },
       "tensor 'a' has no data_offsets [begin, end]"},
      {"negative offset",
       [&] { return with_header("negative_offset", [](auto& h) {
               h["a"]["data_offsets"] = {-16, 0};
             }); },
       "tensor 'a' data offset -16 is negative"},
      {"negative dimension", [&] { return with_header("negative_dim", [](auto& h) {
                                     h["a"]["shape"] = {-2, -2};
                                   }); },
       "tensor 'a' dimension -2 is negative"},
      {"fractional dimension",
       [&] { return with_header("fractional_dim", [](auto& h) {
               h["a"]["shape"] = {2.5, 2};
             }); },
       "tensor 'a' dimension 2.5 is not an integer"},
      {"dimension over int64",
       [&] {
         return with_header("dim_u64", [](auto& h) { h["a"]["shape"] = {std::numeric_limits<std::uint64_t>::max()}; });
       },
       "tensor 'a' dimension 18446744073709551615 is too large"},
      {"huge dimensions (element count overflows)",
       [&] {
         return with_header("huge_dims", [](auto& h) {
           h["a"]["shape"] = {std::int64_t(1) << 32, std::int64_t(1) << 32};
         });
       },
       "tensor 'a' shape [4294967296, 4294967296] has too many elements"},
      {"huge dimension (byte count overflows)",
       [&] { return with_header("huge_bytes", [](auto& h) { h["a"]["shape"] = {std::int64_t(1) << 62}; }); },
       "tensor 'a' shape [4611686018427387904] has too many elements"},
      {"__metadata__ not strings",
       [&] { return with_header("metadata_number", [](auto& h) {
               h["__metadata__"] = {{"format", 1}};
             }); },
       "safetensors __metadata__ 'format' must be a string, found number"},
      {"__metadata__ not an object",
       [&] { return with_header("metadata_string", [](auto& h) { h["__metadata__"] = "pt"; }); },
       "safetensors __metadata__ must be a JSON object, found string"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const auto path = c.make();
      REQUIRE_THROWS_WITH(iglens::SafetensorsFile::open(path),
                          Contains(path + ": ") && Contains(c.message) && !Contains("\n"));
    }
  }
}

TEST_CASE("an empty tensor inside another's bytes overlaps nothing", "[safetensors]") {
  auto small = small_file();
  small.header["empty"] = {{"dtype", "F32"}, {"shape", {0, 4}}, {"data_offsets", {8, 8}}};
  // A zero dimension makes the tensor empty however large the others are.
  small.header["empty_huge"] = {
      {"dtype", "F64"}, {"shape", {std::int64_t(1) << 62, 0, std::int64_t(1) << 62}}, {"data_offsets", {22, 22}}};
  const auto path = (kFixtures / "broken_safetensors_empty.safetensors").string();
  write_bytes(path, assemble(small.header.dump(), small.data));
  const auto file = iglens::SafetensorsFile::open(path);
  CHECK(file.tensors().size() == 4);
  CHECK(file.tensor("empty").element_count == 0);
  CHECK(file.tensor("empty_huge").element_count == 0);
  CHECK(file.tensor("empty_huge").byte_size == 0);
}
