#pragma once
// A byte-level BPE vocabulary given as a list of tokens by id, with a kind per
// token and merges as (left, right) pairs in rank order: the form of GGUF's
// tokenizer.ggml.* fields and of a Hugging Face tokenizer.json. Ordinary
// tokens are written in the byte-level alphabet; special tokens (control and
// user-defined) are literal text that is never decoded through it.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iglens/error.hpp"
#include "iglens/text/detail/bpe.hpp"
#include "iglens/text/detail/bpe_files.hpp"
#include "iglens/text/detail/byte_level.hpp"
#include "iglens/text/detail/special_tokens.hpp"
#include "iglens/text/detail/utf8.hpp"

namespace iglens::detail {

// GGUF's token types (tokenizer.ggml.token_type).
inline constexpr std::int32_t kNormalToken = 1;
inline constexpr std::int32_t kUnknownToken = 2;
inline constexpr std::int32_t kControlToken = 3;
inline constexpr std::int32_t kUserDefinedToken = 4;
inline constexpr std::int32_t kUnusedToken = 5;
inline constexpr std::int32_t kByteToken = 6;
inline constexpr std::int32_t kLastTokenType = 6;  // 2 unknown, 5 unused, 6 byte: ordinary tokens

inline bool is_special_type(std::int32_t type) { return type == kControlToken || type == kUserDefinedToken; }

// byte_ids of a byte that no token stands for. Real vocabularies lack some:
// SmolLM2's has no token for 21 bytes, such as 0x04 and 0xF5 to 0xFF.
inline constexpr std::int64_t kNoByteToken = -1;

struct TokenListVocabulary {
  ByteLevelVocabulary vocabulary;  // special tokens keyed and decoded as their literal text
  std::vector<SpecialToken> special_tokens;
  std::vector<SpecialToken> user_defined;  // the special tokens cut out of any text (not control tokens)
};

inline void require_utf8_token(const std::string& token, std::string_view source_name, std::int64_t id) {
  for (std::size_t offset = 0; offset < token.size();) {
    try {
      offset += decode_utf8_at(token, offset).length;
    } catch (const Error& error) {
      fail("{}: token {} is not valid UTF-8 ({})", source_name, id, error.what());
    }
  }
}

// `token_types` is empty (every token ordinary) or has one entry per token.
inline TokenListVocabulary build_token_list_vocabulary(const std::vector<std::string>& tokens,
                                                       const std::vector<std::int32_t>& token_types,
                                                       std::string_view source_name) {
  // Two ids must fit in one 64-bit merge key (see MergeTable).
  require(tokens.size() < static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
          "{}: {} tokens are too many", source_name, tokens.size());
  require(token_types.empty() || token_types.size() == tokens.size(),
          "{}: the token type list has {} entries for {} tokens", source_name, token_types.size(), tokens.size());

  TokenListVocabulary result;
  ByteLevelVocabulary& vocabulary = result.vocabulary;
  vocabulary.bytes_by_id.resize(tokens.size());
  vocabulary.id_by_token.reserve(tokens.size());
  std::vector<bool> special(tokens.size(), false);
  for (std::size_t index = 0; index < tokens.size(); ++index) {
    const auto id = static_cast<std::int64_t>(index);
    const std::string& token = tokens[index];
    const std::int32_t type = token_types.empty() ? kNormalToken : token_types[index];
    require(type >= kNormalToken && type <= kLastTokenType, "{}: token {} has type {}; token types are 1 to 6",
            source_name, id, type);
    require(!token.empty(), "{}: token {} is the empty string", source_name, id);
    require_utf8_token(token, source_name, id);
    special[index] = is_special_type(type);
    if (special[index]) {
      vocabulary.bytes_by_id[index] = token;
      result.special_tokens.push_back({token, id});
      if (type == kUserDefinedToken) result.user_defined.push_back({token, id});
    } else {
      vocabulary.bytes_by_id[index] = token_bytes(token, source_name, id);
    }
    if (const auto existing = vocabulary.id_by_token.insert(token, id)) {
      fail("{}: tokens {} and {} are both \"{}\"", source_name, *existing, id, token);
    }
  }

  for (unsigned byte = 0; byte < 256; ++byte) {
    std::string symbol;
    append_utf8(symbol, kByteToSymbol[byte]);
    const auto found = vocabulary.id_by_token.find(symbol);
    const bool has_token = found && !special[static_cast<std::size_t>(*found)];
    vocabulary.byte_ids[byte] = has_token ? *found : kNoByteToken;
  }
  return result;
}

// A merge rule's two sides, viewing text that outlives the tokenizer's construction.
using MergePair = std::pair<std::string_view, std::string_view>;

// Merge `rank` written as "left right": byte-level tokens hold no space.
inline MergePair split_merge(std::string_view merge, std::size_t rank, std::string_view source_name) {
  const std::size_t space = merge.find(' ');
  require(space != std::string_view::npos && space > 0 && space + 1 < merge.size() &&
              merge.find(' ', space + 1) == std::string_view::npos,
          "{}: merge {} \"{}\" is not two tokens separated by one space", source_name, rank, merge);
  return {merge.substr(0, space), merge.substr(space + 1)};
}

inline std::vector<MergePair> merge_views(const std::vector<std::pair<std::string, std::string>>& merges) {
  return std::vector<MergePair>(merges.begin(), merges.end());
}

// Merge rules from (left, right) pairs, lowest rank first.
inline MergeTable merge_rules_from_pairs(const std::vector<MergePair>& merges, const ByteLevelVocabulary& vocabulary,
                                         std::string_view source_name) {
  MergeTable rules;
  rules.reserve(merges.size());
  std::string merged;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    // Named references, not a structured binding: C++17 lambdas cannot capture those.
    const std::string_view left = merges[rank].first;
    const std::string_view right = merges[rank].second;
    const auto id_of = [&](std::string_view token, const char* role) {
      const auto found = vocabulary.id_by_token.find(token);
      require(found.has_value(), "{}: merge {} (\"{} {}\"): the {} \"{}\" is not in the vocabulary", source_name, rank,
              left, right, role, token);
      return *found;
    };
    const std::int64_t left_id = id_of(left, "left token");
    const std::int64_t right_id = id_of(right, "right token");
    merged.assign(left).append(right);
    const std::int64_t merged_id = id_of(merged, "merged token");
    if (const MergeRule* existing =
            rules.insert(left_id, right_id, MergeRule{static_cast<std::int64_t>(rank), merged_id})) {
      fail("{}: merge {} (\"{} {}\") repeats merge {}", source_name, rank, left, right, existing->rank);
    }
  }
  return rules;
}

}  // namespace iglens::detail
