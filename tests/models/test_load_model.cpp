// iglens::load_model, the library's front door for model files: a bundle, a
// GGUF file and a Hugging Face folder each load by their path into one kind
// of model, with a typed description that agrees with the model's own
// configuration and with the JSON `iglens info` prints.

#include <string>
#include <vector>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "iglens/models/load_gguf.hpp"
#include "iglens/models/load_model.hpp"
#include "reference.hpp"

using namespace iglens;
using iglens::testing::ids_tensor;
using iglens::testing::max_abs_diff;

namespace {

std::string reference_path(const std::string& relative) { return iglens::testing::reference_dir() + "/" + relative; }

// The description's numbers are those `iglens info` prints.
void check_info_agrees(const LoadedModel& model) {
  const auto& d = model.description();
  const auto& info = model.info();
  CHECK(info.at("path") == d.path);
  CHECK(info.at("format") == d.format);
  CHECK(info.at("n_layer") == d.n_layer);
  CHECK(info.at("d_model") == d.d_model);
  CHECK(info.at("n_head") == d.n_head);
  CHECK(info.at("vocab_size") == d.vocab_size);
  CHECK(info.at("context_length") == d.context_length);
}

}  // namespace

TEST_CASE("load_model: a GGUF file, with its family, sizes, special tokens and end tokens", "[models][load_model]") {
  const auto path = reference_path("current/gemma2.gguf");
  auto model = load_model(path);
  const auto& d = model.description();
  CHECK(d.format == "gguf");
  CHECK(d.family == "gemma2");
  CHECK((d.n_layer == 3 && d.d_model == 32 && d.n_head == 4 && d.vocab_size == 320 && d.context_length == 64));
  CHECK((d.bos_id == 2 && d.eos_id == 1 && d.adds_bos));
  CHECK(d.end_ids == std::vector<std::int64_t>{1});
  CHECK_FALSE(d.has_chat_template);
  check_info_agrees(model);
  // The same model as the GGUF loader's, and the same tokenizer as loading it alone gives.
  auto direct = load_gguf_decoder(path);
  torch::NoGradGuard no_grad;
  const auto ids = ids_tensor({2, 294, 262, 269, 281});
  CHECK(max_abs_diff(model.logits(ids), direct.logits(ids)) == 0.0);
  CHECK(load_model_tokenizer(path).encode("The rivers") == model.tokenizer().encode("The rivers"));
  CHECK(model.residual_stream(ids).sizes() == torch::IntArrayRef({4, 1, 5, 32}));
}

TEST_CASE("load_model: a Hugging Face folder and a bundle", "[models][load_model]") {
  auto mistral = load_model(reference_path("current/mistral_window"));
  CHECK(mistral.description().format == "huggingface");
  CHECK(mistral.description().family == "mistral");
  CHECK(mistral.description().n_layer == 2);
  CHECK(mistral.tokenizer().pre_tokenizer() == PreTokenizer::sentencepiece);
  check_info_agrees(mistral);

  auto bundle = load_model(reference_path("tiny/gpt2_bundle.pt"));
  const auto& d = bundle.description();
  CHECK(d.format == "iglens-bundle");
  CHECK(d.family == "gpt2");
  // GPT-2's end of text is its BOS and EOS, and ends an answer; a bundle has no chat template.
  CHECK((d.eos_id.has_value() && d.end_ids == std::vector<std::int64_t>{*d.eos_id}));
  CHECK_FALSE(load_model_chat_template(d.path).has_value());
  check_info_agrees(bundle);
}

TEST_CASE("load_model: a path that is no model is a one-line error", "[models][load_model]") {
  CHECK_THROWS_AS(load_model(reference_path("no/such/model.gguf")), Error);
  CHECK_THROWS_AS(load_model(reference_path("current/gemma2.json")), Error);
}
