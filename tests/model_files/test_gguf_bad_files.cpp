// Broken GGUF files: each is a small valid file built here with a few bytes
// changed, and each must fail with one line that names the file and the
// problem, before anything large is allocated.

#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "iglens/model_files/gguf.hpp"

using Catch::Matchers::Contains;

namespace {

// A valid GGUF v3 file of two tensors, with the byte positions of the fields
// the tests change.
struct SmallGguf {
  std::string bytes;
  std::size_t version_at = 0, tensor_count_at = 0, metadata_count_at = 0;
  std::size_t architecture_length_at = 0, alignment_value_at = 0, array_count_at = 0, file_type_key_at = 0;
  std::size_t first_n_dims_at = 0, first_dims_at = 0, first_type_at = 0;
  std::size_t second_name_at = 0, second_offset_at = 0;

  void put_u32(std::uint32_t value) { bytes.append(reinterpret_cast<const char*>(&value), 4); }
  void put_u64(std::uint64_t value) { bytes.append(reinterpret_cast<const char*>(&value), 8); }
  void put_string(const std::string& text) {
    put_u64(text.size());
    bytes += text;
  }
  void set_u32(std::size_t at, std::uint32_t value) { std::memcpy(&bytes[at], &value, 4); }
  void set_u64(std::size_t at, std::uint64_t value) { std::memcpy(&bytes[at], &value, 8); }
};

// Tensor "blk.0.attn_q.weight": [256, 1] Q8_0 (8 blocks, 272 bytes), at 0;
// tensor "blk.0.attn_k.weight": [8] F32 (32 bytes), at 288.
SmallGguf small_gguf() {
  SmallGguf file;
  file.bytes = "GGUF";
  file.version_at = file.bytes.size();
  file.put_u32(3);
  file.tensor_count_at = file.bytes.size();
  file.put_u64(2);
  file.metadata_count_at = file.bytes.size();
  file.put_u64(4);

  file.put_string("general.architecture");
  file.put_u32(8);  // string
  file.architecture_length_at = file.bytes.size();
  file.put_string("llama");
  file.put_string("general.alignment");
  file.put_u32(4);  // uint32
  file.alignment_value_at = file.bytes.size();
  file.put_u32(32);
  file.put_string("test.bytes");
  file.put_u32(9);  // array
  file.put_u32(0);  // of uint8
  file.array_count_at = file.bytes.size();
  file.put_u64(3);
  file.bytes += "\x01\x02\x03";
  file.file_type_key_at = file.bytes.size() + 8;
  file.put_string("general.file_type");
  file.put_u32(4);  // uint32
  file.put_u32(1);

  file.put_string("blk.0.attn_q.weight");
  file.first_n_dims_at = file.bytes.size();
  file.put_u32(2);
  file.first_dims_at = file.bytes.size();
  file.put_u64(256);
  file.put_u64(1);
  file.first_type_at = file.bytes.size();
  file.put_u32(8);  // Q8_0
  file.put_u64(0);
  file.second_name_at = file.bytes.size();
  file.put_string("blk.0.attn_k.weight");
  file.put_u32(1);
  file.put_u64(8);
  file.put_u32(0);  // F32
  file.second_offset_at = file.bytes.size();
  file.put_u64(288);

  file.bytes.resize((file.bytes.size() + 31) / 32 * 32, '\0');
  for (int block = 0; block < 8; ++block) {
    file.bytes.append("\x00\x3C", 2);  // scale 1.0 in f16
    for (int i = 0; i < 32; ++i) file.bytes += static_cast<char>(i - 16);
  }
  file.bytes.resize(file.bytes.size() + 16, '\0');  // padding to 288
  for (int i = 0; i < 8; ++i) {
    const float value = 0.5f * static_cast<float>(i);
    file.bytes.append(reinterpret_cast<const char*>(&value), 4);
  }
  return file;
}

std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string folder = std::string(IGLENS_TEST_BINARY_DIR) + "/bad_gguf_files";
  ::mkdir(folder.c_str(), 0755);
  const std::string path = folder + "/" + name + ".gguf";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

std::string write_file(const std::string& name, const SmallGguf& file) { return write_file(name, file.bytes); }

}  // namespace

TEST_CASE("the small file the broken ones come from is valid", "[gguf][bad-file]") {
  const auto file = iglens::GgufFile::open(write_file("valid", small_gguf()));
  CHECK(file.get_string("general.architecture") == "llama");
  CHECK(file.get_integer_array("test.bytes") == std::vector<std::int64_t>{1, 2, 3});
  REQUIRE(file.tensors().size() == 2);
  const std::vector<float> q = file.dequantize(file.tensor("blk.0.attn_q.weight"));
  REQUIRE(q.size() == 256);
  CHECK(q[0] == -16.0f);
  CHECK(q[255] == 15.0f);
  CHECK(file.dequantize(file.tensor("blk.0.attn_k.weight"))[7] == 3.5f);
  CHECK(file.data_offset() == 288);
  CHECK(file.tensor("blk.0.attn_k.weight").offset == 288 + 288);
  CHECK(file.file_size() == 608);
}

