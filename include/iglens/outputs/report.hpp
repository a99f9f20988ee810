#pragma once
// What one `iglens attribute` run found, in plain C++ types (no LibTorch), and
// its text forms: the table a person reads, JSON for scripts and CSV for
// spreadsheets. The JSON layout is the program's stable interface (README).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "iglens/components/component_layout.hpp"
#include "iglens/error.hpp"
#include "iglens/text/chat_message.hpp"
#include "iglens/text/tokenizer.hpp"

namespace iglens {

struct TokenRow {
  std::int64_t position = 0;  // the position whose next-token prediction is read
  std::int64_t target_id = 0;
  std::string target;  // the token's bytes
  std::optional<std::int64_t> foil_id;
  std::string foil;
  std::vector<double> ig, lens;  // ordered like Report::layers
  double f_final = 0, f_baseline = 0, delta = 0;
  std::optional<std::int64_t> onset_layer;  // none when the row carries no |IG| mass
  std::vector<double> component_credits;    // with --components: ordered like ComponentLayout::parts
  // With --sources: [block][head][source 0..position] flattened, each head's credit by the position it reads.
  std::vector<double> source_credits;
};

// What --components split each token's change into, and how.
struct ReportComponents {
  ComponentLayout layout;
  std::string estimator;
  std::int64_t steps = 0;
};

// With --sources: the sequence whose positions the source credits name
// (the prompt, then the answer).
struct ReportSources {
  std::vector<std::int64_t> ids;
  std::vector<std::string> tokens;
  std::int64_t top = 0;  // > 0: the outputs keep each head's `top` largest |credit| sources
};

// A position that was not attributed, and why (a fixed --foil that is the
// position's own target leaves nothing to compare).
struct SkippedToken {
  std::int64_t position = 0;
  std::int64_t target_id = 0;
  std::string target;
  std::string reason;
};

// The whole answer's log-probability, log p(y_1..y_N | prompt) = sum of the
// tokens' logprob rows: each row telescopes, so the sum does too.
struct ContinuationTotal {
  std::int64_t tokens = 0;
  std::vector<double> ig, lens;  // ordered like Report::layers
  double f_final = 0, f_baseline = 0, delta = 0;
};

struct Report {
  std::string model;
  std::string prompt;                 // the text the model read: with a chat, as its template rendered it
  std::vector<ChatMessage> messages;  // the chat, where the prompt is one
  std::vector<std::int64_t> prompt_ids;
  std::string mode;                     // "generate" or "target"
  std::string stopped;                  // generate: why the answer ended, "end token" or "limit"
  std::optional<std::int64_t> stop_id;  // the end token, when one ended it (it is not attributed)
  std::string stop_token;
  std::vector<std::int64_t> layers;  // ascending
  std::string estimator, baseline, objective, dtype;
  std::int64_t steps = 0;
  double onset_fraction = 0.5;
  double completeness_max_abs = 0;
  std::vector<TokenRow> tokens;
  std::vector<SkippedToken> skipped;
  std::optional<ContinuationTotal> continuation;  // objective logprob, two or more tokens
  std::optional<ReportComponents> components;     // with --components
  std::optional<ReportSources> sources;           // with --sources

  bool has_foils() const {
    return std::any_of(tokens.begin(), tokens.end(), [](const TokenRow& row) { return row.foil_id.has_value(); });
  }
};

// A token's bytes as one readable, quoted line: control characters, quotes,
// backslashes and bytes that are not UTF-8 are escaped, so every label is
// valid UTF-8 on one line.
inline std::string display_token(std::string_view bytes) {
  std::string out = "\"";
  for (std::size_t i = 0; i < bytes.size();) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    if (byte == '\n')
      out += "\\n";
    else if (byte == '\t')
      out += "\\t";
    else if (byte == '\r')
      out += "\\r";
    else if (byte == '"')
      out += "\\\"";
    else if (byte == '\\')
      out += "\\\\";
    else if (byte < 0x20 || byte == 0x7F)
      out += fmt::format("\\x{:02x}", byte);
    else if (byte < 0x80)
      out.push_back(static_cast<char>(byte));
    else {
      if (const auto length = utf8_character_length(bytes, i)) {
        out.append(bytes.substr(i, *length));
        i += *length;
        continue;
      }
      out += fmt::format("\\x{:02x}", byte);  // part of a character split across tokens
    }
    ++i;
  }
  return out + "\"";
}

