// iglens::load_model, the library's front door for model files: a bundle, a
// GGUF file and a Hugging Face folder each load by their path into one kind
// of model, with a typed description that agrees with the model's own
// configuration and with the JSON `iglens info` prints.

#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "iglens/lens/lens.hpp"
#include "iglens/models/load_gguf.hpp"
#include "iglens/models/load_hf.hpp"
#include "iglens/models/load_model.hpp"
#include "iglens/models/memory_fit.hpp"
#include "iglens/prompts/prompt_lens.hpp"
#include "reference.hpp"

using namespace iglens;
using iglens::testing::ids_tensor;
using iglens::testing::max_abs_diff;

namespace {

std::string reference_path(const std::string& relative) { return iglens::testing::reference_dir() + "/" + relative; }

// The description's numbers are those `iglens info` prints.
void check_info_agrees(const LoadedModel& model) {
  const auto& d = model.description();
  const auto& info = model.info();
  CHECK(info.at("path") == d.path);
  CHECK(info.at("format") == d.format);
  CHECK(info.at("n_layer") == d.n_layer);
  CHECK(info.at("d_model") == d.d_model);
  CHECK(info.at("n_head") == d.n_head);
  CHECK(info.at("vocab_size") == d.vocab_size);
  CHECK(info.at("context_length") == d.context_length);
}

}  // namespace

TEST_CASE("load_model: a GGUF file, with its family, sizes, special tokens and end tokens", "[models][load_model]") {
  const auto path = reference_path("current/gemma2.gguf");
  auto model = load_model(path);
  const auto& d = model.description();
  CHECK(d.format == "gguf");
  CHECK(d.family == "gemma2");
  CHECK((d.n_layer == 3 && d.d_model == 32 && d.n_head == 4 && d.vocab_size == 320 && d.context_length == 64));
  CHECK((d.bos_id == 2 && d.eos_id == 1 && d.adds_bos));
  CHECK(d.end_ids == std::vector<std::int64_t>{1});
  CHECK_FALSE(d.has_chat_template);
  check_info_agrees(model);
  // The same model as the GGUF loader's, and the same tokenizer as loading it alone gives.
  auto direct = load_gguf_decoder(path);
  torch::NoGradGuard no_grad;
  const auto ids = ids_tensor({2, 294, 262, 269, 281});
  CHECK(max_abs_diff(model.logits(ids), direct.logits(ids)) == 0.0);
  CHECK(load_model_tokenizer(path).encode("The rivers") == model.tokenizer().encode("The rivers"));
  CHECK(model.residual_stream(ids).sizes() == torch::IntArrayRef({4, 1, 5, 32}));
}

TEST_CASE("load_model: a Hugging Face folder and a bundle", "[models][load_model]") {
  auto mistral = load_model(reference_path("current/mistral_window"));
  CHECK(mistral.description().format == "huggingface");
  CHECK(mistral.description().family == "mistral");
  CHECK(mistral.description().n_layer == 2);
  CHECK(mistral.tokenizer().pre_tokenizer() == PreTokenizer::sentencepiece);
  check_info_agrees(mistral);

  auto bundle = load_model(reference_path("tiny/gpt2_bundle.pt"));
  const auto& d = bundle.description();
  CHECK(d.format == "iglens-bundle");
  CHECK(d.family == "gpt2");
  // GPT-2's end of text is its BOS and EOS, and ends an answer; a bundle has no chat template.
  CHECK((d.eos_id.has_value() && d.end_ids == std::vector<std::int64_t>{*d.eos_id}));
  CHECK_FALSE(load_model_chat_template(d.path).has_value());
  check_info_agrees(bundle);
}

TEST_CASE("load_model: a path that is no model is a one-line error", "[models][load_model]") {
  CHECK_THROWS_AS(load_model(reference_path("no/such/model.gguf")), Error);
  CHECK_THROWS_AS(load_model(reference_path("current/gemma2.json")), Error);
}

