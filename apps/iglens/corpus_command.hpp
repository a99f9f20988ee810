#pragma once
// `iglens corpus`: many prompts through one loaded model. The input is JSONL,
// one record a line: {"id": string or integer, "prompt": text, "target": text
// (optional; else the --generate greedy answer)}. A record is a chat, rendered
// by the chat template, when it has "messages": [{"role", "content"}...]
// instead of "prompt", or "chat": true (its prompt the one user message, after
// the --system message); "chat": false keeps a record plain under --chat. The output folder holds
//   settings.json          what the results were made with; a rerun must match
//   results-NNNNN.jsonl    chunks of results, one line per prompt: the
//                          `attribute` JSON report with "id", "line" and
//                          "rank", or {"id", "line", "rank", "error"}; each
//                          chunk is written
//                          whole or not at all
//   summary.json, .svg     per-layer statistics over every result
// A rerun skips the ids that a chunk already holds, so an interrupted run
// goes on where it stopped and no id is written twice. Input lines that are
// not records (bad JSON, no id or prompt, an id seen before) are reported
// with their line number and left out; --strict makes them fatal.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "attribute_command.hpp"
#include "corpus_ranks.hpp"
#include "iglens/outputs/corpus_summary.hpp"
#include "iglens/outputs/report.hpp"
#include "output_file.hpp"
#include "progress_bar.hpp"

namespace iglens::cli {

struct CorpusSettings {
  std::string input, out;
  bool strict = false;
  std::int64_t chunk_size = 64;          // prompts per results file; a batch never spans two
  std::int64_t batch_size = 64;          // most prompts in one forward pass
  std::int64_t memory_budget_mb = 1024;  // what one batch's forward pass may hold
};

struct CorpusRecord {
  std::string id;
  std::string prompt;
  std::vector<ChatMessage> messages;  // a chat of its own, instead of the prompt
  std::optional<bool> chat;           // "chat": the prompt as a chat's user message, or plain
  std::optional<std::string> target;
  std::int64_t line = 0;
};

// What the attributor reads for a record: its messages, its prompt as a chat
// (by "chat", else --chat), or its plain prompt.
inline PromptRequest prompt_request(const CorpusRecord& record, const AttributeSettings& s) {
  PromptRequest request{record.prompt, record.target, record.messages};
  if (request.messages.empty() && record.chat.value_or(s.uses_chat())) {
    request.messages = chat_messages(record.prompt, s.system);
  }
  return request;
}

struct InputProblem {
  std::int64_t line = 0;
  std::string problem;
};

struct CorpusInput {
  std::vector<CorpusRecord> records;
  std::vector<InputProblem> problems;
};

// An input line left out: with --strict the run's error, else (where `print`)
// a line on stderr naming `command`, and the run goes on.
inline void report_left_out(std::string_view command, const std::string& path, std::int64_t line,
                            const std::string& problem, bool strict, bool print = true) {
  const auto where = fmt::format("{}:{}: {}", path, line, problem);
  iglens::require(!strict, "{} (--strict)", where);
  if (print) fmt::print(stderr, "iglens: {}: {}, left out\n", command, where);
}

namespace detail {

// One input line as a record, or the reason it is none.
inline std::variant<CorpusRecord, std::string> parse_record(const std::string& text, std::int64_t line) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::string("not valid JSON");
  if (!j.is_object()) return std::string("not a JSON object");
  CorpusRecord record;
  record.line = line;
  if (!j.contains("id")) return std::string("no \"id\"");
  const auto& id = j["id"];
  if (id.is_string() && !id.get<std::string>().empty()) {
    record.id = id.get<std::string>();
  } else if (id.is_number_integer()) {
    record.id = id.dump();
  } else {
    return std::string("\"id\" must be a non-empty string or an integer");
  }
  if (j.contains("messages")) {
    if (j.contains("prompt") || j.contains("chat")) {
      return fmt::format("record '{}': \"messages\" is a chat of its own: give no \"prompt\" or \"chat\" with it",
                         record.id);
    }
    const auto& messages = j["messages"];
    const auto is_message = [](const nlohmann::json& m) {
      return m.is_object() && m.size() == 2 && m.contains("role") && m["role"].is_string() && m.contains("content") &&
             m["content"].is_string();
    };
    if (!messages.is_array() || messages.empty() || !std::all_of(messages.begin(), messages.end(), is_message)) {
      return fmt::format("record '{}': \"messages\" must be a non-empty list of {{\"role\", \"content\"}} strings",
                         record.id);
    }
    // The roles chat templates know; another would be rendered as whatever the template does with it.
    for (const auto& m : messages) {
      const auto role = m["role"].get<std::string>();
      if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
        return fmt::format("record '{}': message role '{}' is not system, user, assistant or tool", record.id, role);
      }
    }
    for (const auto& m : messages) record.messages.push_back({m["role"], m["content"]});
  } else {
    if (!j.contains("prompt") || !j["prompt"].is_string() || j["prompt"].get<std::string>().empty()) {
      return fmt::format("record '{}': \"prompt\" must be a non-empty string", record.id);
    }
    record.prompt = j["prompt"].get<std::string>();
    if (j.contains("chat")) {
      if (!j["chat"].is_boolean()) return fmt::format("record '{}': \"chat\" must be true or false", record.id);
      record.chat = j["chat"].get<bool>();
    }
  }
  if (j.contains("target") && !j["target"].is_null()) {
    if (!j["target"].is_string() || j["target"].get<std::string>().empty()) {
      return fmt::format("record '{}': \"target\" must be a non-empty string", record.id);
    }
    record.target = j["target"].get<std::string>();
  }
  return record;
}

