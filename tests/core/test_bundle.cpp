// A bundle written by python/export_gpt2.py, read from C++: the C++
// side reproduces Python's logits and residual stream (golden file written by
// the exporter), and every broken file gives an error naming the file.
// CTest exports the bundle first and passes its paths in the environment.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"

using namespace iglens;
using namespace iglens::testing;

namespace {

std::string env_path(const char* name) {
  const char* value = std::getenv(name);
  REQUIRE(value != nullptr);
  return value;
}

torch::Tensor tensor_from_json(const nlohmann::json& j) {
  std::vector<std::int64_t> shape;
  for (const auto* level = &j; level->is_array(); level = &level->front()) shape.push_back(level->size());
  std::vector<float> flat;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& x) {
    if (x.is_array()) {
      for (const auto& item : x) walk(item);
    } else {
      flat.push_back(x.get<float>());
    }
  };
  walk(j);
  return torch::tensor(flat).view(shape);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

}  // namespace

TEST_CASE("C++ reproduces the exporter's logits and residual stream", "[.bundle]") {
  auto bundle = Bundle::load(env_path("IGLENS_TINY_BUNDLE"));
  auto golden = nlohmann::json::parse(read_file(env_path("IGLENS_TINY_GOLDEN")));
  auto ids = torch::tensor(golden["prompt_ids"].get<std::vector<std::int64_t>>()).unsqueeze(0);
  torch::NoGradGuard no_grad;
  auto logits = bundle.logits(ids)[0];
  auto residual = bundle.residual_stream(ids).select(1, 0);
  const double logits_diff = max_abs_diff(logits, tensor_from_json(golden["logits"]));
  const double residual_diff = max_abs_diff(residual, tensor_from_json(golden["residual_stream"]));
  std::printf("%s logits vs Python          max|diff| %.2e\n", logits_diff <= 1e-5 ? "OK    " : "NOT OK", logits_diff);
  std::printf("%s residual stream vs Python max|diff| %.2e\n", residual_diff <= 1e-5 ? "OK    " : "NOT OK",
              residual_diff);
  CHECK(logits_diff <= 1e-5);
  CHECK(residual_diff <= 1e-5);
  CHECK(bundle.info().n_layer + 1 == residual.size(0));
}

TEST_CASE("a bundle is a model: closed-form readout from its metadata", "[.bundle]") {
  auto bundle = Bundle::load(env_path("IGLENS_TINY_BUNDLE"));
  const auto& info = bundle.info();
  CHECK(info.architecture == "gpt2");
  CHECK(info.norm_kind == NormKind::layer_norm);
  CHECK(bundle.tokenizer().vocab_size() == info.vocab_size);
  const std::string text = "To be, or not to be";
  auto ids = bundle.tokenizer().encode(text);
  CHECK(bundle.tokenizer().decode(ids) == text);

  Lens<Bundle> lens(bundle);
  auto targets = Targets::next_tokens(ids);
  Options o;
  o.estimator = Estimator::gauss_legendre;
  o.steps = 8;
  auto closed = lens.attribute(torch::tensor(ids), targets, o);
  auto black_box = attribute(lens.residual_stream(torch::tensor(ids).unsqueeze(0)).squeeze(1), targets,
                             bundle.script().readout(), o);
  CHECK(max_abs_diff(closed.ig, black_box.ig) <= 1e-5);
  auto observed = lens.attribute(torch::tensor(ids), targets, Options{});
  CHECK(observed.completeness_error <= 1e-6);
  torch::NoGradGuard no_grad;
  auto probs = bundle.logits(torch::tensor(ids).unsqueeze(0))[0].softmax(-1);
  for (std::size_t t = 0; t < targets.size(); ++t) {
    CHECK(std::abs(observed.f_final[t].item<double>() - probs[t][targets.ids[t]].item<double>()) <= 1e-5);
  }
  std::vector<std::int64_t> too_long(info.context_length + 1, 1);
  CHECK_THROWS_WITH(lens.attribute(torch::tensor(too_long), Targets::next_tokens(too_long), Options{}),
                    Catch::Contains("exceed the model's context length of 64"));
}

