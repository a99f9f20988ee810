// iglens::HfFolder on folders that transformers' save_pretrained wrote (a
// tiny GPT-2 in one file, a tiny Llama in 30 KB shards) and on a hand-made
// sharded folder (write_hf_fixtures.py): every tensor listed with its shape
// and values, the config getters, and a table of broken folders.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/model_files/hf_folder.hpp"

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = IGLENS_TEST_HF_FIXTURES;

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  REQUIRE(out);
}

// Every tensor of `expected` (name -> shape, values, and the file
// holding it) and no other; values exactly, in float64 and float32.
void check_tensors(const iglens::HfFolder& folder, const nlohmann::json& expected) {
  std::vector<std::string> expected_names;
  for (const auto& [name, tensor] : expected.items()) expected_names.push_back(name);
  CHECK(folder.tensor_names() == expected_names);  // both sorted
  for (const auto& [name, tensor] : expected.items()) {
    INFO(name);
    REQUIRE(folder.has_tensor(name));
    const auto found = folder.tensor(name);
    CHECK(found.info.name == name);
    CHECK(found.info.shape == tensor["shape"].get<std::vector<std::int64_t>>());
    const auto file_key = tensor.contains("file") ? "file" : "shard";
    CHECK(fs::path(found.file.path()).filename() == tensor[file_key].get<std::string>());
    const auto values = tensor["values"].get<std::vector<double>>();
    REQUIRE(found.info.element_count == std::int64_t(values.size()));
    std::vector<double> as_f64(values.size());
    std::vector<float> as_f32(values.size());
    folder.to_float64(name, as_f64.data());
    folder.to_float32(name, as_f32.data());
    CHECK(as_f64 == values);
    std::vector<float> values_f32(values.begin(), values.end());
    CHECK(as_f32 == values_f32);
  }
}

// Each scalar config value through the getter of its JSON type.
void check_config(const iglens::HfFolder& folder, const nlohmann::json& expected) {
  for (const auto& [key, value] : expected.items()) {
    INFO(key);
    if (value.is_boolean()) {
      CHECK(folder.get_bool(key) == value.get<bool>());
    } else if (value.is_number_integer()) {
      if (value.is_number_unsigned() && value.get<std::uint64_t>() > std::uint64_t(INT64_MAX))
        continue;  // an error, tested alone
      CHECK(folder.get_int(key) == value.get<std::int64_t>());
      CHECK(folder.get_double(key) == value.get<double>());
    } else if (value.is_number_float()) {
      CHECK(folder.get_double(key) == value.get<double>());
      CHECK_THROWS_WITH(folder.get_int(key), Contains("config key '" + key + "' must be an integer"));
    } else if (value.is_string()) {
      CHECK(folder.get_string(key) == value.get<std::string>());
      CHECK_THROWS_WITH(folder.get_bool(key), Contains("config key '" + key + "' must be true or false"));
    } else if (value.is_null()) {
      CHECK_FALSE(folder.find_int(key).has_value());
      CHECK_FALSE(folder.find_string(key).has_value());
      CHECK_THROWS_WITH(folder.get_double(key), Contains("config key '" + key + "' is missing"));
    }
  }
  CHECK(folder.architectures() == expected["architectures"].get<std::vector<std::string>>());
}

}  // namespace

TEST_CASE("a tiny GPT-2 saved by transformers lists every tensor with its values", "[hf_folder]") {
  const auto expected = read_json(kFixtures / "gpt2.json");
  const auto folder = iglens::HfFolder::open(kFixtures / "gpt2");
  REQUIRE(folder.files().size() == 1);
  check_tensors(folder, expected["tensors"]);
  check_config(folder, expected["config"]);
  CHECK(folder.get_int("n_layer") == 2);
  CHECK(folder.get_double("layer_norm_epsilon") == 1e-5);
  CHECK(folder.architectures() == std::vector<std::string>{"GPT2LMHeadModel"});
  // Tied to the embedding, so save_pretrained leaves it out.
  CHECK_FALSE(folder.has_tensor("lm_head.weight"));
}

TEST_CASE("a tiny Llama saved by transformers in 30 KB shards lists every tensor with its values", "[hf_folder]") {
  const auto expected = read_json(kFixtures / "llama.json");
  const auto folder = iglens::HfFolder::open(kFixtures / "llama");
  CHECK(folder.files().size() == expected["files"].size());
  CHECK(folder.files().size() > 1);
  check_tensors(folder, expected["tensors"]);
  check_config(folder, expected["config"]);
  CHECK(folder.get_string("model_type") == "llama");
  CHECK(folder.get_double("rms_norm_eps") == 1e-6);
  CHECK(folder.get_bool("tie_word_embeddings") == false);
}