TEST_CASE("PromptLens: a prompt's greedy answer, its map and its components, as a report", "[models][prompt_lens]") {
  const auto path = reference_path("current/gemma2.gguf");
  PromptSettings settings;
  settings.options.dtype = torch::kFloat64;
  settings.options.steps = 8;
  settings.components = true;
  settings.max_new_tokens = 3;
  PromptLens lens(load_model(path), settings);
  auto& model = lens.model();
  const PromptRequest request{"The rivers", std::nullopt, {}};
  const auto report = lens.attribute(request);
  CHECK(report.model == path);
  CHECK(report.mode == "generate");
  CHECK(report.dtype == "float64");
  const auto prompt_ids = model.tokenizer().encode("The rivers", {false, true});
  CHECK(report.prompt_ids == prompt_ids);
  REQUIRE_FALSE(report.tokens.empty());
  // The answer is the greedy one, each token read at the position before it.
  auto sequence = prompt_ids;
  torch::NoGradGuard no_grad;
  for (const auto& row : report.tokens) {
    CHECK(row.position == static_cast<std::int64_t>(sequence.size()) - 1);
    CHECK(row.target_id == model.logits(ids_tensor(sequence))[0][-1].argmax().item<std::int64_t>());
    CHECK(row.target == model.tokenizer().token_text(row.target_id));
    double ig = 0.0, parts = 0.0;
    for (const double v : row.ig) ig += v;
    for (const double v : row.component_credits) parts += v;
    CHECK(std::abs(ig - row.delta) <= 1e-12);
    CHECK(std::abs(parts - row.delta) <= 1e-12);
    sequence.push_back(row.target_id);
  }
  REQUIRE(report.components.has_value());
  CHECK(report.components->layout.size() == 1 + 3 * (4 + 2));
  CHECK(report.components->steps == 8);

  // Teacher forced, against the model's runner-up at each position.
  PromptSettings contrast;
  contrast.options.dtype = torch::kFloat64;
  contrast.options.objective = Objective::probability_difference;
  contrast.automatic_foil = true;
  PromptLens foils(load_model(path), contrast);
  const auto forced = foils.attribute({"The rivers", std::string(" run to the sea"), {}});
  CHECK(forced.mode == "target");
  auto forced_ids = prompt_ids;
  for (const auto& row : forced.tokens) {
    const auto logits = foils.model().logits(ids_tensor(forced_ids))[0][-1];
    const auto top_two = std::get<1>(logits.topk(2));
    const auto first = top_two[0].item<std::int64_t>();
    CHECK(row.foil_id == (first != row.target_id ? first : top_two[1].item<std::int64_t>()));
    forced_ids.push_back(row.target_id);
  }
}

TEST_CASE("PromptLens: settings it cannot honour are one-line errors before any prompt", "[models][prompt_lens]") {
  const auto path = reference_path("current/gemma2.gguf");
  using iglens::testing::error_of;
  PromptSettings some_layers;
  some_layers.components = true;
  some_layers.options.layers = LayerSelection::evenly_spaced(1);
  CHECK(error_of([&] { PromptLens(load_model(path), some_layers); }).find("--components splits every block") !=
        std::string::npos);
  PromptSettings stop;
  stop.stop_ids = {320};
  CHECK(error_of([&] { PromptLens(load_model(path), stop); }).find("stop token 320 is outside the vocabulary") !=
        std::string::npos);
  PromptSettings foil;
  foil.fixed_foil = 5;
  CHECK(error_of([&] { foil.validate(); }).find("--foil is only used with --objective prob-diff") != std::string::npos);
  PromptSettings plain;
  PromptLens lens(load_model(path), plain);
  CHECK(error_of([&] { lens.attribute({"", std::nullopt, {}}); }).find("empty prompt") != std::string::npos);
  CHECK(error_of([&] {
          lens.attribute({"hi", std::nullopt, {{"user", "hi"}}});
        }).find("has no chat template: give one with --chat-template FILE") != std::string::npos);
}

TEST_CASE("Lens over a loaded model: components and their sources from one forward pass", "[models][sources]") {
  Lens<LoadedModel> lens(load_model(reference_path("current/gemma2.gguf")));
  lens.model().to(torch::kFloat64);
  const std::vector<std::int64_t> ids{2, 294, 262, 269, 281};
  const Targets targets{{3, 4}, {269, 281}, {}};
  Options options;
  options.dtype = torch::kFloat64;
  options.steps = 16;
  const auto components = lens.attribute_components(torch::tensor(ids), targets, options);
  const auto sources = lens.attribute_sources(torch::tensor(ids), targets, options);
  // The component split alone does not record what the heads read (an [L, H, S, S] pattern and more).
  static_assert(iglens::detail::chooses_sources<LoadedModel>::value);
  CHECK_FALSE(lens.model().components(torch::tensor(ids).unsqueeze(0), false).has_sources());
  CHECK(lens.model().components(torch::tensor(ids).unsqueeze(0)).has_sources());
  CHECK(max_abs_diff(sources.layers.ig, components.layers.ig) == 0.0);
  CHECK(max_abs_diff(sources.sources.components.credits, components.components.credits) == 0.0);
  const auto H = lens.model().description().n_head;
  for (std::int64_t t = 0; t < 2; ++t) {
    for (std::int64_t l = 0; l < lens.model().description().n_layer; ++l) {
      const auto heads = components.components.credits[t].narrow(0, 1 + l * (H + 2), H);
      CHECK(max_abs_diff(sources.sources.credits[t][l].sum(-1), heads) <= 1e-12);
    }
  }
  // A bundle exported with head_reads gives the same split as the Hugging Face folder it was exported from.
  Lens<LoadedModel> bundle(load_model(reference_path("tiny/gpt2_bundle.pt")));
  Lens<DecoderModel> folder(load_hf_decoder(reference_path("tiny/gpt2")));
  REQUIRE(bundle.model().has_sources());
  bundle.model().to(torch::kFloat64);
  folder.model().to(torch::kFloat64);
  const auto tiny_ids = torch::tensor(std::vector<std::int64_t>{5, 71, 33, 200, 9, 71});
  const Targets tiny_targets{{4, 5}, {71, 33}, {}};
  const auto from_bundle = bundle.attribute_sources(tiny_ids, tiny_targets, options);
  const auto from_folder = folder.attribute_sources(tiny_ids, tiny_targets, options);
  CHECK(from_bundle.sources.credits.abs().max().item<double>() > 1e-6);  // not a comparison of zeros
  CHECK(max_abs_diff(from_bundle.sources.credits, from_folder.sources.credits) <= 1e-10);
  CHECK(max_abs_diff(from_bundle.sources.components.credits, from_folder.sources.components.credits) <= 1e-10);
}

