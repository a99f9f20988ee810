#pragma once
// Finding special tokens such as "<|im_end|>" written literally in text. As
// in Hugging Face `tokenizers`, the leftmost match wins and, among matches
// that start at the same byte, the longest. Tokens are grouped by their first
// byte, so the scan looks at each byte once and compares whole tokens only
// where one could start.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iglens::detail {

struct SpecialToken {
  std::string text;  // non-empty, as written in the text
  std::int64_t id;
};

class SpecialTokenMatcher {
 public:
  SpecialTokenMatcher() { bucket_start_.fill(0); }

  // `tokens` must be non-empty strings, no two alike.
  explicit SpecialTokenMatcher(std::vector<SpecialToken> tokens) : tokens_(std::move(tokens)) {
    // By first byte, then longest first so that the first match is the longest.
    std::sort(tokens_.begin(), tokens_.end(), [](const SpecialToken& a, const SpecialToken& b) {
      const auto first_a = static_cast<unsigned char>(a.text[0]);
      const auto first_b = static_cast<unsigned char>(b.text[0]);
      if (first_a != first_b) return first_a < first_b;
      return a.text.size() > b.text.size();
    });
    std::size_t index = 0;
    for (unsigned byte = 0; byte < 256; ++byte) {
      bucket_start_[byte] = index;
      while (index < tokens_.size() && static_cast<unsigned char>(tokens_[index].text[0]) == byte) ++index;
    }
    bucket_start_[256] = index;
  }

  bool empty() const { return tokens_.empty(); }

  // Calls on_text(begin, end) for each non-empty stretch of `text` between
  // special tokens and on_special(id) for each special token, in order.
  template <class OnText, class OnSpecial>
  void split(std::string_view text, OnText&& on_text, OnSpecial&& on_special) const {
    std::size_t stretch_start = 0;
    for (std::size_t offset = 0; offset < text.size(); ++offset) {
      const auto byte = static_cast<unsigned char>(text[offset]);
      for (std::size_t i = bucket_start_[byte]; i < bucket_start_[byte + 1]; ++i) {
        const std::string& token = tokens_[i].text;
        if (text.compare(offset, token.size(), token) != 0) continue;
        if (stretch_start < offset) on_text(stretch_start, offset);
        on_special(tokens_[i].id);
        stretch_start = offset + token.size();
        offset = stretch_start - 1;  // the loop's ++offset moves past the token
        break;
      }
    }
    if (stretch_start < text.size()) on_text(stretch_start, text.size());
  }

 private:
  std::vector<SpecialToken> tokens_;
  std::array<std::size_t, 257> bucket_start_;  // tokens_[bucket_start_[b], bucket_start_[b+1]) start with byte b
};

}  // namespace iglens::detail
