#pragma once
// SmolLM2-135M's tokenizer fields and the Hugging Face `tokenizers` ids of the
// test strings, written into the build tree by write_smollm2_reference.py
// (the CTest fixture smollm2_tokenizer_reference), loaded once per run.

#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iglens/text/tokenizer.hpp"

struct Smollm2Case {
  std::string text;
  std::vector<std::int64_t> smollm;          // specials not recognised
  std::vector<std::int64_t> smollm_special;  // specials recognised
  std::vector<std::int64_t> gpt2;
  std::vector<std::int64_t> gpt2_special;
};

inline std::string smollm2_reference_path(const std::string& name) {
  return std::string(IGLENS_TEST_SMOLLM2_REFERENCE_DIR) + "/" + name;
}

inline std::string read_reference_file(const std::string& name) {
  std::ifstream file(smollm2_reference_path(name), std::ios::binary);
  if (!file) throw std::runtime_error("missing reference file " + smollm2_reference_path(name));
  std::ostringstream contents;
  contents << file.rdbuf();
  return std::move(contents).str();
}

// The GGUF's tokenizer fields as the reference script wrote them.
struct Smollm2Vocabulary {
  std::vector<std::string> tokens;
  std::vector<std::string> merges;
  std::vector<std::int32_t> token_types;
  iglens::TokenizerSettings settings;
};

inline const Smollm2Vocabulary& smollm2_vocabulary() {
  static const Smollm2Vocabulary vocabulary = [] {
    const auto json = nlohmann::json::parse(read_reference_file("smollm2_vocabulary.json"));
    Smollm2Vocabulary loaded;
    loaded.tokens = json.at("tokens").get<std::vector<std::string>>();
    loaded.merges = json.at("merges").get<std::vector<std::string>>();
    loaded.token_types = json.at("token_types").get<std::vector<std::int32_t>>();
    loaded.settings.pre_tokenizer = iglens::parse_pre_tokenizer(json.at("pre").get<std::string>());
    loaded.settings.bos_id = json.at("bos_id").get<std::int64_t>();
    loaded.settings.eos_id = json.at("eos_id").get<std::int64_t>();
    loaded.settings.add_bos = json.at("add_bos").get<bool>();
    return loaded;
  }();
  return vocabulary;
}

inline iglens::Tokenizer smollm2_tokenizer_with(iglens::PreTokenizer pre_tokenizer) {
  const Smollm2Vocabulary& vocabulary = smollm2_vocabulary();
  iglens::TokenizerSettings settings = vocabulary.settings;
  settings.pre_tokenizer = pre_tokenizer;
  return iglens::Tokenizer::from_token_list(vocabulary.tokens, vocabulary.merges, vocabulary.token_types, settings,
                                            "SmolLM2 GGUF");
}

// From the GGUF fields, with their own "smollm" pre-tokenizer.
inline const iglens::Tokenizer& smollm2_tokenizer() {
  static const iglens::Tokenizer tokenizer = smollm2_tokenizer_with(iglens::PreTokenizer::smollm);
  return tokenizer;
}

// The same vocabulary with GPT-2's pre-tokenizer.
inline const iglens::Tokenizer& smollm2_gpt2_tokenizer() {
  static const iglens::Tokenizer tokenizer = smollm2_tokenizer_with(iglens::PreTokenizer::gpt2);
  return tokenizer;
}

inline iglens::Tokenizer hf_tokenizer(const std::string& name) {
  return iglens::Tokenizer::from_hf_tokenizer_json(read_reference_file(name), name);
}

inline const std::vector<Smollm2Case>& smollm2_cases() {
  static const std::vector<Smollm2Case> cases = [] {
    std::vector<Smollm2Case> loaded;
    for (const auto& item : nlohmann::json::parse(read_reference_file("smollm2_cases.json"))) {
      const auto ids = [&](const char* key) { return item.at(key).get<std::vector<std::int64_t>>(); };
      loaded.push_back(
          {item.at("text").get<std::string>(), ids("smollm"), ids("smollm_special"), ids("gpt2"), ids("gpt2_special")});
    }
    return loaded;
  }();
  return cases;
}
