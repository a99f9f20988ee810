"""The `iglens` program on a real pretrained model: SmolLM2-135M-Instruct from
its GGUF file, and the same weights as a Hugging Face folder.

The expected numbers come from Hugging Face transformers, which loaded the
same GGUF file (tests/models/write_transformers_reference.py: float64 logits
and token ids of three prompts); the tokenizer.json of the folder case was
built by the `tokenizers` library from the file's vocabulary
(tests/tokenizer/write_smollm2_reference.py).

Environment: IGLENS_PROGRAM, IGLENS_SMOLLM2_GGUF, IGLENS_MODEL_REFERENCE
(the SmolLM2 reference folder), IGLENS_SMOLLM2_TOKENIZER_JSON.
"""
import csv
import json
import math
import os
import re
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

import numpy as np

PROGRAM = os.environ["IGLENS_PROGRAM"]
GGUF = os.environ["IGLENS_SMOLLM2_GGUF"]
REFERENCE = os.environ["IGLENS_MODEL_REFERENCE"]
TOKENIZER_JSON = os.environ["IGLENS_SMOLLM2_TOKENIZER_JSON"]
SVG = "{http://www.w3.org/2000/svg}"
PROMPTS = ["The capital of France is", "def fibonacci(n):\n    return",
           "Water boils at a temperature of one hundred degrees"]


def run(*args, timeout=300, env=None):
    done = subprocess.run([PROGRAM, *args], capture_output=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})
    return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8", "replace")


def reference_sequences():
    with open(os.path.join(REFERENCE, "reference.json")) as f:
        sequences = json.load(f)["sequences"]
    for index, sequence in enumerate(sequences):
        logits = np.fromfile(os.path.join(REFERENCE, f"logits_{index}.f64"), dtype="<f8")
        sequence["logits"] = logits.reshape(sequence["logits_shape"])
    return sequences


def assert_same_within(test, ours, theirs, tolerance, where="output"):
    """The same JSON document, except that each number may differ by
    `tolerance` times (1 + its size): strings, keys and list lengths exactly."""
    if isinstance(theirs, dict):
        test.assertEqual(sorted(ours), sorted(theirs), where)
        for key in theirs:
            assert_same_within(test, ours[key], theirs[key], tolerance, f"{where}.{key}")
    elif isinstance(theirs, list):
        test.assertEqual(len(ours), len(theirs), where)
        for index, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_within(test, a, b, tolerance, f"{where}[{index}]")
    elif isinstance(theirs, float) and not isinstance(theirs, bool):
        test.assertLessEqual(abs(ours - theirs), tolerance * (1 + abs(theirs)), where)
    else:
        test.assertEqual(ours, theirs, where)


def block_sum(credits, layer, n_head):
    """The component credits of what layer `layer` of the map covers: the
    embedding at layer 0, block layer-1 (its heads, bias and MLP) above."""
    if layer == 0:
        return credits[0]
    first = 1 + (layer - 1) * (n_head + 2)
    return sum(credits[first:first + n_head + 2])


def softmax(row):
    shifted = np.exp(row - row.max())
    return shifted / shifted.sum()


