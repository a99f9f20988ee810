#pragma once
// iglens::ChatTemplate: an instruct model's chat template (Jinja), rendered
// as Hugging Face transformers' apply_chat_template(messages,
// add_generation_prompt=True) renders it: trim_blocks and lstrip_blocks on,
// with `messages`, `add_generation_prompt`, `tools` and `documents` (none),
// the tokenizer's special tokens (`bos_token`, `eos_token`, `unk_token`,
// `pad_token` where it has them), `raise_exception(message)` and
// `strftime_now(format)` (local time).
//
// The engine is minja (Google's C++ Jinja for chat templates, the one
// llama.cpp uses; fetched by the build, see cmake/iglensMinja.cmake). A
// template comes from a model file that anyone may have written, and Jinja
// can recurse, loop or build strings without bound: every parse and render
// runs in a child process with CPU, memory and output limits
// (detail/isolated_call.hpp), so a hostile template ends as an Error.
//
// The rendered text is tokenized as transformers does for a chat: special
// tokens written in it are recognised and no BOS is added (a template that
// wants BOS writes {{ bos_token }} itself).
//
// Note: minja.hpp declares `using json = nlohmann::ordered_json;` at global
// scope; a file that includes this header cannot declare another global `json`.

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <minja/minja.hpp>
#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/text/chat_message.hpp"
#include "iglens/text/detail/isolated_call.hpp"
#include "iglens/text/tokenizer.hpp"

namespace iglens {

// The special tokens a template may name, as text; absent ones are undefined
// in the template, as in transformers.
struct ChatTokens {
  std::optional<std::string> bos_token, eos_token, unk_token, pad_token;
};

// The BOS and EOS texts of a tokenizer, for a template that has no others
// (GGUF files, and --chat-template on a model with no template of its own).
inline ChatTokens chat_tokens_of(const Tokenizer& tokenizer) {
  const auto text_of = [&](const std::optional<std::int64_t>& id) {
    return id ? std::optional<std::string>(tokenizer.token_text(*id)) : std::nullopt;
  };
  ChatTokens tokens;
  tokens.bos_token = text_of(tokenizer.bos_id());
  tokens.eos_token = text_of(tokenizer.eos_id());
  return tokens;
}

class ChatTemplate {
 public:
  // CPU seconds, memory and output of one parse or render (real templates
  // take milliseconds and kilobytes).
  using Limits = detail::IsolationLimits;
  // Real templates are a few kilobytes; the largest known are tens.
  static constexpr std::size_t kMaxSourceBytes = std::size_t{1} << 20;

  // `origin` names where the template came from, for errors ("model file 'x.gguf'").
  // A template that does not parse is an Error at check() or at the first
  // render: a model's own template is parsed only where a chat is rendered,
  // so that loading a model does not start a child process for it.
  ChatTemplate(std::string source, std::string origin, ChatTokens tokens = {}, Limits limits = {})
      : source_(std::move(source)), origin_(std::move(origin)), tokens_(std::move(tokens)), limits_(limits) {
    require(source_.size() <= kMaxSourceBytes, "{}: the chat template is {} bytes; the limit is {}", origin_,
            source_.size(), kMaxSourceBytes);
    require(!source_.empty(), "{}: the chat template is empty", origin_);
  }

  // An Error now where the template does not parse (a user's --chat-template
  // file, found wrong before any model is read).
  void check() const {
    isolated([this] {
      parse();
      return std::string();
    });
  }

  // A template from a file of its own (`--chat-template FILE`).
  static ChatTemplate from_file(const std::filesystem::path& path, ChatTokens tokens = {}) {
    std::error_code error;
    const auto size = std::filesystem::file_size(path, error);
    require(!error, "cannot read the chat template '{}': {}", path.string(), error.message());
    require(size <= kMaxSourceBytes, "the chat template '{}' is {} bytes; the limit is {}", path.string(), size,
            kMaxSourceBytes);
    std::ifstream in(path, std::ios::binary);
    std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    require(!in.bad(), "cannot read the chat template '{}'", path.string());
    return ChatTemplate(std::move(source), fmt::format("'{}'", path.string()), std::move(tokens));
  }

  // The prompt text for `messages`, ending with the assistant's turn opened
  // when `add_generation_prompt`. `now` is what strftime_now formats (the
  // current time by default; tests fix it).
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt = true,
                     std::optional<std::time_t> now = std::nullopt) const {
    require(!messages.empty(), "{}: no messages to render", origin_);
    auto values = nlohmann::ordered_json::object();
    auto& list = values["messages"] = nlohmann::ordered_json::array();
    for (const auto& message : messages) list.push_back({{"role", message.role}, {"content", message.content}});
    values["add_generation_prompt"] = add_generation_prompt;
    values["tools"] = nullptr;
    values["documents"] = nullptr;
    const auto add_token = [&](const char* name, const std::optional<std::string>& text) {
      if (text) values[name] = *text;
    };
    add_token("bos_token", tokens_.bos_token);
    add_token("eos_token", tokens_.eos_token);
    add_token("unk_token", tokens_.unk_token);
    add_token("pad_token", tokens_.pad_token);
    const std::time_t time = now.value_or(std::time(nullptr));
    return isolated([&] {
      auto context = minja::Context::make(minja::Value(values));
      context->set("strftime_now",
                   minja::Value::callable([time](const std::shared_ptr<minja::Context>&, minja::ArgumentsValue& args) {
                     args.expectArgs("strftime_now", {1, 1}, {0, 0});
                     std::tm local{};
                     localtime_r(&time, &local);
                     std::ostringstream text;
                     text << std::put_time(&local, args.args[0].get<std::string>().c_str());
                     return minja::Value(text.str());
                   }));
      return parse()->render(context);
    });
  }

  const std::string& source() const { return source_; }
  const std::string& origin() const { return origin_; }
  const ChatTokens& tokens() const { return tokens_; }

 private:
  std::shared_ptr<minja::TemplateNode> parse() const {
    return minja::Parser::parse(source_, {/*trim_blocks=*/true, /*lstrip_blocks=*/true,
                                          /*keep_trailing_newline=*/false});
  }

  // minja's messages go on with the template's lines and a caret; the first
  // line names the problem and its row and column.
  template <class Work>
  std::string isolated(Work work) const {
    try {
      return detail::isolated_call(work, fmt::format("{}: chat template", origin_), limits_);
    } catch (const Error& e) {
      std::string message = e.what();
      message = message.substr(0, message.find('\n'));
      if (!message.empty() && message.back() == ':') message.pop_back();
      throw Error(message);
    }
  }

  std::string source_;
  std::string origin_;
  ChatTokens tokens_;
  Limits limits_;
};

// A chat prompt: the rendered text, and its ids as transformers'
// apply_chat_template(tokenize=True) gives them (special tokens recognised,
// no BOS added).
struct ChatPrompt {
  std::string text;
  std::vector<std::int64_t> ids;
};

inline ChatPrompt encode_chat(const ChatTemplate& chat_template, const Tokenizer& tokenizer,
                              const std::vector<ChatMessage>& messages, std::optional<std::time_t> now = std::nullopt) {
  ChatPrompt prompt;
  prompt.text = chat_template.render(messages, /*add_generation_prompt=*/true, now);
  prompt.ids = tokenizer.encode(prompt.text, EncodeOptions{/*special_tokens=*/true, /*add_bos=*/false});
  return prompt;
}

}  // namespace iglens
