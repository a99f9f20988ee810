"""`iglens` on the real Gemma 3 270M (Q4_K_M GGUF, scripts/fetch-gemma3.sh) against transformers on the
same file: for five prompts, every generated token's probability (float32) equals transformers' float32
probability of that token within 1e-4, transformers being fed IG-Lens' ids; each layer map's row
telescopes; the prompt's ids are llama.cpp's (the issue's example). On a repeated sequence of words, the
split by source position finds the induction head and the token it copies.
"""
import json
import os
import subprocess
import tempfile
import unittest

PROGRAM = os.environ["IGLENS_PROGRAM"]
GGUF = os.environ["IGLENS_GEMMA3_GGUF"]
CURRENT_PYTHON = os.environ["IGLENS_CURRENT_PYTHON"]
REFERENCE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "models",
                                "write_gemma3_reference.py")
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Water boils at a temperature of",
           "The first president of the United States was", "Le chat est sur la"]


def run(*args):
    done = subprocess.run([PROGRAM, *args], capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout, done.stderr


class Gemma3(unittest.TestCase):
    def test_info_names_the_family_and_its_tokenizer(self):
        code, out, err = run("info", "--model", GGUF)
        self.assertEqual(code, 0, err)
        info = json.loads(out)
        self.assertEqual((info["family"], info["n_layer"], info["d_model"], info["vocab_size"]),
                         ("gemma3", 18, 640, 262144))
        self.assertEqual((info["tokenizer"]["model"], info["tokenizer"]["pre_tokenizer"]), ("llama", "sentencepiece"))
        code, out, err = run("tokenize", "--model", GGUF, "The capital of France is")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), [2, 818, 5279, 529, 7001, 563])

    def test_probabilities_are_transformers(self):
        reports = []
        for prompt in PROMPTS:
            code, out, err = run("attribute", "--model", GGUF, "--generate", "6", "--k", "6", "--format", "json",
                                 prompt)
            self.assertEqual(code, 0, err)
            reports.append(json.loads(out))
        with tempfile.TemporaryDirectory() as tmp:
            sequences = [{"ids": r["prompt_ids"] + [t["target_id"] for t in r["tokens"]],
                          "prompt_length": len(r["prompt_ids"])} for r in reports]
            with open(os.path.join(tmp, "sequences.json"), "w") as f:
                json.dump(sequences, f)
            done = subprocess.run([CURRENT_PYTHON, REFERENCE_SCRIPT, GGUF, os.path.join(tmp, "sequences.json"),
                                   os.path.join(tmp, "reference.json")], capture_output=True, text=True, timeout=900)
            self.assertEqual(done.returncode, 0, done.stderr[-3000:])
            with open(os.path.join(tmp, "reference.json")) as f:
                expected = json.load(f)
        worst = 0.0
        for prompt, report, probabilities in zip(PROMPTS, reports, expected):
            self.assertEqual(len(report["tokens"]), len(probabilities))
            for token, probability in zip(report["tokens"], probabilities):
                with self.subTest(prompt=prompt, token=token["target_id"]):
                    worst = max(worst, abs(token["f_final"] - probability))
                    self.assertLessEqual(abs(token["f_final"] - probability), 1e-4)
                    self.assertLessEqual(abs(sum(token["ig"]) - token["delta"]), 1e-5)
        print(f"Gemma 3 270M: worst |p(iglens) - p(transformers)| over {sum(map(len, expected))} tokens = {worst:.2e}")

    def test_induction_head_reads_the_token_after_the_earlier_occurrence(self):
        # Ten words of one token each, in no meaningful order, then the first four again: the model
        # continues the copy (" violin", then " canyon"). The head that moves each token's probability
        # the most should read, above all, the token that followed the earlier occurrence of the current
        # one (position 5 for " violin", 6 for " canyon": 0 is <bos>).
        words = [" marble", " jacket", " velvet", " orbit", " violin", " canyon", " lemon", " piano", " saddle",
                 " ginger"]
        prompt = "".join(words) + "".join(words[:4])
        code, out, err = run("attribute", "--model", GGUF, "--sources", "--baseline", "zero", "--format", "json",
                             "--target", " violin canyon", prompt)
        self.assertEqual(code, 0, err)
        report = json.loads(out)
        self.assertEqual(report["sources"]["tokens"][1:], words + words[:6])  # one token per word
        parts = report["components"]["parts"]
        n_head = report["components"]["n_head"]
        for token, expected_source in zip(report["tokens"], (5, 6)):
            with self.subTest(target=token["target"]):
                self.assertGreater(token["f_final"], 0.3)
                heads = [(abs(credit), part["block"], part["head"])
                         for credit, part in zip(token["component_credits"], parts) if part["kind"] == "head"]
                _, block, head = max(heads)
                sources = token["source_credits"][block][head]
                strongest_source = max(range(len(sources)), key=lambda j: abs(sources[j]))
                self.assertEqual(strongest_source, expected_source)
                self.assertEqual(report["sources"]["tokens"][strongest_source], token["target"])
                # The head's credit is the sum of its sources'; nearly all of it is this one.
                credit = token["component_credits"][1 + block * (n_head + 2) + head]
                self.assertAlmostEqual(sum(sources), credit, delta=1e-5 * max(1.0, abs(credit)))
                self.assertGreater(abs(sources[strongest_source]), 0.8 * abs(credit))


if __name__ == "__main__":
    unittest.main()
