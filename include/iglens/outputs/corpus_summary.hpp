#pragma once
// What many attributions found together (`iglens corpus`): per layer the mean
// and spread of IG over every attributed token, the mean logit lens, the
// histogram of onset layers and the mean change of the objective, from the
// records of a corpus run (each the `attribute` JSON of one prompt, or an
// error), and its picture as SVG.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/outputs/heatmap_svg.hpp"

namespace iglens {

struct CorpusSummary {
  std::int64_t records = 0;  // prompts attributed
  std::int64_t errors = 0;   // prompts that gave an error instead
  std::int64_t tokens = 0;   // attributed tokens over all prompts
  std::vector<std::int64_t> layers;
  std::vector<double> ig_mean, ig_std, lens_mean;  // per layer, over tokens (std: population)
  double delta_mean = 0, delta_std = 0;
  std::map<std::string, std::int64_t> onset_histogram;  // "L" or "none" -> tokens
};

namespace detail {

inline std::string onset_key(const nlohmann::json& onset) {
  return onset.is_null() ? std::string("none") : std::to_string(onset.get<std::int64_t>());
}

inline double population_std(double sum, double sum_of_squares, std::int64_t n) {
  if (n == 0) return 0.0;
  const double mean = sum / static_cast<double>(n);
  return std::sqrt(std::max(0.0, sum_of_squares / static_cast<double>(n) - mean * mean));
}

}  // namespace detail

// `records`: per prompt, the `attribute` JSON report, or an object with an
// "error" field. Every report must share one layer list.
inline CorpusSummary summarize_corpus(const std::vector<nlohmann::json>& records) {
  CorpusSummary summary;
  std::vector<double> ig_sum, ig_squares, lens_sum;
  double delta_sum = 0, delta_squares = 0;
  for (const auto& record : records) {
    if (record.contains("error")) {
      ++summary.errors;
      continue;
    }
    const auto layers = record.at("layers").get<std::vector<std::int64_t>>();
    if (summary.records == 0) {
      summary.layers = layers;
      ig_sum.assign(layers.size(), 0.0);
      ig_squares.assign(layers.size(), 0.0);
      lens_sum.assign(layers.size(), 0.0);
    }
    require(layers == summary.layers, "corpus record '{}' has layers {} where the others have {}",
            record.value("id", ""), fmt::join(layers, " "), fmt::join(summary.layers, " "));
    ++summary.records;
    for (const auto& token : record.at("tokens")) {
      const auto& ig = token.at("ig");
      const auto& lens = token.at("lens");
      for (std::size_t j = 0; j < layers.size(); ++j) {
        const double value = ig.at(j).get<double>();
        ig_sum[j] += value;
        ig_squares[j] += value * value;
        lens_sum[j] += lens.at(j).get<double>();
      }
      const double delta = token.at("delta").get<double>();
      delta_sum += delta;
      delta_squares += delta * delta;
      ++summary.onset_histogram[detail::onset_key(token.at("onset_layer"))];
      ++summary.tokens;
    }
  }
  const auto n = static_cast<double>(summary.tokens);
  for (std::size_t j = 0; j < summary.layers.size(); ++j) {
    summary.ig_mean.push_back(summary.tokens ? ig_sum[j] / n : 0.0);
    summary.ig_std.push_back(detail::population_std(ig_sum[j], ig_squares[j], summary.tokens));
    summary.lens_mean.push_back(summary.tokens ? lens_sum[j] / n : 0.0);
  }
  summary.delta_mean = summary.tokens ? delta_sum / n : 0.0;
  summary.delta_std = detail::population_std(delta_sum, delta_squares, summary.tokens);
  return summary;
}

inline nlohmann::json to_json_value(const CorpusSummary& summary) {
  return {{"records", summary.records},     {"errors", summary.errors},
          {"tokens", summary.tokens},       {"layers", summary.layers},
          {"ig_mean", summary.ig_mean},     {"ig_std", summary.ig_std},
          {"lens_mean", summary.lens_mean}, {"delta_mean", summary.delta_mean},
          {"delta_std", summary.delta_std}, {"onset_histogram", summary.onset_histogram}};
}

// Two panels: the mean IG of each layer with a bar of one standard deviation
// either side, and how many tokens have their onset at each layer.
inline std::string corpus_summary_svg(const CorpusSummary& summary, const std::string& title) {
  const auto K = static_cast<int>(summary.layers.size());
  // At least wide enough for the two lines of text above the panels.
  const int left = 70, column = 34, width = std::max(560, left + (K + 1) * column + 40);
  const int top = 84, panel = 180, gap = 70, height = top + 2 * panel + gap + 50;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"20\" font-size=\"15\">{}</text>\n"
      "<text x=\"10\" y=\"40\">{} prompts, {} tokens, {} errors; mean \xCE\x94 {:+.4f} (sd {:.4f})</text>\n",
      width, height, detail::xml_text(title), summary.records, summary.tokens, summary.errors, summary.delta_mean,
      summary.delta_std);
  // Panel 1: mean IG +- sd, on a scale symmetric about 0.
  double scale = 1e-12;
  for (int j = 0; j < K; ++j) scale = std::max(scale, std::abs(summary.ig_mean[j]) + summary.ig_std[j]);
  const double zero_y = top + panel / 2.0;
  svg += fmt::format("<text x=\"10\" y=\"{}\">mean IG per layer (bar: \xC2\xB1 1 sd)</text>\n", top - 20);
  svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#888\"/>\n", left, zero_y,
                     left + K * column, zero_y);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:+.3g}</text>\n", left - 6, top + 10, scale);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:+.3g}</text>\n", left - 6, top + panel, -scale);
  for (int j = 0; j < K; ++j) {
    const double mean = summary.ig_mean[j], sd = summary.ig_std[j];
    const double y = zero_y - mean / scale * (panel / 2.0);
    const double x = left + j * column + 4;
    svg += fmt::format(
        "<rect class=\"ig\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{}\" height=\"{:.1f}\" fill=\"{}\"><title>layer {}: "
        "mean IG {:+.4f}, sd {:.4f}</title></rect>\n",
        x, std::min(y, zero_y), column - 8, std::abs(zero_y - y), detail::diverging_colour(mean / scale),
        summary.layers[j], mean, sd);
    const double cx = x + (column - 8) / 2.0;
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#222\"/>\n", cx,
                       zero_y - (mean + sd) / scale * (panel / 2.0), cx, zero_y - (mean - sd) / scale * (panel / 2.0));
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", cx, top + panel + 14,
                       summary.layers[j]);
  }
  // Panel 2: onset histogram, "none" last.
  const int top2 = top + panel + gap;
  std::int64_t most = 1;
  for (const auto& [key, count] : summary.onset_histogram) most = std::max(most, count);
  svg += fmt::format("<text x=\"10\" y=\"{}\">tokens by onset layer</text>\n", top2 - 20);
  for (int j = 0; j <= K; ++j) {
    const auto key = j < K ? std::to_string(summary.layers[j]) : std::string("none");
    const auto found = summary.onset_histogram.find(key);
    const auto count = found == summary.onset_histogram.end() ? 0 : found->second;
    const double h = static_cast<double>(count) / static_cast<double>(most) * (panel - 20);
    const double x = left + j * column + 4;
    svg += fmt::format(
        "<rect class=\"onset\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{}\" height=\"{:.1f}\" fill=\"#4d4d4d\"><title>onset "
        "{}: {} tokens</title></rect>\n",
        x, top2 + panel - h, column - 8, h, key, count);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x + (column - 8) / 2.0,
                       top2 + panel + 14, key);
  }
  return svg + "</svg>\n";
}

}  // namespace iglens
