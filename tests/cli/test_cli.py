"""The `iglens` program end to end.

Numbers are checked against the model itself, run in Python from the same
bundle (greedy answer, output probabilities), and against the method's own
invariants (rows sum to the change in probability). Every bad input must end
with a non-zero exit and a one-line message that names the problem.

Environment: IGLENS_PROGRAM (the binary), IGLENS_DEMO_MODEL, IGLENS_TINY_BUNDLE.
"""
import json
import os
import re
import csv
import io
import signal
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

import jsonschema
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
PROGRAM = os.environ["IGLENS_PROGRAM"]
DEMO = os.environ["IGLENS_DEMO_MODEL"]
TINY = os.environ["IGLENS_TINY_BUNDLE"]
PROMPT = "ROMEO: But soft, what light through yonder window"
# The program's float32 probabilities against the bundle's own forward in float64: float32 rounding
# through 4 blocks of width 256 moves the logits by up to about 4e-4 (d * eps * |z|, |z| ~ 30), the
# probability by at most a quarter of that. Measured: up to 1.35e-5 with LibTorch 2.9's MKL, whose
# products vary from run to run with the buffers' alignment.
FLOAT32_PROBABILITY = 1e-4
# A bundle as exported before the components method existed.
OLD_STYLE_WRITER = os.path.join(ROOT, "python", "tests", "write_old_style_bundle.py")


def run(*args, stdin=None, timeout=300, env=None):
    """Runs the program; returns (exit code, stdout text, stderr text)."""
    done = subprocess.run([PROGRAM, *args], input=stdin, capture_output=True, timeout=timeout, env=env)
    return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8", "replace")


def run_json(*args, **kwargs):
    code, out, err = run("attribute", *args, "--format", "json", **kwargs)
    if code != 0:
        raise AssertionError(f"iglens failed ({code}): {err}")
    return json.loads(out)


_models = {}


def model(path):
    if path not in _models:
        _models[path] = torch.jit.load(path).double().eval()
    return _models[path]


def next_token_probs(path, ids):
    """softmax(logits)[position] of the bundle's own forward, in float64."""
    with torch.no_grad():
        return torch.softmax(model(path).forward(torch.tensor([ids])), -1)[0]


