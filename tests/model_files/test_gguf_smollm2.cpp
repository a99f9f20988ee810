// The real SmolLM2-135M-Instruct Q4_1 file: its header, and every tensor
// dequantized, a few of them compared with gguf.quants.dequantize.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "gguf_test_support.hpp"
#include "iglens/model_files/gguf.hpp"

TEST_CASE("SmolLM2-135M: header, every tensor, and four tensors against gguf-py", "[gguf][smollm2]") {
  const auto file = iglens::GgufFile::open(IGLENS_SMOLLM2_GGUF);
  CHECK(file.get_string("general.architecture") == "llama");
  CHECK(file.get_integer("llama.block_count") == 30);
  CHECK(file.get_integer("llama.embedding_length") == 576);
  CHECK(file.get_string_array("tokenizer.ggml.tokens").size() == 49152);
  CHECK(file.describe("tokenizer.ggml.tokens") == "[string x 49152]");
  REQUIRE(file.tensors().size() == 272);
  const iglens::GgufTensor& embedding = file.tensor("token_embd.weight");
  CHECK(embedding.shape == std::vector<std::int64_t>{576, 49152});
  CHECK(embedding.type == iglens::GgmlType::Q8_0);

  std::int64_t total_values = 0;
  for (const iglens::GgufTensor& tensor : file.tensors()) {
    INFO("tensor " << tensor.name << " of type " << iglens::type_name(tensor.type));
    const std::vector<float> values = file.dequantize(tensor);
    REQUIRE(static_cast<std::int64_t>(values.size()) == tensor.numel());
    std::size_t non_finite = 0;
    for (const float value : values) non_finite += !std::isfinite(value);
    CHECK(non_finite == 0);
    total_values += tensor.numel();
  }
  CHECK(total_values > 134'000'000);  // 135M parameters, the tied output matrix counted once

  const std::vector<float> embedding_values = file.dequantize(embedding);
  const std::vector<float> first_rows = read_floats(fixture_path("smollm2_token_embd.weight.f32"));
  REQUIRE(first_rows.size() == 10 * 576);
  require_close(embedding_values.data(), first_rows);
  // Split over threads or not, the same values.
  CHECK(file.dequantize(embedding, 1) == embedding_values);

  for (const std::string name : {"blk.0.attn_q.weight", "blk.29.ffn_down.weight", "output_norm.weight"}) {
    INFO("tensor " << name);
    const std::vector<float> expected = read_floats(fixture_path("smollm2_" + name + ".f32"));
    const std::vector<float> actual = file.dequantize(file.tensor(name));
    REQUIRE(actual.size() == expected.size());
    require_close(actual.data(), expected);
  }
}
