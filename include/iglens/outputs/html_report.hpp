#pragma once
// The attribution as one self-contained interactive page (--html): the layer
// map with a tooltip per cell; clicking a token shows its IG per layer as
// bars, its logit-lens curve and, with --components, its block x head grid;
// with --sources, a block x source-token grid, and a head's credit by
// source over the text when its cell is clicked.
// Everything is inline and the page may load nothing (its Content Security
// Policy says so): the report is embedded as JSON and drawn by the page's
// own script, on the SVG heatmap's colour scale.

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "iglens/outputs/heatmap_svg.hpp"
#include "iglens/outputs/report.hpp"

namespace iglens {
namespace detail {

// JSON for a <script> element: '<' only occurs inside JSON strings, where
// \u003c is the same character, so no token (say "</script>") can end the
// element early. Bytes that are not UTF-8 become U+FFFD, as in --format json.
inline std::string script_json(const nlohmann::json& value) {
  const auto text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<')
      out += "\\u003c";
    else
      out.push_back(c);
  }
  return out;
}

// What the page's script draws: the report's JSON (the --format json
// layout, whose components carry each part's block, kind and head) plus the
// labels the table prints and the colour scale.
inline nlohmann::json html_page_data(const Report& report) {
  auto data = to_json_value(report);
  data["delta_label"] = delta_label(report);
  data["colour_scale"] = colour_scale(report);
  for (std::size_t i = 0; i < report.tokens.size(); ++i) {
    const auto& row = report.tokens[i];
    data["tokens"][i]["label"] = display_token(row.target);
    if (row.foil_id) data["tokens"][i]["foil_label"] = display_token(row.foil);
  }
  if (report.sources) {
    auto labels = nlohmann::json::array();
    for (const auto& token : report.sources->tokens) labels.push_back(display_token(token));
    data["sources"]["labels"] = std::move(labels);
  }
  return data;
}

inline std::string html_setting(std::string_view name, const std::string& value) {
  return fmt::format("<dt>{}</dt><dd>{}</dd>\n", name, xml_text(value));
}

constexpr const char* html_style = R"css(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .5em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
dl#settings { display: grid; grid-template-columns: max-content 1fr; gap: .1em 1em; margin: 0; }
dl#settings dt { color: #555; }
dl#settings dd { margin: 0; font-family: monospace; word-break: break-all; }
.note { color: #555; margin: .3em 0; }
table { border-collapse: collapse; font-family: monospace; }
th { font-weight: bold; padding: 2px 6px; }
td.cell { width: 52px; height: 20px; text-align: center; font-size: 11px; cursor: pointer; }
#components-grid caption { text-align: left; padding-bottom: .3em; }
#components-grid td.cell { width: 44px; height: 16px; font-size: 10px; border: 1px solid #eee; }
#sources-grid caption { text-align: left; padding-bottom: .3em; }
#sources-grid td.cell { width: 14px; height: 14px; border: 1px solid #eee; }
#sources-grid th.source { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal; font-size: 11px;
                          white-space: pre; max-height: 12em; overflow: hidden; }
td.clickable { cursor: pointer; }
p.source-text { font-family: monospace; white-space: pre-wrap; line-height: 1.8; }
p.source-text span { border: 1px solid #eee; padding: 1px 0; }
td.onset { outline: 2px solid black; outline-offset: -2px; }
td.number { text-align: right; padding: 0 8px; }
td.gap { width: 8px; }
th.token button { font: inherit; background: none; border: 0; padding: 2px 4px; cursor: pointer; max-width: 18em;
                  overflow: hidden; text-overflow: ellipsis; white-space: pre; text-align: right; }
tr.selected th.token button { background: #ffe08a; }
#legend { display: flex; align-items: center; gap: .5em; margin-top: .8em; font-family: monospace; }
#legend .bar { width: 240px; height: 12px; border: 1px solid #888; }
#detail { border-top: 1px solid #ccc; margin-top: 1.5em; }
#detail-values { display: grid; grid-template-columns: max-content max-content; gap: .1em 1em; font-family: monospace; }
#detail-values dt { color: #555; font-family: system-ui, sans-serif; }
#detail-values dd { margin: 0; text-align: right; }
.charts { display: flex; flex-wrap: wrap; gap: 2em; }
.charts svg { font: 11px monospace; }
#tooltip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 4px 8px; border-radius: 4px;
           font: 12px monospace; white-space: pre; z-index: 1; }
)css";

// The page's script. Every text from the report goes in through
// textContent or an attribute, never as markup.
constexpr const char* html_script = R"js(
"use strict";
const data = JSON.parse(document.getElementById("iglens-data").textContent);
const scale = data.colour_scale, layers = data.layers, deltaLabel = data.delta_label;
const svgNamespace = "http://www.w3.org/2000/svg";

// As detail::diverging_colour in heatmap_svg.hpp: -scale blue, 0 white, +scale red.
function colour(value) {
  const t = Math.max(-1, Math.min(1, value / scale)), a = Math.abs(t);
  const end = t < 0 ? [0x21, 0x66, 0xac] : [0xb2, 0x18, 0x2b];
  return "#" + end.map(e => Math.round(255 + (e - 255) * a).toString(16).padStart(2, "0")).join("");
}
function ink(value) { return Math.abs(value / scale) > 0.6 ? "white" : "#222"; }
function signed(value, digits) {
  const text = value.toFixed(digits);
  return value >= 0 ? "+" + text : text;
}
function element(tag, properties = {}, text) {
  const node = document.createElement(tag);
  Object.assign(node, properties);
  if (text !== undefined) node.textContent = text;
  return node;
}
function svgElement(tag, attributes = {}, text) {
  const node = document.createElementNS(svgNamespace, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// One tooltip for the page: an element with a `tip` function shows its text while hovered.
const tooltip = document.getElementById("tooltip");
document.addEventListener("mouseover", event => {
  const target = event.target.closest ? event.target.closest("[data-tip]") : null;
  if (!target || !target.tip) { tooltip.hidden = true; return; }
  tooltip.textContent = target.tip();
  tooltip.hidden = false;
});
document.addEventListener("mousemove", event => {
  tooltip.style.left = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 4) + "px";
  tooltip.style.top = (event.clientY + 16) + "px";
});
function withTip(node, text) {
  node.dataset.tip = "";
  node.tip = text;
  return node;
}

function drawHeatmap() {
  const table = document.getElementById("heatmap");
  const head = table.createTHead().insertRow();
  head.append(element("th", {}, "pos"), element("th", {}, "token"));
  for (const layer of layers) head.append(element("th", {}, "L" + layer));
  head.append(element("th", {}, deltaLabel));
  const body = table.createTBody();
  data.tokens.forEach((token, row) => {
    const tr = body.insertRow();
    tr.dataset.row = row;
    tr.append(element("td", {className: "number"}, String(token.position)));
    const label = element("th", {className: "token", scope: "row"});
    label.append(element("button", {type: "button", title: token.label}, token.label));
    tr.append(label);
    layers.forEach((layer, j) => {
      const value = token.ig[j];
      const cell = element("td", {className: "cell"}, signed(value, 2));
      if (token.onset_layer === layer) cell.classList.add("onset");
      cell.style.background = colour(value);
      cell.style.color = ink(value);
      tr.append(withTip(cell, () => `position ${token.position} token ${token.label} layer ${layer}\n` +
                                    `IG    ${signed(value, 6)}\nlens  ${token.lens[j].toFixed(6)}\n` +
                                    `${deltaLabel} ${signed(token.delta, 6)}`));
    });
    tr.append(element("td", {className: "number"}, signed(token.delta, 3)));
  });
  body.addEventListener("click", event => {
    const tr = event.target.closest("tr");
    if (tr) select(Number(tr.dataset.row));
  });
  const legend = document.getElementById("legend");
  const stops = [];
  for (let s = 0; s <= 8; ++s) stops.push(colour((s / 4 - 1) * scale) + " " + (s * 12.5) + "%");
  const bar = element("div", {className: "bar"});
  bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
  legend.append(element("span", {}, signed(-scale, 3)), bar, element("span", {}, signed(scale, 3)));
}

// A chart over the chosen layers: `draw` gets the SVG, x of layer j and a y scale over [low, high].
function layerChart(title, low, high, draw) {
  const width = Math.max(320, 60 + 36 * layers.length), height = 190, top = 24, bottom = 30, left = 64;
  const svg = svgElement("svg", {width, height, viewBox: `0 0 ${width} ${height}`});
  if (high === low) { high += 1; low -= 1; }
  const x = j => left + (j + 0.5) * (width - left - 10) / layers.length;
  const y = v => top + (high - v) / (high - low) * (height - top - bottom);
  svg.append(svgElement("text", {x: 0, y: 14, "font-weight": "bold"}, title));
  for (const v of [low, high]) {
    svg.append(svgElement("text", {x: left - 6, y: y(v) + 4, "text-anchor": "end"}, v.toPrecision(3)));
  }
  layers.forEach((layer, j) => {
    svg.append(svgElement("text", {x: x(j), y: height - 10, "text-anchor": "middle"}, "L" + layer));
  });
  draw(svg, x, y, (width - left - 10) / layers.length);
  return svg;
}

function igChart(token) {
  const extent = Math.max(...token.ig.map(Math.abs), 1e-12);
  return layerChart(`IG per layer (${deltaLabel})`, -extent, extent, (svg, x, y, band) => {
    svg.append(svgElement("line", {x1: x(0) - band / 2, x2: x(layers.length - 1) + band / 2, y1: y(0), y2: y(0),
                                   stroke: "#888"}));
    token.ig.forEach((value, j) => {
      const bar = svgElement("rect", {x: x(j) - band * 0.35, width: band * 0.7, y: Math.min(y(0), y(value)),
                                      height: Math.abs(y(value) - y(0)), fill: colour(value), stroke: "#555",
                                      "class": "ig-bar"});
      svg.append(withTip(bar, () => `layer ${layers[j]}: IG ${signed(value, 6)}`));
    });
  });
}

function lensChart(token) {
  const values = token.lens.concat([token.f_baseline, token.f_final]);
  const low = Math.min(0, ...values), high = Math.max(...values);
  return layerChart(`logit lens: ${data.objective} at each layer`, low, high, (svg, x, y) => {
    svg.append(svgElement("line", {x1: x(0), x2: x(layers.length - 1), y1: y(token.f_baseline),
                                   y2: y(token.f_baseline), stroke: "#888", "stroke-dasharray": "4 3"}));
    svg.append(svgElement("text", {x: x(layers.length - 1), y: y(token.f_baseline) - 4, "text-anchor": "end",
                                   fill: "#555"}, "baseline"));
    svg.append(svgElement("polyline", {points: token.lens.map((v, j) => `${x(j)},${y(v)}`).join(" "),
                                       fill: "none", stroke: "#b2182b", "stroke-width": 2}));
    token.lens.forEach((value, j) => {
      const point = svgElement("circle", {cx: x(j), cy: y(value), r: 4, fill: "#b2182b", "class": "lens-point"});
      svg.append(withTip(point, () => `layer ${layers[j]}: lens ${value.toFixed(6)}`));
    });
  });
}

// Blocks down; each block's heads, then its attention bias and MLP, across:
// each part placed by its own block and kind.
function componentsGrid(token) {
  const layout = data.components, heads = layout.n_head, credits = token.component_credits;
  const share = credit => token.delta === 0 ? "-" : signed(100 * credit / token.delta, 1) + "%";
  const column = part => part.kind === "head" ? part.head : part.kind === "attn_bias" ? heads : heads + 1;
  const cells = Array.from({length: layout.n_layer}, () => []), sums = new Array(layout.n_layer).fill(0);
  let embedding = 0;
  layout.parts.forEach((part, index) => {
    if (part.kind === "embedding") embedding += credits[index];
    if (part.block === undefined) return;
    cells[part.block][column(part)] = index;
    sums[part.block] += credits[index];
  });
  const table = element("table", {id: "components-grid"});
  table.append(element("caption", {},
      `${deltaLabel} by component (${layout.estimator}, ${layout.steps} steps); ` +
      `embedding ${signed(embedding, 4)}; sum = the block's IG; ${layout.segments}`));
  const head = table.createTHead().insertRow();
  head.append(element("th", {}, "block"));
  for (let c = 0; c < heads + 2; ++c) {
    if (c === heads) head.append(element("td", {className: "gap"}));
    head.append(element("th", {}, c < heads ? "H" + c : c === heads ? "bias" : "MLP"));
  }
  head.append(element("th", {}, "sum"));
  const body = table.createTBody();
  for (let block = 0; block < layout.n_layer; ++block) {
    const tr = body.insertRow();
    tr.append(element("th", {}, String(block)));
    for (let c = 0; c < heads + 2; ++c) {
      if (c === heads) tr.append(element("td", {className: "gap"}));
      const index = cells[block][c];
      if (index === undefined) {
        tr.append(element("td", {className: "cell"}));
        continue;
      }
      const credit = credits[index], part = layout.parts[index];
      // Blank below 0.005, as in the SVG panels, so the large ones stand out.
      const cell = element("td", {className: "cell"}, Math.abs(credit) < 0.005 ? "" : signed(credit, 2));
      cell.style.background = colour(credit);
      cell.style.color = ink(credit);
      if (part.kind === "head" && data.sources) {
        cell.classList.add("clickable");
        cell.addEventListener("click", () => showHeadSources(token, part.block, part.head));
      }
      tr.append(withTip(cell, () => `${part.label}: credit ${signed(credit, 6)}\n` +
                                    `${share(credit)} of ${deltaLabel}` +
                                    (data.sources ? "\nclick: its credit by source token" : "")));
    }
    tr.append(element("td", {className: "number"}, signed(sums[block], 3)));
  }
  return table;
}

// Head `head` of block `block`: its credit from each source 0..position
// (null where --top-sources left a source out).
function headSources(token, block, head) {
  const credits = new Array(token.position + 1).fill(null);
  if (token.source_credits) token.source_credits[block][head].forEach((credit, j) => { credits[j] = credit; });
  if (token.top_sources) for (const [j, credit] of token.top_sources[block][head]) credits[j] = credit;
  return credits;
}

// Blocks down, source tokens across: what each block's heads together drew from each source.
function sourcesGrid(token) {
  const layout = data.components, labels = data.sources.labels, n = token.position + 1;
  const table = element("table", {id: "sources-grid"});
  table.append(element("caption", {},
      `${deltaLabel} by source token: what each block's heads drew from it` +
      (data.sources.top ? ` (each head's ${data.sources.top} largest)` : "") + "; click a head above for its own"));
  const head = table.createTHead().insertRow();
  head.append(element("th", {}, "block"));
  for (let j = 0; j < n; ++j) head.append(element("th", {className: "source"}, `${j} ${labels[j]}`));
  const body = table.createTBody();
  for (let block = 0; block < layout.n_layer; ++block) {
    const tr = body.insertRow();
    tr.append(element("th", {}, String(block)));
    const perHead = Array.from({length: layout.n_head}, (_, h) => headSources(token, block, h));
    for (let j = 0; j < n; ++j) {
      const credit = perHead.reduce((sum, credits) => sum + (credits[j] || 0), 0);
      const cell = element("td", {className: "cell source"});
      cell.style.background = colour(credit);
      tr.append(withTip(cell, () => `block ${block} reading ${j} ${labels[j]}: ${signed(credit, 6)}` +
          perHead.map((credits, h) => credits[j] ? `\nH${h} ${signed(credits[j], 6)}` : "").join("")));
    }
  }
  return table;
}

// One head's credit from each source, over the text it reads.
function showHeadSources(token, block, head) {
  const labels = data.sources.labels, credits = headSources(token, block, head);
  const view = document.getElementById("head-sources");
  view.replaceChildren(element("h3", {}, `${block}.attn.head ${head}: ${deltaLabel} from each source token ` +
      `(sum ${signed(credits.reduce((a, b) => a + (b || 0), 0), 6)})`));
  const text = element("p", {className: "source-text"});
  credits.forEach((credit, j) => {
    const span = element("span", {}, data.sources.tokens[j]);
    span.dataset.position = j;
    if (credit !== null) {
      span.style.background = colour(credit);
      span.style.color = ink(credit);
    }
    text.append(withTip(span, () => `position ${j} ${labels[j]}: ` +
        (credit === null ? "not among the head's largest" : signed(credit, 6))));
  });
  view.append(text);
}

function select(row) {
  const token = data.tokens[row];
  for (const tr of document.querySelectorAll("#heatmap tbody tr")) {
    tr.classList.toggle("selected", Number(tr.dataset.row) === row);
  }
  document.getElementById("detail-title").textContent = `position ${token.position}: ${token.label}`;
  const values = document.getElementById("detail-values");
  values.replaceChildren();
  const add = (field, name, text) => {
    const value = element("dd", {}, text);
    value.dataset.field = field;
    values.append(element("dt", {}, name), value);
  };
  add("token", "token (id)", `${token.label} (${token.target_id})`);
  add("f_baseline", `${data.objective} at the baseline`, token.f_baseline.toFixed(6));
  add("f_final", `${data.objective} of the model`, token.f_final.toFixed(6));
  add("delta", deltaLabel, signed(token.delta, 6));
  add("ig_sum", "sum of IG", signed(token.ig.reduce((a, b) => a + b, 0), 6));
  add("onset_layer", `onset layer (${data.onset_fraction} of |IG|)`,
      token.onset_layer === null ? "-" : String(token.onset_layer));
  if (token.foil_label !== undefined) add("foil", "foil (id)", `${token.foil_label} (${token.foil_id})`);
  const charts = document.getElementById("charts");
  charts.replaceChildren(igChart(token), lensChart(token));
  const components = document.getElementById("components");
  components.replaceChildren();
  if (data.components) components.append(componentsGrid(token));
  const sources = document.getElementById("sources");
  sources.replaceChildren();
  if (data.sources) {
    sources.append(element("div", {id: "head-sources"}), sourcesGrid(token));
    // The head with the largest |credit| is shown first.
    let best = null;
    data.components.parts.forEach((part, index) => {
      if (part.kind !== "head") return;
      if (best === null || Math.abs(token.component_credits[index]) > Math.abs(token.component_credits[best])) {
        best = index;
      }
    });
    if (best !== null) showHeadSources(token, data.components.parts[best].block, data.components.parts[best].head);
  }
}

drawHeatmap();
if (data.tokens.length > 0) select(0);
)js";

}  // namespace detail

