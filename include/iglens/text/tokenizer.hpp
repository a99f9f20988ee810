#pragma once
// iglens::Tokenizer: byte-level BPE tokenizers (GPT-2's, and those of
// Llama-family models such as SmolLM2) and SentencePiece BPE ones (Gemma's,
// Llama 2's), text <-> token ids. Byte-level encoding follows
// the original GPT-2 encoder: split the text into pieces with the
// pre-tokenizer's rules, write each piece's bytes in the byte-level alphabet,
// then merge symbol pairs by rank.
//
// Three sources:
//  - from_files / from_strings: GPT-2's vocab.json and merges.txt. The
//    pre-tokenizer is GPT-2's, with "\s" as JavaScript defines it (the oracle
//    of its tests). Its one special token, "<|endoftext|>", is also its BOS
//    and EOS (as Hugging Face's GPT-2 tokenizer has it); GPT-2 adds no BOS
//    by itself.
//  - from_token_list: tokens by id, merges and token types as a GGUF file
//    holds them (tokenizer.ggml.*).
//  - from_hf_tokenizer_json: a Hugging Face tokenizer.json.
//  - from_sentencepiece_list: SentencePiece pieces, scores and types as a
//    GGUF file of tokenizer model "llama" holds them, encoded as llama.cpp
//    encodes them (detail/sentencepiece_bpe.hpp).
// The last two follow Hugging Face `tokenizers`: "\s" is Unicode White_Space,
// and special tokens (control and user-defined) are literal text, matched in
// text only when EncodeOptions::special_tokens asks for it.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "iglens/error.hpp"
#include "iglens/text/detail/bpe.hpp"
#include "iglens/text/detail/bpe_files.hpp"
#include "iglens/text/detail/gpt2_pretokenizer.hpp"
#include "iglens/text/detail/hf_sentencepiece_bpe.hpp"
#include "iglens/text/detail/hf_tokenizer_json.hpp"
#include "iglens/text/detail/pretokenizers.hpp"
#include "iglens/text/detail/sentencepiece_bpe.hpp"
#include "iglens/text/detail/special_tokens.hpp"
#include "iglens/text/detail/token_list.hpp"
#include "iglens/text/detail/unicode_normalization.hpp"
#include "iglens/text/detail/utf8.hpp"

namespace iglens {

// How text is split into pieces before BPE (GGUF's tokenizer.ggml.pre).
enum class PreTokenizer {
  gpt2,           // GPT-2's regex
  smollm,         // every number code point alone, then GPT-2's regex (SmolLM2)
  llama3,         // Llama 3's tiktoken-style regex (llama.cpp: llama-bpe)
  qwen2,          // Llama 3's regex with numbers one code point at a time (Qwen2, Qwen2.5, Qwen3)
  sentencepiece,  // none: SentencePiece sees the whole text (spaces as U+2581)
};

inline const char* pre_tokenizer_name(PreTokenizer pre_tokenizer) {
  switch (pre_tokenizer) {
    case PreTokenizer::smollm:
      return "smollm";
    case PreTokenizer::llama3:
      return "llama3";
    case PreTokenizer::qwen2:
      return "qwen2";
    case PreTokenizer::sentencepiece:
      return "sentencepiece";
    default:
      return "gpt2";
  }
}

// Our names, and llama.cpp's tokenizer.ggml.pre names for the same rules.
inline PreTokenizer parse_pre_tokenizer(std::string_view name) {
  // llama.cpp splits OLMo's and MPT's (GPT-NeoX-20B's tokenizer) as GPT-2's.
  if (name == "gpt2" || name == "gpt-2" || name == "olmo" || name == "mpt") return PreTokenizer::gpt2;
  if (name == "smollm") return PreTokenizer::smollm;
  if (name == "llama3" || name == "llama-bpe") return PreTokenizer::llama3;
  if (name == "qwen2") return PreTokenizer::qwen2;
  fail("tokenizer pre-tokenizer '{}' is not supported (supported: gpt2, olmo, mpt, smollm, llama-bpe, qwen2)", name);
}

// What a model's metadata says besides the vocabulary and merges.
// The byte length of the UTF-8 character that starts at `offset`, or nullopt
// where none does: a token's bytes can hold part of a character split across
// tokens, which a program shows as escaped bytes.
inline std::optional<std::size_t> utf8_character_length(std::string_view text, std::size_t offset) {
  try {
    return detail::decode_utf8_at(text, offset).length;
  } catch (const Error&) {
    return std::nullopt;
  }
}

struct TokenizerSettings {
  PreTokenizer pre_tokenizer = PreTokenizer::gpt2;
  // A piece that is itself a token is that token, merges or not (Llama 3's
  // tokenizer.json `ignore_merges`; llama.cpp does so for llama-bpe).
  bool ignore_merges = false;
  std::optional<std::int64_t> bos_id;
  std::optional<std::int64_t> eos_id;
  bool add_bos = false;  // the model's own rule: prompts start with BOS
  // Byte-level BPE: text between the added tokens found in the raw text is
  // NFC-normalised, and these added tokens are found in it (tokenizer.json's
  // NFC normalizer and normalized = true).
  bool nfc = false;
  std::vector<std::int64_t> normalized_added_ids;
};

struct EncodeOptions {
  bool special_tokens = false;  // recognise special tokens written in the text
  bool add_bos = false;         // put the BOS id first (an Error if the tokenizer has none)
  // The text continues text already encoded (a teacher-forced target after
  // its prompt): SentencePiece adds no space marker at its start, so that
  // " Paris" is "▁Paris", as it is within "prompt Paris".
  bool continuation = false;
};

class Tokenizer {
 public:
  // Reads a GPT-2-style vocab.json and merges.txt.
  static Tokenizer from_files(const std::string& vocab_json_path, const std::string& merges_txt_path) {
    return from_named_strings(read_file(vocab_json_path, "vocabulary"), vocab_json_path,
                              read_file(merges_txt_path, "merges"), merges_txt_path);
  }

