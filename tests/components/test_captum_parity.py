"""`iglens attribute --components` against Captum and TransformerLens, on the
demo bundle in float64.

TransformerLens runs the bundle's weights (scripts/compare_transformer_lens.py
loads them) and caches, per block l and position i, resid_pre[l], resid_mid[l],
every head's result z_h W_O^h (hook_result) and the output bias b_O. For a
target y at position i and block l, with a = resid_pre[l][i] and the C =
n_head + 1 parts d_c (heads, then the bias),

  g(x) = softmax(unembed(ln_final(a + sum_c x_c d_c)))[y],   x in R^C,

and Captum's IntegratedGradients(g).attribute(ones, baselines=zeros,
method="riemann_middle", n_steps=m) is the midpoint split
(1/m) sum_k <grad f(a + t_k d), d_c>, t_k = (k + 0.5)/m. The program's credits
with --estimator riemann-midpoint --steps m must equal it (1e-5; float64
gives ~1e-15). The MLP half-block is the same with one part.

With the default estimator (observed delta) the embedding, each block's
attention parts and its MLP add up exactly to TransformerLens' logit-lens
probability differences p_y(ln_final(resid_pre[l+1])) - p_y(ln_final(
resid_pre[l])) (1e-8): the program split the same residual stream.

Environment: IGLENS_PROGRAM, IGLENS_DEMO_MODEL (default
models/demo-shakespeare.pt). Run with the reference environment's Python
(scripts/python-env.sh: transformer-lens, captum).
"""
import math
import os
import sys
import unittest

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import compare_transformer_lens as reference  # noqa: E402

from captum.attr import IntegratedGradients  # noqa: E402

PROGRAM = os.environ.get("IGLENS_PROGRAM", reference.default_program())
MODEL = os.environ.get("IGLENS_DEMO_MODEL", reference.DEMO_MODEL)
PROMPT = "ROMEO: But soft, what light"
TARGET = " through"  # byte-level: 8 tokens, read at positions 26..33
STEPS = 32  # a power of two: Captum's float32 step size 1/m and its alphas are exact
CAPTUM_TOLERANCE = 1e-5
SUM_TOLERANCE = 1e-8


class CaptumParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.module, config = reference.load_bundle(MODEL)
        cls.model = reference.hooked_transformer(cls.module, config, torch.float64)
        common = (PROMPT, "--target", TARGET, "--dtype", "float64", "--threads", "1")
        cls.midpoint = reference.run_iglens(PROGRAM, MODEL, *common, "--estimator", "riemann-midpoint",
                                            "--steps", str(STEPS))
        cls.observed = reference.run_iglens(PROGRAM, MODEL, *common, "--steps", "64")
        cls.ids = torch.tensor([reference.sequence_ids(cls.midpoint)])
        with torch.no_grad():
            cls.logits, cls.cache = cls.model.run_with_cache(cls.ids)
        cls.L, cls.H = cls.model.cfg.n_layers, cls.model.cfg.n_heads

    def resid_pre(self, l, i):
        """resid_pre[l] at position i, l = L the stream before the final norm."""
        if l == self.L:
            return self.cache[f"blocks.{self.L - 1}.hook_resid_post"][0, i]
        return self.cache[f"blocks.{l}.hook_resid_pre"][0, i]

    def probability(self, h, y):
        """p_y(unembed(ln_final(h))) for residual vectors h [..., d]."""
        shape = h.shape[:-1]
        h = h.reshape(-1, 1, h.shape[-1])  # TransformerLens' layers take [batch, pos, d]
        logits = self.model.unembed(self.model.ln_final(h))
        return torch.softmax(logits, -1)[:, 0, y].reshape(shape)

    def captum_split(self, start, parts, y):
        """Captum's midpoint IG of g(x) = p_y(start + x @ parts), x from 0 to 1 (C = len(parts))."""
        def g(x):
            return self.probability(start + x @ parts, y)

        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # Captum's alphas come from torch.linspace
        try:
            ones = torch.ones(1, parts.shape[0], dtype=torch.float64)
            return IntegratedGradients(g).attribute(ones, baselines=torch.zeros_like(ones),
                                                    method="riemann_middle", n_steps=STEPS)[0]
        finally:
            torch.set_default_dtype(previous)

    def test_the_program_reports_the_split_asked_for(self):
        for report, estimator, steps in ((self.midpoint, "riemann-midpoint", STEPS),
                                         (self.observed, "observed-delta", 64)):
            components = report["components"]
            self.assertEqual((components["estimator"], components["steps"]), (estimator, steps))
            expected = ["embedding"] + [label for l in range(self.L) for label in
                                        [f"{l}.attn.head {h}" for h in range(self.H)] +
                                        [f"{l}.attn.bias", f"{l}.mlp"]]
            self.assertEqual(components["labels"], expected)
            self.assertEqual([t["target_id"] for t in report["tokens"]], list(TARGET.encode()))
            for token in report["tokens"]:
                self.assertEqual(len(token["component_credits"]), len(expected))

    def test_transformer_lens_logits_equal_the_bundles(self):
        with torch.no_grad():
            bundle = self.module.to(torch.float64)(self.ids)
            self.module.to(torch.float32)
        difference = (bundle - self.logits).abs().max().item()
        print(f"\nfloat64 logits, TransformerLens vs bundle: max |diff| = {difference:.3e}")
        self.assertLess(difference, 1e-10)

    def test_head_bias_and_mlp_credits_equal_captums_midpoint_ig(self):
        labels = self.midpoint["components"]["labels"]
        worst, largest, compared = 0.0, 0.0, 0
        for token in self.midpoint["tokens"]:
            i, y = token["position"], token["target_id"]
            credits = dict(zip(labels, token["component_credits"]))
            for l in range(self.L):
                a = self.resid_pre(l, i)
                parts = torch.cat([self.cache[f"blocks.{l}.attn.hook_result"][0, i],
                                   self.model.blocks[l].attn.b_O.detach().unsqueeze(0)])
                names = [f"{l}.attn.head {h}" for h in range(self.H)] + [f"{l}.attn.bias"]
                expected = self.captum_split(a, parts, y)
                mid = self.cache[f"blocks.{l}.hook_resid_mid"][0, i]
                expected_mlp = self.captum_split(mid, self.cache[f"blocks.{l}.hook_mlp_out"][0, i].unsqueeze(0), y)
                for name, value in list(zip(names, expected.tolist())) + [(f"{l}.mlp", expected_mlp.item())]:
                    with self.subTest(position=i, component=name):
                        self.assertTrue(math.isfinite(credits[name]))
                        self.assertLess(abs(credits[name] - value), CAPTUM_TOLERANCE,
                                        f"{name} at {i}: program {credits[name]!r}, Captum {value!r}")
                    worst = max(worst, abs(credits[name] - value))
                    largest = max(largest, abs(value))
                    compared += 1
        print(f"\n{compared} credits (riemann-midpoint, m = {STEPS}) against Captum: max |diff| = {worst:.3e}, "
              f"largest |credit| {largest:.3f}")
        # Not a comparison of zeros: the demo's heads move p by tenths.
        self.assertGreater(largest, 1e-2)

    def test_observed_delta_parts_add_up_to_transformer_lens_lens_differences(self):
        labels = self.observed["components"]["labels"]
        worst = 0.0
        for token in self.observed["tokens"]:
            i, y = token["position"], token["target_id"]
            credits = dict(zip(labels, token["component_credits"]))
            with torch.no_grad():
                pre = [self.probability(self.resid_pre(l, i), y).item() for l in range(self.L + 1)]
                mid = [self.probability(self.cache[f"blocks.{l}.hook_resid_mid"][0, i], y).item()
                       for l in range(self.L)]
            checks = [("f_final", token["f_final"], pre[self.L]),
                      ("embedding", credits["embedding"] + token["f_baseline"], pre[0])]
            for l in range(self.L):
                attention = sum(credits[f"{l}.attn.head {h}"] for h in range(self.H)) + credits[f"{l}.attn.bias"]
                checks.append((f"block {l} attention", attention, mid[l] - pre[l]))
                checks.append((f"block {l} mlp", credits[f"{l}.mlp"], pre[l + 1] - mid[l]))
                checks.append((f"block {l}", attention + credits[f"{l}.mlp"], pre[l + 1] - pre[l]))
            for name, program, lens in checks:
                with self.subTest(position=i, part=name):
                    self.assertLess(abs(program - lens), SUM_TOLERANCE, f"{name} at {i}: {program!r} vs {lens!r}")
                worst = max(worst, abs(program - lens))
        print(f"\nobserved-delta sums against TransformerLens' lens differences: max |diff| = {worst:.3e}")


if __name__ == "__main__":
    unittest.main()
