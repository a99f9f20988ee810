// libFuzzer target: the iglens.json parser on arbitrary bytes. It must
// either return metadata that satisfies its own checks or throw an
// iglens::Error; any other exception, crash or sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "iglens/model_files/bundle_info.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  iglens::BundleInfo info;
  try {
    info = iglens::BundleInfo::parse(text, "fuzz-input");
  } catch (const iglens::Error&) {
    return 0;
  }
  const bool sizes_valid = info.n_layer >= 1 && info.d_model >= 1 && info.n_head >= 1 && info.vocab_size >= 1 &&
                           info.context_length >= 1 && info.norm_eps >= 0.0 && info.norm_eps < 1.0;
  const bool names_present = !info.architecture.empty() && !info.norm_weight.empty() &&
                             !info.unembedding_weight.empty() && !info.vocab_file.empty() && !info.merges_file.empty();
  if (!sizes_valid || !names_present) std::abort();
  for (const auto& [token, id] : info.special_tokens) {
    if (id < 0 || id >= info.vocab_size) std::abort();
  }
  return 0;
}
