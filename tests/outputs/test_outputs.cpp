// The output formats (include/iglens/outputs) on a hand-made report: what a
// reader, a script, a spreadsheet and a browser get.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iglens/outputs/corpus_summary.hpp"
#include "iglens/outputs/heatmap_svg.hpp"
#include "iglens/outputs/html_report.hpp"
#include "iglens/outputs/report.hpp"

using namespace iglens;

namespace {

Report two_token_report() {
  Report r;
  r.model = "models/demo.pt";
  r.prompt = "To be";
  r.prompt_ids = {84, 111, 32, 98, 101};
  r.mode = "generate";
  r.layers = {0, 2, 4};
  r.estimator = "observed-delta";
  r.baseline = "mean";
  r.objective = "prob";
  r.dtype = "float32";
  r.steps = 64;
  r.completeness_max_abs = 2.5e-8;
  TokenRow a;
  a.position = 4;
  a.target_id = 44;
  a.target = ",";
  a.ig = {0.125, -0.25, 0.5};
  a.lens = {0.1, 0.2, 0.6};
  a.f_final = 0.6;
  a.f_baseline = 0.225;
  a.delta = 0.375;
  a.onset_layer = 4;
  TokenRow b = a;
  b.position = 5;
  b.target_id = 10;
  b.target = "\n\"\xC3";  // a newline, a quote and the first byte of a two-byte character
  b.onset_layer.reset();
  r.tokens = {a, b};
  return r;
}

}  // namespace

TEST_CASE("token labels are one line of valid UTF-8", "[outputs]") {
  CHECK(display_token("a b") == "\"a b\"");
  CHECK(display_token("\n\t\"\\") == R"("\n\t\"\\")");
  CHECK(display_token("\x01\x7F") == R"("\x01\x7f")");
  CHECK(display_token("h\xC3\xA9") == "\"h\xC3\xA9\"");  // whole characters stay
  CHECK(display_token("\xC3") == R"("\xc3")");           // half a character is escaped
  CHECK(display_width("\xCE\x94prob") == 5);
}