TEST_CASE("files that are not there or not files", "[gguf][bad-file]") {
  REQUIRE_THROWS_WITH(iglens::GgufFile::open("/nonexistent/model.gguf"),
                      Contains("model file '/nonexistent/model.gguf' cannot be opened"));
  const std::string folder = std::string(IGLENS_TEST_BINARY_DIR);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(folder), Contains("'" + folder + "' is a folder"));
  const std::string empty = write_file("empty", std::string());
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(empty), Contains("'" + empty + "' is empty"));
}

TEST_CASE("broken headers", "[gguf][bad-file]") {
  SmallGguf file = small_gguf();
  file.bytes[0] = 'X';
  const std::string wrong_magic = write_file("wrong_magic", file);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(wrong_magic),
                      Contains(wrong_magic) && Contains("not a GGUF file: it starts with bytes 58 47 55 46"));

  for (const std::uint32_t version : {1u, 4u}) {
    file = small_gguf();
    file.set_u32(file.version_at, version);
    const std::string path = write_file("version_" + std::to_string(version), file);
    REQUIRE_THROWS_WITH(iglens::GgufFile::open(path),
                        Contains(path) && Contains("GGUF version " + std::to_string(version) + " is not supported"));
  }
  file = small_gguf();
  file.set_u32(file.version_at, 0x03000000u);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("big_endian", file)), Contains("big-endian"));

  const std::string inside_header = write_file("inside_header", small_gguf().bytes.substr(0, 6));
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(inside_header),
                      Contains(inside_header) && Contains("ends inside the version"));
  const std::string too_short = write_file("too_short", std::string("GG"));
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(too_short), Contains(too_short) && Contains("too few for a GGUF file"));

  file = small_gguf();
  file.set_u64(file.tensor_count_at, std::uint64_t{1} << 40);
  const std::string many_tensors = write_file("tensor_count", file);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(many_tensors),
                      Contains(many_tensors) && Contains("tensor count 1099511627776 is more than the"));
  file = small_gguf();
  file.set_u64(file.metadata_count_at, std::uint64_t{1} << 60);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("metadata_count", file)),
                      Contains("metadata count 1152921504606846976 is more than the"));
}

TEST_CASE("truncated files", "[gguf][bad-file]") {
  const std::string whole = small_gguf().bytes;
  for (const int percent : {10, 50, 90}) {
    const std::string path =
        write_file("truncated_" + std::to_string(percent), whole.substr(0, whole.size() * percent / 100));
    INFO(percent << " %");
    REQUIRE_THROWS_WITH(iglens::GgufFile::open(path),
                        Contains(path) && (Contains("the file ends inside") || Contains("bytes left in the file") ||
                                           Contains("runs past the end of the file")));
  }
  const std::string data_cut = write_file("truncated_data", whole.substr(0, whole.size() - 1));
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(data_cut),
                      Contains("tensor 'blk.0.attn_k.weight' data (32 bytes at offset 288 of the data section, which "
                               "starts at byte 288) runs past the end of the file (size 607)"));
}

TEST_CASE("lengths and counts beyond the file", "[gguf][bad-file]") {
  SmallGguf file = small_gguf();
  file.set_u64(file.architecture_length_at, std::uint64_t{1} << 60);
  const std::string long_string = write_file("string_length", file);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(long_string),
                      Contains(long_string) &&
                          Contains("metadata 'general.architecture' has length 1152921504606846976, more than the"));
  file = small_gguf();
  file.set_u64(file.array_count_at, std::uint64_t{1} << 60);
  const std::string long_array = write_file("array_count", file);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(long_array),
                      Contains(long_array) &&
                          Contains("metadata 'test.bytes' is an array of 1152921504606846976 uint8 values, more than"));
  file = small_gguf();
  file.set_u64(file.second_offset_at, 288 + 32 * 1000);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("data_past_end", file)),
                      Contains("tensor 'blk.0.attn_k.weight' data (32 bytes at offset 32288") &&
                          Contains("runs past the end of the file (size 608)"));
  file = small_gguf();
  file.set_u64(file.second_offset_at, ~std::uint64_t{0} - 31);  // aligned, and would wrap around when added
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("offset_wraps", file)),
                      Contains("runs past the end of the file"));
}