// Terminal columns a UTF-8 string takes, counting one per code point.
inline std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A row's token as the heatmap labels it: the target, and its foil when there is one.
inline std::string token_label(const TokenRow& row) {
  return row.foil_id ? display_token(row.target) + " vs " + display_token(row.foil) : display_token(row.target);
}

// The objective's change, as the table and the heatmap label it: Δprob, Δlogit, ...
inline std::string delta_label(const Report& report) { return "\xCE\x94" + report.objective; }

namespace detail {

// Columns padded to their widest cell; text columns left, numbers right.
class TextTable {
 public:
  void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  std::string render(std::size_t left_aligned_columns) const {
    std::vector<std::size_t> width;
    for (const auto& row : rows_) {
      width.resize(std::max(width.size(), row.size()), 0);
      for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], display_width(row[c]));
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t c = 0; c < row.size(); ++c) {
        const std::string pad(width[c] - display_width(row[c]), ' ');
        if (c > 0) line += "  ";
        line += c < left_aligned_columns ? row[c] + pad : pad + row[c];
      }
      line.erase(line.find_last_not_of(' ') + 1);
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

inline std::string onset_text(const TokenRow& row) { return row.onset_layer ? std::to_string(*row.onset_layer) : "-"; }

// Components listed per token in the table: enough to name the heads and
// MLPs that matter without printing hundreds of lines.
constexpr std::size_t table_top_components = 8;

// Indices of the `count` components of a row with the largest |credit|, largest first.
inline std::vector<std::size_t> largest_components(const TokenRow& row, std::size_t count) {
  std::vector<std::size_t> order(row.component_credits.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  count = std::min(count, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count), order.end(),
                    [&](std::size_t a, std::size_t b) {
                      return std::abs(row.component_credits[a]) > std::abs(row.component_credits[b]);
                    });
  order.resize(count);
  return order;
}

// A component's credit as a percentage of the token's change ("-" when there is no change).
inline std::string share_text(double credit, double delta) {
  return delta == 0 ? std::string("-") : fmt::format("{:+.1f}%", 100 * credit / delta);
}

// Per token, the components with the largest |credit| and their share of the change.
inline std::string components_table(const Report& report) {
  const auto& components = *report.components;
  const auto& parts = components.layout.parts;
  const auto shown = std::min(table_top_components, parts.size());
  std::string out = fmt::format(
      "\ncomponents ({}, {} steps): per token the {} of {} with the largest |credit|; "
      "share = credit / {}\n",
      components.estimator, components.steps, shown, parts.size(), delta_label(report));
  for (const auto& row : report.tokens) {
    out += fmt::format("\npos {} {}  {} {:+.4f}\n", row.position, display_token(row.target), delta_label(report),
                       row.delta);
    TextTable table;
    table.add_row({"  component", "credit", "share"});
    for (const auto index : largest_components(row, shown)) {
      const double credit = row.component_credits[index];
      table.add_row({"  " + parts[index].label(), fmt::format("{:+.4f}", credit), share_text(credit, row.delta)});
    }
    out += table.render(1);
  }
  return out;
}

// A head's credit from one source position.
struct SourceCredit {
  std::int64_t block = 0, head = 0, source = 0;
  double credit = 0;
};

// The sources the outputs show of one head of one row: every source 0..position
// in order, or with ReportSources::top the `top` largest |credit|, largest first.
inline std::vector<SourceCredit> head_sources(const Report& report, const TokenRow& row, std::int64_t block,
                                              std::int64_t head) {
  const auto n = row.position + 1;
  const auto first = static_cast<std::size_t>((block * report.components->layout.n_head + head) * n);
  std::vector<SourceCredit> kept;
  for (std::int64_t j = 0; j < n; ++j)
    kept.push_back({block, head, j, row.source_credits[first + static_cast<std::size_t>(j)]});
  const auto top = static_cast<std::size_t>(report.sources->top);
  if (top > 0) {
    const auto count = std::min(top, kept.size());
    std::partial_sort(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(count), kept.end(),
                      [](const SourceCredit& a, const SourceCredit& b) {
                        return std::abs(a.credit) > std::abs(b.credit) ||
                               (std::abs(a.credit) == std::abs(b.credit) && a.source < b.source);
                      });
    kept.resize(count);
  }
  return kept;
}

// What each block's heads together drew from each source position, of the
// credits the outputs keep: [block][source 0..position].
inline std::vector<std::vector<double>> block_source_credits(const Report& report, const TokenRow& row) {
  const auto& layout = report.components->layout;
  std::vector<std::vector<double>> sums(static_cast<std::size_t>(layout.n_layer),
                                        std::vector<double>(static_cast<std::size_t>(row.position + 1), 0.0));
  for (std::int64_t block = 0; block < layout.n_layer; ++block) {
    for (std::int64_t head = 0; head < layout.n_head; ++head) {
      for (const auto& kept : head_sources(report, row, block, head)) {
        sums[static_cast<std::size_t>(block)][static_cast<std::size_t>(kept.source)] += kept.credit;
      }
    }
  }
  return sums;
}

// The (block, head, source) credits of a row with the largest |credit|
// among those the outputs keep, largest first.
inline std::vector<SourceCredit> largest_sources(const Report& report, const TokenRow& row, std::size_t count) {
  const auto& layout = report.components->layout;
  std::vector<SourceCredit> all;
  for (std::int64_t block = 0; block < layout.n_layer; ++block) {
    for (std::int64_t head = 0; head < layout.n_head; ++head) {
      const auto kept = head_sources(report, row, block, head);
      all.insert(all.end(), kept.begin(), kept.end());
    }
  }
  count = std::min(count, all.size());
  std::partial_sort(
      all.begin(), all.begin() + static_cast<std::ptrdiff_t>(count), all.end(),
      [](const SourceCredit& a, const SourceCredit& b) { return std::abs(a.credit) > std::abs(b.credit); });
  all.resize(count);
  return all;
}

// Per token, the (block, head, source token) credits with the largest |credit|.
inline std::string sources_table(const Report& report) {
  const auto& sources = *report.sources;
  std::string out = fmt::format(
      "\nsources: per token the {} (block, head, source token) credits with the largest |credit|; "
      "share = credit / {}\n",
      table_top_components, delta_label(report));
  for (const auto& row : report.tokens) {
    out += fmt::format("\npos {} {}  {} {:+.4f}\n", row.position, display_token(row.target), delta_label(report),
                       row.delta);
    TextTable table;
    table.add_row({"  head", "reads", "credit", "share"});
    for (const auto& top : largest_sources(report, row, table_top_components)) {
      table.add_row(
          {fmt::format("  {}.attn.head {}", top.block, top.head),
           fmt::format("pos {} {}", top.source, display_token(sources.tokens[static_cast<std::size_t>(top.source)])),
           fmt::format("{:+.4f}", top.credit), share_text(top.credit, row.delta)});
    }
    out += table.render(2);
  }
  return out;
}

}  // namespace detail