TEST_CASE("broken bundle files give errors that name the file and the problem", "[.bundle]") {
  const auto good = env_path("IGLENS_TINY_BUNDLE");
  const auto dir = std::filesystem::path(good).parent_path() / "broken_bundles";
  std::filesystem::create_directories(dir);
  const auto bytes = read_file(good);
  auto loaded = torch::jit::load(good);
  torch::jit::ExtraFilesMap extra{{"iglens.json", ""}, {"vocab.json", ""}, {"merges.txt", ""}};
  torch::jit::load(good, torch::kCPU, extra);
  auto meta = nlohmann::json::parse(extra["iglens.json"]);

  auto with_meta = [&](const std::string& name, const std::string& iglens_json) {
    auto path = (dir / name).string();
    auto files = extra;
    files["iglens.json"] = iglens_json;
    loaded.save(path, files);
    return path;
  };
  auto with_field = [&](const std::string& name, const nlohmann::json::json_pointer& field, nlohmann::json value) {
    auto changed = meta;
    changed[field] = std::move(value);
    return with_meta(name, changed.dump());
  };
  auto raw = [&](const std::string& name, const std::string& content) {
    auto path = (dir / name).string();
    write_file(path, content);
    return path;
  };
  auto without = [&](const std::string& name, const std::string& removed) {
    auto path = (dir / name).string();
    auto files = extra;
    files.erase(removed);
    loaded.save(path, files);
    return path;
  };
  auto without_field = [&](const std::string& name, const std::string& field) {
    auto changed = meta;
    changed.erase(field);
    return with_meta(name, changed.dump());
  };

  const std::vector<std::pair<std::string, std::string>> cases{
      {(dir / "missing.pt").string(), "does not exist or is not readable"},
      {raw("empty.pt", ""), "is empty"},
      {raw("text.pt", "hello, I am not a model\n"), "is not a readable TorchScript archive"},
      {raw("truncated_10.pt", bytes.substr(0, 10)), "is not a readable TorchScript archive"},
      {raw("truncated_half.pt", bytes.substr(0, bytes.size() / 2)), "is not a readable TorchScript archive"},
      {raw("truncated_end.pt", bytes.substr(0, bytes.size() - 100)), "is not a readable TorchScript archive"},
      {without("no_meta.pt", "iglens.json"), "has no iglens.json inside"},
      {without("no_vocab.pt", "vocab.json"), "has no tokenizer file 'vocab.json' inside"},
      {with_meta("not_json.pt", "{ this is not json"), "iglens.json is not valid JSON"},
      {with_meta("json_array.pt", "[1, 2]"), "iglens.json must be a JSON object"},
      {with_meta("overflow.pt", R"({"format_version": 1e999})"), "iglens.json is not valid JSON"},
      {with_field("version.pt", "/format_version"_json_pointer, 99), "format_version 99; this IG-Lens reads version 1"},
      {with_field("layers_type.pt", "/n_layer"_json_pointer, "two"), "field 'n_layer' must be an integer"},
      {with_field("layers_range.pt", "/n_layer"_json_pointer, 0), "field 'n_layer' = 0 must be at least 1"},
      {with_field("layers_huge.pt", "/n_layer"_json_pointer, std::uint64_t(1) << 63),
       "field 'n_layer' = 9223372036854775808 is too large"},
      {with_field("norm_kind.pt", "/final_norm/kind"_json_pointer, "batchnorm"), "final_norm.kind is 'batchnorm'"},
      {with_field("eps.pt", "/final_norm/eps"_json_pointer, -1.0), "final_norm.eps = -1 is out of range"},
      {with_field("param.pt", "/final_norm/weight"_json_pointer, "no.such.weight"),
       "names parameter 'no.such.weight', which the model does not have"},
      {with_field("param_shape.pt", "/d_model"_json_pointer, 31), "has shape [32]; iglens.json implies [31]"},
      {with_field("vocab_size.pt", "/vocab_size"_json_pointer, 300),
       "the tokenizer has 257 tokens but iglens.json says vocab_size 300"},
      {with_field("special.pt", "/special_tokens"_json_pointer, {{"<|endoftext|>", 999}}),
       "special_tokens['<|endoftext|>']"},
      {without_field("no_head.pt", "unembedding"), "has no field 'unembedding'"},
  };
  for (const auto& [path, message] : cases) {
    INFO("file " << path);
    try {
      Bundle::load(path);
      FAIL_CHECK("no error");
    } catch (const iglens::Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(message) && Catch::Contains(path));
    }
  }
  // A TorchScript file without the lens methods.
  torch::jit::Module plain("Plain");
  plain.define("def forward(self, x):\n    return x\n");
  const auto plain_path = (dir / "plain.pt").string();
  plain.save(plain_path, extra);
  CHECK_THROWS_WITH(Bundle::load(plain_path),
                    Catch::Contains("has no method 'residual_stream'") && Catch::Contains(plain_path));
}
