// iglens: the IG-Lens map of a model's answer, from the command line. The
// model is an IG-Lens bundle (*.pt), a GGUF file or a Hugging Face folder.
//   iglens attribute [PROMPT]   map the model's answer (or --target) to layers
//                               (and with --components to heads, biases and MLPs)
//   iglens corpus FILE.jsonl    the same for many prompts, resumable, with a
//                               per-layer summary
//   iglens tokenize TEXT        token ids as JSON (--jsonl FILE: of every record)
//   iglens info                 what the model file holds, as JSON
//   iglens --version            the program's and LibTorch's versions, and
//                               OpenBLAS's kernels
// Errors print one line naming the problem and exit non-zero; an interrupt
// exits with 130 and leaves no partial file behind.

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "attribute_command.hpp"
#include "corpus_command.hpp"
#include "error_line.hpp"
#include "iglens/iglens.hpp"
#include "iglens/outputs/heatmap_svg.hpp"
#include "iglens/outputs/html_report.hpp"
#include "iglens/outputs/report.hpp"
#include "openblas_core.hpp"
#include "output_file.hpp"
#include "tokenize_command.hpp"

namespace {

// Text from standard input, without the one newline that `echo` adds.
std::string read_stdin() {
  std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// The first word that is not an option, when it names no subcommand: the
// top-level options (--help, --version) take no value, so that word is the
// subcommand as typed.
std::optional<std::string> unknown_subcommand(int argc, char** argv, const CLI::App& app) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-' && argv[i][1] != '\0') continue;
    for (const auto* sub : app.get_subcommands({})) {
      if (sub->check_name(argv[i])) return std::nullopt;
    }
    return std::string(argv[i]);
  }
  return std::nullopt;
}

// --out, --svg, --html, --components-csv and --sources-csv must name different files; one
// would silently overwrite another. `-` (standard output) is no file.
void check_distinct_outputs(const std::vector<std::pair<std::string_view, std::string>>& outputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    for (std::size_t j = i + 1; j < outputs.size(); ++j) {
      const auto& [a_option, a] = outputs[i];
      const auto& [b_option, b] = outputs[j];
      if (a.empty() || b.empty() || a == "-" || b == "-") continue;
      // Made absolute first: weakly_canonical leaves a relative path to a
      // file not yet written relative ("a.svg" but "./a.svg" -> "/cwd/a.svg").
      std::error_code error_a, error_b;
      const auto canonical_a = std::filesystem::weakly_canonical(std::filesystem::absolute(a), error_a);
      const auto canonical_b = std::filesystem::weakly_canonical(std::filesystem::absolute(b), error_b);
      const bool same = (error_a || error_b) ? a == b : canonical_a == canonical_b;
      iglens::require(!same, "{} and {} name the same file '{}': give each its own path", a_option, b_option, b);
    }
  }
}

// More threads than this per core only adds scheduling: 4096 took over a minute.
constexpr int max_threads_per_core = 4;

}  // namespace

