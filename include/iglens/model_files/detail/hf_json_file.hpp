#pragma once
// The JSON files of a Hugging Face folder (config.json, the shard index),
// read through a mapping so that no buffer is sized from the file.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/model_files/detail/mapped_file.hpp"

namespace iglens::detail {

// Real files are kilobytes (an index of a large model, a few MB).
inline constexpr std::uint64_t kMaxHfJsonBytes = 100'000'000;

// The file's JSON object; errors name `path`.
inline nlohmann::json read_hf_json_object(const std::string& path) {
  const auto mapping = MappedFile::open(path, path + ":");
  require(mapping.size() <= kMaxHfJsonBytes, "{}: is {} bytes, over the limit of {} for a JSON file", path,
          mapping.size(), kMaxHfJsonBytes);
  const std::string_view text(reinterpret_cast<const char*>(mapping.data()), mapping.size());
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for a number too large
    fail("{}: is not valid JSON ({})", path, error.what());
  }
  require(json.is_object(), "{}: must be a JSON object, found {}", path, json.type_name());
  return json;
}

}  // namespace iglens::detail
