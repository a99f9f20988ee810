#pragma once
// `iglens tokenize --jsonl FILE`: the token ids of every record of a corpus
// file, as `iglens corpus` would see them, one JSON line per record:
//   {"id", "line", "prompt_ids", "target_ids" (with a target)}
// The prompt gets BOS by the same rule as in `attribute` and `corpus`; a
// target never does. A chat record (or any, with --chat) is rendered by the
// chat template first, as `corpus` renders it. Lines that are not records, and texts the tokenizer
// refuses, are reported as FILE:LINE and left out; --strict makes them fatal.

#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "corpus_command.hpp"
#include "iglens/iglens.hpp"

namespace iglens::cli {

// The output: one line per record.
// `chat_template` gives the template the first time a record needs one.
inline std::string tokenize_jsonl(const Tokenizer& tokenizer, const std::function<const ChatTemplate&()>& chat_template,
                                  const std::string& path, const AttributeSettings& s, bool strict) {
  const auto input = read_corpus_input(path);
  std::string lines;
  std::int64_t records = 0;
  auto report = [&](std::int64_t line, const std::string& problem) {
    report_left_out("tokenize", path, line, problem, strict);
  };
  // In line order, so that problems and records are reported as the file has them.
  std::size_t next_problem = 0;
  auto report_problems_before = [&](std::int64_t line) {
    for (; next_problem < input.problems.size() && input.problems[next_problem].line < line; ++next_problem) {
      report(input.problems[next_problem].line, input.problems[next_problem].problem);
    }
  };
  for (const auto& record : input.records) {
    report_problems_before(record.line);
    nlohmann::json out{{"id", record.id}, {"line", record.line}};
    try {
      const auto request = prompt_request(record, s);
      out["prompt_ids"] = encode_prompt(tokenizer, request, s.special_tokens, s.bos, chat_template).ids;
      if (record.target) out["target_ids"] = encode_answer(tokenizer, *record.target, s.special_tokens);
    } catch (const Error& e) {
      report(record.line, fmt::format("record '{}': {}", record.id, e.what()));
      continue;
    }
    lines += out.dump() + "\n";
    ++records;
  }
  report_problems_before(std::numeric_limits<std::int64_t>::max());
  iglens::require(records > 0, "the corpus '{}' holds no records to tokenize", path);
  return lines;
}

}  // namespace iglens::cli
