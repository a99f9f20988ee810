#pragma once
// The attribution map as a standalone SVG picture: tokens down, layers
// across, a diverging colour scale centred on 0 (blue takes probability away,
// red adds it), the onset layer outlined, Δ per token at the right and a
// colour legend. With --components, a panel per token follows: blocks down,
// the block's heads, attention bias and MLP across, on the same colour scale
// as the layer map so a head's cell compares with a layer's. With --sources,
// a panel per token then shows where its probability came from: blocks down,
// the source tokens across, each cell what the block's heads drew from that
// token. Opens in any browser; hovering a cell shows its numbers.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "iglens/outputs/report.hpp"

namespace iglens {
namespace detail {

inline std::string xml_text(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Diverging scale: -1 -> blue, 0 -> white, +1 -> red (ColorBrewer RdBu ends).
inline std::string diverging_colour(double t) {
  t = std::clamp(t, -1.0, 1.0);
  const int end_r = t < 0 ? 0x21 : 0xb2, end_g = t < 0 ? 0x66 : 0x18, end_b = t < 0 ? 0xac : 0x2b;
  const double a = std::abs(t);
  auto mix = [a](int end) { return static_cast<int>(std::lround(255.0 + (end - 255.0) * a)); };
  return fmt::format("#{:02x}{:02x}{:02x}", mix(end_r), mix(end_g), mix(end_b));
}

// One scale for the whole figure: the largest |credit| of a layer or a
// component maps to the ends of the colour scale (1 when all are 0).
inline double colour_scale(const Report& report) {
  double scale = 0;
  for (const auto& row : report.tokens) {
    for (double v : row.ig) scale = std::max(scale, std::abs(v));
    for (double v : row.component_credits) scale = std::max(scale, std::abs(v));
  }
  return scale == 0 ? 1 : scale;
}

// The first `limit` code points of a label, with an ellipsis when cut.
inline std::string shortened(const std::string& text, std::size_t limit) {
  if (display_width(text) <= limit) return text;
  std::size_t points = 0, i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && points++ == limit) break;
  }
  return text.substr(0, i) + "\xE2\x80\xA6";
}

// Component panels: one per token, blocks as rows, the heads then (after a
// small gap) the attention bias and the MLP as columns; each part is placed
// by its own block and kind.
struct ComponentPanels {
  static constexpr int cell_w = 40, cell_h = 16, gap = 8, title_h = 42, bottom_margin = 18;

  const ComponentLayout& layout;
  int left;  // x of the first column, aligned with the layer map

  int columns() const { return static_cast<int>(layout.block_columns()); }
  int column_x(int column) const { return left + column * cell_w + (column >= layout.n_head ? gap : 0); }
  int grid_right() const { return column_x(columns() - 1) + cell_w; }
  int width() const { return grid_right() + 90; }
  int panel_height() const { return title_h + static_cast<int>(layout.n_layer) * cell_h + bottom_margin; }

  std::string column_label(int column) const {
    if (column < layout.n_head) return fmt::format("H{}", column);
    return column == layout.n_head ? "bias" : "MLP";
  }