  // The same from the files' contents, e.g. when they are bundled in memory.
  static Tokenizer from_strings(std::string_view vocab_json, std::string_view merges_txt) {
    return from_named_strings(vocab_json, "vocab.json", merges_txt, "merges.txt");
  }

  // A vocabulary as GGUF files hold it: tokens by id (ordinary ones in the
  // byte-level alphabet, special ones as literal text), merges "left right" in
  // rank order, and a GGUF token type per token (1 normal, 2 unknown,
  // 3 control, 4 user-defined, 5 unused, 6 byte). Control and user-defined
  // tokens are the special tokens. Empty `token_types` means every token is
  // ordinary: no special tokens, and every token must be a byte-level string.
  static Tokenizer from_token_list(const std::vector<std::string>& tokens, const std::vector<std::string>& merges,
                                   const std::vector<std::int32_t>& token_types, const TokenizerSettings& settings,
                                   std::string_view source_name) {
    std::vector<detail::MergePair> merge_pairs;
    merge_pairs.reserve(merges.size());
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      merge_pairs.push_back(detail::split_merge(merges[rank], rank, source_name));
    }
    return from_parts(tokens, merge_pairs, token_types, settings, source_name);
  }

  // A Hugging Face tokenizer.json of a byte-level BPE model (see
  // detail/hf_tokenizer_json.hpp for what is accepted). Its added tokens must
  // be special. BOS comes from a TemplateProcessing post-processor that puts
  // one special token before the text, which also makes adds_bos() true;
  // tokenizer.json says nothing clear about EOS, so eos_id() is unset.
  static Tokenizer from_hf_tokenizer_json(std::string_view json, std::string_view source_name) {
    detail::HfTokenizerDescription description = detail::parse_hf_tokenizer_json(json, source_name);
    TokenizerSettings settings;
    settings.bos_id = description.bos_id;
    settings.add_bos = description.add_bos;
    if (description.sentencepiece) {
      const auto size = static_cast<std::int64_t>(description.tokens.size());
      SentencePieceVocabulary parts =
          sentencepiece_vocabulary(description.tokens, description.token_types, source_name);
      check_settings(settings, size, source_name);
      auto rules =
          detail::merge_rules_from_pairs(detail::merge_views(description.merges), parts.vocabulary, source_name);
      auto model = std::make_shared<const detail::HfSentencePieceBpe>(parts.vocabulary.byte_ids, std::move(rules),
                                                                      *description.sentencepiece);
      detail::BpeMerges no_merges(parts.vocabulary.byte_ids, {});
      Tokenizer tokenizer(std::move(parts.vocabulary), std::move(no_merges), source_name);
      tokenizer.hf_sentencepiece_ = std::move(model);
      tokenizer.finish_sentencepiece(std::move(parts), settings);
      return tokenizer;
    }
    settings.pre_tokenizer = parse_pre_tokenizer(description.pre_tokenizer);
    settings.ignore_merges = description.ignore_merges;
    settings.nfc = description.nfc;
    settings.normalized_added_ids = std::move(description.normalized_added_ids);
    return from_parts(description.tokens, detail::merge_views(description.merges), description.token_types, settings,
                      source_name);
  }