// One row per attributed token: IG@L and lens@L for each chosen layer, lowest
// first as in JSON and CSV, then sum, Δ and the onset layer; the foil column
// when there are foils; the continuation's total row under logprob; then the
// completeness line, skipped positions and, with --components, each token's
// largest components.
inline std::string to_table(const Report& report) {
  std::string out = fmt::format(
      "IG-Lens  model {}  objective {}  estimator {}  steps {}  baseline {}  dtype {}  onset at {:g} of |IG|\n",
      report.model, report.objective, report.estimator, report.steps, report.baseline, report.dtype,
      report.onset_fraction);
  out += fmt::format("prompt {} ({} tokens), {} {} token(s)", display_token(report.prompt), report.prompt_ids.size(),
                     report.mode == "generate" ? "generated" : "teacher-forced",
                     report.tokens.size() + report.skipped.size());
  if (report.stop_id) {
    out += fmt::format(", ended by the end token {}", display_token(report.stop_token));
  } else if (report.stopped == "limit") {
    out += ", stopped at the --generate limit";
  }
  out += "\n\n";
  const bool foils = report.has_foils();
  detail::TextTable table;
  std::vector<std::string> header{"pos", "token"};
  if (foils) header.push_back("foil");
  for (const auto layer : report.layers) header.push_back(fmt::format("IG@{}", layer));
  for (const auto layer : report.layers) header.push_back(fmt::format("lens@{}", layer));
  for (const auto& name : {std::string("sum"), delta_label(report), std::string("onsetL*")}) header.push_back(name);
  table.add_row(header);
  const auto numbers = [](std::vector<std::string>& cells, const std::vector<double>& ig,
                          const std::vector<double>& lens, double delta) {
    double sum = 0;
    for (double v : ig) {
      cells.push_back(fmt::format("{:+.4f}", v));
      sum += v;
    }
    for (double v : lens) cells.push_back(fmt::format("{:.4f}", v));
    cells.push_back(fmt::format("{:+.4f}", sum));
    cells.push_back(fmt::format("{:+.4f}", delta));
  };
  for (const auto& row : report.tokens) {
    std::vector<std::string> cells{std::to_string(row.position), display_token(row.target)};
    if (foils) cells.push_back(row.foil_id ? display_token(row.foil) : "");
    numbers(cells, row.ig, row.lens, row.delta);
    cells.push_back(detail::onset_text(row));
    table.add_row(std::move(cells));
  }
  if (const auto& total = report.continuation) {
    std::vector<std::string> cells{"all", fmt::format("({} tokens)", total->tokens)};
    if (foils) cells.emplace_back();
    numbers(cells, total->ig, total->lens, total->delta);
    table.add_row(std::move(cells));
  }
  out += table.render(foils ? 3 : 2);
  out += fmt::format("\nmax|sum - {}| = {:.3g}\n", delta_label(report), report.completeness_max_abs);
  if (const auto& total = report.continuation) {
    out += fmt::format(
        "row \"all\": the whole answer's log-probability, the sum of its {} logprob rows "
        "(it telescopes like each row)\n",
        total->tokens);
  }
  for (const auto& skipped : report.skipped) {
    out +=
        fmt::format("pos {} {}: not attributed: {}\n", skipped.position, display_token(skipped.target), skipped.reason);
  }
  if (report.components) out += detail::components_table(report);
  if (report.sources) out += detail::sources_table(report);
  return out;
}