class SmolLM2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sequences = reference_sequences()
        # A Hugging Face folder of the same weights (written by transformers)
        # with a tokenizer.json from the `tokenizers` library.
        cls.folder = tempfile.TemporaryDirectory()
        for name in ("config.json", "model.safetensors"):
            os.symlink(os.path.join(REFERENCE, "hf", name), os.path.join(cls.folder.name, name))
        os.symlink(TOKENIZER_JSON, os.path.join(cls.folder.name, "tokenizer.json"))
        # transformers' own tokenizer_config.json, which holds the chat template.
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            os.symlink(os.path.join(REFERENCE, "hf_tokenizer", name), os.path.join(cls.folder.name, name))

    @classmethod
    def tearDownClass(cls):
        cls.folder.cleanup()

    def test_info_names_architecture_sizes_types_and_tokenizer(self):
        code, out, err = run("info", "--model", GGUF)
        self.assertEqual(code, 0, err)
        info = json.loads(out)
        self.assertEqual((info["format"], info["architecture"], info["n_layer"], info["d_model"], info["n_head"],
                          info["n_kv_head"], info["head_dim"], info["d_ff"], info["vocab_size"]),
                         ("gguf", "llama", 30, 576, 9, 3, 64, 1536, 49152))
        self.assertEqual(info["rope_base"], 100000.0)
        self.assertEqual(info["final_norm"]["kind"], "rmsnorm")
        self.assertTrue(info["tied_embeddings"])
        self.assertEqual(info["tensor_types"], {"Q4_1": 210, "F32": 61, "Q8_0": 1})
        tokenizer = info["tokenizer"]
        self.assertEqual((tokenizer["pre_tokenizer"], tokenizer["bos_id"], tokenizer["eos_id"], tokenizer["adds_bos"]),
                         ("smollm", 1, 2, False))

    def test_tokenize_matches_the_files_tokenizer_in_transformers(self):
        for prompt, sequence in zip(PROMPTS, self.sequences):
            for model in (GGUF, self.folder.name):
                code, out, err = run("tokenize", "--model", model, prompt)
                self.assertEqual(code, 0, err)
                self.assertEqual(json.loads(out), sequence["ids"], (model, prompt))

    def test_special_tokens_are_one_id_only_when_asked(self):
        text = "<|im_start|>user\nHi<|im_end|>"
        code, out, err = run("tokenize", "--model", GGUF, "--special-tokens", text)
        self.assertEqual(code, 0, err)
        ids = json.loads(out)
        self.assertEqual((ids[0], ids[-1]), (1, 2))
        code, out, _ = run("tokenize", "--model", GGUF, text)
        self.assertNotIn(1, json.loads(out))

    def attribute(self, model, prompt, target, *extra):
        code, out, err = run("attribute", "--model", model, prompt, "--target", target, "--format", "json", *extra)
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def test_f_final_is_the_models_probability_in_transformers(self):
        # Each prompt's last token, predicted from the tokens before it.
        checked = 0
        for index, (prompt, sequence) in enumerate(zip(PROMPTS, self.sequences)):
            ids = sequence["ids"]
            words = prompt.rsplit(" ", 1)
            head, target = words[0], " " + words[1]
            head_ids = json.loads(run("tokenize", "--model", GGUF, head)[1])
            if head_ids + json.loads(run("tokenize", "--model", GGUF, target)[1]) != ids:
                continue  # the split at the last space changes the tokens
            position = len(head_ids) - 1
            expected = softmax(sequence["logits"][position])[ids[position + 1]]
            for model in (GGUF, self.folder.name):
                for dtype, tolerance in (("float32", 1e-4), ("float64", 1e-8)):
                    result = self.attribute(model, head, target, "--dtype", dtype)
                    row = result["tokens"][0]
                    self.assertEqual(row["target_id"], ids[position + 1])
                    self.assertAlmostEqual(row["f_final"], expected, delta=tolerance, msg=(model, dtype, index))
                    self.assertAlmostEqual(sum(row["ig"]), row["delta"], delta=1e-6 if dtype == "float32" else 1e-12)
                    checked += 1
        self.assertEqual(checked, 12)  # 3 prompts x 2 model forms x 2 dtypes

    def test_capital_of_france(self):
        result = self.attribute(GGUF, "The capital of France is", " Paris", "--svg", os.devnull)
        row = result["tokens"][0]
        self.assertEqual(len(result["layers"]), 31)
        self.assertGreater(row["f_final"], 0.5)
        self.assertAlmostEqual(sum(row["ig"]), row["delta"], delta=1e-6)

    def test_components_split_each_block_of_the_layer_map(self):
        n_layer, n_head = 30, 9
        with tempfile.TemporaryDirectory() as tmp:
            svg, table_csv = os.path.join(tmp, "map.svg"), os.path.join(tmp, "components.csv")
            # float64: the component path and the layer map evaluate the same vertices to ~1e-14.
            result = self.attribute(GGUF, "The capital of France is", " Paris.", "--components", "--steps", "4",
                                    "--dtype", "float64", "--svg", svg, "--components-csv", table_csv)
            cells = [g for g in ET.parse(svg).getroot().iter(SVG + "g") if g.get("class") == "component"]
            with open(table_csv, newline="") as f:
                csv_rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
        labels = result["components"]["labels"]
        self.assertEqual(len(labels), 1 + n_layer * (n_head + 2))
        self.assertEqual((labels[0], labels[1], labels[n_head + 1], labels[-1]),
                         ("embedding", "0.attn.head 0", "0.attn.bias", "29.mlp"))
        self.assertEqual((result["components"]["estimator"], result["components"]["steps"]), ("observed-delta", 4))
        self.assertEqual(len(result["tokens"]), 2)
        self.assertEqual(len(cells), 2 * n_layer * (n_head + 2))
        self.assertEqual(len(csv_rows), 2 * len(labels))
        for row in result["tokens"]:
            credits = row["component_credits"]
            self.assertEqual(len(credits), len(labels))
            self.assertAlmostEqual(sum(credits), row["delta"], delta=1e-6)
            for layer, ig in enumerate(row["ig"]):
                self.assertAlmostEqual(block_sum(credits, layer, n_head), ig, delta=1e-6, msg=layer)
        paris = result["tokens"][0]
        top = max(range(len(labels)), key=lambda i: abs(paris["component_credits"][i]))
        self.assertEqual(labels[top], "29.mlp")  # measured: +0.672 of Δprob +0.773
        self.assertIn(("4", "29.mlp"), [(r["position"], r["component"]) for r in csv_rows])

        # float32: the two paths read p_target through differently rounded softmaxes
        # (measured 1.6e-5 apart at p = 0.77), so they agree to 1e-4.
        single = self.attribute(GGUF, "The capital of France is", " Paris", "--components", "--steps", "4")
        row = single["tokens"][0]
        self.assertAlmostEqual(sum(row["component_credits"]), row["delta"], delta=1e-4)
        for layer, ig in enumerate(row["ig"]):
            self.assertAlmostEqual(block_sum(row["component_credits"], layer, n_head), ig, delta=1e-4, msg=layer)
        code, table, err = run("attribute", "--model", GGUF, "The capital of France is", "--target", " Paris",
                               "--components", "--steps", "4")
        self.assertEqual(code, 0, err)
        self.assertRegex(table, r"\n  29\.mlp +\+0\.67\d\d +\+8\d\.\d%\n")

    def test_sources_split_each_head_by_the_position_it_reads(self):
        n_layer, n_head = 30, 9
        with tempfile.TemporaryDirectory() as tmp:
            sources_csv, svg = os.path.join(tmp, "sources.csv"), os.path.join(tmp, "sources.svg")
            result = self.attribute(GGUF, "The capital of France is", " Paris", "--sources", "--steps", "4",
                                    "--sources-csv", sources_csv, "--svg", svg)
            with open(sources_csv, newline="") as f:
                csv_rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
            svg_sources = [g for g in ET.parse(svg).getroot().iter(f"{SVG}g") if g.get("class") == "source"]
        row = result["tokens"][0]
        sequence = result["sources"]["ids"]
        self.assertEqual(sequence, result["prompt_ids"] + [row["target_id"]])
        self.assertEqual(len(result["sources"]["tokens"]), len(sequence))
        position = row["position"]
        credits = row["source_credits"]
        self.assertEqual((len(credits), len(credits[0]), len(credits[0][0])), (n_layer, n_head, position + 1))
        labels = result["components"]["labels"]
        for block in range(n_layer):
            for head in range(n_head):
                # A head's sources add up to its credit (float64 sums, exact by construction).
                component = row["component_credits"][labels.index(f"{block}.attn.head {head}")]
                self.assertAlmostEqual(sum(credits[block][head]), component, delta=1e-9)
        self.assertEqual(len(csv_rows), n_layer * n_head * (position + 1))
        # The SVG's source panel: a cell per block and source, what the block's heads drew from it.
        self.assertEqual(len(svg_sources), n_layer * (position + 1))
        for cell in svg_sources:
            title = cell.find(f"{SVG}title").text
            block, source = map(int, re.search(r"block (\d+) reading (\d+) ", title).groups())
            drawn = float(re.search(r": ([+-][0-9.]+) \(", title).group(1))
            self.assertAlmostEqual(drawn, sum(credits[block][head][source] for head in range(n_head)), delta=5e-7)
        first = csv_rows[0]
        self.assertEqual((first["block"], first["head"], first["source_position"], first["source_id"]),
                         ("0", "0", "0", str(sequence[0])))
        code, table, err = run("attribute", "--model", GGUF, "The capital of France is", "--target", " Paris",
                               "--sources", "--steps", "4")
        self.assertEqual(code, 0, err)
        self.assertIn("sources: per token the 8 (block, head, source token) credits", table)
        self.assertRegex(table, r"\n  29\.attn\.head \d +pos \d+ \"")
        # --top-sources 2: each head's two largest of the same credits, largest first.
        top = self.attribute(GGUF, "The capital of France is", " Paris", "--sources", "--steps", "4",
                             "--top-sources", "2")
        self.assertEqual(top["sources"]["top"], 2)
        kept = top["tokens"][0]["top_sources"]
        for block in range(n_layer):
            for head in range(n_head):
                full = credits[block][head]
                largest = sorted(range(position + 1), key=lambda j: -abs(full[j]))[:2]
                self.assertEqual([pair[0] for pair in kept[block][head]], largest)
                self.assertEqual([pair[1] for pair in kept[block][head]], [full[j] for j in largest])

    def test_weights_kept_as_stored_give_the_same_map(self):
        # --weights stored keeps the file's Q4_1 matrices in the mapped file and dequantizes them a tile of
        # rows at a time while a layer runs: the values a float load has, multiplied in other blocks, so in
        # float64 the same map within 1e-12 (the same tokens, the same layers, every number that close).
        args = ("attribute", "--model", GGUF, PROMPTS[0], "--generate", "2", "--k", "6", "--format", "json",
                "--dtype", "float64")
        loaded, kept = run(*args), run(*args, "--weights", "stored")
        self.assertEqual((loaded[0], kept[0]), (0, 0), loaded[2] + kept[2])
        assert_same_within(self, json.loads(kept[1]), json.loads(loaded[1]), 1e-12)
        code, out, err = run("info", "--model", GGUF)
        self.assertEqual((code, json.loads(out)["weights"]), (0, "float"), err)
        # The folder's safetensors matrices are kept in their mapped file the same way.
        folder_args = ("attribute", "--model", self.folder.name) + args[3:]
        loaded, kept = run(*folder_args), run(*folder_args, "--weights", "stored")
        self.assertEqual((loaded[0], kept[0]), (0, 0), loaded[2] + kept[2])
        assert_same_within(self, json.loads(kept[1]), json.loads(loaded[1]), 1e-12)

    def test_attribution_memory_chunks_the_work_not_the_numbers(self):
        # One row of SmolLM2's map holds 31 vertices of 49,152 logits (6 MiB in float32) and the components
        # a token's blocks: with 1 MiB every target token is a chunk of its own, and the numbers stay those
        # of the default budget, where all three share one.
        args = ("attribute", "--model", GGUF, PROMPTS[0], "--generate", "3", "--components", "--format", "json",
                "--dtype", "float64", "--steps", "8")
        whole, chunked = run(*args), run(*args, "--attribution-memory", "1")
        self.assertEqual((whole[0], chunked[0]), (0, 0), whole[2] + chunked[2])
        assert_same_within(self, json.loads(chunked[1]), json.loads(whole[1]), 1e-12)

    def test_weights_that_do_not_fit_in_memory_are_refused_before_loading(self):
        # 300 MiB: the float32 weights (513 MiB) do not fit, the kept ones (the Q4_1 matrices and the float32
        # tied head, about 200 MiB) do.
        limit = {"IGLENS_AVAILABLE_MEMORY": "300M"}
        code, out, err = run("attribute", "--model", GGUF, "Hello", "--generate", "1", env=limit)
        self.assertEqual((code, out), (1, ""), err)
        self.assertRegex(err, rf"^iglens: error: model file '{re.escape(GGUF)}': its weights as float32 need about "
                              r"5\d\d\.\d MiB, but 300\.0 MiB of memory is available \(IGLENS_AVAILABLE_MEMORY\); kept "
                              r"as stored \(--weights stored\) they need about \d+\.\d MiB\n$")
        code, out, err = run("attribute", "--model", GGUF, "Hello", "--generate", "1", "--weights", "stored", env=limit)
        self.assertEqual(code, 0, err)
        code, out, err = run("attribute", "--model", GGUF, "Hello", env={"IGLENS_AVAILABLE_MEMORY": "lots"})
        self.assertEqual((code, err), (1, "iglens: error: IGLENS_AVAILABLE_MEMORY must be a whole number of bytes, "
                                          "optionally with K, M, G or T (got 'lots')\n"))

    def test_components_errors(self):
        cases = ((["--objective", "logprob"], "--components attributes probability: use --objective prob"),
                 (["--k", "4"], "--components splits every block, so it needs all layers 0..30: drop --layers and --k"))
        for extra, message in cases:
            code, out, err = run("attribute", "--model", GGUF, "Hello", "--generate", "1", "--components", *extra)
            self.assertNotEqual(code, 0)
            self.assertEqual(out, "")
            self.assertEqual(err.strip(), "iglens: error: " + message)

    def test_greedy_answer_is_transformers_argmax(self):
        sequence = self.sequences[0]
        result = self.attribute_generate(GGUF, PROMPTS[0])
        self.assertEqual(result["tokens"][0]["target_id"], int(np.argmax(sequence["logits"][-1])))

    def test_generation_ends_at_the_models_end_token(self):
        # SmolLM2-Instruct in its chat format ends its turn with <|im_end|> (id 2, the file's EOS; the
        # folder's config.json says the same); that token ends the answer and is not attributed.
        chat = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        for model in (GGUF, self.folder.name):
            code, out, err = run("attribute", "--model", model, "--special-tokens", chat, "--generate", "20",
                                 "--k", "2", "--format", "json")
            self.assertEqual(code, 0, err)
            report = json.loads(out)
            self.assertEqual("".join(t["target"] for t in report["tokens"]), "The capital of France is Paris.", model)
            self.assertEqual((report["stopped"], report["stop_id"], report["stop_token"]), ("end token", 2, "<|im_end|>"))
        code, out, err = run("attribute", "--model", GGUF, "--special-tokens", chat, "--generate", "3", "--k", "2")
        self.assertEqual(code, 0, err)
        self.assertIn("generated 3 token(s), stopped at the --generate limit\n", out)
        code, out, err = run("attribute", "--model", GGUF, "--special-tokens", chat, "--stop", " Paris", "--k", "2",
                             "--generate", "20")
        self.assertEqual(code, 0, err)
        self.assertIn('generated 5 token(s), ended by the end token " Paris"\n', out)
        code, out, err = run("info", "--model", GGUF)
        self.assertEqual(json.loads(out)["end_ids"], [2])
        # Without its chat format the model ends the turn at once: nothing to attribute.
        for args, message in (
                (["What is the capital of France?"],
                 'the answer is empty: the model\'s first token is the end token "<|im_end|>"'),
                (["Hi", "--stop", "the end"], '--stop "the end" is 2 tokens; it must be exactly one token')):
            code, out, err = run("attribute", "--model", GGUF, *args)
            self.assertNotEqual(code, 0)
            self.assertEqual(err.strip(), "iglens: error: " + message)

    def test_chat_answer_is_transformers_greedy_answer(self):
        # The question rendered by the model's own chat template (transformers' apply_chat_template with
        # Jinja2, reference.json "chat"), from the GGUF file and from the folder's tokenizer_config.json:
        # the same text and ids; then transformers' greedy loop in float64 on the same file, up to the end
        # token: every answer token (the key/value cache's) and the end token are the same.
        with open(os.path.join(REFERENCE, "reference.json")) as f:
            chat = json.load(f)["chat"]
        for model in (GGUF, self.folder.name):
            code, out, err = run("tokenize", "--model", model, "--chat", chat["question"])
            self.assertEqual(code, 0, err)
            self.assertEqual(json.loads(out), {"text": chat["text"], "ids": chat["ids"]}, model)
            code, out, err = run("tokenize", "--model", model, "--system", chat["system"], chat["question"])
            self.assertEqual(code, 0, err)
            self.assertEqual(json.loads(out), {"text": chat["system_text"], "ids": chat["system_ids"]}, model)
        for dtype in ("float64", "float32"):
            code, out, err = run("attribute", "--model", GGUF, "--chat", chat["question"], "--generate", "40",
                                 "--k", "2", "--dtype", dtype, "--format", "json")
            self.assertEqual(code, 0, err)
            report = json.loads(out)
            self.assertEqual(report["prompt_ids"], chat["ids"])
            self.assertEqual(report["messages"], [{"role": "user", "content": chat["question"]}])
            self.assertEqual([t["target_id"] for t in report["tokens"]], chat["greedy_answer"], dtype)
            self.assertEqual(report["stop_id"], chat["end_id"])

    def test_chat_corpus_records_are_rendered_as_attribute_renders_them(self):
        with open(os.path.join(REFERENCE, "reference.json")) as f:
            chat = json.load(f)["chat"]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "chats.jsonl")
            records = [{"id": "chat", "prompt": chat["question"], "chat": True},
                       {"id": "messages", "messages": [{"role": "system", "content": chat["system"]},
                                                       {"role": "user", "content": chat["question"]}]},
                       {"id": "plain", "prompt": chat["question"]}]
            with open(path, "w", encoding="utf-8") as f:
                f.write("".join(json.dumps(r) + "\n" for r in records))
            code, out, err = run("tokenize", "--model", GGUF, "--jsonl", path)
            self.assertEqual(code, 0, err)
            ids = {line["id"]: line["prompt_ids"] for line in map(json.loads, out.splitlines())}
            self.assertEqual(ids["chat"], chat["ids"])
            self.assertEqual(ids["messages"], chat["system_ids"])
            code, out, err = run("tokenize", "--model", GGUF, chat["question"])
            self.assertEqual(ids["plain"], json.loads(out))
            # --chat makes every prompt a chat; the "messages" record keeps its own.
            code, out, err = run("tokenize", "--model", GGUF, "--jsonl", path, "--chat")
            self.assertEqual(code, 0, err)
            ids = {line["id"]: line["prompt_ids"] for line in map(json.loads, out.splitlines())}
            self.assertEqual((ids["chat"], ids["plain"], ids["messages"]), (chat["ids"], chat["ids"], chat["system_ids"]))
            code, out, err = run("corpus", path, "--out", os.path.join(tmp, "out"), "--model", GGUF, "--k", "2",
                                 "--generate", "40")
            self.assertEqual(code, 0, err)
            results = {}
            for name in sorted(os.listdir(os.path.join(tmp, "out"))):
                if name.startswith("results-"):
                    with open(os.path.join(tmp, "out", name)) as f:
                        results.update({r["id"]: r for r in map(json.loads, f)})
            self.assertEqual(results["chat"]["prompt_ids"], chat["ids"])
            self.assertEqual([t["target_id"] for t in results["chat"]["tokens"]], chat["greedy_answer"])
            self.assertEqual(results["messages"]["prompt_ids"], chat["system_ids"])
            self.assertNotIn("messages", results["plain"])

    def test_corpus_batches_a_llama_model_as_one_prompt_at_a_time(self):
        # Rotary positions and BOS (the file's rule): right padding must change nothing that is read.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "prompts.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                for index, prompt in enumerate(PROMPTS):
                    f.write(json.dumps({"id": index, "prompt": prompt}) + "\n")
                f.write(json.dumps({"id": "paris", "prompt": PROMPTS[0], "target": " Paris, and"}) + "\n")

            def results(name, *args):
                out = os.path.join(tmp, name)
                code, stdout, err = run("corpus", path, "--out", out, "--model", GGUF, "--generate", "3",
                                        "--dtype", "float64", *args, timeout=600)
                self.assertEqual(code, 0, err)
                records = {}
                for chunk in sorted(os.listdir(out)):
                    if chunk.startswith("results-"):
                        with open(os.path.join(out, chunk), encoding="utf-8") as f:
                            records.update((str(r["id"]), r) for r in map(json.loads, f))
                return stdout, records

            batched_line, batched = results("batched")
            # Generated and teacher-forced answers of 3 tokens, lengths within 8 tokens: one pass for all four.
            self.assertIn("in 1 batch,", batched_line)
            _, alone = results("alone", "--batch-size", "1")
            self.assertEqual(batched.keys(), {"0", "1", "2", "paris"})
            for key, record in batched.items():
                self.assertEqual(record["prompt_ids"], alone[key]["prompt_ids"], key)
                self.assertEqual([t["target_id"] for t in record["tokens"]],
                                 [t["target_id"] for t in alone[key]["tokens"]], key)
                for got, want in zip(record["tokens"], alone[key]["tokens"]):
                    for field in ("ig", "lens"):
                        self.assertLessEqual(np.abs(np.subtract(got[field], want[field])).max(), 1e-10, key)
                    self.assertAlmostEqual(got["f_final"], want["f_final"], delta=1e-10, msg=key)
            # The batched greedy answer is transformers' argmax, as the one-prompt answer is.
            self.assertEqual(batched["0"]["tokens"][0]["target_id"], int(np.argmax(self.sequences[0]["logits"][-1])))

    def attribute_generate(self, model, prompt):
        code, out, err = run("attribute", "--model", model, prompt, "--generate", "1", "--format", "json")
        self.assertEqual(code, 0, err)
        return json.loads(out)