  // A SentencePiece vocabulary as GGUF files hold it: pieces by id (spaces
  // written as U+2581, bytes as "<0xXX>"), a score and a GGUF token type per
  // piece. `unknown_id` names the piece for what nothing covers (GGUF files
  // may type it as control); control pieces are the special tokens. Every
  // byte needs its piece: text is never dropped.
  static Tokenizer from_sentencepiece_list(const std::vector<std::string>& pieces, const std::vector<float>& scores,
                                           const std::vector<std::int32_t>& token_types,
                                           std::optional<std::int64_t> unknown_id, bool add_space_prefix,
                                           TokenizerSettings settings, std::string_view source_name) {
    require(scores.size() == pieces.size() && token_types.size() == pieces.size(),
            "{}: {} pieces, {} scores and {} token types: one of each per piece", source_name, pieces.size(),
            scores.size(), token_types.size());
    require(pieces.size() < static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
            "{}: {} pieces are too many", source_name, pieces.size());
    const auto size = static_cast<std::int64_t>(pieces.size());
    require(!unknown_id || (*unknown_id >= 0 && *unknown_id < size), "{}: unknown token id {} is out of range",
            source_name, unknown_id.value_or(0));
    std::vector<std::int32_t> types(token_types);
    if (unknown_id) types[static_cast<std::size_t>(*unknown_id)] = detail::kUnknownToken;
    for (std::size_t index = 0; index < pieces.size(); ++index) {
      require(std::isfinite(scores[index]), "{}: token {} has score {}", source_name, index, scores[index]);
    }
    const auto unknown_count = std::count(types.begin(), types.end(), detail::kUnknownToken);
    require(unknown_count == 1, "{}: a SentencePiece vocabulary needs one unknown token, found {}", source_name,
            unknown_count);
    SentencePieceVocabulary parts = sentencepiece_vocabulary(pieces, types, source_name);
    check_settings(settings, size, source_name);
    // Normal pieces (and unused ones, as llama.cpp has it) are what merges form.
    std::vector<bool> mergeable(types.size());
    for (std::size_t id = 0; id < types.size(); ++id) {
      mergeable[id] = types[id] == detail::kNormalToken || types[id] == detail::kUnusedToken;
    }
    auto model = std::make_shared<const detail::SentencePieceBpe>(std::move(mergeable), scores,
                                                                  parts.vocabulary.byte_ids, add_space_prefix);
    detail::BpeMerges no_merges(parts.vocabulary.byte_ids, {});
    Tokenizer tokenizer(std::move(parts.vocabulary), std::move(no_merges), source_name);
    tokenizer.sentencepiece_ = std::move(model);
    tokenizer.finish_sentencepiece(std::move(parts), settings);
    return tokenizer;
  }

  // Token ids of UTF-8 text, with no special tokens recognised and no BOS;
  // invalid UTF-8 is an Error naming the byte offset.
  std::vector<std::int64_t> encode(std::string_view utf8_text) const { return encode(utf8_text, EncodeOptions{}); }

  std::vector<std::int64_t> encode(std::string_view utf8_text, const EncodeOptions& options) const {
    std::vector<std::int64_t> ids;
    if (options.add_bos) {
      require(bos_id_.has_value(), "{}: cannot put BOS first: the tokenizer has no BOS token", source_name_);
      ids.push_back(*bos_id_);
    }
    PieceCache cache;
    std::deque<std::string> normalized_texts;  // the cache's pieces point into them
    const auto encode_text = [&](std::string_view text, std::size_t begin, std::size_t end) {
      if (!nfc_) {
        encode_range(text, begin, end, options.continuation, ids, cache);
        return;
      }
      // Invalid UTF-8 is named by its byte offset in the text as given.
      detail::require_utf8(text, begin, end);
      const std::string& normalized = normalized_texts.emplace_back(detail::nfc(text.substr(begin, end - begin)));
      split_at(options.special_tokens ? normalized_special_tokens_ : normalized_always_tokens_, normalized, ids,
               [&](std::size_t from, std::size_t to) { encode_range(normalized, from, to, false, ids, cache); });
    };
    split_at(options.special_tokens ? special_tokens_ : always_tokens_, utf8_text, ids,
             [&](std::size_t begin, std::size_t end) { encode_text(utf8_text, begin, end); });
    return ids;
  }

