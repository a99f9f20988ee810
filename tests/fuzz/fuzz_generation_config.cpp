// libFuzzer target: a Hugging Face folder's generation_config.json (or
// config.json) as read for the tokens that end an answer. Reading must give
// non-negative ids or throw an iglens::Error; any other exception, crash or
// sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "iglens/model_files/hf_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto config = iglens::detail::parse_hf_json_object(text, "fuzz-input");
    for (const auto id : iglens::detail::token_ids_of(config, "eos_token_id", "fuzz-input")) {
      if (id < 0) std::abort();
    }
  } catch (const iglens::Error&) {
  }
  return 0;
}
