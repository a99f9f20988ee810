#pragma once
// The tokenizer a GGUF file carries in its tokenizer.ggml.* metadata. Needs
// no LibTorch: the tokenizer tests and programs read it on its own.

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "iglens/error.hpp"
#include "iglens/model_files/gguf.hpp"
#include "iglens/text/tokenizer.hpp"

namespace iglens {

// The tokenizer a GGUF file describes in its tokenizer.ggml.* metadata:
// byte-level BPE ("gpt2") or SentencePiece ("llama": Gemma's, Llama 2's);
// the others are named as unsupported, never guessed.
inline Tokenizer gguf_tokenizer(const GgufFile& file) {
  const auto model = file.find_string("tokenizer.ggml.model");
  require(model.has_value(), "model file '{}' has no tokenizer (no tokenizer.ggml.model metadata)", file.path());
  require(*model == "gpt2" || *model == "llama",
          "model file '{}': tokenizer model '{}' is not supported (supported: gpt2, byte-level BPE; llama, "
          "SentencePiece)",
          file.path(), *model);
  const auto source = fmt::format("model file '{}'", file.path());
  std::vector<std::int32_t> types;
  if (file.has("tokenizer.ggml.token_type")) {
    for (const auto type : file.get_integer_array("tokenizer.ggml.token_type")) {
      require(type >= 1 && type <= 6, "{}: token type {} is not 1 to 6", source, type);
      types.push_back(static_cast<std::int32_t>(type));
    }
  }
  TokenizerSettings settings;
  settings.bos_id = file.find_integer("tokenizer.ggml.bos_token_id");
  settings.eos_id = file.find_integer("tokenizer.ggml.eos_token_id");
  if (*model == "llama") {
    // llama.cpp's defaults for SentencePiece: BOS first, a space before the text.
    settings.add_bos = file.find_bool("tokenizer.ggml.add_bos_token").value_or(true);
    const auto add_space_prefix = file.find_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    require(file.has("tokenizer.ggml.scores"), "{}: a SentencePiece tokenizer needs tokenizer.ggml.scores", source);
    require(file.has("tokenizer.ggml.token_type"), "{}: a SentencePiece tokenizer needs tokenizer.ggml.token_type",
            source);
    std::vector<float> scores;
    for (const auto score : file.get_number_array("tokenizer.ggml.scores")) scores.push_back(static_cast<float>(score));
    return Tokenizer::from_sentencepiece_list(file.get_string_array("tokenizer.ggml.tokens"), scores, types,
                                              file.find_integer("tokenizer.ggml.unknown_token_id"), add_space_prefix,
                                              settings, source);
  }
  // llama.cpp writes GPT-2's own pre-tokenizer as "gpt-2"; a file without the
  // key predates pre-tokenizer names and is read as GPT-2's.
  const auto pre = file.find_string("tokenizer.ggml.pre").value_or("gpt2");
  try {
    settings.pre_tokenizer = parse_pre_tokenizer(pre);
  } catch (const Error& e) {
    fail("model file '{}': {}", file.path(), e.what());
  }
  // llama.cpp takes a piece that is a token whole for Llama 3's tokenizer, as its tokenizer.json says.
  settings.ignore_merges = settings.pre_tokenizer == PreTokenizer::llama3;
  settings.add_bos = file.find_bool("tokenizer.ggml.add_bos_token").value_or(false);
  return Tokenizer::from_token_list(file.get_string_array("tokenizer.ggml.tokens"),
                                    file.get_string_array("tokenizer.ggml.merges"), std::move(types), settings, source);
}

}  // namespace iglens