namespace {

// IGLENS_AVAILABLE_MEMORY set for one scope, as a user sets it.
struct AvailableMemoryGiven {
  explicit AvailableMemoryGiven(const std::string& value) { ::setenv("IGLENS_AVAILABLE_MEMORY", value.c_str(), 1); }
  ~AvailableMemoryGiven() { ::unsetenv("IGLENS_AVAILABLE_MEMORY"); }
};

}  // namespace

TEST_CASE("The memory a model may use: MemAvailable, a cgroup's limit, or IGLENS_AVAILABLE_MEMORY",
          "[models][memory]") {
  using iglens::detail::parse_byte_count;
  CHECK(parse_byte_count("123") == 123u);
  CHECK(parse_byte_count("512M") == std::uint64_t{512} << 20);
  CHECK(parse_byte_count("24g") == std::uint64_t{24} << 30);
  CHECK(parse_byte_count("16777215T") == std::uint64_t{16777215} << 40);
  for (const char* bad : {"", "G", "1.5G", "12MB", "-1", " 1", "99999999999999999999", "16777216T"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_byte_count(bad).has_value());
  }
  const std::string meminfo = "MemTotal:       24554884 kB\nMemFree:         1000 kB\nMemAvailable:   23854072 kB\n";
  CHECK(iglens::detail::meminfo_available(meminfo) == std::uint64_t{23854072} * 1024);
  CHECK_FALSE(iglens::detail::meminfo_available("MemTotal: 10 kB\n").has_value());
  // No limit: v2 writes "max", v1 a page-rounded INT64_MAX.
  CHECK_FALSE(iglens::detail::cgroup_limit("max\n").has_value());
  CHECK_FALSE(iglens::detail::cgroup_limit("9223372036854771712\n").has_value());
  CHECK(iglens::detail::cgroup_limit("4294967296\n") == std::uint64_t{4} << 30);
  // The smaller one counts, and is named.
  const auto limited = iglens::detail::available_memory_from(meminfo, "4294967296\n");
  REQUIRE(limited.has_value());
  CHECK((limited->bytes == std::uint64_t{4} << 30 && limited->source == "the cgroup's memory limit"));
  const auto unlimited = iglens::detail::available_memory_from(meminfo, "max\n");
  REQUIRE(unlimited.has_value());
  CHECK((unlimited->bytes == std::uint64_t{23854072} * 1024 && unlimited->source == "MemAvailable in /proc/meminfo"));
  CHECK_FALSE(iglens::detail::available_memory_from("", "").has_value());
  // This Linux machine says how much it has.
  const auto here = available_memory();
  REQUIRE(here.has_value());
  CHECK(here->bytes > 0);
  {
    const AvailableMemoryGiven given("3G");
    const auto said = available_memory();
    REQUIRE(said.has_value());
    CHECK((said->bytes == std::uint64_t{3} << 30 && said->source == "IGLENS_AVAILABLE_MEMORY"));
  }
  const AvailableMemoryGiven given("lots");
  CHECK(iglens::testing::error_of([] { available_memory(); }) ==
        "IGLENS_AVAILABLE_MEMORY must be a whole number of bytes, optionally with K, M, G or T (got 'lots')");
}