TEST_CASE("the table lists layers lowest first, as JSON and CSV do, and ends with the completeness line", "[outputs]") {
  const auto table = to_table(two_token_report());
  const auto header = table.find("pos  token");
  REQUIRE(header != std::string::npos);
  const auto header_line = table.substr(header, table.find('\n', header) - header);
  CHECK(header_line.find("IG@0") < header_line.find("IG@2"));
  CHECK(header_line.find("IG@2") < header_line.find("IG@4"));
  CHECK(header_line.find("IG@4") < header_line.find("lens@0"));
  CHECK(header_line.find("\xCE\x94prob") != std::string::npos);
  CHECK(header_line.find("onsetL*") != std::string::npos);
  CHECK(header_line.find("foil") == std::string::npos);
  CHECK(table.find("+0.1250  -0.2500  +0.5000") != std::string::npos);  // IG@0 IG@2 IG@4 of row 1
  CHECK(table.find("+0.3750  +0.3750") != std::string::npos);           // sum and delta
  CHECK(table.find(R"("\n\"\xc3")") != std::string::npos);
  CHECK(table.find("max|sum - \xCE\x94prob| = 2.5e-08") != std::string::npos);
}

TEST_CASE("foils are shown in the table, CSV and heatmap; skipped positions are reported", "[outputs]") {
  auto report = two_token_report();
  report.objective = "prob-diff";
  report.tokens[0].foil_id = 45;
  report.tokens[0].foil = "-";
  report.tokens[1].foil_id = 46;
  report.tokens[1].foil = ".";
  report.skipped.push_back({6, 45, "-", "the target is the foil \"-\""});
  const auto table = to_table(report);
  const auto header = table.find("pos  token");
  REQUIRE(header != std::string::npos);
  const auto header_line = table.substr(header, table.find('\n', header) - header);
  CHECK(header_line.find("token") < header_line.find("foil"));
  CHECK(header_line.find("foil") < header_line.find("IG@0"));
  const auto row = table.substr(table.find("\n4 ") + 1, table.find('\n', table.find("\n4 ") + 1));
  CHECK(row.find("\",\"") < row.find("\"-\""));
  CHECK(row.find("\"-\"") < row.find("+0.1250"));
  CHECK(table.find("pos 6 \"-\": not attributed: the target is the foil \"-\"") != std::string::npos);
  CHECK(table.find("3 token(s)") != std::string::npos);
  const auto csv = to_csv(report);
  CHECK(csv.find("4,44,\",\",45,\"-\",2,-0.25,") != std::string::npos);
  CHECK(csv.find("# skipped: position 6 target_id 45: the target is the foil") != std::string::npos);
  const auto j = nlohmann::json::parse(to_json(report));
  CHECK(j["skipped"][0]["position"] == 6);
  CHECK(j["tokens"][1]["foil"] == ".");
  CHECK(heatmap_svg(report).find("4 &quot;,&quot; vs &quot;-&quot;") != std::string::npos);
  CHECK(html_report(report).find("<dt>not attributed</dt><dd>position 6 &quot;-&quot;: the target is the foil") !=
        std::string::npos);
}

TEST_CASE("why a generated answer ended is in the table's header and the JSON", "[outputs]") {
  auto report = two_token_report();
  report.mode = "generate";
  report.stopped = "end token";
  report.stop_id = 2;
  report.stop_token = "<|im_end|>";
  CHECK(to_table(report).find("generated 2 token(s), ended by the end token \"<|im_end|>\"\n") != std::string::npos);
  auto j = nlohmann::json::parse(to_json(report));
  CHECK((j["stopped"] == "end token" && j["stop_id"] == 2 && j["stop_token"] == "<|im_end|>"));
  report.stopped = "limit";
  report.stop_id.reset();
  CHECK(to_table(report).find("generated 2 token(s), stopped at the --generate limit\n") != std::string::npos);
  j = nlohmann::json::parse(to_json(report));
  CHECK((j["stopped"] == "limit" && j["stop_id"].is_null() && j["stop_token"].is_null()));
  report.mode = "target";
  report.stopped.clear();
  CHECK(to_table(report).find("teacher-forced 2 token(s)\n") != std::string::npos);
  CHECK(nlohmann::json::parse(to_json(report))["stopped"].is_null());
}

TEST_CASE("a continuation's total is a table row and a JSON object", "[outputs]") {
  auto report = two_token_report();
  report.objective = "logprob";
  report.continuation = ContinuationTotal{2, {0.25, -0.5, 1.0}, {0.2, 0.4, 1.2}, 1.2, 0.45, 0.75};
  const auto table = to_table(report);
  CHECK(table.find("all  (2 tokens)  +0.2500  -0.5000  +1.0000") != std::string::npos);
  CHECK(table.find("row \"all\": the whole answer's log-probability, the sum of its 2 logprob rows") !=
        std::string::npos);
  CHECK(html_report(report).find("<dt>whole answer</dt><dd>log p(answer | prompt) = 1.2000, \xCE\x94logprob +0.7500 "
                                 "over 2 tokens; IG: L0 +0.2500, L2 -0.5000, L4 +1.0000</dd>") != std::string::npos);
  const auto j = nlohmann::json::parse(to_json(report));
  CHECK(j["continuation"]["ig"] == nlohmann::json({0.25, -0.5, 1.0}));
  CHECK(j["continuation"]["tokens"] == 2);
  CHECK_FALSE(nlohmann::json::parse(to_json(two_token_report())).contains("continuation"));
}

TEST_CASE("JSON carries the documented fields with ig and lens ordered like layers", "[outputs]") {
  const auto j = nlohmann::json::parse(to_json(two_token_report()));
  for (const char* key : {"model", "layers", "estimator", "steps", "baseline", "objective", "completeness_max_abs",
                          "tokens", "prompt", "prompt_ids", "mode", "dtype", "onset_fraction"}) {
    CHECK(j.contains(key));
  }
  CHECK(j["layers"] == nlohmann::json({0, 2, 4}));
  const auto& token = j["tokens"][0];
  for (const char* key :
       {"position", "target_id", "target", "ig", "lens", "f_final", "f_baseline", "delta", "onset_layer"}) {
    CHECK(token.contains(key));
  }
  CHECK(token["ig"] == nlohmann::json({0.125, -0.25, 0.5}));
  CHECK(token["onset_layer"] == 4);
  CHECK(j["tokens"][1]["onset_layer"].is_null());
  CHECK(j["tokens"][1]["target"] == "\n\"\xEF\xBF\xBD");  // the split character as U+FFFD
  CHECK_FALSE(token.contains("foil_id"));
}

TEST_CASE("CSV has one quoted line per token and layer", "[outputs]") {
  const auto csv = to_csv(two_token_report());
  CHECK(csv.rfind("# model: models/demo.pt\n# prompt: \"To be\"\n# prompt_ids: 84 111 32 98 101\n", 0) == 0);
  CHECK(csv.find("\n# layers: 0 2 4\n# estimator: observed-delta\n# steps: 64\n# baseline: mean\n") !=
        std::string::npos);
  CHECK(csv.find("\nposition,target_id,target,foil_id,foil,layer,ig,lens,f_final,f_baseline,delta,onset_layer\n") !=
        std::string::npos);
  CHECK(csv.find("4,44,\",\",,,2,-0.25,0.2,0.6,0.225,0.375,4\n") != std::string::npos);
  CHECK(csv.find("5,10,\"\n\"\"\xC3\",,,0,0.125,") != std::string::npos);  // quotes doubled, newline kept inside quotes
  CHECK(csv.find(",0.375,\n") != std::string::npos);                       // no onset: empty field
  CHECK_THROWS_WITH(render_report(two_token_report(), "xml"), Catch::Contains("unknown output format 'xml'"));
}

TEST_CASE("the heatmap has a cell per token and layer, labels and a legend", "[outputs][svg]") {
  const auto svg = heatmap_svg(two_token_report());
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  std::size_t cells = 0;
  for (auto at = svg.find("<g><title>"); at != std::string::npos; at = svg.find("<g><title>", at + 1)) ++cells;
  CHECK(cells == 6);
  CHECK(svg.find(">L4</text>") != std::string::npos);
  CHECK(svg.find("linearGradient") != std::string::npos);
  CHECK(svg.find("&quot;\\n\\&quot;\\xc3&quot;") != std::string::npos);  // escaped label, XML-safe
  // Centred on 0: the largest |IG| (0.5) is the full red end, 0.125 a light red.
  CHECK(svg.find("fill=\"#b2182b\"") != std::string::npos);
  CHECK(iglens::detail::diverging_colour(0) == "#ffffff");
  CHECK(iglens::detail::diverging_colour(-1) == "#2166ac");
}

namespace {

// Layers 0..2 of a two-block, two-head model, split by --components; each
// block's parts add up to the layer map's IG of that block.
Report components_report() {
  auto r = two_token_report();
  r.layers = {0, 1, 2};
  r.components = ReportComponents{ComponentLayout::of_blocks(2, 2), "observed-delta", 64};
  for (auto& row : r.tokens) {
    row.component_credits = {0.125, -0.5, 0.125, 0.0, 0.125, 0.25, 0.0625, -0.0625, 0.25};
  }
  r.tokens[1].delta = 0;  // no change: shares are undefined
  return r;
}

}  // namespace

TEST_CASE("with components the table lists each token's largest components and their share", "[outputs]") {
  const auto table = to_table(components_report());
  const auto section =
      table.find("components (observed-delta, 64 steps): per token the 8 of 9 with the largest |credit|");
  REQUIRE(section != std::string::npos);
  const auto first_token = table.substr(section, table.find("pos 5", section) - section);
  CHECK(first_token.find("pos 4 \",\"  \xCE\x94prob +0.3750") != std::string::npos);
  // Largest |credit| first, the share of Δ beside it; the ninth (0.0) is left out.
  CHECK(first_token.find("0.attn.head 0  -0.5000  -133.3%") != std::string::npos);
  CHECK(first_token.find("0.attn.head 0") < first_token.find("1.mlp"));
  CHECK(first_token.find("1.mlp") < first_token.find("embedding"));
  CHECK(first_token.find("0.attn.bias") == std::string::npos);
  CHECK(table.find("0.attn.head 0  -0.5000      -") != std::string::npos);  // Δ = 0: no share
  CHECK(to_table(two_token_report()).find("components (") == std::string::npos);
}

TEST_CASE("with components JSON carries the labels once and each token's credits aligned with them", "[outputs]") {
  const auto j = nlohmann::json::parse(to_json(components_report()));
  CHECK(j["components"]["labels"].size() == 9);
  CHECK(j["components"]["labels"][3] == "0.attn.bias");
  CHECK(j["components"]["labels"][5] == "1.attn.head 0");
  // Each part carries its kind, and its block and head where it has them.
  CHECK(j["components"]["parts"][0] == nlohmann::json({{"label", "embedding"}, {"kind", "embedding"}}));
  CHECK(j["components"]["parts"][6] ==
        nlohmann::json({{"label", "1.attn.head 1"}, {"kind", "head"}, {"block", 1}, {"head", 1}}));
  CHECK(j["components"]["parts"][3] == nlohmann::json({{"label", "0.attn.bias"}, {"kind", "attn_bias"}, {"block", 0}}));
  CHECK(j["components"]["parts"][8] == nlohmann::json({{"label", "1.mlp"}, {"kind", "mlp"}, {"block", 1}}));
  CHECK(j["components"]["n_layer"] == 2);
  CHECK(j["components"]["n_head"] == 2);
  CHECK(j["components"]["estimator"] == "observed-delta");
  CHECK(j["components"]["steps"] == 64);
  CHECK(j["tokens"][0]["component_credits"] ==
        nlohmann::json({0.125, -0.5, 0.125, 0.0, 0.125, 0.25, 0.0625, -0.0625, 0.25}));
  const auto plain = nlohmann::json::parse(to_json(two_token_report()));
  CHECK_FALSE(plain.contains("components"));
  CHECK_FALSE(plain["tokens"][0].contains("component_credits"));
}

TEST_CASE("the components CSV has one line per token and component with its block and head", "[outputs]") {
  const auto csv = to_components_csv(components_report());
  CHECK(csv.rfind("# model: ", 0) == 0);
  CHECK(csv.find("\n# components_estimator: observed-delta\n# components_steps: 64\n"
                 "position,target_id,target,component,kind,block,head,credit,delta\n") != std::string::npos);
  CHECK(csv.find("4,44,\",\",\"embedding\",embedding,,,0.125,0.375\n") != std::string::npos);
  CHECK(csv.find("4,44,\",\",\"1.attn.head 1\",head,1,1,0.0625,0.375\n") != std::string::npos);
  CHECK(csv.find("4,44,\",\",\"0.attn.bias\",attn_bias,0,,0,0.375\n") != std::string::npos);
  CHECK(csv.find("4,44,\",\",\"1.mlp\",mlp,1,,0.25,0.375\n") != std::string::npos);
  std::size_t first_token_lines = 0;
  for (auto at = csv.find("\n4,44,"); at != std::string::npos; at = csv.find("\n4,44,", at + 1)) ++first_token_lines;
  CHECK(first_token_lines == 9);
  CHECK_THROWS_WITH(to_components_csv(two_token_report()), Catch::Contains("run with --components"));
}

TEST_CASE("with sources, each head's credit by source position in the table, JSON and CSV", "[outputs]") {
  auto r = components_report();
  r.sources = ReportSources{{7, 8, 9, 10, 11, 12}, {"a", "b", "c", "d", ",", "\n\""}};
  // Position 4 reads sources 0..4, position 5 sources 0..5: [block][head][source].
  for (auto& row : r.tokens) {
    const auto n = static_cast<std::size_t>(row.position + 1);
    row.source_credits.assign(2 * 2 * n, 0.0);
    row.source_credits[(1 * 2 + 0) * n + 3] = -0.25;  // block 1, head 0 reads position 3
  }
  const auto table = to_table(r);
  CHECK(table.find("sources: per token the 8 (block, head, source token) credits") != std::string::npos);
  CHECK(table.find("  1.attn.head 0  pos 3 \"d\"  -0.2500  -66.7%") != std::string::npos);
  const auto j = nlohmann::json::parse(to_json(r));
  CHECK(j["sources"]["ids"] == nlohmann::json({7, 8, 9, 10, 11, 12}));
  CHECK(j["tokens"][0]["source_credits"].size() == 2);
  CHECK(j["tokens"][0]["source_credits"][1][0] == nlohmann::json({0.0, 0.0, 0.0, -0.25, 0.0}));
  CHECK(j["tokens"][1]["source_credits"][1][0].size() == 6);
  const auto csv = to_sources_csv(r);
  CHECK(csv.find("position,target_id,target,block,head,source_position,source_id,source_token,credit,delta\n") !=
        std::string::npos);
  CHECK(csv.find("\n4,44,\",\",1,0,3,10,\"d\",-0.25,0.375\n") != std::string::npos);
  const auto lines_of = [&](const std::string& start) {
    std::size_t n = 0;
    for (auto at = csv.find(start); at != std::string::npos; at = csv.find(start, at + 1)) ++n;
    return n;
  };
  CHECK(lines_of("\n4,44,") == 2 * 2 * 5);  // blocks x heads x sources 0..4
  CHECK(lines_of("\n5,10,") == 2 * 2 * 6);
  CHECK_THROWS_WITH(to_sources_csv(components_report()), Catch::Contains("run with --sources"));

  // Keeping each head's 2 largest |credit|: [position, credit] pairs, largest first, ties by position.
  r.sources->top = 2;
  for (auto& row : r.tokens) row.source_credits[(0 * 2 + 1) * static_cast<std::size_t>(row.position + 1) + 1] = 0.5;
  const auto top = nlohmann::json::parse(to_json(r));
  CHECK(top["sources"]["top"] == 2);
  CHECK(!top["tokens"][0].contains("source_credits"));
  CHECK(top["tokens"][0]["top_sources"][1][0] == nlohmann::json::parse("[[3, -0.25], [0, 0.0]]"));
  CHECK(top["tokens"][1]["top_sources"][0][1] == nlohmann::json::parse("[[1, 0.5], [0, 0.0]]"));
  const auto top_csv = to_sources_csv(r);
  CHECK(top_csv.find("# top_sources: 2\n") != std::string::npos);
  std::size_t lines = 0;
  for (auto at = top_csv.find("\n4,44,"); at != std::string::npos; at = top_csv.find("\n4,44,", at + 1)) ++lines;
  CHECK(lines == 2 * 2 * 2);  // blocks x heads x 2 kept
  CHECK(top_csv.find("\n4,44,\",\",0,1,1,8,\"b\",0.5,0.375\n4,44,\",\",0,1,0,7,\"a\",0,0.375\n") != std::string::npos);
}

TEST_CASE("with components the heatmap adds a block x head panel per token on the layer map's scale",
          "[outputs][svg]") {
  const auto svg = heatmap_svg(components_report());
  auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (auto at = svg.find(needle); at != std::string::npos; at = svg.find(needle, at + 1)) ++n;
    return n;
  };
  CHECK(count("<g><title>") == 2 * 3);                          // the layer map
  CHECK(count("<g class=\"component\"><title>") == 2 * 2 * 4);  // 2 tokens x 2 blocks x (2 heads, bias, MLP)
  for (const char* label : {">H0</text>", ">H1</text>", ">bias</text>", ">MLP</text>", ">block</text>"})
    CHECK(svg.find(label) != std::string::npos);
  CHECK(svg.find("1.attn.head 1: credit +0.062500 (+16.7% of \xCE\x94prob)") != std::string::npos);
  // One scale for both: IG@2 = +0.5 and block 0's head 0 = -0.5 take the two ends.
  CHECK(svg.find("fill=\"#b2182b\"") != std::string::npos);
  CHECK(svg.find("fill=\"#2166ac\"") != std::string::npos);
  CHECK(svg.find(">+0.500</text>") != std::string::npos);  // block 1's sum, IG@2
}