  // The exact bytes the ids stand for (not necessarily valid UTF-8 when the
  // ids split a character); special tokens give their literal text.
  std::string decode(const std::vector<std::int64_t>& ids) const {
    std::string bytes;
    for (std::size_t position = 0; position < ids.size(); ++position) {
      const std::int64_t id = ids[position];
      if (!is_known(id)) {
        fail("cannot decode token id {} at position {}: ids are 0 to {}", id, position, vocab_size() - 1);
      }
      bytes += vocabulary_.bytes_by_id[static_cast<std::size_t>(id)];
    }
    return bytes;
  }

  std::int64_t vocab_size() const { return static_cast<std::int64_t>(vocabulary_.bytes_by_id.size()); }

  // The bytes one token decodes to.
  std::string token_text(std::int64_t id) const {
    if (!is_known(id)) {
      fail("token id {} is not in the vocabulary: ids are 0 to {}", id, vocab_size() - 1);
    }
    return vocabulary_.bytes_by_id[static_cast<std::size_t>(id)];
  }

  // The id of a vocabulary key as written in vocab.json, e.g. "<|endoftext|>"
  // or "\u0120the" (" the").
  std::optional<std::int64_t> id_of(std::string_view token) const { return vocabulary_.id_by_token.find(token); }

  std::optional<std::int64_t> bos_id() const { return bos_id_; }
  std::optional<std::int64_t> eos_id() const { return eos_id_; }
  // Whether the model's prompts start with BOS (its metadata's rule; encode
  // adds BOS only when EncodeOptions::add_bos asks).
  bool adds_bos() const { return adds_bos_; }
  PreTokenizer pre_tokenizer() const { return pre_tokenizer_; }
  // Ids of the tokens that EncodeOptions::special_tokens recognises, ascending.
  const std::vector<std::int64_t>& special_token_ids() const { return special_token_ids_; }

 private:
  // Where a piece's ids start and end in the ids being built: text repeats its
  // words, so each distinct piece is merged once per call and copied after that.
  using PieceCache = std::unordered_map<std::string_view, std::pair<std::size_t, std::size_t>>;

  Tokenizer(detail::ByteLevelVocabulary vocabulary, detail::BpeMerges merges, std::string_view source_name)
      : vocabulary_(std::move(vocabulary)), merges_(std::move(merges)), source_name_(source_name) {}

  struct SentencePieceVocabulary {
    detail::ByteLevelVocabulary vocabulary;
    std::vector<detail::SpecialToken> control, user_defined;
  };

