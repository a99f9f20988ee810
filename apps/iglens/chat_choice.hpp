#pragma once
// Which chat template a command renders with: --chat-template FILE, else the
// model's own.

#include <optional>
#include <string>

#include "iglens/error.hpp"
#include "iglens/text/chat_template.hpp"
#include "iglens/text/tokenizer.hpp"

namespace iglens::cli {

// The template a command renders chats with: `file` (--chat-template) with
// the model's special tokens, else the model's own.
inline ChatTemplate chosen_chat_template(const std::optional<ChatTemplate>& own, const Tokenizer& tokenizer,
                                         const std::string& file, const std::string& model_path) {
  if (!file.empty()) return ChatTemplate::from_file(file, own ? own->tokens() : chat_tokens_of(tokenizer));
  iglens::require(own.has_value(), "the model '{}' has no chat template: give one with --chat-template FILE",
                  model_path);
  return *own;
}

}  // namespace iglens::cli