namespace {

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The JSON the page's script reads.
nlohmann::json embedded_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"iglens-data\">";
  const auto begin = html.find(open);
  REQUIRE(begin != std::string::npos);
  const auto start = begin + open.size();
  return nlohmann::json::parse(html.substr(start, html.find("</script>", start) - start));
}

}  // namespace

TEST_CASE("the HTML report embeds the report as JSON that no token can break out of", "[outputs][html]") {
  auto report = two_token_report();
  report.prompt = "a <i>b</i> & c";
  report.tokens[0].target = "</script><b>x";
  report.tokens[1].target = "<!--<script>";
  report.tokens[1].foil_id = 32;
  report.tokens[1].foil = " ";
  const auto html = html_report(report);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  // Only the page's own two script elements open and close.
  CHECK(occurrences(html, "<script") == 2);
  CHECK(occurrences(html, "</script>") == 2);
  CHECK(html.find("<b>x") == std::string::npos);
  CHECK(html.find("<!--") == std::string::npos);
  CHECK(html.find("a &lt;i&gt;b&lt;/i&gt; &amp; c") != std::string::npos);  // the prompt in the header
  // Nothing to fetch: no src or href, and a policy that forbids loading anything.
  CHECK(html.find(" src=") == std::string::npos);
  CHECK(html.find("href=") == std::string::npos);
  CHECK(html.find("default-src 'none'") != std::string::npos);
  const auto data = embedded_data(html);
  CHECK(data["tokens"][0]["target"] == "</script><b>x");
  CHECK(data["tokens"][0]["label"] == "\"</script><b>x\"");
  CHECK(data["tokens"][1]["target"] == "<!--<script>");
  CHECK(data["tokens"][1]["foil_label"] == "\" \"");
  CHECK_FALSE(data["tokens"][0].contains("foil_label"));
  CHECK(data["tokens"][0]["ig"] == nlohmann::json({0.125, -0.25, 0.5}));
  CHECK(data["layers"] == nlohmann::json({0, 2, 4}));
  CHECK(data["colour_scale"] == 0.5);
  CHECK(data["delta_label"] == "\xCE\x94prob");
  CHECK_FALSE(data.contains("components"));
}