// The stable interface for scripts; `ig` and `lens` are ordered like
// `layers`, `component_credits` like `components.labels` and
// `components.parts` (each part's label, kind, and block and head where it
// has them).
inline nlohmann::json to_json_value(const Report& report) {
  nlohmann::json tokens = nlohmann::json::array();
  for (const auto& row : report.tokens) {
    nlohmann::json token{
        {"position", row.position}, {"target_id", row.target_id}, {"target", row.target},         {"ig", row.ig},
        {"lens", row.lens},         {"f_final", row.f_final},     {"f_baseline", row.f_baseline}, {"delta", row.delta}};
    token["onset_layer"] = row.onset_layer ? nlohmann::json(*row.onset_layer) : nlohmann::json(nullptr);
    if (row.foil_id) {
      token["foil_id"] = *row.foil_id;
      token["foil"] = row.foil;
    }
    if (report.components) token["component_credits"] = row.component_credits;
    if (report.sources) {
      // [block][head][source 0..position]; with a top, [block][head][[position, credit], ...] largest first.
      const auto& layout = report.components->layout;
      const bool top = report.sources->top > 0;
      auto blocks = nlohmann::json::array();
      for (std::int64_t block = 0; block < layout.n_layer; ++block) {
        auto heads = nlohmann::json::array();
        for (std::int64_t head = 0; head < layout.n_head; ++head) {
          auto credits = nlohmann::json::array();
          for (const auto& kept : detail::head_sources(report, row, block, head)) {
            credits.push_back(top ? nlohmann::json::array({kept.source, kept.credit}) : nlohmann::json(kept.credit));
          }
          heads.push_back(std::move(credits));
        }
        blocks.push_back(std::move(heads));
      }
      token[top ? "top_sources" : "source_credits"] = std::move(blocks);
    }
    tokens.push_back(std::move(token));
  }
  nlohmann::json out{{"model", report.model},
                     {"prompt", report.prompt},
                     {"prompt_ids", report.prompt_ids},
                     {"mode", report.mode},
                     {"stopped", report.stopped.empty() ? nlohmann::json() : nlohmann::json(report.stopped)},
                     {"stop_id", report.stop_id ? nlohmann::json(*report.stop_id) : nlohmann::json()},
                     {"stop_token", report.stop_id ? nlohmann::json(report.stop_token) : nlohmann::json()},
                     {"layers", report.layers},
                     {"estimator", report.estimator},
                     {"steps", report.steps},
                     {"baseline", report.baseline},
                     {"objective", report.objective},
                     {"dtype", report.dtype},
                     {"onset_fraction", report.onset_fraction},
                     {"completeness_max_abs", report.completeness_max_abs},
                     {"tokens", std::move(tokens)}};
  if (!report.messages.empty()) {
    auto& messages = out["messages"] = nlohmann::json::array();
    for (const auto& message : report.messages)
      messages.push_back({{"role", message.role}, {"content", message.content}});
  }
  if (!report.skipped.empty()) {
    auto& skipped = out["skipped"] = nlohmann::json::array();
    for (const auto& token : report.skipped) {
      skipped.push_back({{"position", token.position},
                         {"target_id", token.target_id},
                         {"target", token.target},
                         {"reason", token.reason}});
    }
  }
  if (const auto& total = report.continuation) {
    out["continuation"] = {
        {"tokens", total->tokens},         {"ig", total->ig},      {"lens", total->lens}, {"f_final", total->f_final},
        {"f_baseline", total->f_baseline}, {"delta", total->delta}};
  }
  if (const auto& components = report.components) {
    const auto& layout = components->layout;
    auto parts = nlohmann::json::array();
    for (const auto& part : layout.parts) {
      nlohmann::json entry{{"label", part.label()}, {"kind", component_kind_name(part.kind)}};
      if (part.block) entry["block"] = *part.block;
      if (part.head) entry["head"] = *part.head;
      parts.push_back(std::move(entry));
    }
    out["components"] = {{"labels", layout.labels()},
                         {"parts", std::move(parts)},
                         {"n_layer", layout.n_layer},
                         {"n_head", layout.n_head},
                         {"estimator", components->estimator},
                         {"steps", components->steps},
                         {"parallel_blocks", layout.parallel_blocks},
                         {"segments", layout.segments()}};
  }
  if (const auto& sources = report.sources) {
    out["sources"] = {{"ids", sources->ids}, {"tokens", sources->tokens}};
    if (sources->top > 0) out["sources"]["top"] = sources->top;
  }
  return out;
}

