#pragma once
// GPT-2's tokenizer and the JavaScript oracle's ids for the test strings, both
// from the build tree (see CMakeLists.txt) and loaded once per test run.

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iglens/text/tokenizer.hpp"

struct OracleCase {
  std::string text;
  std::vector<std::int64_t> ids;
};

inline const iglens::Tokenizer& gpt2_tokenizer() {
  static const iglens::Tokenizer tokenizer =
      iglens::Tokenizer::from_files(IGLENS_TEST_GPT2_VOCAB, IGLENS_TEST_GPT2_MERGES);
  return tokenizer;
}

inline const std::vector<OracleCase>& oracle_cases() {
  static const std::vector<OracleCase> cases = [] {
    std::ifstream file(IGLENS_TEST_ORACLE_IDS);
    std::vector<OracleCase> loaded;
    for (const auto& item : nlohmann::json::parse(file)) {
      loaded.push_back({item.at("text").get<std::string>(), item.at("ids").get<std::vector<std::int64_t>>()});
    }
    return loaded;
  }();
  return cases;
}

// The text as a JSON string literal, so that failures show invisible characters.
inline std::string quoted(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}