  std::string render(const Report& report, const TokenRow& row, int top, double scale) const {
    const auto delta = xml_text(delta_label(report));
    double embedding = 0;
    std::vector<double> block_sums(static_cast<std::size_t>(layout.n_layer), 0.0);
    for (std::size_t i = 0; i < layout.parts.size(); ++i) {
      const auto& part = layout.parts[i];
      if (part.kind == ComponentKind::embedding) embedding += row.component_credits[i];
      if (part.block) block_sums[static_cast<std::size_t>(*part.block)] += row.component_credits[i];
    }
    std::string svg = fmt::format(
        "<text x=\"16\" y=\"{}\" font-weight=\"bold\">position {} {}: {} {:+.4f} by component "
        "(embedding {:+.4f})</text>\n",
        top + 14, row.position, xml_text(display_token(row.target)), delta, row.delta, embedding);
    const int grid_top = top + title_h;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-weight=\"bold\">block</text>\n", left - 8,
                       grid_top - 6);
    for (int column = 0; column < columns(); ++column) {
      svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
                         column_x(column) + cell_w / 2, grid_top - 6, column_label(column));
    }
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">sum</text>\n",
                       grid_right() + 40, grid_top - 6);
    const auto row_y = [&](std::int64_t block) { return grid_top + static_cast<int>(block) * cell_h; };
    for (std::int64_t block = 0; block < layout.n_layer; ++block) {
      const int y = row_y(block);
      svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 8, y + 12, block);
      svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{:+.3f}</text>\n",
                         grid_right() + 40, y + 12, block_sums[static_cast<std::size_t>(block)]);
    }
    for (std::size_t i = 0; i < layout.parts.size(); ++i) {
      const auto& part = layout.parts[i];
      if (!part.block) continue;
      const double v = row.component_credits[i], t = v / scale;
      const int x = column_x(static_cast<int>(layout.column(part))), y = row_y(*part.block);
      // Values that round to zero at two decimals leave the cell blank, so the large ones stand out.
      const auto value_text = std::abs(v) < 0.005 ? std::string() : fmt::format("{:+.2f}", v);
      svg += fmt::format(
          "<g class=\"component\"><title>position {} token {} {}: credit {:+.6f} ({} of {})</title>"
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#eee\" stroke-width=\"0.5\"/>"
          "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"9\" fill=\"{}\">{}</text></g>\n",
          row.position, xml_text(display_token(row.target)), xml_text(part.label()), v, share_text(v, row.delta), delta,
          x, y, cell_w, cell_h, diverging_colour(t), x + cell_w / 2, y + 12, std::abs(t) > 0.6 ? "white" : "#222",
          value_text);
    }
    return svg;
  }
};

// Source panels: one per token, blocks as rows, the source tokens (the
// prompt and the answer up to the token) as columns; a cell is what the
// block's heads together drew from that source, its tooltip each head's part.
struct SourcePanels {
  static constexpr int cell_w = 16, cell_h = 16, title_h = 24, label_h = 110, bottom_margin = 18;
  static constexpr std::size_t label_chars = 14;
  const ComponentLayout& layout;
  const ReportSources& sources;
  int left;
  int width(const Report& report) const {
    std::int64_t longest = 0;
    for (const auto& row : report.tokens) longest = std::max(longest, row.position + 1);
    return left + static_cast<int>(longest) * cell_w + 90;
  }
  int panel_height() const { return title_h + label_h + static_cast<int>(layout.n_layer) * cell_h + bottom_margin; }
  std::string render(const Report& report, const TokenRow& row, int top, double scale) const {
    const auto sums = block_source_credits(report, row);
    const auto n = static_cast<int>(row.position + 1);
    std::string svg = fmt::format(
        "<text x=\"16\" y=\"{}\" font-weight=\"bold\">position {} {}: what each block's heads drew from each source "
        "token{}</text>\n",
        top + 14, row.position, xml_text(display_token(row.target)),
        sources.top > 0 ? fmt::format(" (each head's {} largest)", sources.top) : std::string());
    const int grid_top = top + title_h + label_h;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-weight=\"bold\">block</text>\n", left - 8,
                       grid_top - 6);
    for (int j = 0; j < n; ++j) {
      const int x = left + j * cell_w + cell_w / 2 + 4;
      svg += fmt::format("<text transform=\"translate({},{}) rotate(-90)\" font-size=\"11\">{} {}</text>\n", x,
                         grid_top - 6, j,
                         xml_text(shortened(display_token(sources.tokens[static_cast<std::size_t>(j)]), label_chars)));
    }
    for (std::int64_t block = 0; block < layout.n_layer; ++block) {
      const int y = grid_top + static_cast<int>(block) * cell_h;
      svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 8, y + 12, block);
      // Each source's heads, for the tooltips.
      std::vector<std::string> heads(static_cast<std::size_t>(n));
      for (std::int64_t head = 0; head < layout.n_head; ++head) {
        for (const auto& kept : head_sources(report, row, block, head)) {
          if (kept.credit != 0) {
            heads[static_cast<std::size_t>(kept.source)] += fmt::format("\nH{} {:+.6f}", head, kept.credit);
          }
        }
      }
      for (int j = 0; j < n; ++j) {
        const double v = sums[static_cast<std::size_t>(block)][static_cast<std::size_t>(j)];
        svg += fmt::format(
            "<g class=\"source\"><title>position {} token {} block {} reading {} {}: {:+.6f} ({} of {}){}</title>"
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#eee\" "
            "stroke-width=\"0.5\"/></g>\n",
            row.position, xml_text(display_token(row.target)), block, j,
            xml_text(display_token(sources.tokens[static_cast<std::size_t>(j)])), v, share_text(v, row.delta),
            xml_text(delta_label(report)), heads[static_cast<std::size_t>(j)], left + j * cell_w, y, cell_w, cell_h,
            diverging_colour(v / scale));
      }
    }
    return svg;
  }
};

}  // namespace detail