class Outputs(unittest.TestCase):
    def test_help_lists_the_subcommands(self):
        code, out, _ = run("--help")
        self.assertEqual(code, 0)
        for word in ("attribute", "tokenize", "info"):
            self.assertIn(word, out)
        code, out, _ = run("attribute", "--help")
        self.assertEqual(code, 0)
        for option in ("--generate", "--target", "--layers", "--k", "--steps", "--estimator", "--baseline",
                       "--objective", "--foil", "--onset-frac", "--dtype", "--device", "--threads", "--format",
                       "--out", "--svg", "--html", "--stdin", "--model", "--components", "--components-csv"):
            self.assertIn(option, out)

    def test_version_names_the_program_and_libtorch(self):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                               "CMakeLists.txt")) as f:
            version = re.search(r"project\(iglens VERSION ([0-9.]+)", f.read()).group(1)
        code, out, err = run("--version")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"^iglens " + re.escape(version) +
                         r" \(LibTorch [0-9]+\.[0-9]+\.[0-9]+(, OpenBLAS \w+ kernels)?\)\n$")

    def test_openblas_gets_this_cpus_kernels(self):
        code, out, err = run("--version")
        self.assertEqual(code, 0, err)
        core = re.search(r"OpenBLAS (\w+) kernels", out)
        if core is None:
            self.skipTest("the BLAS in use is not OpenBLAS")
        with open("/proc/cpuinfo") as f:
            flags = set(re.search(r"^flags\s*:(.*)$", f.read(), re.M).group(1).split())
        if {"avx2", "fma"} <= flags:
            # Never the generic kernels an unknown CPU falls back to (Prescott on this project's machine).
            self.assertNotIn(core.group(1), {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                             "Sandybridge"})
        # A user's own choice stands.
        done = subprocess.run([PROGRAM, "--version"], capture_output=True, text=True,
                              env={**os.environ, "OPENBLAS_CORETYPE": "Prescott"})
        self.assertIn("OpenBLAS Prescott kernels", done.stdout)

    def test_unknown_command_is_named(self):
        for args in (["attribtue"], ["attribtue", "To be", "--out", "x.json"], ["--help-me"]):
            with self.subTest(args=args):
                code, out, err = run(*args)
                self.assertNotEqual(code, 0)
                self.assertEqual(out, "")
                if args[0] == "attribtue":
                    self.assertEqual(err, "iglens: unknown command 'attribtue' (expected attribute, corpus, tokenize or info)\n")

    def test_out_dash_is_standard_output(self):
        args = ["attribute", PROMPT, "--generate", "2", "--format", "json"]
        with tempfile.TemporaryDirectory() as folder:
            done = subprocess.run([PROGRAM, *args, "--out", "-"], capture_output=True, timeout=300, cwd=folder)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertEqual(os.listdir(folder), [])
        self.assertEqual(json.loads(done.stdout), json.loads(run(*args)[1]))

    def test_generate_attributes_the_models_greedy_answer(self):
        report = run_json(PROMPT, "--generate", "6")  # the demo bundle is the default model
        self.assertEqual(report["model"], DEMO)
        self.assertEqual(report["mode"], "generate")
        self.assertEqual(report["layers"], [0, 1, 2, 3, 4])
        ids = list(report["prompt_ids"])
        self.assertEqual(len(report["tokens"]), 6)
        self.assertLessEqual(report["completeness_max_abs"], 1e-6)
        for token in report["tokens"]:
            probs = next_token_probs(DEMO, ids)[-1]
            self.assertEqual(token["position"], len(ids) - 1)
            self.assertEqual(token["target_id"], int(probs.argmax()))
            self.assertAlmostEqual(token["f_final"], float(probs.max()), delta=FLOAT32_PROBABILITY)
            self.assertAlmostEqual(sum(token["ig"]), token["delta"], delta=1e-6)
            self.assertAlmostEqual(token["f_final"] - token["f_baseline"], token["delta"], delta=1e-6)
            self.assertAlmostEqual(token["lens"][-1], token["f_final"], delta=1e-6)
            self.assertIn(token["onset_layer"], report["layers"])
            ids.append(token["target_id"])

    def test_target_is_teacher_forced(self):
        report = run_json(PROMPT, "--target", "s, and")
        self.assertEqual(report["mode"], "target")
        prompt_ids = report["prompt_ids"]
        target_ids = json.loads(run("tokenize", "s, and")[1])
        self.assertEqual([t["target_id"] for t in report["tokens"]], target_ids)
        probs = next_token_probs(DEMO, prompt_ids + target_ids[:-1])
        for i, token in enumerate(report["tokens"]):
            self.assertEqual(token["position"], len(prompt_ids) - 1 + i)
            self.assertAlmostEqual(token["f_final"], float(probs[token["position"], target_ids[i]]),
                                   delta=FLOAT32_PROBABILITY)

    def test_layer_choices(self):
        self.assertEqual(run_json(PROMPT, "--generate", "1", "--layers", "2")["layers"], [2, 4])
        self.assertEqual(run_json(PROMPT, "--generate", "1", "--layers", "3", "0")["layers"], [0, 3, 4])
        # --k k: k layers, the last being n.
        self.assertEqual(run_json(PROMPT, "--generate", "1", "--k", "1")["layers"], [4])
        self.assertEqual(run_json(PROMPT, "--generate", "1", "--k", "2")["layers"], [1, 4])
        self.assertEqual(run_json(PROMPT, "--generate", "1", "--k", "3")["layers"], [1, 2, 4])  # 2.5 -> 2

    def test_mean_baseline_is_the_references(self):
        """The reference averages the lowest layer over every position of prompt + answer, the
        answer's last token included, and integrates the gradient of the readout along the path.
        Here that is done in Python with autograd through the bundle's own readout."""
        steps = 32
        report = run_json(PROMPT, "--target", "s, and", "--baseline", "mean", "--layers", "1", "3",
                          "--estimator", "riemann-midpoint", "--steps", str(steps), "--dtype", "float64")
        self.assertEqual(report["baseline"], "mean")
        ids = report["prompt_ids"] + [t["target_id"] for t in report["tokens"]]
        net = model(DEMO)
        with torch.no_grad():
            stream = net.residual_stream(torch.tensor([ids]))[:, 0]  # [L+1, S, d]
        layers = report["layers"]
        baseline = stream[layers[0]].mean(0)

        def prob(h, target):
            return torch.softmax(net.readout(h), -1)[..., target]

        for token in report["tokens"]:
            vertices = [baseline] + [stream[layer, token["position"]] for layer in layers]
            for j in range(len(layers)):
                start, end = vertices[j], vertices[j + 1]
                t = ((torch.arange(steps, dtype=torch.float64) + 0.5) / steps).unsqueeze(1)
                points = (start + t * (end - start)).requires_grad_(True)
                gradient, = torch.autograd.grad(prob(points, token["target_id"]).sum(), points)
                reference = float((gradient.mean(0) * (end - start)).sum())
                self.assertAlmostEqual(token["ig"][j], reference, delta=1e-5)
            self.assertAlmostEqual(token["f_baseline"], float(prob(baseline, token["target_id"])), delta=1e-9)

    def test_default_baseline_is_causal(self):
        """causal-mean: a token's numbers do not change when later tokens are generated."""
        one, twelve = run_json(PROMPT, "--generate", "1"), run_json(PROMPT, "--generate", "12")
        self.assertEqual(one["baseline"], "causal-mean")
        for a, b in zip(one["tokens"][0]["ig"], twelve["tokens"][0]["ig"]):
            self.assertAlmostEqual(a, b, delta=1e-6)  # float32 products over sequences of two lengths
        mean_one = run_json(PROMPT, "--generate", "1", "--baseline", "mean")
        mean_twelve = run_json(PROMPT, "--generate", "12", "--baseline", "mean")
        self.assertNotAlmostEqual(mean_one["tokens"][0]["ig"][0], mean_twelve["tokens"][0]["ig"][0], delta=1e-3)

    def test_foils(self):
        auto = run_json(PROMPT, "--generate", "4", "--objective", "prob-diff", "--foil", "auto")
        ids = list(auto["prompt_ids"])
        for token in auto["tokens"]:
            probs = next_token_probs(DEMO, ids)[-1]
            runner_up = int(probs.topk(2).indices[1])  # the target is the greedy answer, the top token
            self.assertEqual(token["foil_id"], runner_up)
            self.assertAlmostEqual(token["f_final"], float(probs[token["target_id"]] - probs[runner_up]),
                                   delta=FLOAT32_PROBABILITY)
            self.assertAlmostEqual(sum(token["ig"]), token["delta"], delta=1e-6)
            ids.append(token["target_id"])
        # A fixed foil that is some position's target: that position is reported, the rest attributed.
        answer = [t["target"] for t in run_json(PROMPT, "--generate", "4")["tokens"]]
        foil = answer[1]
        fixed = run_json(PROMPT, "--generate", "4", "--objective", "prob-diff", "--foil", foil)
        skipped = [i for i, text in enumerate(answer) if text == foil]
        self.assertEqual([s["target"] for s in fixed["skipped"]], [foil] * len(skipped))
        self.assertIn("the target is the foil", fixed["skipped"][0]["reason"])
        self.assertEqual(len(fixed["tokens"]), 4 - len(skipped))
        self.assertTrue(all(t["foil"] == foil for t in fixed["tokens"]))
        code, table, _ = run("attribute", PROMPT, "--generate", "4", "--objective", "prob-diff", "--foil", foil)
        self.assertEqual(code, 0)
        self.assertIn("foil", next(line for line in table.splitlines() if line.startswith("pos")).split())
        self.assertIn(f"not attributed: the target is the foil", table)
        code, text, _ = run("attribute", PROMPT, "--generate", "4", "--objective", "prob-diff", "--foil", "auto",
                            "--format", "csv")
        rows = list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))
        self.assertEqual([int(r["foil_id"]) for r in rows[::5]], [t["foil_id"] for t in auto["tokens"]])

    def test_continuation_total_under_logprob(self):
        report = run_json(PROMPT, "--target", "s, and", "--objective", "logprob")
        total, tokens = report["continuation"], report["tokens"]
        self.assertEqual(total["tokens"], len(tokens))
        for j in range(len(report["layers"])):
            self.assertAlmostEqual(total["ig"][j], sum(t["ig"][j] for t in tokens), delta=1e-9)
        self.assertAlmostEqual(sum(total["ig"]), total["delta"], delta=1e-5)
        # f_final is the log-probability of the whole continuation given the prompt.
        ids = report["prompt_ids"] + [t["target_id"] for t in tokens]
        log_probs = torch.log_softmax(model(DEMO).forward(torch.tensor([ids[:-1]])), -1)[0]
        expected = sum(float(log_probs[t["position"], t["target_id"]]) for t in tokens)
        self.assertAlmostEqual(total["f_final"], expected, delta=1e-4)
        code, table, _ = run("attribute", PROMPT, "--target", "s, and", "--objective", "logprob")
        self.assertIn(f'row "all": the whole answer\'s log-probability, the sum of its {len(tokens)} logprob rows',
                      table)
        self.assertNotIn("continuation", run_json(PROMPT, "--target", "s, and"))  # prob does not add up

    def test_bos_puts_end_of_text_first(self):
        plain = json.loads(run("tokenize", "To be")[1])
        self.assertEqual(json.loads(run("tokenize", "--bos", "To be")[1]), [256] + plain)  # <|endoftext|>
        self.assertEqual(json.loads(run("tokenize", "--special-tokens", "<|endoftext|>To be")[1]), [256] + plain)
        report = run_json("To be", "--bos", "--generate", "1")
        self.assertEqual(report["prompt_ids"], [256] + plain)
        probs = next_token_probs(DEMO, report["prompt_ids"])[-1]
        self.assertAlmostEqual(report["tokens"][0]["f_final"], float(probs.max()), delta=FLOAT32_PROBABILITY)

    def test_objectives(self):
        diff = run_json(PROMPT, "--generate", "3", "--objective", "prob-diff", "--foil", "x")
        logprob = run_json(PROMPT, "--generate", "3", "--objective", "logprob")
        prob = run_json(PROMPT, "--generate", "3")
        for d, lp, p in zip(diff["tokens"], logprob["tokens"], prob["tokens"]):
            self.assertEqual(d["foil"], "x")
            self.assertAlmostEqual(sum(d["ig"]), d["delta"], delta=1e-6)
            self.assertAlmostEqual(lp["f_final"], torch.tensor(p["f_final"]).log().item(), delta=1e-5)
            self.assertAlmostEqual(sum(lp["ig"]), lp["delta"], delta=1e-5)

    def test_gradient_estimator_converges_to_observed_delta(self):
        common = (PROMPT, "--generate", "3", "--dtype", "float64")
        exact = run_json(*common)
        quadrature = run_json(*common, "--estimator", "gauss-legendre", "--steps", "64")
        self.assertEqual(quadrature["estimator"], "gauss-legendre")
        for a, b in zip(exact["tokens"], quadrature["tokens"]):
            for x, y in zip(a["ig"], b["ig"]):
                self.assertAlmostEqual(x, y, delta=1e-6)

    def test_table_and_csv(self):
        code, table, _ = run("attribute", PROMPT, "--generate", "2")
        self.assertEqual(code, 0)
        header = next(line for line in table.splitlines() if line.startswith("pos"))
        self.assertLess(header.index("IG@0"), header.index("IG@4"))  # low to high, as in JSON and CSV
        self.assertIn("lens@4", header)
        self.assertIn("\u0394prob", header)
        self.assertIn("onsetL*", header)
        self.assertIn("max|sum - \u0394prob| = ", table)
        code, text, _ = run("attribute", PROMPT, "--generate", "2", "--format", "csv")
        self.assertEqual(code, 0)
        settings = dict(line[2:].split(": ", 1) for line in text.splitlines() if line.startswith("# "))
        self.assertEqual(settings["model"], DEMO)
        self.assertEqual(settings["baseline"], "causal-mean")
        self.assertEqual(settings["layers"], "0 1 2 3 4")
        self.assertEqual(settings["prompt"], '"' + PROMPT + '"')
        rows = list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))
        self.assertEqual(len(rows), 2 * 5)
        self.assertEqual([int(r["layer"]) for r in rows[:5]], [0, 1, 2, 3, 4])
        self.assertEqual(rows[0]["foil_id"], "")

    def test_files_are_written_whole_and_replace_old_ones(self):
        with tempfile.TemporaryDirectory() as folder:
            out, svg = os.path.join(folder, "map.json"), os.path.join(folder, "map.svg")
            with open(out, "w") as f:
                f.write("an older result")
            code, stdout, _ = run("attribute", PROMPT, "--generate", "4", "--format", "json", "--out", out,
                                  "--svg", svg)
            self.assertEqual(code, 0)
            self.assertEqual(stdout, "")
            self.assertEqual(sorted(os.listdir(folder)), ["map.json", "map.svg"])
            with open(out) as f:
                report = json.load(f)
            self.assertEqual(len(report["tokens"]), 4)
            root = ET.parse(svg).getroot()
            self.assertTrue(root.tag.endswith("svg"))
            cells = [g for g in root.iter("{http://www.w3.org/2000/svg}g")]
            self.assertEqual(len(cells), 4 * 5)

    def test_runs_are_deterministic(self):
        args = (PROMPT, "--generate", "4", "--estimator", "riemann-midpoint", "--steps", "16")
        one = run("attribute", *args, "--format", "json", "--threads", "2")
        self.assertEqual(one, run("attribute", *args, "--format", "json", "--threads", "2"))
        a, b = json.loads(one[1]), run_json(*args, "--threads", "1")
        for x, y in zip(a["tokens"], b["tokens"]):
            for u, v in zip(x["ig"] + x["lens"], y["ig"] + y["lens"]):
                self.assertAlmostEqual(u, v, delta=1e-6)

    def test_tokenize_and_info(self):
        extra = {"vocab.json": ""}
        torch.jit.load(DEMO, _extra_files=extra)
        vocab = json.loads(extra["vocab.json"])
        # GPT-2's byte-to-unicode table, written out independently of the C++ one.
        printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
        shifted = {b: 256 + i for i, b in enumerate(b for b in range(256) if b not in printable)}
        char = {b: chr(b) if b in printable else chr(shifted[b]) for b in range(256)}
        text = "Thou art\n  h\u00e9 \U0001F600!"
        code, out, _ = run("tokenize", text)
        self.assertEqual(code, 0)
        self.assertEqual(json.loads(out), [vocab[char[b]] for b in text.encode("utf-8")])
        self.assertEqual(json.loads(run("tokenize", "--stdin", stdin=b"To be\n")[1]), json.loads(run("tokenize", "To be")[1]))
        code, out, _ = run("info")
        self.assertEqual(code, 0)
        info = json.loads(out)
        self.assertEqual((info["n_layer"], info["d_model"], info["vocab_size"], info["context_length"]),
                         (4, 256, 257, 128))
        self.assertEqual(info["final_norm"]["kind"], "layernorm")

    def test_info_of_a_bundle_is_its_iglens_json(self):
        """`iglens info` prints a bundle's iglens.json as docs/bundle-format.md specifies it, plus its path."""
        with open(os.path.join(ROOT, "docs", "bundle-format.md"), encoding="utf-8") as f:
            text = f.read()
        start = text.index("```json\n") + len("```json\n")
        schema = json.loads(text[start:text.index("```", start)])
        for model in (DEMO, TINY):
            extra = {"iglens.json": ""}
            torch.jit.load(model, _extra_files=extra)
            code, out, _ = run("info", "--model", model)
            self.assertEqual(code, 0)
            info = json.loads(out)
            self.assertEqual((info.pop("path"), info.pop("format")), (model, "iglens-bundle"))
            jsonschema.Draft202012Validator(schema).validate(info)  # Debian's python3-jsonschema
            self.assertEqual(info, json.loads(extra["iglens.json"]))

    def test_stdin_prompt_and_other_bundle(self):
        self.assertEqual(run_json("--stdin", "--generate", "2", stdin=(PROMPT + "\n").encode())["prompt"], PROMPT)
        report = run_json("--model", TINY, "abc", "--generate", "2")
        self.assertEqual(report["model"], TINY)
        self.assertLessEqual(report["completeness_max_abs"], 1e-6)