class BadRealModelFiles(unittest.TestCase):
    """Broken GGUF files and folders: a non-zero exit and one line naming the problem."""

    def expect_error(self, model, *fragments, commands=(["attribute", "Hello"], ["info"], ["tokenize", "Hello"])):
        for command in commands:
            code, out, err = run(*command, "--model", model)
            self.assertNotEqual(code, 0, (command, model))
            self.assertEqual(out, "")
            lines = err.strip().splitlines()
            self.assertEqual(len(lines), 1, err)
            self.assertTrue(lines[0].startswith("iglens: error: "), err)
            for fragment in fragments:
                self.assertIn(fragment, lines[0])

    def test_broken_gguf_files(self):
        with open(GGUF, "rb") as f:
            head = f.read(1 << 20)
        size = os.path.getsize(GGUF)
        with tempfile.TemporaryDirectory() as tmp:
            def write(name, data):
                path = os.path.join(tmp, name)
                with open(path, "wb") as f:
                    f.write(data)
                return path
            self.expect_error(write("magic.gguf", b"GGUX" + head[4:]), "magic.gguf")
            self.expect_error(write("version.gguf", head[:4] + (7).to_bytes(4, "little") + head[8:]), "version 7")
            self.expect_error(write("empty.gguf", b""), "empty.gguf")
            # Cut inside the metadata, then inside the tensor data.
            self.expect_error(write("cut_header.gguf", head[:4096]), "cut_header.gguf")
            with open(GGUF, "rb") as f:
                data = f.read(size // 2)
            self.expect_error(write("cut_data.gguf", data), "cut_data.gguf")

    def test_unsupported_architecture_is_named(self):
        phi2 = os.path.join(REFERENCE, os.pardir, "tiny", "bad", "phi2.gguf")
        # tokenize reads only the tokenizer, which this file lacks.
        self.expect_error(phi2, "architecture 'phi2' is not supported (supported: gpt2, llama, qwen2, qwen3, gemma2, "
                          "gemma3, phi3, olmo2, gptneox)", commands=(["attribute", "Hello"], ["info"]))

    def test_folders_without_weights_or_tokenizer(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "config.json"), "w") as f:
                json.dump({"architectures": ["LlamaForCausalLM"]}, f)
            with open(os.path.join(tmp, "tokenizer.json"), "w") as f:
                f.write("{}")
            code, _, err = run("info", "--model", tmp)
            self.assertNotEqual(code, 0)
            self.assertIn("no model.safetensors", err)


if __name__ == "__main__":
    unittest.main()
