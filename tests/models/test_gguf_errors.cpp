// Bad GGUF files: one-line iglens::Error naming the file and the problem,
// never a crash.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include "iglens/models/load_gguf.hpp"
#include "iglens/models/pretrained.hpp"
#include "reference.hpp"

using namespace iglens;
using Catch::Matchers::Contains;

using iglens::testing::bad_input;
using iglens::testing::error_of;

TEST_CASE("GGUF of another architecture is named and refused", "[models][errors]") {
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("phi2.gguf")); }),
             Contains("phi2.gguf': architecture 'phi2' is not supported (supported: gpt2, llama, qwen2, qwen3, "
                      "gemma2, gemma3, phi3, olmo2, gptneox)"));
}

TEST_CASE("GGUF SentencePiece tokenizers without byte pieces or larger than the embedding are refused",
          "[models][errors]") {
  CHECK_THAT(error_of([] { load_gguf_pretrained(bad_input("tokenizer_no_bytes.gguf")); }),
             Contains("tokenizer_no_bytes.gguf': the SentencePiece vocabulary has no byte token <0x00>"));
  CHECK_THAT(error_of([] { load_gguf_pretrained(bad_input("tokenizer_larger.gguf")); }),
             Contains("tokenizer_larger.gguf': the tokenizer has 257 tokens but the embedding only"));
}

TEST_CASE("GGUF missing a tensor names it", "[models][errors]") {
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("missing_tensor.gguf")); }),
             Contains("missing_tensor.gguf' has no tensor 'blk.2.ffn_gate.weight'"));
}

TEST_CASE("GGUF tensor shape that disagrees with the metadata names both shapes", "[models][errors]") {
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("wrong_shape.gguf")); }),
             Contains("wrong_shape.gguf': tensor 'blk.0.attn_k.weight' has shape [15, 32] (torch order), but the "
                      "metadata implies [16, 32]"));
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("gpt2_short_qkv.gguf")); }),
             Contains("gpt2_short_qkv.gguf': tensor 'blk.1.attn_qkv.weight' has shape [95, 32] (torch order), but "
                      "the metadata implies [96, 32]"));
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("gpt2_no_positions.gguf")); }),
             Contains("gpt2_no_positions.gguf' has no tensor 'position_embd.weight'"));
}

TEST_CASE("GGUF tensors the decoder would ignore are refused by name", "[models][errors]") {
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("attn_q_bias.gguf")); }),
             Contains("attn_q_bias.gguf': tensor 'blk.0.attn_q.bias' is not used by the llama decoder (biases is not "
                      "supported)"));
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("q_norm.gguf")); }),
             Contains("tensor 'blk.1.attn_q_norm.weight' is not used by the llama decoder (query/key norms"));
}

TEST_CASE("GGUF keys that change the computation are refused by name, one family each", "[models][errors]") {
  const std::pair<const char*, const char*> cases[] = {
      {"rope_scaling_linear.gguf", "metadata 'llama.rope.scaling.type' = \"linear\" asks for RoPE scaling"},
      {"rope_scaling_factor.gguf", "metadata 'llama.rope.scaling.factor' = 4 asks for linear RoPE scaling"},
      {"rope_scaling_yarn.gguf", "metadata 'llama.rope.scaling.yarn_log_multiplier'"},
      {"sliding_window.gguf", "metadata 'llama.attention.sliding_window' = 4 asks for sliding-window attention"},
      {"softcapping.gguf", "metadata 'llama.final_logit_softcapping' = 30 asks for soft-capping"},
      {"experts.gguf", "metadata 'llama.expert_count' = 8 asks for a mixture of experts"},
      {"layer_norm.gguf", "asks for LayerNorm instead of RMSNorm"},
      {"non_causal.gguf", "metadata 'llama.attention.causal' = false asks for non-causal attention"},
      {"unknown_key.gguf",
       "metadata 'llama.logit_scale' is unknown to the llama decoder and may change the "
       "computation"},
      {"vocab_size.gguf", "metadata 'llama.vocab_size' = 100 but tensor 'token_embd.weight' has 101 rows"},
  };
  for (const auto& test : cases) {
    const std::string file = test.first, message = test.second;
    INFO(file);
    CHECK_THAT(error_of([&] { load_gguf_decoder(bad_input(file)); }), Contains(file) && Contains(message));
  }
}

TEST_CASE("A GPT-NeoX GGUF without its rotary width is refused by name", "[models][errors]") {
  // Read as the whole head, it would rotate every dimension: a wrong number, not an error.
  CHECK_THAT(error_of([] { load_gguf_decoder(iglens::testing::reference_dir() + "/current/gpt_neox_no_rotary.gguf"); }),
             Contains("gpt_neox_no_rotary.gguf") && Contains("gptneox.rope.dimension_count"));
}

TEST_CASE("A Phi-3 GGUF with longrope scaling, as llama.cpp's converter writes it, is refused by name",
          "[models][errors]") {
  CHECK_THAT(error_of([] { load_gguf_decoder(iglens::testing::reference_dir() + "/current/phi3_longrope.gguf"); }),
             Contains("phi3_longrope.gguf': metadata 'phi3.rope.scaling.attn_factor' =") &&
                 Contains("asks for RoPE scaling, which is not supported"));
}

TEST_CASE("A GGUF file written to or shortened while its kept matrices are read ends the run, naming the tensor",
          "[models][errors]") {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("iglens_changed_gguf_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto copy = [&](const std::string& from, const char* name) {
    const auto to = dir / name;
    fs::copy_file(iglens::testing::reference_dir() + from, to, fs::copy_options::overwrite_existing);
    return to.string();
  };
  const auto ids = iglens::testing::ids_tensor({3, 17, 42});
  torch::NoGradGuard no_grad;
  {
    // Written to in place (here only its modification time): the next read refuses, whatever the bytes now are.
    const auto path = copy("/tiny/llama_untied.gguf", "written.gguf");
    const auto model = load_gguf_decoder(path, WeightStorage::as_stored);
    model.residual_stream(ids);
    fs::last_write_time(path, fs::last_write_time(path) + std::chrono::seconds(2));
    CHECK_THAT(error_of([&] { model.residual_stream(ids); }),
               Contains("written.gguf' was changed on disk while tensor 'token_embd.weight' was to be read from it"));
  }
  {
    // Shortened: an error, not SIGBUS.
    const auto path = copy("/current/gemma3_f16.gguf", "shortened.gguf");
    const auto model = load_gguf_decoder(path, WeightStorage::as_stored);
    fs::resize_file(path, fs::file_size(path) / 2);
    CHECK_THAT(error_of([&] { model.residual_stream(ids); }),
               Contains("shortened.gguf' was changed on disk while tensor 'token_embd.weight' was to be read"));
  }
  {
    // Replaced by another file renamed over its path: the mapping keeps the original, and so do the numbers.
    const auto path = copy("/tiny/llama_untied.gguf", "replaced.gguf");
    const auto model = load_gguf_decoder(path, WeightStorage::as_stored);
    const auto before = model.residual_stream(ids);
    fs::rename(copy("/current/gemma3_f16.gguf", "other.gguf"), path);
    CHECK(torch::equal(model.residual_stream(ids), before));
  }
  fs::remove_all(dir);
}
