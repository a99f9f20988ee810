"""examples/top_components.cpp, a researcher's first program with the
library, on SmolLM2-135M-Instruct's GGUF file: its layers and components are
the `iglens` program's on the same prompt and token, and they add up.

Environment: IGLENS_EXAMPLE (the built example), IGLENS_PROGRAM,
IGLENS_SMOLLM2_GGUF.
"""
import json
import os
import re
import subprocess
import unittest

EXAMPLE = os.environ["IGLENS_EXAMPLE"]
PROGRAM = os.environ["IGLENS_PROGRAM"]
GGUF = os.environ["IGLENS_SMOLLM2_GGUF"]
PROMPT = "The capital of France is"


def run(command):
    done = subprocess.run(command, capture_output=True, timeout=300)
    return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8", "replace")


class TopComponentsExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        code, cls.out, err = run([EXAMPLE, GGUF, PROMPT, "12"])
        assert code == 0, err
        code, out, err = run([PROGRAM, "attribute", "--model", GGUF, "--generate", "1", "--components",
                              "--format", "json", PROMPT])
        assert code == 0, err
        cls.report = json.loads(out)

    def test_the_next_token_is_the_programs_greedy_answer(self):
        token = self.report["tokens"][0]
        found = re.search(r"next token .* \(id (\d+)\): p = ([0-9.]+), from ([0-9.]+)", self.out)
        self.assertIsNotNone(found, self.out)
        self.assertEqual(int(found.group(1)), token["target_id"])
        self.assertAlmostEqual(float(found.group(2)), token["f_final"], delta=1e-6)
        self.assertAlmostEqual(float(found.group(3)), token["f_baseline"], delta=1e-6)

    def test_layers_are_the_programs(self):
        token = self.report["tokens"][0]
        rows = re.findall(r"^\s*(\d+) ([+-][0-9.]+) ([0-9.]+)$", self.out, re.MULTILINE)
        self.assertEqual([int(layer) for layer, _, _ in rows], self.report["layers"])
        for (_, ig, lens), want_ig, want_lens in zip(rows, token["ig"], token["lens"]):
            self.assertAlmostEqual(float(ig), want_ig, delta=1e-6)
            self.assertAlmostEqual(float(lens), want_lens, delta=1e-6)

    def test_the_largest_components_are_the_programs(self):
        token = self.report["tokens"][0]
        labels = self.report["components"]["labels"]
        credits = dict(zip(labels, token["component_credits"]))
        rows = re.findall(r"^(\S+(?: \d+)?)\s+([+-][0-9.]+)$", self.out, re.MULTILINE)
        self.assertEqual(len(rows), 12)
        largest = sorted(credits.values(), key=abs, reverse=True)[:12]
        for (label, credit), want in zip(rows, largest):
            self.assertAlmostEqual(float(credit), credits[label], delta=1e-6)
            self.assertAlmostEqual(abs(float(credit)), abs(want), delta=1e-6)
        # In this model the answer is written late: the top component is in the last third.
        self.assertGreaterEqual(int(rows[0][0].split(".")[0]), 20)

    def test_the_components_add_up_to_the_change(self):
        found = re.search(r"all (\d+) components add up to ([+-][0-9.]+), the change of p along their path "
                          r"([+-][0-9.]+)", self.out)
        self.assertIsNotNone(found, self.out)
        self.assertEqual(int(found.group(1)), len(self.report["components"]["labels"]))
        self.assertAlmostEqual(float(found.group(2)), float(found.group(3)), delta=2e-9)  # printed to 1e-9
        # The program's delta is the float32 layer map's, whose products round apart from the
        # components' reading of the same p (1.5e-5 measured; test_cli.py's float32 bound, 1e-4).
        self.assertAlmostEqual(float(found.group(3)), self.report["tokens"][0]["delta"], delta=1e-4)

    def test_a_bad_model_path_is_one_line(self):
        code, out, err = run([EXAMPLE, "/nonexistent/model.gguf", PROMPT])
        self.assertEqual(code, 1)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("/nonexistent/model.gguf", err)


if __name__ == "__main__":
    unittest.main()
