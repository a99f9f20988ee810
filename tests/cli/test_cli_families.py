"""`iglens` on tiny models of the families beyond GPT-2 and SmolLM, as Hugging Face folders with their
family's kind of tokenizer (written by tests/models/write_transformers_reference.py converted): Llama 3
(RoPE frequency scaling, Split-regex BPE with ignore_merges, BOS by its post-processor) and Qwen2 (q/k/v
biases, numbers one digit a piece). The prompt's and target's ids are transformers' tokenizer's, and in
float64 each target token's probability is transformers' float64 probability within 1e-10.
"""
import json
import os
import subprocess
import unittest

PROGRAM = os.environ["IGLENS_PROGRAM"]
CONVERTED = os.environ["IGLENS_CONVERTED_REFERENCE"]


def run(*args):
    done = subprocess.run([PROGRAM, *args], capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


class Families(unittest.TestCase):
    def test_target_probabilities_are_transformers(self):
        for name, family in (("llama3", "llama"), ("qwen2", "qwen2")):
            with self.subTest(name):
                folder = os.path.join(CONVERTED, name)
                with open(os.path.join(CONVERTED, name + "_text.json")) as f:
                    reference = json.load(f)
                code, out, err = run("info", "--model", folder)
                self.assertEqual(code, 0, err)
                info = json.loads(out)
                self.assertEqual(info["family"], family)
                self.assertEqual(info["tokenizer"]["pre_tokenizer"], name)
                code, out, err = run("tokenize", "--model", folder, reference["prompt"])
                self.assertEqual(code, 0, err)
                self.assertEqual(json.loads(out), reference["prompt_ids"])
                code, out, err = run("attribute", "--model", folder, "--dtype", "float64", "--target",
                                     reference["target"], reference["prompt"], "--format", "json")
                self.assertEqual(code, 0, err)
                report = json.loads(out)
                self.assertEqual(report["prompt_ids"], reference["prompt_ids"])
                self.assertEqual([t["target_id"] for t in report["tokens"]], reference["target_ids"])
                for token, expected in zip(report["tokens"], reference["f_final"]):
                    self.assertLessEqual(abs(token["f_final"] - expected), 1e-10)
                    # The row telescopes: the layers' IG add up to the change along the path.
                    self.assertLessEqual(abs(sum(token["ig"]) - token["delta"]), 1e-10)


if __name__ == "__main__":
    unittest.main()
