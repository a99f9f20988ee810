#pragma once
// Reading GPT-2-style BPE files: vocab.json maps each token, written in the
// byte-level alphabet, to its id; merges.txt lists one merge per line, "left
// right", lowest rank first, after an optional "#version" line.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/text/detail/bpe.hpp"
#include "iglens/text/detail/byte_level.hpp"
#include "iglens/text/detail/token_index.hpp"
#include "iglens/text/detail/utf8.hpp"

namespace iglens::detail {

struct ByteLevelVocabulary {
  TokenIndex id_by_token;                    // keys as written in vocab.json
  std::vector<std::string> bytes_by_id;      // what each token decodes to
  std::array<std::int64_t, 256> byte_ids{};  // the token of each single byte
};

// The bytes a vocab.json key stands for, or an error naming a non-symbol.
inline std::string token_bytes(const std::string& token, std::string_view source_name, std::int64_t id) {
  std::string bytes;
  for (std::size_t offset = 0; offset < token.size();) {
    const DecodedCodePoint decoded = decode_utf8_at(token, offset);
    const auto byte = byte_of_symbol(decoded.value);
    require(byte.has_value(),
            "{}: token \"{}\" (id {}) contains U+{:04X}, which is not one of the 256 byte-level "
            "symbols",
            source_name, token, id, static_cast<std::uint32_t>(decoded.value));
    bytes.push_back(static_cast<char>(*byte));
    offset += decoded.length;
  }
  return bytes;
}

inline ByteLevelVocabulary parse_vocabulary(std::string_view json_text, std::string_view source_name) {
  // nlohmann::json keeps only the last of repeated keys; catch them while parsing.
  std::unordered_set<std::string> seen_tokens;
  const auto reject_repeated_tokens = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1) {
      const auto& token = parsed.get_ref<const std::string&>();
      require(seen_tokens.insert(token).second, "{}: token \"{}\" appears more than once", source_name, token);
    }
    return true;
  };
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(json_text, reject_repeated_tokens);
  } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for a number too large
    fail("{}: not valid JSON ({})", source_name, error.what());
  }
  require(json.is_object(), "{}: expected a JSON object mapping tokens to ids, found {}", source_name,
          json.type_name());

  const auto size = static_cast<std::int64_t>(json.size());
  ByteLevelVocabulary vocabulary;
  vocabulary.bytes_by_id.resize(json.size());
  std::vector<const std::string*> token_of_id(json.size(), nullptr);
  vocabulary.id_by_token.reserve(json.size());
  for (const auto& [token, value] : json.items()) {
    if (!value.is_number_integer()) {
      fail("{}: the id of token \"{}\" is {}, not an integer", source_name, token, value.dump());
    }
    require(!token.empty(), "{}: the empty string is not a token", source_name);
    // Compare in the JSON number's own type: a huge unsigned id must not wrap.
    const bool in_range = value.is_number_unsigned()
                              ? value.get<std::uint64_t>() < static_cast<std::uint64_t>(size)
                              : value.get<std::int64_t>() >= 0 && value.get<std::int64_t>() < size;
    if (!in_range) {
      fail("{}: token \"{}\" has id {}, out of range: {} tokens need ids 0 to {}", source_name, token, value.dump(),
           size, size - 1);
    }
    const auto id = value.get<std::int64_t>();
    if (token_of_id[id] != nullptr) {
      fail("{}: tokens \"{}\" and \"{}\" share id {}", source_name, *token_of_id[id], token, id);
    }
    token_of_id[id] = &token;
    vocabulary.bytes_by_id[id] = token_bytes(token, source_name, id);
    vocabulary.id_by_token.insert(token, id);
  }

  for (unsigned byte = 0; byte < 256; ++byte) {
    std::string symbol;
    append_utf8(symbol, kByteToSymbol[byte]);
    const auto found = vocabulary.id_by_token.find(symbol);
    require(found.has_value(), "{}: no token \"{}\" for byte 0x{:02X}; a byte-level vocabulary needs all 256 bytes",
            source_name, symbol, byte);
    vocabulary.byte_ids[byte] = *found;
  }
  return vocabulary;
}

inline MergeTable parse_merges(std::string_view text, std::string_view source_name,
                               const ByteLevelVocabulary& vocabulary) {
  const auto id_of = [&](const std::string& token, std::size_t line_number, const char* role) -> std::int64_t {
    const auto found = vocabulary.id_by_token.find(token);
    require(found.has_value(), "{}: line {}: {} \"{}\" is not in the vocabulary", source_name, line_number, role,
            token);
    return *found;
  };

  MergeTable rules;
  std::vector<std::size_t> line_of_rank;  // for naming the first of two equal merges
  std::size_t line_number = 0;
  for (std::size_t line_start = 0; line_start < text.size();) {
    const std::size_t newline = std::min(text.find('\n', line_start), text.size());
    std::string_view line = text.substr(line_start, newline - line_start);
    line_start = newline + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_number == 1 && line.substr(0, 8) == "#version") continue;

    std::vector<std::string> parts;
    for (std::size_t i = 0; i < line.size();) {
      const std::size_t part_end = std::min(line.find_first_of(" \t", i), line.size());
      if (part_end > i) parts.emplace_back(line.substr(i, part_end - i));
      i = part_end + 1;
    }
    require(parts.size() == 2, "{}: line {}: expected two tokens separated by a space, found {} in \"{}\"", source_name,
            line_number, parts.size(), line);

    const std::int64_t left_id = id_of(parts[0], line_number, "left token");
    const std::int64_t right_id = id_of(parts[1], line_number, "right token");
    const std::int64_t merged_id = id_of(parts[0] + parts[1], line_number, "merged token");
    const auto rank = static_cast<std::int64_t>(line_of_rank.size());
    if (const MergeRule* existing = rules.insert(left_id, right_id, MergeRule{rank, merged_id})) {
      fail("{}: line {}: merge \"{} {}\" repeats line {}", source_name, line_number, parts[0], parts[1],
           line_of_rank[static_cast<std::size_t>(existing->rank)]);
    }
    line_of_rank.push_back(line_number);
  }
  return rules;
}

}  // namespace iglens::detail
