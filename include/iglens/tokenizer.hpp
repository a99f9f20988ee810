#pragma once
// iglens::Tokenizer: GPT-2's byte-level BPE tokenizer, text <-> token ids.
// Encoding follows the original GPT-2 encoder: split the text with GPT-2's
// pre-tokenisation rules, write each piece's bytes in the byte-level alphabet,
// then merge symbol pairs by rank. Special tokens such as "<|endoftext|>" are
// not recognised in text; look their ids up with id_of().

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "iglens/detail/bpe.hpp"
#include "iglens/detail/bpe_files.hpp"
#include "iglens/detail/gpt2_pretokenizer.hpp"
#include "iglens/error.hpp"

namespace iglens {

class Tokenizer {
 public:
  // Reads a GPT-2-style vocab.json and merges.txt.
  static Tokenizer from_files(const std::string& vocab_json_path,
                              const std::string& merges_txt_path) {
    return from_named_strings(read_file(vocab_json_path, "vocabulary"), vocab_json_path,
                              read_file(merges_txt_path, "merges"), merges_txt_path);
  }

  // The same from the files' contents, e.g. when they are bundled in memory.
  static Tokenizer from_strings(std::string_view vocab_json, std::string_view merges_txt) {
    return from_named_strings(vocab_json, "vocab.json", merges_txt, "merges.txt");
  }

  // Token ids of UTF-8 text; invalid UTF-8 is an Error naming the byte offset.
  std::vector<std::int64_t> encode(std::string_view utf8_text) const {
    std::vector<std::int64_t> ids;
    // Text repeats its words, so merge each distinct piece once per call and
    // copy its ids after that. Where a piece's ids start and end in `ids`:
    std::unordered_map<std::string_view, std::pair<std::size_t, std::size_t>> encoded_pieces;
    detail::split_gpt2_pretokens(utf8_text, [&](std::string_view piece) {
      const auto [found, is_new] = encoded_pieces.try_emplace(piece);
      auto& [first, last] = found->second;
      if (is_new) {
        first = ids.size();
        merges_.encode_piece(piece, ids);
        last = ids.size();
      } else {
        for (std::size_t i = first; i < last; ++i) ids.push_back(ids[i]);
      }
    });
    return ids;
  }

  // The exact bytes the ids stand for (not necessarily valid UTF-8 when the
  // ids split a character).
  std::string decode(const std::vector<std::int64_t>& ids) const {
    std::string bytes;
    for (std::size_t position = 0; position < ids.size(); ++position) {
      const std::int64_t id = ids[position];
      if (!is_known(id)) {
        detail::fail("cannot decode token id {} at position {}: ids are 0 to {}", id, position,
                     vocab_size() - 1);
      }
      bytes += vocabulary_.bytes_by_id[static_cast<std::size_t>(id)];
    }
    return bytes;
  }

  std::int64_t vocab_size() const {
    return static_cast<std::int64_t>(vocabulary_.bytes_by_id.size());
  }

  // The bytes one token decodes to.
  std::string token_text(std::int64_t id) const {
    if (!is_known(id)) {
      detail::fail("token id {} is not in the vocabulary: ids are 0 to {}", id, vocab_size() - 1);
    }
    return vocabulary_.bytes_by_id[static_cast<std::size_t>(id)];
  }

  // The id of a vocabulary key as written in vocab.json, e.g. "<|endoftext|>"
  // or "\u0120the" (" the").
  std::optional<std::int64_t> id_of(std::string_view token) const {
    const auto found = vocabulary_.id_by_token.find(std::string(token));
    if (found == vocabulary_.id_by_token.end()) return std::nullopt;
    return found->second;
  }

 private:
  Tokenizer(detail::ByteLevelVocabulary vocabulary, detail::BpeMerges merges)
      : vocabulary_(std::move(vocabulary)), merges_(std::move(merges)) {}

  static Tokenizer from_named_strings(std::string_view vocab_json, std::string_view vocab_name,
                                      std::string_view merges_txt, std::string_view merges_name) {
    detail::ByteLevelVocabulary vocabulary = detail::parse_vocabulary(vocab_json, vocab_name);
    auto rules = detail::parse_merges(merges_txt, merges_name, vocabulary);
    detail::BpeMerges merges(vocabulary.byte_ids, std::move(rules));
    return Tokenizer(std::move(vocabulary), std::move(merges));
  }

  static std::string read_file(const std::string& path, std::string_view kind) {
    std::ifstream file(path, std::ios::binary);
    if (!file) fail_to_read(path, kind);
    std::ostringstream contents;
    contents << file.rdbuf();
    if (file.bad()) fail_to_read(path, kind);
    return std::move(contents).str();
  }

  [[noreturn]] static void fail_to_read(const std::string& path, std::string_view kind) {
    detail::fail("cannot read {} file '{}': {}", kind, path, std::strerror(errno));
  }

  bool is_known(std::int64_t id) const { return id >= 0 && id < vocab_size(); }

  detail::ByteLevelVocabulary vocabulary_;
  detail::BpeMerges merges_;
};

}  // namespace iglens