inline std::string heatmap_svg(const Report& report) {
  constexpr int cell_w = 56, cell_h = 22, top = 78, label_chars = 18, char_w = 8;
  const int left = 16 + (label_chars + 7) * char_w;
  const auto K = static_cast<int>(report.layers.size()), T = static_cast<int>(report.tokens.size());
  const double scale = detail::colour_scale(report);
  const auto model_label = detail::shortened(report.model.substr(report.model.find_last_of('/') + 1), 60);
  const auto prompt_label = detail::shortened(display_token(report.prompt), 70);
  const auto header_chars = std::max(display_width(model_label) + 40, display_width(prompt_label) + 8);
  const int grid_right = left + K * cell_w;
  int width = std::max({grid_right + 110, 520, 32 + static_cast<int>(header_chars) * 15 / 2});
  const int components_top = top + T * cell_h + 24;
  int legend_top = top + T * cell_h + 34, height = legend_top + 56;
  std::optional<detail::ComponentPanels> panels;
  std::optional<detail::SourcePanels> source_panels;
  if (report.components) {
    panels.emplace(detail::ComponentPanels{report.components->layout, left});
    width = std::max({width, panels->width(), 720});
    legend_top = components_top + T * panels->panel_height() + 10;
    height = legend_top + 106;
  }
  const int sources_top = legend_top;
  if (report.components && report.sources) {
    source_panels.emplace(detail::SourcePanels{report.components->layout, *report.sources, left});
    width = std::max(width, source_panels->width(report));
    legend_top += T * source_panels->panel_height();
    height = legend_top + 122;
  }

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height);
  svg += fmt::format(
      "<text x=\"16\" y=\"22\" font-size=\"14\" font-weight=\"bold\">IG-Lens: {} credited to each layer{}</text>\n",
      detail::xml_text(delta_label(report)), panels ? " and component" : "");
  svg += fmt::format("<text x=\"16\" y=\"40\" fill=\"#444\">{} | {} | {} steps | baseline {}</text>\n",
                     detail::xml_text(model_label), report.estimator, report.steps, report.baseline);
  svg += fmt::format("<text x=\"16\" y=\"56\" fill=\"#444\">prompt {}</text>\n", detail::xml_text(prompt_label));
  for (int j = 0; j < K; ++j) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">L{}</text>\n",
                       left + j * cell_w + cell_w / 2, top - 6, report.layers[j]);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n", grid_right + 50,
                     top - 6, detail::xml_text(delta_label(report)));
  for (int i = 0; i < T; ++i) {
    const auto& row = report.tokens[i];
    const int y = top + i * cell_h;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} {}</text>\n", left - 8, y + 15, row.position,
                       detail::xml_text(detail::shortened(token_label(row), label_chars)));
    for (int j = 0; j < K; ++j) {
      const double v = row.ig[j], t = v / scale;
      const int x = left + j * cell_w;
      svg += fmt::format(
          "<g><title>position {} token {} layer {}: IG {:+.6f}, lens {:.6f}</title>"
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>"
          "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{}\">{:+.2f}</text></g>\n",
          row.position, detail::xml_text(token_label(row)), report.layers[j], v, row.lens[j], x, y, cell_w, cell_h,
          detail::diverging_colour(t), x + cell_w / 2, y + 15, std::abs(t) > 0.6 ? "white" : "#222", v);
    }
    if (row.onset_layer) {
      const auto at = std::find(report.layers.begin(), report.layers.end(), *row.onset_layer);
      const int j = static_cast<int>(at - report.layers.begin());
      svg += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\" "
          "stroke-width=\"2\"/>\n",
          left + j * cell_w + 1, y + 1, cell_w - 2, cell_h - 2);
    }
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:+.3f}</text>\n", grid_right + 50, y + 15,
                       row.delta);
  }
  if (panels) {
    for (int i = 0; i < T; ++i)
      svg += panels->render(report, report.tokens[i], components_top + i * panels->panel_height(), scale);
  }
  if (source_panels) {
    for (int i = 0; i < T; ++i)
      svg += source_panels->render(report, report.tokens[i], sources_top + i * source_panels->panel_height(), scale);
  }
  // Legend: the colour bar from -scale to +scale, and what the outline means.
  const int bar_x = left, bar_w = std::max(K * cell_w, 240);
  svg += "<defs><linearGradient id=\"iglens-scale\">";
  for (int s = 0; s <= 8; ++s) {
    svg += fmt::format("<stop offset=\"{:.3f}\" stop-color=\"{}\"/>", s / 8.0, detail::diverging_colour(s / 4.0 - 1));
  }
  svg += "</linearGradient></defs>\n";
  svg +=
      fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"12\" fill=\"url(#iglens-scale)\" stroke=\"#888\"/>\n",
                  bar_x, legend_top, bar_w);
  const char* anchors[] = {"start", "middle", "end"};
  for (int s = 0; s <= 2; ++s) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"{}\">{:+.3g}</text>\n", bar_x + s * bar_w / 2,
                       legend_top + 28, anchors[s], (s - 1) * scale);
  }
  svg += fmt::format(
      "<text x=\"16\" y=\"{}\" fill=\"#444\">IG per layer; rows sum to {}. "
      "Outlined: onset layer ({:g} of |IG|).</text>\n",
      legend_top + 48, detail::xml_text(delta_label(report)), report.onset_fraction);
  if (panels) {
    svg += fmt::format(
        "<text x=\"16\" y=\"{}\" fill=\"#444\">Panels: block b (layer b+1 above) split into heads "
        "H0..H{}, attention bias and MLP{};</text>\n",
        legend_top + 64, report.components->layout.n_head - 1,
        report.components->layout.parallel_blocks ? ", which share one segment (parallel blocks: no resid_mid)" : "");
    svg += fmt::format(
        "<text x=\"16\" y=\"{}\" fill=\"#444\">sum = the block's IG ({}, {} steps). Same colour "
        "scale as the layer map;</text>\n",
        legend_top + 80, report.components->estimator, report.components->steps);
    svg += fmt::format(
        "<text x=\"16\" y=\"{}\" fill=\"#444\">blank cells: |credit| &lt; 0.005 (hover for "
        "every number).</text>\n",
        legend_top + 96);
  }
  if (source_panels) {
    svg += fmt::format(
        "<text x=\"16\" y=\"{}\" fill=\"#444\">Source panels: a cell is the sum of the block's head credits "
        "from that source token; a row sums to the heads' cells above.</text>\n",
        legend_top + 112);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace iglens