inline bool blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

struct ResultChunk {
  std::filesystem::path path;
  std::int64_t number = 0;
};

inline std::vector<ResultChunk> result_chunks(const std::filesystem::path& folder) {
  static const std::regex name(R"(results-(\d{5,})\.jsonl)");
  std::vector<ResultChunk> chunks;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    const auto file_name = entry.path().filename().string();
    std::smatch match;
    if (entry.is_regular_file() && std::regex_match(file_name, match, name)) {
      chunks.push_back({entry.path(), std::stoll(match[1].str())});
    }
  }
  std::sort(chunks.begin(), chunks.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return chunks;
}

inline std::vector<nlohmann::json> read_chunk(const std::filesystem::path& chunk) {
  std::ifstream in(chunk, std::ios::binary);
  iglens::require(in.good(), "cannot read '{}'", chunk.string());
  std::vector<nlohmann::json> records;
  std::string text;
  for (std::int64_t line = 1; std::getline(in, text); ++line) {
    auto record = nlohmann::json::parse(text, nullptr, false);
    iglens::require(!record.is_discarded() && record.is_object() && record.contains("id"),
                    "'{}' line {} is not a result record; the folder was changed by hand", chunk.string(), line);
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace detail

// Every record of the input file, and the lines that are none.
inline CorpusInput read_corpus_input(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  iglens::require(in.good(), "cannot read the corpus '{}'", path);
  CorpusInput input;
  std::map<std::string, std::int64_t> first_line;
  std::string text;
  for (std::int64_t line = 1; std::getline(in, text); ++line) {
    if (detail::blank(text)) continue;
    auto parsed = detail::parse_record(text, line);
    if (auto* problem = std::get_if<std::string>(&parsed)) {
      input.problems.push_back({line, *problem});
      continue;
    }
    auto& record = std::get<CorpusRecord>(parsed);
    const auto [seen, inserted] = first_line.emplace(record.id, line);
    if (!inserted) {
      input.problems.push_back({line, fmt::format("id '{}' is already on line {}", record.id, seen->second)});
      continue;
    }
    input.records.push_back(std::move(record));
  }
  return input;
}

// What the results depend on; a rerun into the same folder must match it.
inline nlohmann::json corpus_settings_json(const AttributeSettings& s) {
  nlohmann::json settings{{"model", s.model},
                          {"generate", s.generate},
                          {"layers", s.layers},
                          {"k", s.k ? nlohmann::json(*s.k) : nlohmann::json()},
                          {"steps", s.steps},
                          {"estimator", s.estimator},
                          {"baseline", s.baseline},
                          {"objective", s.objective},
                          {"foil", s.foil ? nlohmann::json(*s.foil) : nlohmann::json()},
                          {"onset_fraction", s.onset_fraction},
                          {"dtype", s.dtype},
                          {"special_tokens", s.special_tokens},
                          {"bos", s.bos},
                          {"components", s.components}};
  // Only with a chat, so that the settings of a run made before chats existed still match.
  if (s.uses_chat()) {
    settings["chat"] = {
        {"system", s.system ? nlohmann::json(*s.system) : nlohmann::json()},
        {"chat_template", s.chat_template.empty() ? nlohmann::json() : nlohmann::json(s.chat_template)}};
  }
  return settings;
}

struct CorpusRun {
  RankInfo ranks;
  std::int64_t records = 0, done_before = 0;
  std::int64_t attributed = 0, errors = 0, batches = 0;  // by this rank
  std::vector<InputProblem> problems;
  std::optional<CorpusSummary> summary;  // rank 0's, over every result
};

inline CorpusRun run_corpus(const AttributeSettings& attribute_settings, const CorpusSettings& s) {
  iglens::require(s.chunk_size >= 1 && s.chunk_size <= 100000, "--chunk-size must be 1 to 100000 (got {})",
                  s.chunk_size);
  iglens::require(s.batch_size >= 1 && s.batch_size <= 4096, "--batch-size must be 1 to 4096 (got {})", s.batch_size);
  iglens::require(s.memory_budget_mb >= 1 && s.memory_budget_mb <= (std::int64_t{1} << 30),
                  "--memory-budget must be 1 to 2^30 MB (got {})", s.memory_budget_mb);
  auto checked = prompt_settings(attribute_settings);  // every setting checked before the input is read
  CorpusRun run;
  run.ranks = rank_from_environment();
  const bool lead = run.ranks.rank == 0;
  auto input = read_corpus_input(s.input);
  for (const auto& problem : input.problems) {
    report_left_out("corpus", s.input, problem.line, problem.problem, s.strict, /*print=*/lead);
  }
  iglens::require(!input.records.empty(), "the corpus '{}' holds no records", s.input);
  run.records = static_cast<std::int64_t>(input.records.size());
  run.problems = input.problems;

  // Rank 0 makes the output folder, checks or writes its settings and lists
  // what is left to do; with more ranks it hands that list to them through
  // the store, so every rank works from the same one.
  namespace fs = std::filesystem;
  const fs::path folder(s.out);
  const auto settings = corpus_settings_json(attribute_settings);
  c10::intrusive_ptr<c10d::Store> store;
  if (run.ranks.world > 1) store = connect_store(run.ranks, std::chrono::minutes(30));
  std::vector<std::string> pending_ids;
  std::int64_t first_chunk_number = 0;
  if (lead) {
    std::error_code error;
    fs::create_directories(folder, error);
    iglens::require(!error && fs::is_directory(folder), "--out '{}': cannot make the folder ({})", s.out,
                    error ? error.message() : "a file of that name is in the way");
    const auto settings_path = (folder / "settings.json").string();
    if (fs::exists(settings_path)) {
      std::ifstream in(settings_path, std::ios::binary);
      const auto before = nlohmann::json::parse(in, nullptr, false);
      iglens::require(before == settings,
                      "--out '{}' holds results made with other settings ({}); give another folder or the same "
                      "settings",
                      s.out, before.is_discarded() ? "unreadable settings.json" : before.dump());
    } else {
      check_writable(settings_path, "--out");
      write_file_atomically(settings_path, settings.dump(2) + "\n");
    }
    std::set<std::string> done;
    const auto chunks = detail::result_chunks(folder);
    for (const auto& chunk : chunks) {
      for (const auto& record : detail::read_chunk(chunk.path)) done.insert(record["id"].get<std::string>());
    }
    for (const auto& record : input.records) {
      if (!done.count(record.id)) pending_ids.push_back(record.id);
    }
    // After the highest number there: a killed rank can leave a gap, and a
    // chunk must never be written over.
    for (const auto& chunk : chunks) first_chunk_number = std::max(first_chunk_number, chunk.number + 1);
    if (store) {
      store->set("pending", bytes_of(nlohmann::json{{"ids", pending_ids}, {"first_chunk", first_chunk_number}}.dump()));
    }
  } else {
    const auto shared = nlohmann::json::parse(text_of(store->get("pending")));
    pending_ids = shared["ids"].get<std::vector<std::string>>();
    first_chunk_number = shared["first_chunk"].get<std::int64_t>();
  }
  std::map<std::string, const CorpusRecord*> by_id;
  for (const auto& record : input.records) by_id[record.id] = &record;
  std::vector<const CorpusRecord*> pending;
  for (const auto& id : pending_ids) {
    const auto found = by_id.find(id);
    iglens::require(found != by_id.end(),
                    "rank {}: id '{}' of rank 0's list is not in '{}': give every rank the same input", run.ranks.rank,
                    id, s.input);
    pending.push_back(found->second);
  }
  run.done_before = run.records - static_cast<std::int64_t>(pending.size());

  // Chunks are taken one at a time from a counter: the store's with more
  // ranks, so each is taken once and a rank with short prompts takes more.
  const auto chunk_size = static_cast<std::size_t>(s.chunk_size);
  const auto chunk_count = static_cast<std::int64_t>((pending.size() + chunk_size - 1) / chunk_size);
  std::int64_t local_next = 0;
  auto take_chunk = [&] { return store ? store->add("next_chunk", 1) - 1 : local_next++; };
  if (!pending.empty()) {
    Attributor attributor(attribute_settings, std::move(checked), /*show_progress=*/false);
    BatchLimits limits;
    limits.max_sequences = s.batch_size;
    limits.budget_bytes = s.memory_budget_mb << 20;
    limits.batch_bytes = [&attributor](std::int64_t sequences, std::int64_t length) {
      return attributor.batch_bytes(sequences, length);
    };
    ProgressBar bar("corpus ", static_cast<std::int64_t>(pending.size()), /*enabled=*/run.ranks.world == 1);
    std::int64_t done = 0;
    for (auto k = take_chunk(); k < chunk_count; k = take_chunk()) {
      const auto first = static_cast<std::size_t>(k) * chunk_size;
      const auto last = std::min(pending.size(), first + chunk_size);
      std::vector<PromptRequest> requests;
      for (auto i = first; i < last; ++i) requests.push_back(prompt_request(*pending[i], attribute_settings));
      const auto chunk_start = done;
      const auto outcomes = attributor.attribute_many(requests, limits, &run.batches,
                                                      [&](std::int64_t reports) { bar.update(done += reports); });
      std::string lines;
      for (auto i = first; i < last; ++i) {
        const auto& record = *pending[i];
        const auto& outcome = outcomes[i - first];
        nlohmann::json result;
        if (outcome.report) {
          result = to_json_value(*outcome.report);
          ++run.attributed;
        } else {
          fmt::print(stderr, "iglens: corpus: {}:{}: record '{}': {}\n", s.input, record.line, record.id,
                     outcome.error);
          result = {{"error", outcome.error}};
          ++run.errors;
        }
        result["id"] = record.id;
        result["line"] = record.line;
        result["rank"] = run.ranks.rank;
        lines += result.dump() + "\n";
      }
      // Whole or not at all: an interrupt before the rename leaves no chunk.
      // Numbered after the chunks already there, so a rerun never overwrites one.
      write_file_atomically((folder / fmt::format("results-{:05d}.jsonl", first_chunk_number + k)).string(), lines);
      done = chunk_start + static_cast<std::int64_t>(last - first);  // its errors too
      bar.update(done);
    }
  }
  if (store) {
    store->add("finished", 1);
    if (!lead) return run;
    while (store->add("finished", 0) < run.ranks.world) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // Rank 0 merges: every chunk, each id once.
  std::vector<nlohmann::json> results;
  std::set<std::string> seen;
  for (const auto& chunk : detail::result_chunks(folder)) {
    for (auto& record : detail::read_chunk(chunk.path)) {
      iglens::require(seen.insert(record["id"].get<std::string>()).second, "id '{}' is in two chunks of '{}'",
                      record["id"].get<std::string>(), s.out);
      results.push_back(std::move(record));
    }
  }
  run.summary = summarize_corpus(results);
  auto summary = to_json_value(*run.summary);
  summary["settings"] = settings;
  summary["input"] = s.input;
  summary["ranks"] = run.ranks.world;
  summary["input_problems"] = nlohmann::json::array();
  for (const auto& problem : input.problems) {
    summary["input_problems"].push_back({{"line", problem.line}, {"problem", problem.problem}});
  }
  write_file_atomically((folder / "summary.json").string(), summary.dump(2) + "\n");
  write_file_atomically((folder / "summary.svg").string(),
                        corpus_summary_svg(*run.summary, fmt::format("IG-Lens corpus {}", s.input)));
  return run;
}

}  // namespace iglens::cli
