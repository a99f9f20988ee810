"""`iglens` on tiny models of the families beyond GPT-2 and SmolLM, as Hugging Face folders with their
family's kind of tokenizer: Llama 3 (RoPE frequency scaling, Split-regex BPE with ignore_merges, BOS by its
post-processor) and Qwen2 (q/k/v biases, numbers one digit a piece), written by
tests/models/write_transformers_reference.py converted; Gemma 2, Gemma 3 and Mistral with a sliding
window, with the SentencePiece tokenizer.json transformers' converter makes (byte fallback), and Qwen3
(query/key norms) with Qwen2's kind of byte-level BPE, written by tests/models/write_current_reference.py,
and the Gemma GGUF files llama.cpp's converter made of the same folders. The prompt's and target's ids are transformers' tokenizer's, and in float64 each target token's
probability is transformers' float64 probability within 1e-10 (1e-8 for the GGUF files, whose norm gains
the converter rounds to float32); GPT-2, as a folder and as the GGUF file the converter made of it, with
GPT-2's own tokenizer (50257 tokens); Phi-3 (fused projections, a window on every layer) as a folder and a
GGUF file, and with RoPE over half of each head (Phi-4-mini's kind), with a SentencePiece tokenizer;
GPT-NeoX (Pythia's parallel attention and MLP) and OLMo 2 (norms after attention and MLP only) as folders
and GGUF files, with GPT-2's tokenizer. Gemma 2's soft-capped logits, the GPT-2 file's, GPT-NeoX's parallel
blocks and OLMo 2's are split into components too, and they add up to each token's change; the parallel
blocks' outputs say that heads, bias and MLP share one segment.
"""
import json
import os
import subprocess
import tempfile
import unittest

PROGRAM = os.environ["IGLENS_PROGRAM"]
CONVERTED = os.environ["IGLENS_CONVERTED_REFERENCE"]
CURRENT = os.environ["IGLENS_CURRENT_REFERENCE"]


