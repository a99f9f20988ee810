// libFuzzer target: chat templates as model files carry them. The first byte
// chooses what the rest is: a template's source (even), or a Hugging Face
// tokenizer_config.json (odd) from which the template and its special tokens
// are read. Parsing and rendering run in a child process with limits
// (text/detail/isolated_call.hpp), so whatever the template does, this
// process must get a rendered text or an iglens::Error; any other exception,
// crash, hang or sanitizer report here is a finding. (The engine's own code
// runs in the child, out of the fuzzer's coverage: what is fuzzed is ours, the
// reading of the file and the isolation around the engine.)

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "iglens/models/detail/chat_template_source.hpp"
#include "iglens/text/chat_template.hpp"

namespace {

iglens::ChatTemplate::Limits fuzz_limits() {
  iglens::ChatTemplate::Limits limits;
  limits.cpu_seconds = 1;
  limits.memory_bytes = std::size_t{256} << 20;
  limits.output_bytes = std::size_t{1} << 20;
  return limits;
}

void render(const iglens::ChatTemplate& chat) {
  const auto text = chat.render(iglens::chat_messages("Hi", std::string("Be brief.")), true, 0);
  if (text.size() > fuzz_limits().output_bytes) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      render(iglens::ChatTemplate(rest, "fuzz-input", {std::string("<s>"), std::string("</s>")}, fuzz_limits()));
    } else {
      static const auto folder =
          std::filesystem::temp_directory_path() / ("iglens-fuzz-chat-template-" + std::to_string(::getpid()));
      std::filesystem::create_directories(folder);
      std::ofstream(folder / "tokenizer_config.json", std::ios::binary | std::ios::trunc) << rest;
      if (const auto chat = iglens::detail::hf_chat_template(folder)) {
        render(iglens::ChatTemplate(chat->source(), "fuzz-input", chat->tokens(), fuzz_limits()));
      }
    }
  } catch (const iglens::Error&) {
  }
  return 0;
}
