// iglens::ChatTemplate: real models' templates against transformers' own
// Jinja2 rendering ("[.chat_reference]", written by
// write_chat_template_reference.py), where a model keeps its template, and
// the limits that turn a hostile template into an Error.

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/models/detail/chat_template_source.hpp"
#include "iglens/text/chat_template.hpp"

namespace fs = std::filesystem;

namespace {

// strftime_now reads local time; the references are written for UTC.
void use_utc() {
  setenv("TZ", "UTC", 1);
  tzset();
}

constexpr std::time_t k26July2024 = 1721952000;  // 2024-07-26 00:00 UTC

const char* const kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

std::string error_of(const std::function<void()>& work) {
  try {
    work();
  } catch (const iglens::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string render_error(const std::string& source, iglens::ChatTemplate::Limits limits = {}) {
  return error_of([&] { iglens::ChatTemplate(source, "'t.jinja'", {}, limits).render(iglens::chat_messages("Hi")); });
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

}  // namespace

TEST_CASE("a chat renders with its messages, the generation prompt and the special tokens", "[chat_template]") {
  const iglens::ChatTemplate chat(kChatMl, "'t.jinja'");
  CHECK(chat.render(iglens::chat_messages("Hi", std::string("Be brief."))) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  CHECK(chat.render(iglens::chat_messages("Hi"), /*add_generation_prompt=*/false) ==
        "<|im_start|>user\nHi<|im_end|>\n");

  use_utc();
  const iglens::ChatTemplate tokens(
      "{{ bos_token }}|{{ eos_token }}|{{ pad_token }}|{{ strftime_now('%d %b %Y') }}|"
      "{{ tools is none }}|{{ messages | length }}",
      "'t.jinja'", {std::string("<s>"), std::string("</s>"), std::nullopt, std::nullopt});
  // An absent token is undefined and renders as nothing, as in transformers.
  CHECK(tokens.render(iglens::chat_messages("Hi"), true, k26July2024) == "<s>|</s>||26 Jul 2024|True|1");
}

TEST_CASE("a chat prompt's ids recognise the special tokens and add no BOS", "[chat_template]") {
  // A two-token vocabulary would not do; the byte-level GPT-2-style list of the other tokenizer tests is
  // overkill here, so: the ids of the rendered text are those of encode(text, special tokens, no BOS).
  const iglens::ChatTemplate chat("{{ bos_token }}{{ messages[0]['content'] }}", "'t.jinja'",
                                  {std::string("<|endoftext|>"), std::nullopt});
  const auto tokenizer = iglens::Tokenizer::from_files(IGLENS_TEST_GPT2_VOCAB, IGLENS_TEST_GPT2_MERGES);
  const auto prompt = iglens::encode_chat(chat, tokenizer, iglens::chat_messages(" Paris"));
  CHECK(prompt.text == "<|endoftext|> Paris");
  CHECK(prompt.ids == tokenizer.encode(prompt.text, {/*special_tokens=*/true, /*add_bos=*/false}));
  CHECK(prompt.ids.front() == 50256);
  CHECK(prompt.ids.size() == 2);
}

TEST_CASE("a broken or hostile template is a one-line error, and this process goes on", "[chat_template]") {
  CHECK(render_error("{% if %}") == "'t.jinja': chat template: Expected value expression at row 1, column 6");
  CHECK(render_error("{{ raise_exception('Conversation roles must alternate') }}") ==
        "'t.jinja': chat template: Conversation roles must alternate at row 1, column 19");
  CHECK(render_error("") == "'t.jinja': the chat template is empty");
  // A template is parsed where it is checked or first rendered, not where it is read.
  const iglens::ChatTemplate unparsed("{% if %}", "'t.jinja'");
  CHECK(error_of([&] { unparsed.check(); }) ==
        "'t.jinja': chat template: Expected value expression at row 1, column 6");
  CHECK_NOTHROW(iglens::ChatTemplate(kChatMl, "'t.jinja'").check());
  CHECK(render_error(std::string(iglens::ChatTemplate::kMaxSourceBytes + 1, 'x')) ==
        "'t.jinja': the chat template is 1048577 bytes; the limit is 1048576");
  // Recursion without end runs out of stack in the child process.
  CHECK(render_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}") ==
        "'t.jinja': chat template: ran out of stack (it nests or recurses too deeply)");
  iglens::ChatTemplate::Limits limits;
  limits.cpu_seconds = 1;
  CHECK(render_error("{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}", limits) ==
        "'t.jinja': chat template: took more than 1 s of CPU time");
  // The output limit alone: with 1 s of CPU time, a sanitizer build on a slow day met that limit first.
  limits.cpu_seconds = 60;
  limits.output_bytes = std::size_t{1} << 20;
  CHECK(render_error("{% for a in range(100000) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}", limits) ==
        "'t.jinja': chat template: the result is longer than 1 MiB");
  limits.cpu_seconds = 1;
  // A string that doubles 40 times needs a terabyte: the memory limit stops it (sanitizer builds have
  // none, and meet the CPU limit instead).
  const auto doubling =
      render_error("{% set s = 'x' %}{% for a in range(40) %}{% set s = s + s %}{% endfor %}{{ s|length }}", limits);
  CHECK((doubling.find("needs more memory than the limit") != std::string::npos ||
         doubling.find("bad_alloc") != std::string::npos ||
         doubling == "'t.jinja': chat template: took more than 1 s of CPU time"));
  // A file of its own.
  const auto folder = fs::temp_directory_path() / "iglens-chat-template-test";
  fs::create_directories(folder);
  CHECK(error_of([&] {
          iglens::ChatTemplate::from_file(folder / "missing.jinja");
        }).rfind("cannot read the chat template '" + (folder / "missing.jinja").string() + "'", 0) == 0);
  fs::remove_all(folder);
}

TEST_CASE("a Hugging Face folder keeps its template in chat_template.jinja or tokenizer_config.json",
          "[chat_template]") {
  const auto folder = fs::temp_directory_path() / "iglens-chat-template-folder";
  fs::remove_all(folder);
  fs::create_directories(folder);
  CHECK_FALSE(iglens::detail::hf_chat_template(folder).has_value());
  const auto config = folder / "tokenizer_config.json";
  // The special tokens as strings or AddedToken objects; special_tokens_map.json fills the rest.
  write(config, nlohmann::json({{"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
                                {"chat_template", "{{ bos_token }}{{ eos_token }}{{ messages[0].content }}"}})
                    .dump());
  write(folder / "special_tokens_map.json", R"({"eos_token": "</s>"})");
  CHECK(iglens::detail::hf_chat_template(folder)->render(iglens::chat_messages("Hi")) == "<s></s>Hi");
  write(config, nlohmann::json({{"chat_template",
                                 {{{"name", "tool_use"}, {"template", "tools"}},
                                  {{"name", "default"}, {"template", "{{ 'chat' }}"}}}}})
                    .dump());
  CHECK(iglens::detail::hf_chat_template(folder)->render(iglens::chat_messages("Hi")) == "chat");
  write(config, nlohmann::json({{"chat_template", {{{"name", "tool_use"}, {"template", "tools"}}}}}).dump());
  CHECK(error_of([&] { iglens::detail::hf_chat_template(folder); }) ==
        config.string() + ": 'chat_template' lists named templates but none named \"default\"");
  write(config, R"({"chat_template": 7})");
  CHECK(error_of([&] { iglens::detail::hf_chat_template(folder); }) ==
        config.string() + ": 'chat_template' must be a string or a list of named templates, found number");
  write(config, R"({"bos_token": 7})");
  CHECK(error_of([&] { iglens::detail::hf_chat_template(folder); }) ==
        config.string() + ": 'bos_token' must be a token's text or an object with its \"content\", found number");
  // chat_template.jinja comes first, as transformers reads it.
  write(config, R"({"chat_template": "config"})");
  write(folder / "chat_template.jinja", "jinja file");
  CHECK(iglens::detail::hf_chat_template(folder)->render(iglens::chat_messages("Hi")) == "jinja file");
  fs::remove_all(folder);
}

TEST_CASE("real models' chat templates render as transformers renders them", "[.chat_reference]") {
  use_utc();
  std::ifstream in(IGLENS_TEST_CHAT_TEMPLATE_REFERENCE);
  REQUIRE(in.good());
  const auto reference = nlohmann::json::parse(in);
  const auto& tokens = reference.at("tokens");
  const iglens::ChatTokens chat_tokens{tokens.at("bos_token").get<std::string>(),
                                       tokens.at("eos_token").get<std::string>(),
                                       tokens.at("unk_token").get<std::string>(), std::nullopt};
  std::string source;
  std::int64_t rendered = 0, refused = 0, skipped = 0;
  const auto& cases = reference.at("cases");
  // Each template's source is stored with its last case.
  for (std::size_t first = 0; first < cases.size();) {
    std::size_t last = first;
    while (!cases[last].contains("source")) ++last;
    const iglens::ChatTemplate chat(cases[last].at("source").get<std::string>(),
                                    cases[first].at("template").get<std::string>(), chat_tokens);
    for (auto i = first; i <= last; ++i) {
      const auto& c = cases[i];
      std::vector<iglens::ChatMessage> messages;
      for (const auto& m : c.at("messages")) messages.push_back({m.at("role"), m.at("content")});
      INFO(c.at("template").get<std::string>() << ", chat " << i - first);
      if (c.contains("skipped")) {
        ++skipped;
      } else if (c.contains("error")) {
        CHECK_THROWS_AS(chat.render(messages, c.at("add_generation_prompt"), k26July2024), iglens::Error);
        ++refused;
      } else {
        CHECK(chat.render(messages, c.at("add_generation_prompt"), k26July2024) == c.at("text").get<std::string>());
        ++rendered;
      }
    }
    first = last + 1;
  }
  CHECK(rendered >= 80);
  WARN(rendered << " chats rendered as transformers renders them, " << refused << " refused by both, " << skipped
                << " that transformers cannot render without tools");
}

TEST_CASE("a tokenizer folder saved by transformers gives apply_chat_template's ids", "[.chat_reference]") {
  // Llama 3.2 (BOS written by the template, and added by its tokenizer's post-processor too: once in
  // all), Qwen 2.5 (its default system message) and Gemma 2 (no system role).
  use_utc();
  std::ifstream in(IGLENS_TEST_CHAT_TEMPLATE_REFERENCE);
  REQUIRE(in.good());
  const auto reference = nlohmann::json::parse(in);
  REQUIRE(reference.at("tokenized").size() == 3);
  for (const auto& folder_chats : reference.at("tokenized")) {
    const fs::path folder = folder_chats.at("folder").get<std::string>();
    std::ifstream json_file(folder / "tokenizer.json", std::ios::binary);
    const std::string json((std::istreambuf_iterator<char>(json_file)), std::istreambuf_iterator<char>());
    const auto tokenizer = iglens::Tokenizer::from_hf_tokenizer_json(json, "tokenizer.json");
    const auto chat = iglens::detail::hf_chat_template(folder);
    REQUIRE(chat.has_value());
    REQUIRE(folder_chats.at("chats").size() >= 2);
    for (const auto& c : folder_chats.at("chats")) {
      std::vector<iglens::ChatMessage> messages;
      for (const auto& m : c.at("messages")) messages.push_back({m.at("role"), m.at("content")});
      INFO(folder.filename().string() << ": " << c.at("messages").dump());
      const auto prompt = iglens::encode_chat(*chat, tokenizer, messages, k26July2024);
      CHECK(prompt.text == c.at("text").get<std::string>());
      CHECK(prompt.ids == c.at("ids").get<std::vector<std::int64_t>>());
    }
  }
}