class Components(unittest.TestCase):
    """--components on the tiny bundle (2 blocks of 4 heads): every format, and
    each block's parts against the layer map."""

    N_LAYER, N_HEAD = 2, 4

    def block_sum(self, credits, layer):
        """Credits of what layer `layer` of the map covers: the embedding at 0, block layer-1 above."""
        if layer == 0:
            return credits[0]
        first = 1 + (layer - 1) * (self.N_HEAD + 2)
        return sum(credits[first:first + self.N_HEAD + 2])

    def test_credits_split_each_block_of_the_layer_map(self):
        for dtype in ("float32", "float64"):
            for baseline in ("mean", "causal-mean", "zero"):
                with self.subTest(dtype=dtype, baseline=baseline):
                    report = run_json("--model", TINY, "abcd", "--target", "efg", "--components", "--steps", "8",
                                      "--dtype", dtype, "--baseline", baseline)
                    labels = report["components"]["labels"]
                    self.assertEqual(len(labels), 1 + self.N_LAYER * (self.N_HEAD + 2))
                    self.assertEqual(labels[:3], ["embedding", "0.attn.head 0", "0.attn.head 1"])
                    self.assertEqual(labels[-2:], ["1.attn.bias", "1.mlp"])
                    self.assertEqual(report["components"]["estimator"], "observed-delta")
                    self.assertEqual(report["components"]["steps"], 8)
                    for token in report["tokens"]:
                        credits = token["component_credits"]
                        self.assertEqual(len(credits), len(labels))
                        self.assertAlmostEqual(sum(credits), token["delta"], delta=1e-6)
                        for layer, ig in enumerate(token["ig"]):
                            self.assertAlmostEqual(self.block_sum(credits, layer), ig, delta=1e-6)

    def test_gradient_estimator_gives_the_reference_split(self):
        report = run_json("--model", TINY, "abcd", "--target", "efg", "--components", "--steps", "16",
                          "--dtype", "float64", "--estimator", "gauss-legendre")
        self.assertEqual(report["components"]["estimator"], "gauss-legendre")
        for token in report["tokens"]:
            credits = token["component_credits"]
            self.assertAlmostEqual(sum(credits), token["delta"], delta=1e-6)  # measured 2e-17
            for layer, ig in enumerate(token["ig"]):
                self.assertAlmostEqual(self.block_sum(credits, layer), ig, delta=1e-6)

    def test_sources_of_a_bundle_add_up_to_each_heads_credit(self):
        # Bundles exported with head_reads (the tiny one here, and the committed demo) give the split by source.
        for model in (TINY, DEMO):
            with self.subTest(model=model):
                report = run_json("--model", model, "abcd", "--target", "efg", "--sources", "--steps", "8",
                                  "--dtype", "float64")
                n_head = report["components"]["n_head"]
                for token in report["tokens"]:
                    for block, heads in enumerate(token["source_credits"]):
                        for head, sources in enumerate(heads):
                            self.assertEqual(len(sources), token["position"] + 1)
                            credit = token["component_credits"][1 + block * (n_head + 2) + head]
                            self.assertAlmostEqual(sum(sources), credit, delta=1e-12)

    def test_table_csv_and_svg_name_the_top_component(self):
        args = ("attribute", "--model", TINY, "abcd", "--target", "ef", "--components", "--steps", "8")
        report = run_json(*args[1:])
        labels = report["components"]["labels"]
        tops = [labels[max(range(len(labels)), key=lambda i: abs(t["component_credits"][i]))] for t in report["tokens"]]
        with tempfile.TemporaryDirectory() as folder:
            svg, components_csv = os.path.join(folder, "map.svg"), os.path.join(folder, "components.csv")
            code, table, err = run(*args, "--svg", svg, "--components-csv", components_csv)
            self.assertEqual(code, 0, err)
            root = ET.parse(svg).getroot()
            with open(components_csv, newline="") as f:
                rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
        section = table[table.index("components (observed-delta, 8 steps)"):]
        for token, top in zip(report["tokens"], tops):
            lines = section[section.index(f"pos {token['position']} "):].splitlines()
            self.assertEqual(lines[2].split()[0:-2], top.split())  # the first line under the header
        self.assertEqual(len(rows), len(report["tokens"]) * len(labels))
        by_key = {(int(r["position"]), r["component"]): r for r in rows}
        for token, top in zip(report["tokens"], tops):
            row = by_key[(token["position"], top)]
            self.assertAlmostEqual(float(row["credit"]), token["component_credits"][labels.index(top)], delta=1e-12)
        self.assertEqual(by_key[(report["tokens"][0]["position"], "1.attn.head 3")]["head"], "3")
        self.assertEqual(by_key[(report["tokens"][0]["position"], "embedding")]["block"], "")
        cells = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "component"]
        self.assertEqual(len(cells), len(report["tokens"]) * self.N_LAYER * (self.N_HEAD + 2))
        self.assertIn("1.attn.head 3: credit", cells[-3].find("{http://www.w3.org/2000/svg}title").text)

    def test_bad_uses_are_one_line_errors(self):
        with tempfile.TemporaryDirectory() as folder:
            old = os.path.join(folder, "old.pt")
            subprocess.run(["/usr/bin/python3", OLD_STYLE_WRITER, "-o", old], check=True, capture_output=True)
            cases = [
                (["--model", old], f"model file '{old}' was exported before component attribution existed"),
                (["--model", TINY, "--objective", "logprob"], "--components attributes probability: use --objective prob"),
                (["--model", TINY, "--layers", "1"], "--components splits every block, so it needs all layers 0..2"),
            ]
            for extra, message in cases:
                with self.subTest(args=extra):
                    code, out, err = run("attribute", "abc", "--components", *extra)
                    self.assertNotEqual(code, 0)
                    self.assertEqual(out, "")
                    self.assertEqual(len(err.strip().splitlines()), 1, err)
                    self.assertTrue(err.startswith("iglens: error: " + message), err)
            code, _, err = run("attribute", "abc", "--components-csv", os.path.join(folder, "c.csv"))
            self.assertNotEqual(code, 0)
            self.assertIn("--components-csv requires --components", err)
            self.assertEqual(os.listdir(folder), ["old.pt"])