TEST_CASE("bad tensor infos", "[gguf][bad-file]") {
  SmallGguf file = small_gguf();
  file.set_u64(file.second_offset_at, 289);
  const std::string misaligned = write_file("misaligned", file);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(misaligned),
                      Contains(misaligned) && Contains("tensor 'blk.0.attn_k.weight' data offset 289 is not a multiple "
                                                       "of the alignment 32"));
  file = small_gguf();
  file.set_u32(file.first_n_dims_at, 9);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("n_dims_9", file)),
                      Contains("tensor 'blk.0.attn_q.weight' has 9 dimensions; GGUF allows at most 4"));
  file = small_gguf();
  file.set_u64(file.first_dims_at + 8, 0);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("zero_dim", file)),
                      Contains("tensor 'blk.0.attn_q.weight' has dimension 1 of size 0; sizes must be positive"));
  file = small_gguf();
  file.set_u64(file.first_dims_at, std::uint64_t{1} << 40);
  file.set_u64(file.first_dims_at + 8, std::uint64_t{1} << 40);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("huge_dims", file)),
                      Contains("tensor 'blk.0.attn_q.weight' has too many elements: they overflow int64"));
  file = small_gguf();
  file.set_u64(file.first_dims_at, 100);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("partial_block", file)),
                      Contains("rows of 100 values are not a whole number of Q8_0 blocks (32 values each)"));
  file = small_gguf();
  file.set_u32(file.first_type_at, 99);
  const std::string unknown_type = write_file("type_99", file);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(unknown_type),
                      Contains(unknown_type) && Contains("tensor 'blk.0.attn_q.weight' has ggml type id 99"));
  file = small_gguf();
  file.bytes[file.second_name_at + 8 + 11] = 'q';  // blk.0.attn_k -> blk.0.attn_q
  const std::string duplicate = write_file("duplicate_tensor", file);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(duplicate),
                      Contains(duplicate) && Contains("tensor 'blk.0.attn_q.weight' appears twice"));
}

TEST_CASE("bad metadata", "[gguf][bad-file]") {
  for (const std::uint32_t alignment : {0u, 3u}) {
    SmallGguf file = small_gguf();
    file.set_u32(file.alignment_value_at, alignment);
    const std::string path = write_file("alignment_" + std::to_string(alignment), file);
    REQUIRE_THROWS_WITH(
        iglens::GgufFile::open(path),
        Contains(path) && Contains("general.alignment " + std::to_string(alignment) + " is not a power of two"));
  }
  SmallGguf file = small_gguf();
  file.set_u32(file.alignment_value_at - 4, 13);  // the value type
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("value_type_13", file)),
                      Contains("metadata 'general.alignment' has value type 13, which GGUF does not define"));
  file = small_gguf();
  file.set_u32(file.alignment_value_at - 4, 7);  // bool, whose byte is then 32
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(write_file("bool_32", file)),
                      Contains("metadata 'general.alignment' has bool value 32; a bool is 0 or 1"));
  file = small_gguf();
  file.bytes.replace(file.file_type_key_at, 17, "general.alignment");
  const std::string duplicate = write_file("duplicate_key", file);
  REQUIRE_THROWS_WITH(iglens::GgufFile::open(duplicate),
                      Contains(duplicate) && Contains("metadata key 'general.alignment' appears twice"));
}

TEST_CASE("getters and tensor lookups name the key, the tensor and the file", "[gguf][bad-file]") {
  SmallGguf small = small_gguf();
  const std::string path = write_file("for_getters", small);
  const auto file = iglens::GgufFile::open(path);
  REQUIRE_THROWS_WITH(file.get_integer("general.architecture"),
                      Contains(path) && Contains("metadata 'general.architecture' is a string, not an integer"));
  REQUIRE_THROWS_WITH(file.find_bool("general.alignment"), Contains("'general.alignment' is a uint32, not a bool"));
  REQUIRE_THROWS_WITH(file.get_string_array("test.bytes"),
                      Contains("'test.bytes' is an array of uint8, not of strings"));
  REQUIRE_THROWS_WITH(file.get_number_array("general.architecture"), Contains("is a string, not an array of numbers"));
  REQUIRE_THROWS_WITH(file.get_string("llama.block_count"),
                      Contains("model file '" + path + "' has no metadata key 'llama.block_count'"));
  REQUIRE_THROWS_WITH(file.tensor("output.weight"),
                      Contains("model file '" + path + "' has no tensor 'output.weight'"));
  CHECK(file.find_tensor("output.weight") == nullptr);

  small.set_u32(small.first_type_at, 10);  // Q2_K: 256 values take 84 bytes, which fit
  const std::string q2_path = write_file("q2_k", small);
  const auto q2_file = iglens::GgufFile::open(q2_path);
  REQUIRE_THROWS_WITH(q2_file.dequantize(q2_file.tensor("blk.0.attn_q.weight")),
                      Contains(q2_path) && Contains("tensor 'blk.0.attn_q.weight' has type Q2_K, which IG-Lens cannot "
                                                    "dequantize (supported: F32, F16, BF16, Q4_0"));
  iglens::GgufTensor foreign = file.tensor("blk.0.attn_k.weight");
  foreign.offset = 1 << 20;
  REQUIRE_THROWS_WITH(file.dequantize(foreign), Contains("does not describe data of this file"));
}
