#pragma once
// A chat as instruct models read it: messages with a role ("system", "user",
// "assistant", ...) and their text, rendered into one prompt by the model's
// chat template (chat_template.hpp).

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace iglens {

struct ChatMessage {
  std::string role;
  std::string content;
};

// One user message, after a system message when there is one: what `--chat`
// and `--system` ask for.
inline std::vector<ChatMessage> chat_messages(std::string user, std::optional<std::string> system = std::nullopt) {
  std::vector<ChatMessage> messages;
  if (system) messages.push_back({"system", std::move(*system)});
  messages.push_back({"user", std::move(user)});
  return messages;
}

}  // namespace iglens