class ProgressBar(unittest.TestCase):
    def test_drawn_on_a_terminal_only(self):
        import pty
        leader, follower = pty.openpty()
        done = subprocess.run([PROGRAM, "attribute", PROMPT, "--generate", "3"], stdout=subprocess.PIPE,
                              stderr=follower, timeout=120)
        os.close(follower)
        drawn = os.read(leader, 65536).decode()
        os.close(leader)
        self.assertEqual(done.returncode, 0)
        self.assertIn("generating  [" + "#" * 30 + "] 3/3", drawn)
        self.assertIn("attributing  [" + "#" * 30 + "] 3/3", drawn)
        self.assertEqual(run("attribute", PROMPT, "--generate", "3")[2], "")  # a pipe gets nothing


class Interrupts(unittest.TestCase):
    def test_sigint_exits_130_and_leaves_no_file(self):
        """The signal is sent once the program has drawn its progress bar (stderr on a terminal): by
        then its handler is installed, however long loading took on a busy machine."""
        import pty
        import select
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "map.json")
            leader, follower = pty.openpty()
            process = subprocess.Popen(
                [PROGRAM, "attribute", "To be", "--generate", "120", "--dtype", "float64", "--estimator",
                 "gauss-legendre", "--steps", "2048", "--format", "json", "--out", out, "--svg", out + ".svg"],
                stdout=subprocess.PIPE, stderr=follower)
            os.close(follower)
            drawn, deadline = b"", time.monotonic() + 120
            while b"[" not in drawn and time.monotonic() < deadline and process.poll() is None:
                if select.select([leader], [], [], 1)[0]:
                    drawn += os.read(leader, 4096)
            self.assertIsNone(process.poll(), "the long run ended before it could be interrupted")
            self.assertIn(b"[", drawn, "no progress bar within 120 s")
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
            try:
                while select.select([leader], [], [], 1)[0]:
                    drawn += os.read(leader, 4096)
            except OSError:  # the terminal closes with the program
                pass
            os.close(leader)
            self.assertEqual(process.returncode, 130)
            self.assertIn(b"interrupted", drawn)
            self.assertEqual(os.listdir(folder), [])