TEST_CASE("a hand-made sharded folder: tensors, dtypes and config getters", "[hf_folder]") {
  const auto expected = read_json(kFixtures / "sharded.json");
  const auto path = kFixtures / "sharded";
  const auto folder = iglens::HfFolder::open(path);
  check_tensors(folder, expected["tensors"]);
  for (const auto& [name, tensor] : expected["tensors"].items()) {
    CHECK(iglens::dtype_name(folder.tensor(name).info.dtype) == tensor["dtype"].get<std::string>());
  }
  check_config(folder, expected["config"]);
  const auto config = (path / "config.json").string();
  CHECK(folder.config()["hidden_size"] == 8);
  CHECK(folder.get_double("rope_theta") == 10000.0);  // an integer in the file
  CHECK(folder.get_int("negative") == -3);
  CHECK(folder.find_int("hidden_size") == std::int64_t(8));
  CHECK(folder.find_double("rms_norm_eps") == 1e-6);
  CHECK(folder.find_string("model_type") == std::string("tiny"));
  CHECK(folder.find_bool("tie_word_embeddings") == false);
  CHECK_FALSE(folder.find_int("absent").has_value());
  CHECK_FALSE(folder.find_bool("absent").has_value());
  REQUIRE_THROWS_WITH(folder.get_int("absent"), Contains(config + ": config key 'absent' is missing"));
  REQUIRE_THROWS_WITH(folder.get_string("absent"), Contains(config + ": config key 'absent' is missing"));
  REQUIRE_THROWS_WITH(folder.get_int("model_type"),
                      Contains(config + ": config key 'model_type' must be an integer, found \"tiny\""));
  REQUIRE_THROWS_WITH(folder.find_int("too_big"),
                      Contains(config + ": config key 'too_big' = 9223372036854775808 is too large"));
  REQUIRE_THROWS_WITH(folder.get_double("model_type"), Contains(config + ": config key 'model_type' must be a number"));
  REQUIRE_THROWS_WITH(folder.find_string("hidden_size"),
                      Contains(config + ": config key 'hidden_size' must be a string, found 8"));
  REQUIRE_THROWS_WITH(folder.get_bool("hidden_size"),
                      Contains(config + ": config key 'hidden_size' must be true or false, found 8"));
  CHECK_FALSE(folder.has_tensor("lm_head.weight"));
  REQUIRE_THROWS_WITH(folder.tensor("lm_head.weight"),
                      Contains("Hugging Face folder '" + path.string() + "' has no tensor 'lm_head.weight'"));
  float unused[1];
  REQUIRE_THROWS_WITH(folder.to_float32("lm_head.weight", unused), Contains("has no tensor 'lm_head.weight'"));
}