  // Pieces typed as GGUF types them (spaces written as U+2581, bytes as
  // "<0xXX>"): control pieces are the special tokens, user-defined ones are
  // cut from any text, and every byte needs its piece, so that no text is
  // ever dropped.
  static SentencePieceVocabulary sentencepiece_vocabulary(const std::vector<std::string>& pieces,
                                                          const std::vector<std::int32_t>& types,
                                                          std::string_view source_name) {
    require(pieces.size() < static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
            "{}: {} pieces are too many", source_name, pieces.size());
    SentencePieceVocabulary parts;
    detail::ByteLevelVocabulary& vocabulary = parts.vocabulary;
    vocabulary.byte_ids.fill(detail::kNoByteToken);
    vocabulary.bytes_by_id.resize(pieces.size());
    for (std::size_t index = 0; index < pieces.size(); ++index) {
      const auto id = static_cast<std::int64_t>(index);
      const std::int32_t type = types[index];
      require(type >= 1 && type <= detail::kLastTokenType, "{}: token {} has type {}; token types are 1 to 6",
              source_name, id, type);
      const std::string& piece = pieces[index];
      require(!piece.empty(), "{}: token {} is the empty string", source_name, id);
      detail::require_utf8_token(piece, source_name, id);
      if (type == detail::kByteToken) {
        const auto byte = detail::byte_piece_value(piece);
        require(byte.has_value(), "{}: byte token {} is \"{}\", not <0xXX>", source_name, id, piece);
        require(vocabulary.byte_ids[*byte] == detail::kNoByteToken, "{}: tokens {} and {} both stand for byte 0x{:02X}",
                source_name, vocabulary.byte_ids[*byte], id, *byte);
        vocabulary.byte_ids[*byte] = id;
        vocabulary.bytes_by_id[index] = std::string(1, static_cast<char>(*byte));
      } else if (type == detail::kControlToken) {
        vocabulary.bytes_by_id[index] = piece;
        parts.control.push_back({piece, id});
      } else if (type == detail::kUserDefinedToken) {
        vocabulary.bytes_by_id[index] = piece;
        parts.user_defined.push_back({piece, id});
      } else {
        vocabulary.bytes_by_id[index] = detail::spaces_of_piece(piece);
      }
      if (const auto existing = vocabulary.id_by_token.insert(piece, id)) {
        fail("{}: tokens {} and {} are both \"{}\"", source_name, *existing, id, piece);
      }
    }
    // A character with no piece is spelt in bytes. An ASCII character may do
    // without its byte piece where it has a piece of its own (Gemma's
    // converter turns <0x09> into "\t"); other bytes are never whole characters.
    for (unsigned byte = 0; byte < 256; ++byte) {
      if (vocabulary.byte_ids[byte] != detail::kNoByteToken) continue;
      const auto piece = vocabulary.id_by_token.find(std::string(1, static_cast<char>(byte)));
      const auto type = piece ? types[static_cast<std::size_t>(*piece)] : 0;
      require(byte < 0x80 &&
                  (type == detail::kNormalToken || type == detail::kUnusedToken || type == detail::kUserDefinedToken),
              "{}: the SentencePiece vocabulary has no byte token <0x{:02X}>: text it cannot spell would be lost; "
              "such a vocabulary is not supported",
              source_name, byte);
    }
    return parts;
  }

  // What both SentencePiece sources set once their encoder is in place.
  void finish_sentencepiece(SentencePieceVocabulary parts, const TokenizerSettings& settings) {
    pre_tokenizer_ = PreTokenizer::sentencepiece;
    bos_id_ = settings.bos_id;
    eos_id_ = settings.eos_id;
    adds_bos_ = settings.add_bos;
    // Gemma's runs of spaces are user-defined pieces, which SentencePiece
    // itself would never match once spaces are U+2581.
    auto& special = parts.control;
    special.insert(special.end(), parts.user_defined.begin(), parts.user_defined.end());
    set_added_tokens(special, parts.user_defined, {});
  }

  // The added tokens found in the text: all of `special` where special
  // tokens are asked for, the user-defined ones in any text (llama.cpp and
  // `tokenizers` cut those out wherever they occur); with NFC, the ones
  // `after_nfc` names are found in the normalised text, the others in the
  // text as given.
  void set_added_tokens(const std::vector<detail::SpecialToken>& special,
                        const std::vector<detail::SpecialToken>& user_defined,
                        const std::set<std::int64_t>& after_nfc) {
    special_token_ids_.clear();
    for (const detail::SpecialToken& token : special) special_token_ids_.push_back(token.id);
    std::sort(special_token_ids_.begin(), special_token_ids_.end());
    std::vector<detail::SpecialToken> when_asked[2], always[2];  // [0]: in the text as given, [1]: after NFC
    for (const detail::SpecialToken& token : special) when_asked[after_nfc.count(token.id)].push_back(token);
    for (const detail::SpecialToken& token : user_defined) always[after_nfc.count(token.id)].push_back(token);
    special_tokens_ = detail::SpecialTokenMatcher(std::move(when_asked[0]));
    always_tokens_ = detail::SpecialTokenMatcher(std::move(always[0]));
    normalized_special_tokens_ = detail::SpecialTokenMatcher(std::move(when_asked[1]));
    normalized_always_tokens_ = detail::SpecialTokenMatcher(std::move(always[1]));
  }

  // BOS and EOS inside the vocabulary of `size` tokens, and a BOS where prompts start with one.
  static void check_settings(const TokenizerSettings& settings, std::int64_t size, std::string_view source_name) {
    const auto check_id = [&](const std::optional<std::int64_t>& id, const char* role) {
      if (id.has_value() && (*id < 0 || *id >= size)) {
        fail("{}: {} id {} is out of range: ids are 0 to {}", source_name, role, *id, size - 1);
      }
    };
    check_id(settings.bos_id, "BOS");
    check_id(settings.eos_id, "EOS");
    require(!settings.add_bos || settings.bos_id.has_value(), "{}: the model adds BOS to prompts but names no BOS id",
            source_name);
  }

