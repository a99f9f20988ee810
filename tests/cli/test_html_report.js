// The --html report in a real browser: the system's Chromium, headless,
// driven by puppeteer-core. The page of a demo-bundle run must load with no
// console error, no page error and no request for anything but itself; show
// a heatmap cell per token and layer whose tooltips carry the numbers of the
// same run's --format json; and show a clicked token's values, IG bars, lens
// curve and, with --components, its block x head grid; with --sources (on
// SmolLM2), its block x source-token grid and a clicked head's sources.
//
// Environment: IGLENS_PROGRAM (the binary), IGLENS_DEMO_MODEL, IGLENS_SMOLLM2_GGUF, IGLENS_CHROMIUM
// (the browser), IGLENS_HTML_TEST_DIR (pages and screenshots are left there),
// NODE_PATH (where the build installed puppeteer-core).
"use strict";
const assert = require("node:assert/strict");
const {execFileSync} = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const {after, before, test} = require("node:test");
const {pathToFileURL} = require("node:url");

let puppeteer;
try {
  puppeteer = require("puppeteer-core");
} catch (error) {
  throw new Error(`puppeteer-core is not installed (build the target browser_driver): ${error.message}`);
}

const PROGRAM = process.env.IGLENS_PROGRAM;
const DEMO = process.env.IGLENS_DEMO_MODEL;
const CHROMIUM = process.env.IGLENS_CHROMIUM;
const OUT_DIR = process.env.IGLENS_HTML_TEST_DIR;
const PROMPT = "ROMEO: But soft, what light through yonder window";

// The page prints IG and credits with 6 decimals.
const PRINTED = 5e-7 * (1 + 1e-9);

function signed(value, digits) {
  const text = value.toFixed(digits);
  return value >= 0 ? "+" + text : text;
}

// Runs the program once for both outputs; returns the page's path and the run's JSON.
function attribute(name, ...options) {
  const html = path.join(OUT_DIR, `${name}.html`), json = path.join(OUT_DIR, `${name}.json`);
  execFileSync(PROGRAM, ["attribute", PROMPT, "--model", DEMO, "--generate", "4", "--html", html,
                         "--format", "json", "--out", json, ...options],
               {stdio: ["ignore", "ignore", "inherit"], timeout: 300000});
  return {html, report: JSON.parse(fs.readFileSync(json, "utf8"))};
}

let browser, plain;  // plain: the run without --components, shared by the tests that read it