def rewrite_bundle(source, target, replace=None, drop=(), state_edit=None):
    """Saves a copy of a bundle with its extra files replaced or dropped and
    its parameters edited, to build broken inputs."""
    extra = {"iglens.json": "", "vocab.json": "", "merges.txt": ""}
    module = torch.jit.load(source, _extra_files=extra)
    if state_edit:
        with torch.no_grad():
            state_edit(module.state_dict())
    extra.update(replace or {})
    for name in drop:
        del extra[name]
    torch.jit.save(module, target, _extra_files=extra)


class BadInputs(unittest.TestCase):
    """Each bad input: non-zero exit, a message naming the problem, no output file."""

    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.TemporaryDirectory()
        cls.dir = cls.folder.name
        with open(DEMO, "rb") as f:
            data = f.read()
        def write(name, content):
            with open(os.path.join(cls.dir, name), "wb") as f:
                f.write(content)
        write("empty.pt", b"")
        os.mkdir(os.path.join(cls.dir, "folder.pt"))
        write("text.pt", b"this is not a model\n")
        for fraction in (10, 50, 90):
            write(f"cut{fraction}.pt", data[: len(data) * fraction // 100])
        plain = torch.jit.script(torch.nn.Linear(2, 2))
        torch.jit.save(plain, os.path.join(cls.dir, "plain.pt"))
        extra = {"iglens.json": ""}
        torch.jit.load(DEMO, _extra_files=extra)
        meta = json.loads(extra["iglens.json"])
        def with_meta(name, **changes):
            edited = dict(meta, **changes)
            rewrite_bundle(DEMO, os.path.join(cls.dir, name), replace={"iglens.json": json.dumps(edited)})
        rewrite_bundle(DEMO, os.path.join(cls.dir, "no_meta.pt"), drop=["iglens.json"])
        rewrite_bundle(DEMO, os.path.join(cls.dir, "bad_json.pt"), replace={"iglens.json": "{not json"})
        with_meta("version9.pt", format_version=9)
        with_meta("layers_text.pt", n_layer="four")
        with_meta("eps_range.pt", final_norm=dict(meta["final_norm"], eps=5.0))
        rewrite_bundle(DEMO, os.path.join(cls.dir, "bad_vocab.pt"), replace={"vocab.json": "[1, 2"})
        rewrite_bundle(DEMO, os.path.join(cls.dir, "no_merges.pt"), drop=["merges.txt"])
        def poison(state):
            state["transformer.wpe.weight"][3] = float("nan")  # position 3; the tied wte stays finite
        rewrite_bundle(DEMO, os.path.join(cls.dir, "nan.pt"), state_edit=poison)

    @classmethod
    def tearDownClass(cls):
        cls.folder.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def expect_error(self, args, *phrases, stdin=None):
        out = self.path("out.json")
        code, stdout, err = run(*args, *(("--out", out) if args[0] == "attribute" else ()), stdin=stdin)
        self.assertNotEqual(code, 0, f"{args} succeeded")
        self.assertNotIn("terminate called", err)
        self.assertNotIn("Traceback", err)
        for phrase in phrases:
            self.assertIn(phrase, err, f"{args}: {err!r}")
        self.assertFalse(os.path.exists(out), f"{args} left an output file")
        return err

    def test_model_files(self):
        cases = [
            ("missing.pt", "does not exist"),
            ("empty.pt", "is empty"),
            ("folder.pt", "Hugging Face folder"),  # a folder is read as one; the message says what it lacks
            ("text.pt", "not a readable TorchScript archive"),
            ("cut10.pt", "not a readable TorchScript archive"),
            ("cut50.pt", "not a readable TorchScript archive"),
            ("cut90.pt", "not a readable TorchScript archive"),
            ("plain.pt", "no iglens.json"),
            ("no_meta.pt", "no iglens.json"),
            ("bad_json.pt", "not valid JSON"),
            ("version9.pt", "format_version 9"),
            ("layers_text.pt", "'n_layer' must be an integer"),
            ("eps_range.pt", "eps = 5 is out of range"),
            ("bad_vocab.pt", "tokenizer"),
            ("no_merges.pt", "no tokenizer file 'merges.txt'"),
        ]
        for name, phrase in cases:
            for command in (["attribute", "To be"], ["info"], ["tokenize", "To be"]):
                with self.subTest(model=name, command=command[0]):
                    self.expect_error([*command, "--model", self.path(name)], self.path(name), phrase)

    def test_nan_in_the_residual_stream_names_layer_and_position(self):
        self.expect_error(["attribute", "ab cd", "--model", self.path("nan.pt"), "--target", "d"],
                          "NaN or Inf at layer 0, position 3")

    def test_text(self):
        self.expect_error(["attribute", "--stdin"], "invalid UTF-8 at byte offset 3", stdin=b"abc\xff")
        self.expect_error(["tokenize", "--stdin"], "invalid UTF-8 at byte offset 1", stdin=b"a\xc3(")
        self.expect_error(["attribute", ""], "empty prompt")
        self.expect_error(["attribute", "x" * 120, "--generate", "9"], "context length of 128")
        self.expect_error(["attribute", "To be", "--target", "y" * 128], "context length of 128")
        self.expect_error(["attribute", "To be", "--target", ""], "--target is empty")
        self.expect_error(["attribute", "To be", "--generate", "0"], "--generate must be at least 1")

    def test_options(self):
        cases = [
            (["--layers", "9"], "layer 9 is out of range [0, 4]"),
            (["--layers", "2", "2"], "layer 2 is listed twice"),
            (["--layers", "-1"], "layer -1 is negative"),
            (["--k", "0"], "k = 0"),
            (["--k", "5"], "k = 5"),
            (["--layers", "1", "--k", "2"], "--k"),
            (["--steps", "0"], "steps must be at least 1"),
            (["--steps", "-3"], "steps must be at least 1"),
            (["--steps", "100000", "--estimator", "gauss-legendre"], "at most 16384 (got 100000)"),
            (["--estimator", "simpson"], "unknown estimator 'simpson'"),
            (["--baseline", "median"], "unknown baseline 'median'"),
            (["--objective", "odds"], "unknown objective 'odds'"),
            (["--dtype", "float16"], "unknown dtype 'float16'"),
            (["--device", "tpu"], "unknown device 'tpu'"),
            (["--weights", "fp8"], "unknown --weights 'fp8' (expected float or stored)"),
            (["--attribution-memory", "0"], "--attribution-memory must be 1 to 2^20 MiB (got 0)"),
            (["--attribution-memory", "2000000"], "--attribution-memory must be 1 to 2^20 MiB (got 2000000)"),
            (["--weights", "stored"], "weights kept as stored are for GGUF files and Hugging Face folders, not IG-Lens bundles"),
            (["--device", "cuda"], "no CUDA GPU is available") if not torch.cuda.is_available() else None,
            (["--objective", "prob-diff"], "give --foil"),
            (["--foil", "x"], "--foil is only used with --objective prob-diff"),
            (["--objective", "prob-diff", "--foil", "xy"], "is 2 tokens"),
            (["--objective", "prob-diff", "--foil", " ", "--target", " "], 'every answer token is the foil " "'),
            (["--onset-frac", "0"], "onset fraction must be in (0, 1]"),
            (["--threads", "0"], "--threads must be 1 to"),
            (["--threads", "4096"], "--threads must be 1 to"),
            (["--generate", "9223372036854775000"], "more than the model's context length of 128"),
            (["--format", "xml"], "--format"),
            (["--generate", "two"], "--generate"),
            (["--svg", "/nonexistent-folder/map.svg"], "folder '/nonexistent-folder' does not exist"),
            (["--html", "/nonexistent-folder/map.html"], "--html '/nonexistent-folder/map.html': folder"),
            (["--unknown"], "--unknown"),
            (["--sources-csv", "x.csv"], "--sources-csv requires --sources"),
            (["--top-sources", "3"], "--top-sources requires --sources"),
            (["--sources", "--top-sources", "0"], "--top-sources must be at least 1 (got 0)"),
        ]
        for extra, phrase in filter(None, cases):
            with self.subTest(args=extra):
                self.expect_error(["attribute", "To be", *extra], phrase)

    def test_omp_num_threads_is_the_default_thread_count_and_checked_like_threads(self):
        args = ["attribute", "To be", "--format", "json", "--dtype", "float64"]
        for value, phrase in [("two", "OMP_NUM_THREADS must be a whole number of threads (got 'two')"),
                              ("2x", "OMP_NUM_THREADS must be a whole number of threads (got '2x')"),
                              ("0", "OMP_NUM_THREADS must be 1 to"), ("4096", "OMP_NUM_THREADS must be 1 to")]:
            with self.subTest(OMP_NUM_THREADS=value):
                code, out, err = run(*args, env={**os.environ, "OMP_NUM_THREADS": value})
                self.assertEqual((code, out), (1, ""), err)
                # libgomp itself warns first about a value it cannot read.
                lines = [line for line in err.strip().splitlines() if not line.startswith("libgomp: ")]
                self.assertEqual(len(lines), 1, err)
                self.assertTrue(lines[0].startswith("iglens: error: " + phrase), err)
        # --threads wins over the environment, and an empty value is no value: one thread per core. (Compared
        # with the same thread count: LibTorch 2.x's sums differ in the last bit between 1 and 2 threads.)
        one, per_core = run(*args, "--threads", "1"), run(*args, "--threads", str(os.cpu_count()))
        self.assertEqual((one[0], per_core[0]), (0, 0), one[2] + per_core[2])
        for env, extra, expected in [({"OMP_NUM_THREADS": "two"}, ["--threads", "1"], one),
                                     ({"OMP_NUM_THREADS": "1"}, [], one), ({"OMP_NUM_THREADS": ""}, [], per_core)]:
            with self.subTest(env=env, extra=extra):
                self.assertEqual(run(*args, *extra, env={**os.environ, **env})[:2], expected[:2])

    def test_one_file_for_two_outputs_is_refused_before_the_model_runs(self):
        slow = ["--steps", "100000", "--estimator", "gauss-legendre", "--generate", "100"]
        with tempfile.TemporaryDirectory() as folder:
            same = os.path.join(folder, "same")
            cases = [
                (["--out", same, "--svg", same], folder, "--out and --svg name the same file"),
                (["--out", "same", "--svg", "./sub/../same"], folder, "--out and --svg name the same file"),
                (["--svg", "same", "--components", "--components-csv", same], folder,
                 "--svg and --components-csv name the same file"),
                (["--svg", same, "--html", same], folder, "--svg and --html name the same file"),
                (["--out", same, "--components", "--components-csv", os.path.join(folder, ".", "same")], "/",
                 "--out and --components-csv name the same file"),
            ]
            os.mkdir(os.path.join(folder, "sub"))
            for extra, cwd, message in cases:
                with self.subTest(args=extra):
                    started = time.monotonic()
                    done = subprocess.run([PROGRAM, "attribute", "To be", *slow, *extra], capture_output=True,
                                          timeout=60, cwd=cwd)
                    err = done.stderr.decode()
                    self.assertEqual(done.returncode, 1, err)
                    self.assertEqual(done.stdout, b"")
                    self.assertEqual(len(err.strip().splitlines()), 1, err)
                    self.assertTrue(err.startswith("iglens: error: " + message), err)
                    self.assertLess(time.monotonic() - started, 10)
                    self.assertEqual(os.listdir(folder), ["sub"])

    def test_output_paths_are_checked_before_the_model_runs(self):
        started = time.monotonic()
        self.expect_error(["attribute", "To be", "--steps", "100000", "--estimator", "gauss-legendre", "--generate",
                           "100", "--svg", self.path("missing/map.svg")], "does not exist")
        self.assertLess(time.monotonic() - started, 10)
        self.expect_error(["attribute", "To be", "--svg", self.dir], "is a folder")
        kept = self.path("kept.json")
        with open(kept, "w") as f:
            f.write("an older result")
        code, _, _ = run("attribute", "To be", "--steps", "0", "--out", kept)
        self.assertNotEqual(code, 0)
        with open(kept) as f:
            self.assertEqual(f.read(), "an older result")


if __name__ == "__main__":
    unittest.main()