def run(*args):
    done = subprocess.run([PROGRAM, *args], capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


SENTENCEPIECE = "sentencepiece"
# Folder (or file), its reference group, family, pre-tokenizer and tolerance; Gemma 2 with --components too.
CASES = (("llama3", CONVERTED, "llama", "llama3", 1e-10), ("qwen2", CONVERTED, "qwen2", "qwen2", 1e-10),
         ("gemma2", CURRENT, "gemma2", SENTENCEPIECE, 1e-10), ("gemma3", CURRENT, "gemma3", SENTENCEPIECE, 1e-10),
         ("mistral_window", CURRENT, "mistral", SENTENCEPIECE, 1e-10), ("qwen3", CURRENT, "qwen3", "qwen2", 1e-10),
         ("gemma2.gguf", CURRENT, "gemma2", SENTENCEPIECE, 1e-8), ("gemma3.gguf", CURRENT, "gemma3", SENTENCEPIECE, 1e-8),
         ("gpt2", CURRENT, "gpt2", "gpt2", 1e-10), ("gpt2.gguf", CURRENT, "gpt2", "gpt2", 1e-10),
         ("phi3", CURRENT, "phi3", SENTENCEPIECE, 1e-10), ("phi3.gguf", CURRENT, "phi3", SENTENCEPIECE, 1e-10),
         ("phi3_partial.gguf", CURRENT, "phi3", SENTENCEPIECE, 1e-10),
         ("gpt_neox", CURRENT, "gpt_neox", "gpt2", 1e-10), ("gpt_neox.gguf", CURRENT, "gptneox", "gpt2", 1e-10),
         ("gpt_neox_sequential.gguf", CURRENT, "gptneox", "gpt2", 1e-10),
         ("olmo2", CURRENT, "olmo2", "gpt2", 1e-10), ("olmo2.gguf", CURRENT, "olmo2", "gpt2", 1e-10))
# Split into components as well: a soft-capped head, GPT-2's biases and LayerNorm read from a GGUF file,
# GPT-NeoX's parallel blocks, and OLMo 2's heads through the norm after the attention.
WITH_COMPONENTS = ("gemma2", "gpt2.gguf", "gpt_neox", "gpt_neox.gguf", "olmo2")
PARALLEL = ("gpt_neox", "gpt_neox.gguf")


class Families(unittest.TestCase):
    def test_target_probabilities_are_transformers(self):
        for name, group, family, pre_tokenizer, tolerance in CASES:
            with self.subTest(name):
                model = os.path.join(group, name)
                with open(os.path.join(group, name.replace(".gguf", "") + "_text.json")) as f:
                    reference = json.load(f)
                code, out, err = run("info", "--model", model)
                self.assertEqual(code, 0, err)
                info = json.loads(out)
                self.assertEqual(info["family"], family)
                self.assertEqual(info["tokenizer"]["pre_tokenizer"], pre_tokenizer)
                code, out, err = run("tokenize", "--model", model, reference["prompt"])
                self.assertEqual(code, 0, err)
                self.assertEqual(json.loads(out), reference["prompt_ids"])
                extra = ["--components"] if name in WITH_COMPONENTS else []
                code, out, err = run("attribute", "--model", model, "--dtype", "float64", "--target",
                                     reference["target"], reference["prompt"], "--format", "json", *extra)
                self.assertEqual(code, 0, err)
                report = json.loads(out)
                self.assertEqual(report["prompt_ids"], reference["prompt_ids"])
                self.assertEqual([t["target_id"] for t in report["tokens"]], reference["target_ids"])
                for token, expected in zip(report["tokens"], reference["f_final"]):
                    self.assertLessEqual(abs(token["f_final"] - expected), tolerance)
                    # The row telescopes: the layers' IG add up to the change along the path.
                    self.assertLessEqual(abs(sum(token["ig"]) - token["delta"]), 1e-10)
                    if extra:
                        credits = token["component_credits"]
                        self.assertEqual(len(credits), len(report["components"]["labels"]))
                        self.assertLessEqual(abs(sum(credits) - token["delta"]), 1e-10)
                        # The heads carry credit of their own: the split is not all in one part (relative:
                        # GPT-2's 50257 tokens share probability thinly).
                        largest, second = sorted(map(abs, credits))[-1:-3:-1]
                        self.assertGreater(second, 1e-3 * largest)
                        self.assertEqual(report["components"]["parallel_blocks"], name in PARALLEL)

    def test_parallel_blocks_say_so_in_every_output(self):
        """GPT-NeoX's heads, bias and MLP share one segment per block: JSON, SVG and HTML say there is no
        resid_mid, and each head's sources add up to its credit there too."""
        model = os.path.join(CURRENT, "gpt_neox")
        with open(os.path.join(CURRENT, "gpt_neox_text.json")) as f:
            reference = json.load(f)
        common = ["attribute", "--model", model, "--dtype", "float64", "--target", reference["target"],
                  reference["prompt"], "--components", "--sources"]
        code, out, err = run(*common, "--format", "json")
        self.assertEqual(code, 0, err)
        report = json.loads(out)
        self.assertTrue(report["components"]["parallel_blocks"])
        self.assertIn("no resid_mid", report["components"]["segments"])
        parts = report["components"]["parts"]
        for token in report["tokens"]:
            credits = token["component_credits"]
            for block, heads in enumerate(token["source_credits"]):
                for head, sources in enumerate(heads):
                    index = next(i for i, p in enumerate(parts)
                                 if p["kind"] == "head" and p["block"] == block and p["head"] == head)
                    self.assertLessEqual(abs(sum(sources) - credits[index]), 1e-10)
        with tempfile.TemporaryDirectory() as folder:
            pictures = {output: os.path.join(folder, "map." + output) for output in ("svg", "html")}
            code, _, err = run(*common, "--svg", pictures["svg"], "--html", pictures["html"])
            self.assertEqual(code, 0, err)
            with open(pictures["svg"], encoding="utf-8") as f:
                self.assertIn("which share one segment (parallel blocks: no resid_mid)", f.read())
            # The page's data, from which its grid caption says so.
            with open(pictures["html"], encoding="utf-8") as f:
                self.assertIn('"parallel_blocks":true', f.read())


if __name__ == "__main__":
    unittest.main()
