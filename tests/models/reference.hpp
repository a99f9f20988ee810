#pragma once
// Reference data that write_transformers_reference.py wrote into the build
// folder (the CTest fixtures models_tiny and models_smollm2), as tensors.

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include "iglens/error.hpp"

namespace iglens::testing {

// The folder the fixtures write to, from IGLENS_MODEL_REFERENCE.
inline std::string reference_dir() {
  const char* dir = std::getenv("IGLENS_MODEL_REFERENCE");
  if (dir == nullptr) FAIL("IGLENS_MODEL_REFERENCE is not set: run the test through ctest (fixture models_tiny)");
  return dir;
}

// A broken model file or folder the reference script wrote.
inline std::string bad_input(const std::string& name) { return reference_dir() + "/tiny/bad/" + name; }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream file(path);
  if (!file) FAIL("cannot read " << path);
  return nlohmann::json::parse(file);
}

// Nested JSON arrays of numbers as a float64 tensor.
inline torch::Tensor json_tensor(const nlohmann::json& value) {
  std::vector<std::int64_t> shape;
  for (const auto* level = &value; level->is_array(); level = &(*level)[0]) shape.push_back(level->size());
  std::vector<double> flat;
  auto flatten = [&](const nlohmann::json& v, auto& self) -> void {
    if (v.is_array()) {
      for (const auto& item : v) self(item, self);
    } else {
      flat.push_back(v.get<double>());
    }
  };
  flatten(value, flatten);
  return torch::tensor(flat, torch::kFloat64).reshape(shape);
}

// A raw little-endian float64 file of the given shape.
inline torch::Tensor raw_f64_tensor(const std::string& path, const std::vector<std::int64_t>& shape) {
  auto out = torch::empty(shape, torch::kFloat64);
  std::ifstream file(path, std::ios::binary);
  file.read(reinterpret_cast<char*>(out.data_ptr<double>()), out.numel() * sizeof(double));
  if (!file || file.peek() != std::ifstream::traits_type::eof())
    FAIL(path << " does not hold " << out.numel() << " float64 values");
  return out;
}

struct ReferenceSequence {
  std::vector<std::int64_t> ids;
  torch::Tensor logits;           // [S, V]
  torch::Tensor residual_stream;  // [L+1, S, d], the last before the final norm
};

// A tiny model's reference: <reference_dir>/<group>/<name>.json (group "tiny" or "converted").
inline std::vector<ReferenceSequence> tiny_reference(const std::string& name, const std::string& group = "tiny") {
  const auto json = read_json(reference_dir() + "/" + group + "/" + name + ".json");
  std::vector<ReferenceSequence> sequences;
  for (const auto& s : json.at("sequences")) {
    sequences.push_back({s.at("ids").get<std::vector<std::int64_t>>(), json_tensor(s.at("logits")),
                         json_tensor(s.at("residual_stream"))});
  }
  return sequences;
}

// SmolLM2's reference: <reference_dir>/smollm2/{reference.json, logits_i.f64, residual_i.f64}.
inline std::vector<ReferenceSequence> smollm2_reference() {
  const auto dir = reference_dir() + "/smollm2/";
  const auto json = read_json(dir + "reference.json");
  std::vector<ReferenceSequence> sequences;
  for (std::size_t i = 0; i < json.at("sequences").size(); ++i) {
    const auto& s = json["sequences"][i];
    sequences.push_back({s.at("ids").get<std::vector<std::int64_t>>(),
                         raw_f64_tensor(dir + "logits_" + std::to_string(i) + ".f64",
                                        s.at("logits_shape").get<std::vector<std::int64_t>>()),
                         raw_f64_tensor(dir + "residual_" + std::to_string(i) + ".f64",
                                        s.at("residual_shape").get<std::vector<std::int64_t>>())});
  }
  return sequences;
}

inline torch::Tensor ids_tensor(const std::vector<std::int64_t>& ids) {
  return torch::tensor(ids, torch::kLong).unsqueeze(0);
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// The message of the iglens::Error that `load` throws, checked to be one line.
template <class Load>
std::string error_of(Load&& load) {
  try {
    load();
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find('\n') == std::string::npos);
    return message;
  }
  FAIL("no iglens::Error was thrown");
  return {};
}

}  // namespace iglens::testing
