#pragma once
// A Hugging Face model folder, read without LibTorch or Python: config.json
// and the weights in safetensors, one file (model.safetensors) or shards
// listed by model.safetensors.index.json. Tensor names keep their Hugging
// Face spelling ("transformer.h.0.attn.c_attn.weight").

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/model_files/hf_json.hpp"
#include "iglens/model_files/safetensors.hpp"

namespace iglens {

// A tensor of the folder and the file that holds its bytes; valid as long
// as the HfFolder.
struct HfTensor {
  const SafetensorsTensor& info;
  const SafetensorsFile& file;
};

class HfFolder {
 public:
  static HfFolder open(const std::filesystem::path& folder) {
    HfFolder hf;
    hf.folder_ = folder.string();
    std::error_code error;
    const auto status = std::filesystem::status(folder, error);
    require(std::filesystem::exists(status), "Hugging Face folder '{}' does not exist", hf.folder_);
    require(std::filesystem::is_directory(status), "Hugging Face folder '{}' is not a folder", hf.folder_);
    const auto config_path = folder / "config.json";
    require(std::filesystem::exists(config_path, error), "Hugging Face folder '{}' has no config.json", hf.folder_);
    hf.config_ = detail::read_hf_json_object(config_path.string());

    const auto single = folder / "model.safetensors";
    const auto index = folder / "model.safetensors.index.json";
    if (std::filesystem::exists(single, error)) {
      hf.files_.push_back(SafetensorsFile::open(single.string()));
      for (const auto& tensor : hf.files_[0].tensors()) hf.file_of_tensor_.emplace(tensor.name, 0);
    } else if (std::filesystem::exists(index, error)) {
      hf.read_shards(folder, index.string());
    } else {
      fail(
          "Hugging Face folder '{}' has no model.safetensors or model.safetensors.index.json "
          "(pytorch_model.bin is not read: convert it to safetensors)",
          hf.folder_);
    }
    return hf;
  }

  const std::string& folder() const { return folder_; }
  const nlohmann::json& config() const { return config_; }

  // The tokens that end a generated answer, as transformers' generate() takes
  // them: generation_config.json's eos_token_id (one id or a list), else
  // config.json's; empty when neither names one.
  std::vector<std::int64_t> end_token_ids() const {
    const auto generation_config = std::filesystem::path(folder_) / "generation_config.json";
    std::error_code error;
    if (std::filesystem::exists(generation_config, error)) {
      const auto path = generation_config.string();
      auto ids = detail::token_ids_of(detail::read_hf_json_object(path), "eos_token_id", path);
      if (!ids.empty()) return ids;
    }
    return detail::token_ids_of(config_, "eos_token_id", config_name());
  }
  // The safetensors files, in the order the index first names them.
  const std::vector<SafetensorsFile>& files() const { return files_; }

  // Config values by key. get_* require the key; find_* return nullopt when
  // it is missing or null. A value of another type is an error either way.
  std::int64_t get_int(const std::string& key) const { return required(key, find_int(key)); }
  double get_double(const std::string& key) const { return required(key, find_double(key)); }
  std::string get_string(const std::string& key) const { return required(key, find_string(key)); }
  bool get_bool(const std::string& key) const { return required(key, find_bool(key)); }

  std::optional<std::int64_t> find_int(const std::string& key) const {
    const auto* value = config_value(key);
    if (value == nullptr) return std::nullopt;
    require(value->is_number_integer(), "{}: config key '{}' must be an integer, found {}", config_name(), key,
            value->dump());
    // Above INT64_MAX, get<int64_t> would wrap to a negative number.
    require(!value->is_number_unsigned() || value->get<std::uint64_t>() <= std::uint64_t(INT64_MAX),
            "{}: config key '{}' = {} is too large", config_name(), key, value->dump());
    return value->get<std::int64_t>();
  }
  // Integers are accepted too: JSON writes 1.0 as 1 in some configs.
  std::optional<double> find_double(const std::string& key) const {
    const auto* value = config_value(key);
    if (value == nullptr) return std::nullopt;
    require(value->is_number(), "{}: config key '{}' must be a number, found {}", config_name(), key, value->dump());
    return value->get<double>();
  }
  std::optional<std::string> find_string(const std::string& key) const {
    const auto* value = config_value(key);
    if (value == nullptr) return std::nullopt;
    require(value->is_string(), "{}: config key '{}' must be a string, found {}", config_name(), key, value->dump());
    return value->get<std::string>();
  }
  std::optional<bool> find_bool(const std::string& key) const {
    const auto* value = config_value(key);
    if (value == nullptr) return std::nullopt;
    require(value->is_boolean(), "{}: config key '{}' must be true or false, found {}", config_name(), key,
            value->dump());
    return value->get<bool>();
  }

