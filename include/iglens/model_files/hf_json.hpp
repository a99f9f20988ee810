#pragma once
// The JSON files of a Hugging Face folder (config.json, the shard index),
// read through a mapping so that no buffer is sized from the file.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/model_files/detail/mapped_file.hpp"

namespace iglens::detail {

// Real files are kilobytes (an index of a large model, a few MB).
inline constexpr std::uint64_t kMaxHfJsonBytes = 100'000'000;

// The JSON object of a file's text; errors name `path`.
inline nlohmann::json parse_hf_json_object(std::string_view text, const std::string& path) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for a number too large
    fail("{}: is not valid JSON ({})", path, error.what());
  }
  require(json.is_object(), "{}: must be a JSON object, found {}", path, json.type_name());
  return json;
}

// The file's JSON object; errors name `path`.
inline nlohmann::json read_hf_json_object(const std::string& path) {
  const auto mapping = MappedFile::open(path, path + ":");
  require(mapping.size() <= kMaxHfJsonBytes, "{}: is {} bytes, over the limit of {} for a JSON file", path,
          mapping.size(), kMaxHfJsonBytes);
  return parse_hf_json_object(std::string_view(reinterpret_cast<const char*>(mapping.data()), mapping.size()), path);
}

// The ids of `key` in a config object, which transformers writes as one id or a list of them (an instruct
// model's generation_config.json lists every token that ends a turn); empty when absent or null.
inline std::vector<std::int64_t> token_ids_of(const nlohmann::json& object, const std::string& key,
                                              const std::string& path) {
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) return {};
  const auto one_id = [&](const nlohmann::json& value) {
    const bool id = value.is_number_unsigned()  ? value.get<std::uint64_t>() <= INT64_MAX
                    : value.is_number_integer() ? value.get<std::int64_t>() >= 0
                                                : false;
    require(id, "{}: '{}' must be a token id or a list of them, found {}", path, key, found->dump());
    return value.get<std::int64_t>();
  };
  if (!found->is_array()) return {one_id(*found)};
  std::vector<std::int64_t> ids;
  for (const auto& value : *found) ids.push_back(one_id(value));
  return ids;
}

}  // namespace iglens::detail