inline std::string html_report(const Report& report) {
  using detail::html_setting;
  const auto title = fmt::format("IG-Lens: {} credited to each layer{}", delta_label(report),
                                 report.components ? " and component" : "");
  std::string settings = html_setting("model", report.model);
  settings +=
      html_setting("prompt", fmt::format("{} ({} tokens)", display_token(report.prompt), report.prompt_ids.size()));
  settings += html_setting("answer", fmt::format("{} token(s), {}", report.tokens.size() + report.skipped.size(),
                                                 report.mode == "generate" ? "generated" : "teacher-forced"));
  settings += html_setting("estimator", report.estimator);
  settings += html_setting("steps", std::to_string(report.steps));
  settings += html_setting("baseline", report.baseline);
  settings += html_setting("objective", report.objective);
  settings += html_setting("dtype", report.dtype);
  settings += html_setting("completeness",
                           fmt::format("max|sum - {}| = {:.3g}", delta_label(report), report.completeness_max_abs));
  if (const auto& total = report.continuation) {
    std::string by_layer;
    for (std::size_t j = 0; j < report.layers.size(); ++j) {
      by_layer += fmt::format("{}L{} {:+.4f}", j ? ", " : "", report.layers[j], total->ig[j]);
    }
    settings += html_setting("whole answer",
                             fmt::format("log p(answer | prompt) = {:.4f}, {} {:+.4f} over {} tokens; IG: {}",
                                         total->f_final, delta_label(report), total->delta, total->tokens, by_layer));
  }
  for (const auto& skipped : report.skipped) {
    settings += html_setting("not attributed", fmt::format("position {} {}: {}", skipped.position,
                                                           display_token(skipped.target), skipped.reason));
  }
  return fmt::format(R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<dl id="settings">
{settings}</dl>
</header>
<main>
<section id="map">
<h2>Layer map</h2>
<p class="note">Rows: the answer's tokens; columns: layers, low to high. Colour: IG (red adds, blue takes away; rows sum
to the token's {delta}); outlined: the onset layer. Hover a cell for its numbers, click a token for its detail.</p>
<table id="heatmap"></table>
<div id="legend"></div>
</section>
<section id="detail">
<h2 id="detail-title"></h2>
<dl id="detail-values"></dl>
<div id="charts" class="charts"></div>
<div id="components"></div>
<div id="sources"></div>
</section>
</main>
<div id="tooltip" role="tooltip" hidden></div>
<script type="application/json" id="iglens-data">{data}</script>
<script>{script}</script>
</body>
</html>
)html",
                     fmt::arg("title", detail::xml_text(title)), fmt::arg("style", detail::html_style),
                     fmt::arg("settings", settings), fmt::arg("delta", detail::xml_text(delta_label(report))),
                     fmt::arg("data", detail::script_json(detail::html_page_data(report))),
                     fmt::arg("script", detail::html_script));
}

}  // namespace iglens