TEST_CASE("Widening a model's weights to float64 is refused where the memory for the wider copies is not available",
          "[models][memory]") {
  const auto path = reference_path("current/gemma2_q8_0.gguf");
  const auto file = GgufFile::open(path);
  // Counted once each, the float copies are every value of the file.
  CHECK(iglens::load_gguf_pretrained(path).model.float32_values_in_memory() * 4 ==
        weight_memory(iglens::detail::tensor_sizes(file), WeightStorage::float_copy));
  const auto kept_bytes =
      iglens::load_gguf_pretrained(path, WeightStorage::as_stored).model.float32_values_in_memory() * 4;
  auto model = load_model(path, WeightStorage::as_stored);
  torch::NoGradGuard no_grad;
  const auto ids = ids_tensor({3, 17, 42});
  const auto logits = model.logits(ids);
  {
    const AvailableMemoryGiven given(std::to_string(kept_bytes - 1));
    CHECK(iglens::testing::error_of([&] { model.to(torch::kFloat64); }) ==
          fmt::format("model '{}': its weights as float64 need about {} more than as float32, but {} of memory is "
                      "available (IGLENS_AVAILABLE_MEMORY); float32 (--dtype float32) needs none",
                      path, iglens::detail::memory_text(kept_bytes), iglens::detail::memory_text(kept_bytes - 1)));
    // Nothing was converted: the model runs as before.
    CHECK(torch::equal(model.logits(ids), logits));
  }
  {
    const AvailableMemoryGiven given(std::to_string(kept_bytes));
    model.to(torch::kFloat64);
    CHECK(model.logits(ids).scalar_type() == torch::kFloat64);
  }
  // A bundle counts its parameters; GPT-2's tied head is its embedding, counted once.
  auto bundle = load_model(reference_path("tiny/gpt2_bundle.pt"));
  const auto folder_bytes = iglens::load_hf_decoder(reference_path("tiny/gpt2")).float32_values_in_memory() * 4;
  CHECK(Bundle::load(reference_path("tiny/gpt2_bundle.pt")).float32_values_in_memory() * 4 == folder_bytes);
  const AvailableMemoryGiven given(std::to_string(folder_bytes - 1));
  CHECK_THAT(iglens::testing::error_of([&] { bundle.to(torch::kFloat64); }),
             Catch::StartsWith("model '" + reference_path("tiny/gpt2_bundle.pt") +
                               "': its weights as float64 need about " + iglens::detail::memory_text(folder_bytes)));
}

TEST_CASE("A model whose weights do not fit in the available memory is refused before they are read",
          "[models][memory]") {
  // Float copies hold 4 bytes a value; kept ones the file's bytes, except vectors in float32.
  const std::vector<TensorSize> sizes = {{{10, 4}, 20}, {{6, 4}, 12}, {{4}, 2}, {{10, 4}, 20}};
  CHECK(weight_memory(sizes, WeightStorage::float_copy) == (40 + 24 + 4 + 40) * 4);
  CHECK(weight_memory(sizes, WeightStorage::as_stored) == 20 + 12 + 4 * 4 + 20);

  // A Q8_0 file: its float32 weights need more memory than its kept ones.
  const auto path = reference_path("current/gemma2_q8_0.gguf");
  const auto file = GgufFile::open(path);
  const auto tensors = iglens::detail::tensor_sizes(file);
  const auto floats = weight_memory(tensors, WeightStorage::float_copy);
  const auto kept = weight_memory(tensors, WeightStorage::as_stored);
  REQUIRE(kept < floats);
  {
    const AvailableMemoryGiven given(std::to_string((floats + kept) / 2));
    const auto message = iglens::testing::error_of([&] { load_model(path); });
    CHECK(message == fmt::format("model file '{}': its weights as float32 need about {}, but {} of memory is available "
                                 "(IGLENS_AVAILABLE_MEMORY); kept as stored (--weights stored) they need about {}",
                                 path, iglens::detail::memory_text(floats),
                                 iglens::detail::memory_text((floats + kept) / 2), iglens::detail::memory_text(kept)));
    // Kept as stored, the same file loads and runs.
    auto model = load_model(path, WeightStorage::as_stored);
    torch::NoGradGuard no_grad;
    CHECK(model.logits(ids_tensor({3, 17, 42})).isfinite().all().item<bool>());
  }
  {
    const AvailableMemoryGiven given("1K");
    CHECK_THAT(iglens::testing::error_of([&] { load_model(path, WeightStorage::as_stored); }),
               Catch::StartsWith("model file '" + path + "': even kept as stored, its weights need about "));
    // A folder is measured the same way, before its tensors or its tokenizer are read.
    const auto folder = reference_path("tiny/llama_untied_bf16");
    CHECK_THAT(iglens::testing::error_of([&] { load_model(folder); }),
               Catch::StartsWith("Hugging Face folder '" + folder + "': its weights need about ") &&
                   Catch::Contains(" KiB as float32 and ") &&
                   Catch::EndsWith(" KiB even kept as stored, but 1.0 KiB of memory is available "
                                   "(IGLENS_AVAILABLE_MEMORY)"));
    CHECK(iglens::detail::memory_text(800) == "800 bytes");
    CHECK(iglens::detail::memory_text(std::uint64_t{3} << 29) == "1.50 GiB");
  }
}