  static Tokenizer from_parts(const std::vector<std::string>& tokens, const std::vector<detail::MergePair>& merge_pairs,
                              const std::vector<std::int32_t>& token_types, const TokenizerSettings& settings,
                              std::string_view source_name) {
    detail::TokenListVocabulary vocabulary = detail::build_token_list_vocabulary(tokens, token_types, source_name);
    const auto size = static_cast<std::int64_t>(vocabulary.vocabulary.bytes_by_id.size());
    check_settings(settings, size, source_name);

    auto rules = detail::merge_rules_from_pairs(merge_pairs, vocabulary.vocabulary, source_name);
    detail::BpeMerges merges(vocabulary.vocabulary.byte_ids, std::move(rules));
    Tokenizer tokenizer(std::move(vocabulary.vocabulary), std::move(merges), source_name);
    tokenizer.pre_tokenizer_ = settings.pre_tokenizer;
    if (settings.ignore_merges) {
      std::vector<bool> special(tokenizer.vocabulary_.bytes_by_id.size(), false);
      for (const detail::SpecialToken& token : vocabulary.special_tokens) {
        special[static_cast<std::size_t>(token.id)] = true;
      }
      tokenizer.id_by_bytes_.reserve(special.size());
      for (std::size_t id = 0; id < special.size(); ++id) {
        if (!special[id])
          tokenizer.id_by_bytes_.insert(tokenizer.vocabulary_.bytes_by_id[id], static_cast<std::int64_t>(id));
      }
    }
    tokenizer.white_space_ = detail::WhiteSpaceRule::kUnicode;
    tokenizer.bos_id_ = settings.bos_id;
    tokenizer.eos_id_ = settings.eos_id;
    tokenizer.adds_bos_ = settings.add_bos;
    const auto& byte_ids = tokenizer.vocabulary_.byte_ids;
    tokenizer.lacks_byte_tokens_ = std::find(byte_ids.begin(), byte_ids.end(), detail::kNoByteToken) != byte_ids.end();
    tokenizer.nfc_ = settings.nfc;
    const auto& normalized = settings.normalized_added_ids;
    tokenizer.set_added_tokens(
        vocabulary.special_tokens, vocabulary.user_defined,
        settings.nfc ? std::set<std::int64_t>(normalized.begin(), normalized.end()) : std::set<std::int64_t>());
    return tokenizer;
  }

  // Hugging Face `tokenizers` silently drops a byte that has no token; a
  // silent loss of text is worse than an error.
  void require_byte_tokens(std::string_view text, std::string_view piece) const {
    for (std::size_t i = 0; i < piece.size(); ++i) {
      const auto byte = static_cast<unsigned char>(piece[i]);
      if (vocabulary_.byte_ids[byte] == detail::kNoByteToken) {
        fail(
            "{}: byte 0x{:02X} at byte offset {} of the text has no token in the "
            "vocabulary",
            source_name_, byte, static_cast<std::size_t>(piece.data() - text.data()) + i);
      }
    }
  }

  // Calls on_text(begin, end) for the stretches of `text` between the
  // matcher's tokens and appends those tokens' ids in between.
  template <class OnText>
  void split_at(const detail::SpecialTokenMatcher& matcher, std::string_view text, std::vector<std::int64_t>& ids,
                OnText&& on_text) const {
    matcher.split(text, on_text, [&](std::int64_t id) { ids.push_back(id); });
  }