int main(int argc, char** argv) {
  iglens::apps::restart_with_openblas_core(argv);
  iglens::cli::install_interrupt_handler();
  // Keep freed [points, V] buffers in the heap: glibc otherwise maps and
  // unmaps each one, and zeroing fresh pages doubled the time of --components.
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"IG-Lens: between which layers of a decoder is the probability of each predicted token produced?"};
  app.require_subcommand(1);
  const auto blas_core = iglens::apps::openblas_core();
  app.set_version_flag("--version",
                       fmt::format("iglens {} (LibTorch {}{})", IGLENS_VERSION, TORCH_VERSION,
                                   blas_core ? ", OpenBLAS " + *blas_core + " kernels" : std::string()),
                       "Print the program's and LibTorch's versions (and OpenBLAS's kernels) and exit");
  const std::string demo_model = IGLENS_DEMO_MODEL;

  iglens::AttributeSettings settings;
  settings.model = demo_model;
  bool prompt_from_stdin = false;
  std::optional<int> threads;
  std::string format = "table", out_path, svg_path, html_path, components_csv_path, sources_csv_path;
  auto* attribute = app.add_subcommand("attribute", "Attribute the model's answer to a prompt, layer by layer");
  auto* prompt = attribute->add_option("prompt", settings.prompt, "Prompt text");
  attribute->add_flag("--stdin", prompt_from_stdin, "Read the prompt from standard input (one final newline dropped)")
      ->excludes(prompt);
  const std::string model_help = "Model: a bundle (*.pt from export_gpt2.py), a GGUF file or a Hugging Face folder";
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string bos_help =
      "Put the BOS token first (GPT-2: <|endoftext|>); models whose own rule adds it (Llama family) always do";
  // --chat, --system, --chat-template: for attribute, corpus and tokenize.
  auto add_chat_options = [](CLI::App* command, iglens::AttributeSettings& s) {
    command->add_flag("--chat", s.chat,
                      "Render the prompt with the model's chat template as one user message, with the assistant's "
                      "turn opened (as transformers' apply_chat_template with add_generation_prompt)");
    command->add_option("--system", s.system, "Put this system message before the prompt (implies --chat)");
    command->add_option("--chat-template", s.chat_template,
                        "Render with the Jinja chat template in FILE instead of the model's own (implies --chat)");
  };
  // The options `attribute` and `corpus` share: the model and how to attribute.
  auto add_attribution_options = [&](CLI::App* command) {
    add_chat_options(command, settings);
    command->add_option("--model", settings.model, model_help)->default_str(demo_model);
    command->add_flag("--special-tokens", settings.special_tokens,
                      "Recognise special tokens written in the text (e.g. <|im_start|>, <|endoftext|>) as one id each");
    command->add_flag("--bos", settings.bos, bos_help);
    command->add_option("--stop", settings.stop,
                        "Also end a generated answer at this token (one token's text; repeatable). The model's own "
                        "end tokens (end of text, of turn, of message) always end it");
    auto* layers =
        command->add_option("--layers", settings.layers, "Chosen layers, 0 (embeddings) to n; n is always added");
    command
        ->add_option("--k", settings.k,
                     "Choose k layers evenly spaced over 1..n, the last being n (k = 1: n alone; "
                     "k >= 2: round(linspace(1, n, k)), the reference's choice)")
        ->excludes(layers);
    command->add_option("--steps", settings.steps, "Steps per segment (quadrature nodes for gradient estimators)")
        ->default_val(settings.steps);
    command
        ->add_option("--estimator", settings.estimator,
                     "observed-delta, riemann-left, riemann-right, riemann-midpoint, riemann-trapezoid or "
                     "gauss-legendre")
        ->default_val(settings.estimator);
    command
        ->add_option("--baseline", settings.baseline,
                     "causal-mean (mean of positions up to the token's own), mean (of every position of prompt "
                     "and answer: the reference's) or zero")
        ->default_val(settings.baseline);
    command->add_option("--objective", settings.objective, "prob, logprob, prob-diff (needs --foil) or logit")
        ->default_val(settings.objective);
    command->add_option("--foil", settings.foil,
                        "Foil for --objective prob-diff: one token's text, or auto (per position, the model's most "
                        "likely token other than the target); a position whose target is the foil is skipped");
    command
        ->add_option("--onset-frac", settings.onset_fraction,
                     "Onset layer: where cumulative |IG| first reaches this fraction")
        ->default_val(settings.onset_fraction);
    command->add_option("--dtype", settings.dtype, "float32 or float64 (model and attribution)")
        ->default_val(settings.dtype);
    command->add_option("--device", settings.device, "cpu or cuda")->default_val(settings.device);
    command
        ->add_option("--weights", settings.weights,
                     "A GGUF file's or a Hugging Face folder's matrices: float (converted to float32 as the "
                     "model loads: the fastest runs) or stored (kept as the file stores them, quantised or 16-bit, "
                     "and converted while they are multiplied: about the file's memory)")
        ->default_val(settings.weights);
    command
        ->add_option("--attribution-memory", settings.attribution_memory_mb,
                     "MiB the attribution's logits-sized working buffers may hold at once; the target tokens are "
                     "attributed in chunks that fit (lower it to bound peak memory, at the cost of more passes over "
                     "the unembedding)")
        ->default_val(settings.attribution_memory_mb);
    command->add_option(
        "--threads", threads,
        fmt::format("LibTorch intra-op threads, 1 to {} (default: OMP_NUM_THREADS where set, else one per core)",
                    max_threads_per_core * cores));
    return command->add_flag(
        "--components", settings.components,
        "Also split each token's change of probability into the embedding and every block's attention heads, "
        "attention bias and MLP (same steps, estimator and baseline; needs all layers, so no --layers or --k, and "
        "--objective prob). Table: each token's 8 largest; JSON: component_credits; --svg: a block x head panel "
        "per token");
  };
  auto* components = add_attribution_options(attribute);
  auto* sources = attribute->add_flag(
      "--sources", settings.sources,
      "Also split each head's credit among the source positions it reads (implies --components; GGUF files and "
      "Hugging Face folders). Table: each token's 8 largest (block, head, source token); JSON: source_credits "
      "[block][head][source] per token and the sequence's tokens under sources");
  attribute
      ->add_option("--top-sources", settings.top_sources,
                   "With --sources, keep each head's K sources of largest |credit| in the outputs (JSON: top_sources "
                   "[block][head][[position, credit], ...] largest first, instead of source_credits; CSV: K lines "
                   "per head; table, SVG and HTML: those only)")
      ->needs(sources);
  auto* generate = attribute
                       ->add_option("--generate", settings.generate,
                                    "Generate at most N tokens greedily, up to an end token, and attribute each one "
                                    "(with --chat, 80 unless given)")
                       ->default_val(settings.generate);
  attribute->add_option("--target", settings.target, "Attribute this continuation instead (teacher-forced)")
      ->excludes(generate);
  attribute->add_option("--format", format, "Output format: table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->default_val(format);
  attribute->add_option("--out", out_path,
                        "Write the output to FILE instead of standard output (- for standard output)");
  attribute->add_option("--svg", svg_path, "Also write a heatmap picture (SVG) to FILE");
  attribute->add_option("--html", html_path,
                        "Also write an interactive report to FILE: one self-contained HTML page (no network) with "
                        "the heatmap, each token's IG and lens per layer and, with --components, its block x head "
                        "grid");
  attribute
      ->add_option("--components-csv", components_csv_path,
                   "With --components, also write the component credits to FILE as CSV, one line per token "
                   "and component: position,target_id,target,component,block,head,credit,delta")
      ->needs(components);
  attribute
      ->add_option("--sources-csv", sources_csv_path,
                   "With --sources, also write every source credit to FILE as CSV, one line per token, block, head "
                   "and source: position,target_id,target,block,head,source_position,source_id,source_token,"
                   "credit,delta")
      ->needs(sources);

  iglens::cli::CorpusSettings corpus_settings;
  auto* corpus = app.add_subcommand(
      "corpus",
      "Attribute many prompts with one loaded model: JSONL in (one {\"id\", \"prompt\", \"target\"?} a line), "
      "resumable results in chunks and a per-layer summary out");
  corpus->add_option("input", corpus_settings.input, "The prompts, JSONL")->required();
  corpus
      ->add_option("--out", corpus_settings.out,
                   "Folder for results-NNNNN.jsonl, settings.json, summary.json and summary.svg; a rerun skips "
                   "the ids already there")
      ->required();
  add_attribution_options(corpus);
  corpus
      ->add_option("--generate", settings.generate,
                   "At most this many tokens to generate greedily (up to an end token) and attribute for a record "
                   "without \"target\" (with --chat, 80 unless given)")
      ->default_val(settings.generate);
  corpus->add_flag("--strict", corpus_settings.strict,
                   "Stop at the first input line that is not a record (bad JSON, no id or prompt, a repeated id) "
                   "instead of reporting it and leaving it out");
  corpus->add_option("--chunk-size", corpus_settings.chunk_size, "Prompts per results file; a batch never spans two")
      ->default_val(corpus_settings.chunk_size);
  corpus
      ->add_option("--batch-size", corpus_settings.batch_size,
                   "Most prompts in one forward pass (prompts of similar length share one, padded; 1: one at a time)")
      ->default_val(corpus_settings.batch_size);
  corpus
      ->add_option("--memory-budget", corpus_settings.memory_budget_mb,
                   "MB one batch's forward pass may hold (residual stream, activations, logits); fewer prompts "
                   "share a pass where it would be exceeded")
      ->default_val(corpus_settings.memory_budget_mb);

  // tokenize: the same text settings as attribute, in one place.
  iglens::AttributeSettings tokenize_settings;
  tokenize_settings.model = demo_model;
  std::string tokenize_text;
  bool tokenize_from_stdin = false;
  auto* tokenize = app.add_subcommand(
      "tokenize", "Print the token ids of a text as JSON (with --chat: {\"text\": the rendered chat, \"ids\"})");
  tokenize->add_option("--model", tokenize_settings.model, model_help)->default_str(demo_model);
  tokenize->add_flag("--special-tokens", tokenize_settings.special_tokens,
                     "Recognise special tokens written in the text (e.g. <|im_start|>, <|endoftext|>) as one id each");
  tokenize->add_flag("--bos", tokenize_settings.bos, bos_help);
  add_chat_options(tokenize, tokenize_settings);
  auto* text = tokenize->add_option("text", tokenize_text, "Text to tokenize");
  auto* tokenize_stdin =
      tokenize
          ->add_flag("--stdin", tokenize_from_stdin, "Read the text from standard input (one final newline dropped)")
          ->excludes(text);
  std::string tokenize_jsonl_path, tokenize_out;
  bool tokenize_strict = false;
  auto* jsonl_option =
      tokenize
          ->add_option("--jsonl", tokenize_jsonl_path,
                       "Tokenize every record of a corpus file ({\"id\", \"prompt\", \"target\"?} a line) as "
                       "`corpus` does: one {\"id\", \"line\", \"prompt_ids\", \"target_ids\"?} line each")
          ->excludes(text)
          ->excludes(tokenize_stdin);
  tokenize->add_option("--out", tokenize_out, "With --jsonl, write the lines to FILE instead of standard output")
      ->needs(jsonl_option);
  tokenize
      ->add_flag("--strict", tokenize_strict,
                 "With --jsonl, stop at the first line that is not a record or that the tokenizer refuses")
      ->needs(jsonl_option);

  std::string info_model = demo_model;
  auto* info = app.add_subcommand("info", "Print the model's architecture, sizes, weight types and tokenizer as JSON");
  info->add_option("--model", info_model, model_help)->default_str(demo_model);

  if (const auto word = unknown_subcommand(argc, argv, app)) {
    fmt::print(stderr, "iglens: unknown command '{}' (expected attribute, corpus, tokenize or info)\n", *word);
    return static_cast<int>(CLI::ExitCodes::ExtrasError);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // LibTorch's own default can be a single thread (OpenMP's choice on some
  // machines); the sweeps over the vocabulary use every core.
  // OMP_NUM_THREADS, where set, is the default: processes that share the
  // cores (torchrun's ranks, a test suite) say so there, and threads that
  // wait on each other's cores made a run up to ten times slower.
  auto set_threads = [&] {
    const char* omp_threads = std::getenv("OMP_NUM_THREADS");
    const bool from_environment = !threads && omp_threads != nullptr && *omp_threads != '\0';
    int thread_count = threads.value_or(cores);
    if (from_environment) {
      const std::string_view text = omp_threads;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), thread_count);
      iglens::require(error == std::errc() && end == text.data() + text.size(),
                      "OMP_NUM_THREADS must be a whole number of threads (got '{}'); unset it or give --threads", text);
    }
    iglens::require(thread_count >= 1 && thread_count <= max_threads_per_core * cores,
                    "{} must be 1 to {} ({} x this machine's {} cores; got {})",
                    from_environment ? "OMP_NUM_THREADS" : "--threads", max_threads_per_core * cores,
                    max_threads_per_core, cores, thread_count);
    torch::set_num_threads(thread_count);
  };
  try {
    // A chat's answer runs to its end token: a longer default limit, unless --generate is given.
    for (auto* command : {attribute, corpus}) {
      if (*command && settings.uses_chat() && command->get_option("--generate")->count() == 0) {
        settings.generate = iglens::chat_answer_tokens;
      }
    }
    if (*attribute) {
      // Output paths are checked before any computation. `--out -` is standard output.
      if (out_path == "-") out_path.clear();
      check_distinct_outputs({{"--out", out_path},
                              {"--svg", svg_path},
                              {"--html", html_path},
                              {"--components-csv", components_csv_path},
                              {"--sources-csv", sources_csv_path}});
      if (!out_path.empty()) iglens::cli::check_writable(out_path, "--out");
      if (!svg_path.empty()) iglens::cli::check_writable(svg_path, "--svg");
      if (!html_path.empty()) iglens::cli::check_writable(html_path, "--html");
      if (!components_csv_path.empty()) iglens::cli::check_writable(components_csv_path, "--components-csv");
      if (!sources_csv_path.empty()) iglens::cli::check_writable(sources_csv_path, "--sources-csv");
      set_threads();
      if (prompt_from_stdin) settings.prompt = read_stdin();
      const auto report = iglens::cli::run_attribute(settings);
      const auto output = iglens::render_report(report, format);
      if (!svg_path.empty()) iglens::cli::write_file_atomically(svg_path, iglens::heatmap_svg(report));
      if (!html_path.empty()) iglens::cli::write_file_atomically(html_path, iglens::html_report(report));
      if (!components_csv_path.empty()) {
        iglens::cli::write_file_atomically(components_csv_path, iglens::to_components_csv(report));
      }
      if (!sources_csv_path.empty()) {
        iglens::cli::write_file_atomically(sources_csv_path, iglens::to_sources_csv(report));
      }
      if (out_path.empty()) {
        std::fwrite(output.data(), 1, output.size(), stdout);
      } else {
        iglens::cli::write_file_atomically(out_path, output);
      }
    } else if (*corpus) {
      set_threads();
      const auto run = iglens::cli::run_corpus(settings, corpus_settings);
      if (run.summary) {
        fmt::print(
            "corpus {}: {} records ({} done before this run), {} attributed and {} errors now{} in {} batch{}, {} "
            "input lines left out; {} tokens in all; results, summary.json and summary.svg in {}\n",
            corpus_settings.input, run.records, run.done_before, run.attributed, run.errors,
            run.ranks.world > 1 ? fmt::format(" by rank 0 of {}", run.ranks.world) : "", run.batches,
            run.batches == 1 ? "" : "es", run.problems.size(), run.summary->tokens, corpus_settings.out);
      } else {
        fmt::print(
            "corpus {}: rank {} of {} ({}): {} attributed and {} errors in {} batch{}; rank 0 writes the summary\n",
            corpus_settings.input, run.ranks.rank, run.ranks.world, run.ranks.launcher, run.attributed, run.errors,
            run.batches, run.batches == 1 ? "" : "es");
      }
    } else if (*tokenize) {
      const auto& ts = tokenize_settings;
      iglens::require(!ts.uses_chat() || !ts.bos,
                      "--bos does not apply to a chat prompt: its template writes BOS where the model wants it");
      const auto tokenizer = iglens::load_model_tokenizer(ts.model);
      std::optional<iglens::ChatTemplate> chat_template;
      const auto get_chat_template = [&]() -> const iglens::ChatTemplate& {
        if (!chat_template) {
          chat_template = iglens::chosen_chat_template(iglens::load_model_chat_template(ts.model), tokenizer,
                                                       ts.chat_template, ts.model);
        }
        return *chat_template;
      };
      if (ts.uses_chat()) get_chat_template();  // a missing or broken template fails before any record
      if (!tokenize_jsonl_path.empty()) {
        if (tokenize_out == "-") tokenize_out.clear();
        if (!tokenize_out.empty()) iglens::cli::check_writable(tokenize_out, "--out");
        const auto lines =
            iglens::cli::tokenize_jsonl(tokenizer, get_chat_template, tokenize_jsonl_path, ts, tokenize_strict);
        if (tokenize_out.empty()) {
          std::fwrite(lines.data(), 1, lines.size(), stdout);
        } else {
          iglens::cli::write_file_atomically(tokenize_out, lines);
        }
      } else {
        if (tokenize_from_stdin) tokenize_text = read_stdin();
        const auto prompt = iglens::encode_prompt(tokenizer, iglens::prompt_request(ts, tokenize_text, std::nullopt),
                                                  ts.special_tokens, ts.bos, get_chat_template);
        // A chat's rendered text too: it is not the text given.
        const auto out =
            ts.uses_chat() ? nlohmann::json{{"text", prompt.text}, {"ids", prompt.ids}} : nlohmann::json(prompt.ids);
        std::cout << out.dump() << "\n";
      }
    } else if (*info) {
      std::cout << iglens::load_model(info_model).info().dump(2) << "\n";
    }
    std::fflush(stdout);
    return std::ferror(stdout) ? 1 : 0;
  } catch (const iglens::Error& e) {
    fmt::print(stderr, "{}\n", iglens::cli::error_line(e.what()));
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "{}\n", iglens::cli::error_line("can't allocate memory (std::bad_alloc)"));
    return 1;
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    if (iglens::cli::is_out_of_memory(message)) {
      fmt::print(stderr, "{}\n", iglens::cli::error_line(message));
      return 1;
    }
    fmt::print(stderr, "iglens: unexpected error: {}\n", message.substr(0, message.find('\n')));
    return 2;
  } catch (const std::exception& e) {
    const std::string message = e.what();
    fmt::print(stderr, "iglens: unexpected error: {}\n", message.substr(0, message.find('\n')));
    return 2;
  }
}