before(async () => {
  assert.ok(CHROMIUM && fs.existsSync(CHROMIUM),
            `no Chromium at '${CHROMIUM}' (scripts/install-deps.sh installs Debian's chromium)`);
  fs.mkdirSync(OUT_DIR, {recursive: true});
  // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
  browser = await puppeteer.launch({executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"]});
  plain = attribute("layers");
});

after(async () => {
  if (browser) await browser.close();
});

// Opens the page and collects everything that must not happen while it is
// used: console errors, uncaught errors and requests for other URLs.
async function open(file) {
  const page = await browser.newPage();
  const url = pathToFileURL(file).href, problems = [];
  page.on("console", message => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", error => problems.push(`page error: ${error.message}`));
  page.on("request", request => {
    if (request.url() !== url) problems.push(`request for ${request.url()}`);
  });
  await page.setViewport({width: 1200, height: 900});
  await page.goto(url, {waitUntil: "load"});
  return {page, problems};
}

async function tooltipOf(page, element) {
  await element.hover();
  return page.$eval("#tooltip", tip => (tip.hidden ? "" : tip.textContent));
}

function numberAfter(text, label) {
  const match = text.match(new RegExp(`${label}\\s+([+-]?[0-9]+\\.[0-9]+)`));
  assert.ok(match, `no ${label} in tooltip '${text}'`);
  return Number(match[1]);
}

async function detailValues(page) {
  return page.$$eval("#detail-values dd", values =>
      Object.fromEntries(values.map(value => [value.dataset.field, value.textContent])));
}

test("the layer map: a cell per token and layer, tooltips with the JSON's numbers, the run's settings",
     async () => {
  const {html, report} = plain;
  const {page, problems} = await open(html);
  const {tokens, layers} = report;
  assert.equal((await page.$$("#heatmap td.cell")).length, tokens.length * layers.length);
  assert.deepEqual(await page.$$eval("#heatmap thead th", cells => cells.map(cell => cell.textContent)),
                   ["pos", "token", ...layers.map(layer => `L${layer}`), "\u0394prob"]);
  for (const [row, token] of tokens.entries()) {
    const cells = await page.$$(`#heatmap tbody tr[data-row="${row}"] td.cell`);
    for (const [j, cell] of cells.entries()) {
      const tip = await tooltipOf(page, cell);
      assert.ok(tip.includes(`position ${token.position} token `) && tip.includes(` layer ${layers[j]}\n`), tip);
      assert.ok(Math.abs(numberAfter(tip, "IG") - token.ig[j]) <= PRINTED, `${tip} against IG ${token.ig[j]}`);
      assert.ok(Math.abs(numberAfter(tip, "lens") - token.lens[j]) <= PRINTED, `${tip} against lens ${token.lens[j]}`);
      assert.ok(Math.abs(numberAfter(tip, "\u0394prob") - token.delta) <= PRINTED, tip);
    }
  }
  // The onset layer is outlined, one cell per row that has one.
  const outlined = await page.$$eval("#heatmap td.onset", cells => cells.map(cell =>
      [Number(cell.parentElement.dataset.row), cell.cellIndex - 2]));
  assert.deepEqual(outlined, tokens.flatMap((token, row) =>
      token.onset_layer === null ? [] : [[row, layers.indexOf(token.onset_layer)]]));
  // The SVG heatmap's scale: the largest |IG| takes the full red or blue end.
  const ig = tokens.flatMap(token => token.ig), largest = ig.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a));
  const position = ig.indexOf(largest);
  const colour = await page.$$eval("#heatmap td.cell", (cells, at) => getComputedStyle(cells[at]).backgroundColor,
                                   position);
  assert.equal(colour, largest > 0 ? "rgb(178, 24, 43)" : "rgb(33, 102, 172)");
  const settings = await page.$$eval("#settings dt", names =>
      Object.fromEntries(names.map(name => [name.textContent, name.nextElementSibling.textContent])));
  assert.equal(settings.model, report.model);
  assert.equal(settings.prompt, `${JSON.stringify(report.prompt)} (${report.prompt_ids.length} tokens)`);
  for (const key of ["estimator", "baseline", "objective", "dtype"]) assert.equal(settings[key], report[key]);
  assert.equal(settings.steps, String(report.steps));
  await page.screenshot({path: path.join(OUT_DIR, "layers.png"), fullPage: true});
  assert.deepEqual(problems, []);
  await page.close();
});

test("clicking a token shows its values, IG bars and lens curve", async () => {
  const {html, report} = plain;
  const {page, problems} = await open(html);
  const {tokens, layers} = report;
  const shows = async row => {
    const token = tokens[row], values = await detailValues(page);
    assert.equal(await page.$eval("#detail-title", title => title.textContent).then(t => t.split(":")[0]),
                 `position ${token.position}`);
    assert.ok(Math.abs(Number(values.delta) - token.delta) <= PRINTED, values.delta);
    assert.ok(Math.abs(Number(values.f_final) - token.f_final) <= PRINTED, values.f_final);
    assert.ok(Math.abs(Number(values.f_baseline) - token.f_baseline) <= PRINTED, values.f_baseline);
    assert.equal(values.onset_layer, token.onset_layer === null ? "-" : String(token.onset_layer));
    assert.ok(values.token.endsWith(`(${token.target_id})`), values.token);
    assert.equal(values.foil, undefined);
    const bars = await page.$$("#charts rect.ig-bar"), points = await page.$$("#charts circle.lens-point");
    assert.equal(bars.length, layers.length);
    assert.equal(points.length, layers.length);
    const last = layers.length - 1;
    assert.ok(Math.abs(numberAfter(await tooltipOf(page, bars[last]), "IG") - token.ig[last]) <= PRINTED);
    assert.ok(Math.abs(numberAfter(await tooltipOf(page, points[last]), "lens") - token.lens[last]) <= PRINTED);
    assert.deepEqual(await page.$$eval("#heatmap tr.selected", rows => rows.map(row => Number(row.dataset.row))),
                     [row]);
  };
  await shows(0);  // the first token is shown at first
  const last = tokens.length - 1;
  await page.click(`#heatmap tbody tr[data-row="${last}"] th.token button`);
  await shows(last);
  await page.click(`#heatmap tbody tr[data-row="1"] td.cell`);  // a cell selects its token too
  await shows(1);
  assert.equal(await page.$("#components-grid"), null);
  assert.deepEqual(problems, []);
  await page.close();
});

test("with --components the detail panel shows the token's block x head grid", async () => {
  const {html, report} = attribute("components", "--components");
  const {page, problems} = await open(html);
  const labels = report.components.labels;
  const heads = labels.filter(label => label.startsWith("0.attn.head ")).length;
  const blocks = labels.filter(label => label.endsWith(".mlp")).length;
  assert.equal(labels.length, 1 + blocks * (heads + 2));
  const last = report.tokens.length - 1, token = report.tokens[last];
  await page.click(`#heatmap tbody tr[data-row="${last}"] th.token button`);
  const cells = await page.$$("#components-grid td.cell");
  assert.equal(cells.length, blocks * (heads + 2));
  // Row by row, the heads, the bias and the MLP: labels[1..] in order.
  for (const [i, cell] of cells.entries()) {
    const tip = await tooltipOf(page, cell);
    assert.ok(tip.startsWith(`${labels[i + 1]}: credit `), `${tip} is not ${labels[i + 1]}`);
    const credit = token.component_credits[i + 1];
    assert.ok(Math.abs(numberAfter(tip, "credit") - credit) <= PRINTED, `${tip} against ${credit}`);
  }
  const caption = await page.$eval("#components-grid caption", caption => caption.textContent);
  assert.ok(caption.includes(`embedding ${signed(token.component_credits[0], 4)}`), caption);
  assert.ok(caption.includes(report.components.segments), caption);
  await page.screenshot({path: path.join(OUT_DIR, "components.png"), fullPage: true});
  assert.deepEqual(problems, []);
  await page.close();
});

test("with --sources a click on a head shows its credit by source token over the text", async () => {
  // SmolLM2 (GGUF): a bundle, like the demo model, has no attention patterns.
  const html = path.join(OUT_DIR, "sources.html"), json = path.join(OUT_DIR, "sources.json");
  execFileSync(PROGRAM, ["attribute", "The capital of France is", "--model", process.env.IGLENS_SMOLLM2_GGUF,
                         "--generate", "2", "--steps", "4", "--sources", "--html", html, "--format", "json", "--out", json],
               {stdio: ["ignore", "ignore", "inherit"], timeout: 300000});
  const report = JSON.parse(fs.readFileSync(json, "utf8"));
  const {page, problems} = await open(html);
  const last = report.tokens.length - 1, token = report.tokens[last];
  await page.click(`#heatmap tbody tr[data-row="${last}"] th.token button`);
  const {n_layer: blocks, n_head: heads} = report.components;
  const n = token.position + 1;
  // The block x source grid: a cell per block and source, each the sum of the block's heads.
  const cells = await page.$$("#sources-grid td.cell");
  assert.equal(cells.length, blocks * n);
  for (const [i, cell] of cells.entries()) {
    const block = Math.floor(i / n), j = i % n;
    const tip = await tooltipOf(page, cell);
    assert.ok(tip.startsWith(`block ${block} reading ${j} `), tip);
    const sum = token.source_credits[block].reduce((total, credits) => total + credits[j], 0);
    assert.ok(Math.abs(Number(tip.match(/: ([+-][0-9.]+)/)[1]) - sum) <= PRINTED, `${tip} against ${sum}`);
  }
  // Block 1, head 0: its cell in the components grid shows its sources over the text.
  const headCell = (await page.$$("#components-grid td.cell"))[1 * (heads + 2) + 0];
  await headCell.click();
  const title = await page.$eval("#head-sources h3", h3 => h3.textContent);
  assert.ok(title.startsWith("1.attn.head 0: "), title);
  const spans = await page.$$("#head-sources p.source-text span");
  assert.equal(spans.length, n);
  assert.equal(await page.$$eval("#head-sources p.source-text span", s => s.map(x => x.textContent).join("")),
               report.sources.tokens.slice(0, n).join(""));
  for (const [j, span] of spans.entries()) {
    const tip = await tooltipOf(page, span);
    const credit = token.source_credits[1][0][j];
    assert.ok(Math.abs(Number(tip.match(/: ([+-][0-9.]+)$/)[1]) - credit) <= PRINTED, `${tip} against ${credit}`);
  }
  await page.screenshot({path: path.join(OUT_DIR, "sources.png"), fullPage: true});
  assert.deepEqual(problems, []);
  await page.close();
});
