// Bad Hugging Face folders: one-line iglens::Error naming the file and the
// problem, never a crash.

#include <string>

#include <catch2/catch.hpp>

#include "iglens/models/load_hf.hpp"
#include "reference.hpp"

using namespace iglens;
using Catch::Matchers::Contains;

using iglens::testing::bad_input;
using iglens::testing::error_of;

TEST_CASE("HF folder of another architecture is named and refused", "[models][errors]") {
  const auto message = error_of([] { load_hf_decoder(bad_input("other_architecture")); });
  CHECK_THAT(message, Contains("other_architecture/config.json") &&
                          Contains("architecture 'BertForMaskedLM' in config.json is not supported (supported: "
                                   "GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
                                   "Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM, "
                                   "Olmo2ForCausalLM, GPTNeoXForCausalLM)"));
}

TEST_CASE("HF config that disagrees with a tensor names the tensor, the file and both shapes", "[models][errors]") {
  const auto message = error_of([] { load_hf_decoder(bad_input("wrong_hidden_size")); });
  CHECK_THAT(message, Contains("wrong_hidden_size/model.safetensors") &&
                          Contains("tensor 'model.embed_tokens.weight' has shape [101, 32], but config.json implies "
                                   "[101, 40]"));
}

TEST_CASE("HF folder missing a tensor names it", "[models][errors]") {
  const auto message = error_of([] { load_hf_decoder(bad_input("missing_tensor")); });
  CHECK_THAT(message, Contains("missing_tensor") && Contains("has no tensor 'model.layers.1.mlp.up_proj.weight'"));
}

TEST_CASE("HF configs with unsupported features are refused", "[models][errors]") {
  CHECK_THAT(error_of([] { load_hf_decoder(bad_input("rope_scaling")); }),
             Contains("rope_scaling/config.json: rope_scaling of type 'yarn' is not supported (supported: linear, "
                      "llama3)"));
  CHECK_THAT(error_of([] { load_hf_decoder(bad_input("relu_gpt2")); }),
             Contains("relu_gpt2/config.json: activation_function 'relu' is not supported (only gelu_new)"));
  CHECK_THAT(error_of([] { load_hf_decoder(bad_input("relu_llama")); }),
             Contains("relu_llama/config.json: activation 'relu' is not supported (supported: silu, "
                      "gelu_pytorch_tanh)"));
  CHECK_THAT(error_of([] { load_hf_decoder(bad_input("no_such_folder")); }),
             Contains("Hugging Face folder") && Contains("does not exist"));
}

TEST_CASE("HF config keys the decoder does not understand are refused by name", "[models][errors]") {
  CHECK_THAT(error_of([] { load_hf_decoder(bad_input("unknown_config_key")); }),
             Contains("unknown_config_key/config.json: config key 'qk_layernorm' = true is not understood by the "
                      "llama decoder and may change the computation"));
  CHECK_THAT(error_of([] { load_hf_decoder(bad_input("rope_interleaved")); }),
             Contains("config key 'rope_interleaved' = true is not understood"));
  CHECK_THAT(error_of([] { load_hf_decoder(bad_input("untied_gpt2")); }),
             Contains("untied_gpt2/config.json: tie_word_embeddings false is not supported for gpt2"));
}

TEST_CASE("HF tensors the decoder would ignore are refused by name", "[models][errors]") {
  CHECK_THAT(error_of([] { load_hf_decoder(bad_input("extra_tensor")); }),
             Contains("extra_tensor': tensor 'model.layers.0.self_attn.q_proj.bias' is not used by the llama "
                      "decoder"));
}

TEST_CASE("Phi-3 folders with longrope scaling or RoPE over an odd number of dimensions are refused by name",
          "[models][errors]") {
  const auto dir = iglens::testing::reference_dir() + "/current/";
  CHECK_THAT(error_of([&] { load_hf_decoder(dir + "phi3_longrope"); }),
             Contains("phi3_longrope/config.json: rope_scaling of type 'longrope' is not supported (supported: "
                      "linear, llama3)"));
  CHECK_THAT(error_of([&] { load_hf_decoder(dir + "phi3_odd_rotary"); }),
             Contains("phi3_odd_rotary/config.json: decoder config: RoPE over 3 of 8 head dimensions: it needs an "
                      "even number, at most all of them"));
}