TEST_CASE("the HTML report's data keeps split characters as U+FFFD and gives the component grid's shape",
          "[outputs][html]") {
  const auto html = html_report(components_report());
  const auto data = embedded_data(html);
  CHECK(data["tokens"][1]["target"] == "\n\"\xEF\xBF\xBD");
  CHECK(data["tokens"][1]["label"] == R"("\n\"\xc3")");  // as the table prints it
  CHECK(data["components"]["n_layer"] == 2);
  CHECK(data["components"]["n_head"] == 2);
  CHECK(data["components"]["labels"].size() == 9);
  CHECK(data["tokens"][0]["component_credits"][1] == -0.5);
  CHECK(html.find("IG-Lens: \xCE\x94prob credited to each layer and component") != std::string::npos);
}

TEST_CASE("a corpus summary is the per-layer mean and spread of every token's IG", "[outputs][corpus]") {
  auto token = [](std::vector<double> ig, double delta, nlohmann::json onset) {
    return nlohmann::json{{"ig", ig}, {"lens", {0.0, 0.5, 1.0}}, {"delta", delta}, {"onset_layer", onset}};
  };
  const std::vector<nlohmann::json> records{
      {{"id", "a"},
       {"layers", {0, 1, 2}},
       {"tokens", {token({0.1, 0.2, 0.3}, 0.6, 2), token({0.3, 0.0, -0.1}, 0.2, 0)}}},
      {{"id", "b"}, {"error", "the prompt is too long"}},
      {{"id", "c"}, {"layers", {0, 1, 2}}, {"tokens", {token({0.2, 0.4, 0.0}, 0.6, nullptr)}}},
  };
  const auto summary = summarize_corpus(records);
  CHECK(summary.records == 2);
  CHECK(summary.errors == 1);
  CHECK(summary.tokens == 3);
  CHECK(summary.layers == std::vector<std::int64_t>{0, 1, 2});
  CHECK(summary.ig_mean[0] == Approx(0.2));
  CHECK(summary.ig_mean[1] == Approx(0.2));
  CHECK(summary.ig_std[1] == Approx(std::sqrt(((0.0) + (0.04) + (0.04)) / 3)));  // values 0.2, 0.0, 0.4
  CHECK(summary.lens_mean[2] == Approx(1.0));
  CHECK(summary.delta_mean == Approx(1.4 / 3));
  CHECK(summary.onset_histogram == std::map<std::string, std::int64_t>{{"0", 1}, {"2", 1}, {"none", 1}});
  const auto json = to_json_value(summary);
  CHECK(json["onset_histogram"]["none"] == 1);
  CHECK(json["ig_std"].size() == 3);

  const auto svg = corpus_summary_svg(summary, "corpus <test>");
  CHECK(occurrences(svg, "<rect class=\"ig\"") == 3);
  CHECK(occurrences(svg, "<rect class=\"onset\"") == 4);  // layers 0, 1, 2 and none
  CHECK(svg.find("corpus &lt;test&gt;") != std::string::npos);

  auto other = records;
  other[2]["layers"] = {0, 2};
  CHECK_THROWS_WITH(summarize_corpus(other), Catch::Contains("corpus record 'c' has layers 0 2"));
}