  // Appends the ids of the bytes [begin, end) of `text`, split as a whole text
  // (`continuation`: see EncodeOptions).
  void encode_range(std::string_view text, std::size_t begin, std::size_t end, bool continuation,
                    std::vector<std::int64_t>& ids, PieceCache& cache) const {
    const bool continues = continuation && begin == 0;
    if (sentencepiece_) {
      // Invalid UTF-8 is named by its byte offset in the whole text, as the byte-level path names it.
      detail::require_utf8(text, begin, end);
      if (end > begin)
        sentencepiece_->encode(text.substr(begin, end - begin), vocabulary_.id_by_token, ids, !continues);
      return;
    }
    if (hf_sentencepiece_) {
      detail::require_utf8(text, begin, end);
      hf_sentencepiece_->encode(text.substr(begin, end - begin), begin == 0, vocabulary_.id_by_token, ids, !continues);
      return;
    }
    const auto encode_piece = [&](std::string_view piece) {
      const auto [found, is_new] = cache.try_emplace(piece);
      auto& [first, last] = found->second;
      if (is_new) {
        if (lacks_byte_tokens_) require_byte_tokens(text, piece);
        first = ids.size();
        if (const auto whole = id_by_bytes_.find(piece)) {
          ids.push_back(*whole);
        } else {
          merges_.encode_piece(piece, ids);
        }
        last = ids.size();
      } else {
        for (std::size_t i = first; i < last; ++i) ids.push_back(ids[i]);
      }
    };
    if (pre_tokenizer_ == PreTokenizer::smollm) {
      detail::split_smollm_pretokens(text, begin, end, encode_piece);
    } else if (pre_tokenizer_ == PreTokenizer::llama3 || pre_tokenizer_ == PreTokenizer::qwen2) {
      detail::split_llama3_pretokens(text, begin, end, pre_tokenizer_ == PreTokenizer::llama3 ? 3 : 1, encode_piece);
    } else {
      detail::split_gpt2_pretokens(text, begin, end, white_space_, encode_piece);
    }
  }

  static Tokenizer from_named_strings(std::string_view vocab_json, std::string_view vocab_name,
                                      std::string_view merges_txt, std::string_view merges_name) {
    detail::ByteLevelVocabulary vocabulary = detail::parse_vocabulary(vocab_json, vocab_name);
    auto rules = detail::parse_merges(merges_txt, merges_name, vocabulary);
    detail::BpeMerges merges(vocabulary.byte_ids, std::move(rules));
    Tokenizer tokenizer(std::move(vocabulary), std::move(merges), vocab_name);
    if (const auto end_of_text = tokenizer.id_of(gpt2_end_of_text)) {
      tokenizer.bos_id_ = tokenizer.eos_id_ = *end_of_text;
      tokenizer.special_token_ids_ = {*end_of_text};
      tokenizer.special_tokens_ = detail::SpecialTokenMatcher({{std::string(gpt2_end_of_text), *end_of_text}});
    }
    return tokenizer;
  }

  static constexpr std::string_view gpt2_end_of_text = "<|endoftext|>";

  static std::string read_file(const std::string& path, std::string_view kind) {
    std::ifstream file(path, std::ios::binary);
    if (!file) fail_to_read(path, kind);
    std::ostringstream contents;
    contents << file.rdbuf();
    if (file.bad()) fail_to_read(path, kind);
    return std::move(contents).str();
  }

  [[noreturn]] static void fail_to_read(const std::string& path, std::string_view kind) {
    fail("cannot read {} file '{}': {}", kind, path, std::strerror(errno));
  }

  bool is_known(std::int64_t id) const { return id >= 0 && id < vocab_size(); }

  detail::ByteLevelVocabulary vocabulary_;
  detail::BpeMerges merges_;
  std::string source_name_;  // names the tokenizer in errors
  PreTokenizer pre_tokenizer_ = PreTokenizer::gpt2;
  detail::TokenIndex id_by_bytes_;  // with ignore_merges: every ordinary token, by its bytes
  detail::WhiteSpaceRule white_space_ = detail::WhiteSpaceRule::kJavaScript;
  detail::SpecialTokenMatcher special_tokens_;
  detail::SpecialTokenMatcher always_tokens_;  // matched even without special tokens (user-defined tokens)
  bool nfc_ = false;                           // byte-level text is NFC-normalised between raw-matched tokens
  detail::SpecialTokenMatcher normalized_special_tokens_, normalized_always_tokens_;  // found after NFC
  std::vector<std::int64_t> special_token_ids_;
  std::optional<std::int64_t> bos_id_;
  std::optional<std::int64_t> eos_id_;
  bool adds_bos_ = false;
  std::shared_ptr<const detail::SentencePieceBpe> sentencepiece_;       // set: SentencePiece's BPE encodes the text
  std::shared_ptr<const detail::HfSentencePieceBpe> hf_sentencepiece_;  // set: `tokenizers`' SentencePiece-style BPE
  bool lacks_byte_tokens_ = false;  // some byte has no token: check text before merging
};

}  // namespace iglens