TEST_CASE("broken Hugging Face folders are one-line errors naming the file or folder", "[hf_folder]") {
  const fs::path valid = kFixtures / "sharded";
  const fs::path broken = kFixtures / "broken_hf_folders";
  const std::string index_name = "model.safetensors.index.json";
  const auto valid_index = read_json(valid / index_name);
  // A fresh copy of the valid sharded folder, edited by `edit`.
  const auto folder_of = [&](const std::string& name, const std::function<void(const fs::path&)>& edit) {
    const auto folder = broken / name;
    fs::remove_all(folder);
    fs::create_directories(folder);
    fs::copy(valid, folder, fs::copy_options::recursive);
    edit(folder);
    return folder;
  };
  const auto with_weight_map = [&](const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
    return folder_of(name, [&](const fs::path& folder) {
      auto index = valid_index;
      edit(index["weight_map"]);
      write_text(folder / index_name, index.dump());
    });
  };

  struct Case {
    const char* name;
    std::function<fs::path()> make;  // builds the folder, returns its path
    std::function<std::string(const fs::path&)> message;
  };
  const auto in_folder = [](std::string text) {
    return [text](const fs::path& folder) { return "Hugging Face folder '" + folder.string() + "' " + text; };
  };
  const auto in_file = [](std::string file, std::string text) {
    return [file, text](const fs::path& folder) { return (folder / file).string() + ": " + text; };
  };
  const std::vector<Case> cases{
      {"missing folder", [&] { return broken / "does_not_exist"; }, in_folder("does not exist")},
      {"a file, not a folder", [&] { return valid / "config.json"; }, in_folder("is not a folder")},
      {"no config.json", [&] { return folder_of("no_config", [](auto& f) { fs::remove(f / "config.json"); }); },
       in_folder("has no config.json")},
      {"config.json not JSON",
       [&] { return folder_of("config_not_json", [](auto& f) { write_text(f / "config.json", "{\"a\": "); }); },
       in_file("config.json", "is not valid JSON")},
      {"config.json number overflow",
       [&] { return folder_of("config_1e999", [](auto& f) { write_text(f / "config.json", "{\"a\": 1e999}"); }); },
       in_file("config.json", "is not valid JSON")},
      {"config.json not an object",
       [&] { return folder_of("config_array", [](auto& f) { write_text(f / "config.json", "[1]"); }); },
       in_file("config.json", "must be a JSON object, found array")},
      {"config.json a folder",
       [&] {
         return folder_of("config_folder", [](auto& f) {
           fs::remove(f / "config.json");
           fs::create_directory(f / "config.json");
         });
       },
       in_file("config.json", "is a folder, not a file")},
      {"no weights", [&] { return folder_of("no_weights", [&](auto& f) { fs::remove(f / index_name); }); },
       in_folder("has no model.safetensors or model.safetensors.index.json (pytorch_model.bin is not read: "
                 "convert it to safetensors)")},
      {"index not JSON",
       [&] { return folder_of("index_not_json", [&](auto& f) { write_text(f / index_name, "weight_map"); }); },
       in_file(index_name, "is not valid JSON")},
      {"index without weight_map",
       [&] { return folder_of("no_weight_map", [&](auto& f) { write_text(f / index_name, "{\"metadata\": {}}"); }); },
       in_file(index_name, "has no weight_map object (tensor name -> shard file)")},
      {"index naming a missing shard",
       [&] { return folder_of("missing_shard", [](auto& f) { fs::remove(f / "model-00002-of-00002.safetensors"); }); },
       in_file(index_name,
               "shard 'model-00002-of-00002.safetensors' of tensor 'layers.1.weight' does not exist in the folder")},
      {"index with a ../ path",
       [&] {
         return with_weight_map("dot_dot",
                                [](auto& m) { m["norm.weight"] = "../sharded/model-00002-of-00002.safetensors"; });
       },
       in_file(index_name,
               "shard '../sharded/model-00002-of-00002.safetensors' of tensor 'norm.weight' is not a file name inside "
               "the folder")},
      {"index with an absolute path",
       [&] {
         return with_weight_map(
             "absolute", [&](auto& m) { m["norm.weight"] = (valid / "model-00002-of-00002.safetensors").string(); });
       },
       in_file(index_name, "shard '" + (valid / "model-00002-of-00002.safetensors").string() +
                               "' of tensor 'norm.weight' is not a file name inside the folder")},
      {"index with a shard that is not a string",
       [&] { return with_weight_map("shard_number", [](auto& m) { m["norm.weight"] = 2; }); },
       in_file(index_name, "weight_map['norm.weight'] must be a shard file name, found 2")},
      {"index whose shard lacks the tensor",
       [&] {
         return with_weight_map("wrong_shard", [](auto& m) { m["norm.weight"] = "model-00001-of-00002.safetensors"; });
       },
       in_file(
           index_name,
           "tensor 'norm.weight' is indexed in shard 'model-00001-of-00002.safetensors', which has no such tensor")},
      {"index naming a tensor no shard has",
       [&] {
         return with_weight_map("extra_tensor",
                                [](auto& m) { m["lm_head.weight"] = "model-00001-of-00002.safetensors"; });
       },
       in_file(
           index_name,
           "tensor 'lm_head.weight' is indexed in shard 'model-00001-of-00002.safetensors', which has no such tensor")},
      {"a broken shard",
       [&] {
         return folder_of("broken_shard", [](auto& f) { fs::resize_file(f / "model-00002-of-00002.safetensors", 4); });
       },
       in_file("model-00002-of-00002.safetensors", "is 4 bytes, too short for a safetensors file")},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const auto folder = c.make();
      REQUIRE_THROWS_WITH(iglens::HfFolder::open(folder), Contains(c.message(folder)) && !Contains("\n"));
    }
  }
}
