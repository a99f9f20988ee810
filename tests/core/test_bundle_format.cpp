// The C++ reader of iglens.json against the one description of the bundle
// format, the JSON Schema in docs/bundle-format.md: the schema's example reads
// back field by field, every field it requires is required, and every value
// it rules out is refused with the field's name.

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/model_files/bundle_info.hpp"

using iglens::BundleInfo;
using Json = nlohmann::json;  // minja, in the same unity build, names ::json its ordered_json

namespace {

Json bundle_schema() {
  std::ifstream file(IGLENS_BUNDLE_FORMAT_DOC);
  REQUIRE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  const auto doc = text.str();
  const std::string open = "```json\n";
  const auto start = doc.find(open);
  REQUIRE(start != std::string::npos);
  const auto body = start + open.size();
  return Json::parse(doc.substr(body, doc.find("```", body) - body));
}

BundleInfo parse(const Json& document) { return BundleInfo::parse(document.dump(), "test.pt"); }

// A field of iglens.json with its rule: top-level properties and those of
// the objects they hold.
struct Field {
  Json::json_pointer pointer;
  std::string name;  // as the reader's messages write it: "n_layer", "final_norm.eps"
  Json rule;
};

std::vector<Field> fields_of(const Json& schema) {
  std::vector<Field> fields;
  for (const auto& [key, rule] : schema["properties"].items()) {
    fields.push_back({Json::json_pointer("/" + key), key, rule});
    if (rule.contains("properties")) {
      for (const auto& [inner, inner_rule] : rule["properties"].items()) {
        fields.push_back({Json::json_pointer("/" + key + "/" + inner), key + "." + inner, inner_rule});
      }
    }
  }
  return fields;
}

bool allows(const Json& rule, const std::string& type) {
  const auto& types = rule.value("type", Json());
  return types == type || (types.is_array() && std::find(types.begin(), types.end(), type) != types.end());
}

// Values the rule rules out, one per constraint it states.
std::vector<Json> ruled_out(const Json& rule) {
  std::vector<Json> values;
  if (rule.contains("const")) values.push_back(rule["const"].get<std::int64_t>() + 1);
  if (rule.contains("enum")) values.push_back("not-" + rule["enum"][0].get<std::string>());
  if (allows(rule, "integer")) {
    values.push_back("seven");
    if (rule.contains("minimum")) values.push_back(rule["minimum"].get<std::int64_t>() - 1);
  }
  if (allows(rule, "number") && !allows(rule, "integer")) {
    values.push_back("seven");
    if (rule.contains("minimum")) values.push_back(rule["minimum"].get<double>() - 0.5);
    if (rule.contains("exclusiveMaximum")) values.push_back(rule["exclusiveMaximum"]);
  }
  if (allows(rule, "string") && rule.value("minLength", 0) > 0) values.push_back("");
  if (allows(rule, "array")) values.push_back("forward");
  if (allows(rule, "object")) {
    values.push_back(7);
    if (rule.contains("additionalProperties") && rule["additionalProperties"].contains("minimum")) {
      values.push_back(Json{{"<|x|>", rule["additionalProperties"]["minimum"].get<std::int64_t>() - 1}});
    }
  }
  return values;
}

}  // namespace

TEST_CASE("the format's example reads back field by field", "[bundle-format]") {
  const auto example = bundle_schema()["examples"][0];
  const auto info = parse(example);
  CHECK(info.architecture == example["architecture"]);
  CHECK(info.n_layer == example["n_layer"]);
  CHECK(info.d_model == example["d_model"]);
  CHECK(info.n_head == example["n_head"]);
  CHECK(info.vocab_size == example["vocab_size"]);
  CHECK(info.context_length == example["context_length"]);
  CHECK(info.norm_kind == iglens::NormKind::layer_norm);
  CHECK(info.norm_eps == example["final_norm"]["eps"].get<double>());
  CHECK(info.norm_weight == example["final_norm"]["weight"]);
  CHECK(info.norm_bias == example["final_norm"]["bias"]);
  CHECK(info.unembedding_weight == example["unembedding"]["weight"]);
  CHECK(info.unembedding_bias.empty());  // null: no bias
  CHECK(Json(info.special_tokens) == example["special_tokens"]);
  CHECK(info.vocab_file == example["tokenizer"]["vocab"]);
  CHECK(info.merges_file == example["tokenizer"]["merges"]);
  CHECK(info.source == example["source"]);
  CHECK(Json(info.methods) == example["methods"]);
}

TEST_CASE("every field the format requires is required by the reader", "[bundle-format]") {
  const auto schema = bundle_schema();
  const auto example = schema["examples"][0];
  std::size_t checked = 0;
  for (const auto& field : fields_of(schema)) {
    const auto& parent = field.pointer.parent_pointer();
    const auto& parent_rule = parent.empty() ? schema : schema["properties"][parent.back()];
    const auto& required = parent_rule.value("required", Json::array());
    if (std::find(required.begin(), required.end(), field.pointer.back()) == required.end()) continue;
    auto document = example;
    document[parent].erase(field.pointer.back());
    INFO("without " << field.name);
    CHECK_THROWS_WITH(parse(document), Catch::Contains(field.name));
    ++checked;
  }
  CHECK(checked == 11 + 3 + 1 + 2);  // top level, final_norm, unembedding, tokenizer
}

TEST_CASE("every value the format rules out is refused, naming the field", "[bundle-format]") {
  const auto schema = bundle_schema();
  const auto example = schema["examples"][0];
  std::size_t checked = 0;
  for (const auto& field : fields_of(schema)) {
    for (const auto& bad : ruled_out(field.rule)) {
      auto document = example;
      document[field.pointer] = bad;
      INFO(field.name << " = " << bad.dump());
      CHECK_THROWS_WITH(parse(document), Catch::Contains(field.name));
      ++checked;
    }
  }
  CHECK(checked >= 25);
}