  // The config's "architectures" (e.g. "LlamaForCausalLM"); empty when absent.
  std::vector<std::string> architectures() const {
    const auto* value = config_value("architectures");
    if (value == nullptr) return {};
    require(value->is_array(), "{}: config key 'architectures' must be an array of strings, found {}", config_name(),
            value->dump());
    std::vector<std::string> names;
    for (const auto& name : *value) {
      require(name.is_string(), "{}: config key 'architectures' must be an array of strings, found {}", config_name(),
              value->dump());
      names.push_back(name.get<std::string>());
    }
    return names;
  }

  // Sorted by name.
  std::vector<std::string> tensor_names() const {
    std::vector<std::string> names;
    names.reserve(file_of_tensor_.size());
    for (const auto& entry : file_of_tensor_) names.push_back(entry.first);
    return names;
  }

  bool has_tensor(std::string_view name) const { return file_of_tensor_.find(name) != file_of_tensor_.end(); }

  HfTensor tensor(std::string_view name) const {
    const auto found = file_of_tensor_.find(name);
    if (found == file_of_tensor_.end()) fail("Hugging Face folder '{}' has no tensor '{}'", folder_, name);
    const auto& file = files_[found->second];
    return {file.tensor(name), file};
  }

  // Writes the tensor's element_count values, as SafetensorsFile does.
  void to_float32(std::string_view name, float* out) const {
    const auto found = tensor(name);
    found.file.to_float32(found.info, out);
  }
  void to_float64(std::string_view name, double* out) const {
    const auto found = tensor(name);
    found.file.to_float64(found.info, out);
  }

 private:
  void read_shards(const std::filesystem::path& folder, const std::string& index_path) {
    const auto index = detail::read_hf_json_object(index_path);
    const auto weight_map = index.find("weight_map");
    require(weight_map != index.end() && weight_map->is_object(),
            "{}: has no weight_map object (tensor name -> shard file)", index_path);
    std::map<std::string, std::size_t, std::less<>> file_by_shard;
    for (const auto& [name, shard_value] : weight_map->items()) {
      require(shard_value.is_string(), "{}: weight_map['{}'] must be a shard file name, found {}", index_path, name,
              shard_value.dump());
      const auto& shard = shard_value.get_ref<const std::string&>();
      auto found = file_by_shard.find(shard);
      if (found == file_by_shard.end()) {
        // A plain file name keeps every shard inside the folder ("../x" or "/x" would leave it).
        const bool plain_name = !shard.empty() && shard != "." && shard != ".." &&
                                shard.find('/') == std::string::npos && shard.find('\\') == std::string::npos;
        require(plain_name, "{}: shard '{}' of tensor '{}' is not a file name inside the folder", index_path, shard,
                name);
        const auto shard_path = folder / shard;
        std::error_code error;
        require(std::filesystem::exists(shard_path, error),
                "{}: shard '{}' of tensor '{}' does not exist in the folder", index_path, shard, name);
        files_.push_back(SafetensorsFile::open(shard_path.string()));
        found = file_by_shard.emplace(shard, files_.size() - 1).first;
      }
      require(files_[found->second].find(name) != nullptr,
              "{}: tensor '{}' is indexed in shard '{}', which has no such tensor", index_path, name, shard);
      file_of_tensor_.emplace(name, found->second);
    }
  }

  const nlohmann::json* config_value(const std::string& key) const {
    const auto found = config_.find(key);
    return found == config_.end() || found->is_null() ? nullptr : &*found;
  }

  std::string config_name() const { return (std::filesystem::path(folder_) / "config.json").string(); }

  template <class Value>
  Value required(const std::string& key, std::optional<Value> value) const {
    if (!value) fail("{}: config key '{}' is missing or null", config_name(), key);
    return *std::move(value);
  }

  std::string folder_;
  nlohmann::json config_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t, std::less<>> file_of_tensor_;  // name -> index into files_
};

}  // namespace iglens