// Token text that is not valid UTF-8 (a character split across tokens) is
// written with U+FFFD in its place; target_id stays exact.
inline std::string to_json(const Report& report) {
  return to_json_value(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

namespace detail {

inline std::string csv_field(std::string_view text) {
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The run's settings as "# name: value" lines above the CSV header, so that a
// file says how it was made (pandas: read_csv(path, comment="#")).
inline std::string csv_settings(const Report& report) {
  std::string out = fmt::format("# model: {}\n# prompt: {}\n# prompt_ids: {}\n# mode: {}\n", report.model,
                                display_token(report.prompt), fmt::join(report.prompt_ids, " "), report.mode);
  out += fmt::format("# layers: {}\n# estimator: {}\n# steps: {}\n# baseline: {}\n# objective: {}\n# dtype: {}\n",
                     fmt::join(report.layers, " "), report.estimator, report.steps, report.baseline, report.objective,
                     report.dtype);
  out += fmt::format("# onset_fraction: {}\n# completeness_max_abs: {}\n", report.onset_fraction,
                     report.completeness_max_abs);
  for (const auto& skipped : report.skipped) {
    out +=
        fmt::format("# skipped: position {} target_id {}: {}\n", skipped.position, skipped.target_id, skipped.reason);
  }
  return out;
}

}  // namespace detail

// Long format, one line per token and layer, for spreadsheets and data frames,
// under the run's settings as comment lines.
inline std::string to_csv(const Report& report) {
  std::string out = detail::csv_settings(report);
  out += "position,target_id,target,foil_id,foil,layer,ig,lens,f_final,f_baseline,delta,onset_layer\n";
  for (const auto& row : report.tokens) {
    const auto foil_id = row.foil_id ? std::to_string(*row.foil_id) : "";
    const auto foil = row.foil_id ? detail::csv_field(row.foil) : "";
    for (std::size_t j = 0; j < report.layers.size(); ++j) {
      out +=
          fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", row.position, row.target_id,
                      detail::csv_field(row.target), foil_id, foil, report.layers[j], row.ig[j], row.lens[j],
                      row.f_final, row.f_baseline, row.delta, row.onset_layer ? std::to_string(*row.onset_layer) : "");
    }
  }
  return out;
}

// With --components-csv: long format, one line per token and component.
// `block` is empty for the embedding, `head` for everything but a head.
inline std::string to_components_csv(const Report& report) {
  iglens::require(report.components.has_value(), "the report has no component credits (run with --components)");
  const auto& components = *report.components;
  std::string out = detail::csv_settings(report);
  out += fmt::format("# components_estimator: {}\n# components_steps: {}\n", components.estimator, components.steps);
  out += "position,target_id,target,component,kind,block,head,credit,delta\n";
  const auto number = [](const std::optional<std::int64_t>& n) { return n ? std::to_string(*n) : std::string(); };
  for (const auto& row : report.tokens) {
    for (std::size_t i = 0; i < components.layout.parts.size(); ++i) {
      const auto& part = components.layout.parts[i];
      out += fmt::format("{},{},{},{},{},{},{},{},{}\n", row.position, row.target_id, detail::csv_field(row.target),
                         detail::csv_field(part.label()), component_kind_name(part.kind), number(part.block),
                         number(part.head), row.component_credits[i], row.delta);
    }
  }
  return out;
}

// With --sources-csv: long format, one line per token, block, head and source
// position (with --top-sources, each head's kept sources, largest first).
inline std::string to_sources_csv(const Report& report) {
  iglens::require(report.sources.has_value(), "the report has no source credits (run with --sources)");
  const auto& layout = report.components->layout;
  const auto& sources = *report.sources;
  std::string out = detail::csv_settings(report);
  out += fmt::format("# components_estimator: {}\n# components_steps: {}\n", report.components->estimator,
                     report.components->steps);
  if (sources.top > 0) out += fmt::format("# top_sources: {}\n", sources.top);
  out += "position,target_id,target,block,head,source_position,source_id,source_token,credit,delta\n";
  for (const auto& row : report.tokens) {
    for (std::int64_t block = 0; block < layout.n_layer; ++block) {
      for (std::int64_t head = 0; head < layout.n_head; ++head) {
        for (const auto& kept : detail::head_sources(report, row, block, head)) {
          const auto at = static_cast<std::size_t>(kept.source);
          out += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", row.position, row.target_id,
                             detail::csv_field(row.target), block, head, kept.source, sources.ids[at],
                             detail::csv_field(sources.tokens[at]), kept.credit, row.delta);
        }
      }
    }
  }
  return out;
}

inline std::string render_report(const Report& report, std::string_view format) {
  if (format == "table") return to_table(report);
  if (format == "json") return to_json(report);
  if (format == "csv") return to_csv(report);
  iglens::fail("unknown output format '{}' (expected table, json or csv)", format);
}

}  // namespace iglens
