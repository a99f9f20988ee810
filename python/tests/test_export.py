"""Tests of the iglens_gpt2 package: module, safetensors I/O, exporter.

Run from the repository root: /usr/bin/python3 -m unittest discover -s python/tests -t python
"""

import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import types
import unittest
from pathlib import Path

import jsonschema
import torch

HERE = Path(__file__).resolve().parent
PY_DIR = HERE.parent
sys.path.insert(0, str(PY_DIR))

from iglens_gpt2 import export as export_gpt2  # noqa: E402
from iglens_gpt2 import safetensors_io  # noqa: E402
from iglens_gpt2.gpt2 import GPT2, Attention, GPT2Config  # noqa: E402
from tests.write_old_style_bundle import write_old_style_bundle  # noqa: E402

torch.set_num_threads(1)

TINY = GPT2Config(vocab_size=257, n_positions=16, n_embd=24, n_layer=2, n_head=3)


def random_model(cfg=TINY, seed=0):
    """A model with every parameter random (LayerNorms and biases included)."""
    torch.manual_seed(seed)
    m = GPT2(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.uniform_(0.5, 1.5)
            elif name.endswith(".bias"):
                p.normal_(0, 0.1)
            else:
                p.normal_(0, 0.2)
    return m.eval()


def hf_state_dict(model, with_lm_head):
    """The state dict as HF's GPT2LMHeadModel saves it (with its mask buffers)."""
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if not with_lm_head:
        del sd["lm_head.weight"]
    C = model.n_positions
    for i in range(model.n_layer):
        sd[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(C, C, dtype=torch.uint8)).view(1, 1, C, C)
        sd[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    return sd


def hf_config(cfg):
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
        "vocab_size": cfg.vocab_size, "n_positions": cfg.n_positions, "n_ctx": cfg.n_positions,
        "n_embd": cfg.n_embd, "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_inner": None,
        "layer_norm_epsilon": 1e-5, "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1,
        "scale_attn_weights": True, "bos_token_id": 256, "eos_token_id": 256,
    }


def write_hf_folder(folder, model, cfg, fmt):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config(cfg)))
    vocab, merges = export_gpt2.byte_level_tokenizer()
    (folder / "vocab.json").write_bytes(vocab)
    (folder / "merges.txt").write_bytes(merges)
    if fmt == "safetensors":  # HF drops the tied head from safetensors files
        safetensors_io.save_file(hf_state_dict(model, with_lm_head=False), str(folder / "model.safetensors"),
                                 metadata={"format": "pt"})
    elif fmt == "bare-f16":  # like the hub's gpt2 file: GPT2Model names (no "transformer."), here in F16
        sd = {k[len("transformer."):]: v.half() for k, v in hf_state_dict(model, with_lm_head=False).items()}
        safetensors_io.save_file(sd, str(folder / "model.safetensors"))
    else:
        torch.save(hf_state_dict(model, with_lm_head=True), folder / "pytorch_model.bin")
    return folder


def reference_logits(sd, cfg, ids):
    """GPT-2 written out from the HF formulas, independent of gpt2.py."""
    d, H = cfg.n_embd, cfg.n_head
    hd = d // H
    S = ids.shape[1]

    def ln(x, p):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * sd[p + ".weight"] + sd[p + ".bias"]

    def conv1d(x, p):  # HF Conv1D: weight [in, out]
        return x @ sd[p + ".weight"] + sd[p + ".bias"]

    x = sd["transformer.wte.weight"][ids] + sd["transformer.wpe.weight"][:S]
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        qkv = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn")
        heads = []
        for h in range(H):
            q = qkv[..., h * hd:(h + 1) * hd]
            k = qkv[..., d + h * hd:d + (h + 1) * hd]
            v = qkv[..., 2 * d + h * hd:2 * d + (h + 1) * hd]
            w = q @ k.transpose(-1, -2) / math.sqrt(hd)
            w = torch.where(torch.tril(torch.ones(S, S, dtype=torch.bool)), w, torch.tensor(-1e4))
            heads.append(torch.softmax(w, -1) @ v)
        x = x + conv1d(torch.cat(heads, -1), p + "attn.c_proj")
        hmid = conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc")
        hmid = 0.5 * hmid * (1 + torch.tanh(math.sqrt(2 / math.pi) * (hmid + 0.044715 * hmid ** 3)))
        x = x + conv1d(hmid, p + "mlp.c_proj")
    return ln(x, "transformer.ln_f") @ sd["transformer.wte.weight"].T


def quiet_from_hf(folder):
    with contextlib.redirect_stderr(io.StringIO()):
        return export_gpt2.from_hf(str(folder))


def ids_for(cfg, S=10, B=2, seed=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.vocab_size, (B, S), generator=g)


class TestModule(unittest.TestCase):
    def test_state_dict_names_match_hf(self):
        m = random_model()
        names = set(m.state_dict())
        expect = {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight",
                  "transformer.ln_f.bias", "lm_head.weight"}
        for i in range(TINY.n_layer):
            for sub in ("ln_1", "ln_2", "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
                expect |= {f"transformer.h.{i}.{sub}.weight", f"transformer.h.{i}.{sub}.bias"}
        self.assertEqual(names, expect)
        sd = m.state_dict()
        d = TINY.n_embd
        self.assertEqual(tuple(sd["transformer.h.0.attn.c_attn.weight"].shape), (d, 3 * d))
        self.assertEqual(tuple(sd["transformer.h.0.mlp.c_fc.weight"].shape), (d, 4 * d))
        self.assertEqual(tuple(sd["transformer.h.0.mlp.c_proj.weight"].shape), (4 * d, d))
        self.assertIs(m.lm_head.weight, m.transformer.wte.weight)

    def test_matches_independent_reference(self):
        m = random_model()
        ids = ids_for(TINY)
        sd = {k: v.detach() for k, v in m.state_dict().items()}
        with torch.no_grad():
            diff = (m(ids) - reference_logits(sd, TINY, ids)).abs().max().item()
        self.assertLess(diff, 1e-4)

    def test_residual_stream_and_readout(self):
        m = random_model()
        s = torch.jit.script(m)
        ids = ids_for(TINY)
        with torch.no_grad():
            rs = s.residual_stream(ids)
            self.assertEqual(tuple(rs.shape), (TINY.n_layer + 1, 2, 10, TINY.n_embd))
            emb = m.transformer.wte.weight[ids] + m.transformer.wpe.weight[:10]
            self.assertTrue(torch.allclose(rs[0], emb, atol=1e-6))
            self.assertTrue(torch.allclose(rs[1], m.transformer.h[0](emb), atol=1e-5))
            flat = s.readout(rs[-1].reshape(-1, TINY.n_embd)).reshape(2, 10, -1)
            self.assertLess((flat - s(ids)).abs().max().item(), 1e-5)

    def test_causal(self):
        m = random_model()
        ids = ids_for(TINY)
        ids2 = ids.clone()
        ids2[:, 6:] = (ids2[:, 6:] + 1) % TINY.vocab_size
        with torch.no_grad():
            self.assertTrue(torch.allclose(m(ids)[:, :6], m(ids2)[:, :6], atol=1e-6))


class TestSafetensors(unittest.TestCase):
    def test_round_trip_dtypes(self):
        tensors = {
            "f32": torch.randn(3, 4), "f16": torch.randn(5).half(), "bf16": torch.randn(2, 3).bfloat16(),
            "f64": torch.randn(2, 2, 2, dtype=torch.float64), "scalar": torch.tensor(2.5),
            "empty": torch.zeros(0, 3), "i64": torch.arange(7), "u8": torch.arange(5, dtype=torch.uint8),
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "x.safetensors")
            safetensors_io.save_file(tensors, path, metadata={"format": "pt"})
            back, meta = safetensors_io.load_file(path)
            raw = Path(path).read_bytes()
        self.assertEqual(meta, {"format": "pt"})
        self.assertEqual(set(back), set(tensors))
        for k, t in tensors.items():
            self.assertEqual(back[k].dtype, t.dtype, k)
            self.assertEqual(back[k].shape, t.shape, k)
            self.assertTrue(torch.equal(back[k], t), k)
        n = int.from_bytes(raw[:8], "little")
        self.assertEqual(n % 8, 0)
        header = json.loads(raw[8:8 + n])
        self.assertEqual(header["f16"], {"dtype": "F16", "shape": [5], "data_offsets": header["f16"]["data_offsets"]})

    def test_reads_hand_made_file(self):
        # Built by hand so that the reader is not only checked against the writer.
        values = [1.0, -2.5, 0.125]
        data = b"".join(torch.tensor([v]).numpy().tobytes() for v in values)
        bf = torch.tensor([1.5, -3.0]).bfloat16().view(torch.int16).tolist()
        data_bf = b"".join(int(x & 0xFFFF).to_bytes(2, "little") for x in bf)
        header = json.dumps({"__metadata__": {"a": "b"},
                             "w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                             "v": {"dtype": "BF16", "shape": [2, 1], "data_offsets": [12, 16]}}).encode()
        blob = bytearray(len(header).to_bytes(8, "little") + header + data + data_bf)
        tensors, meta = safetensors_io.loads(blob)
        self.assertEqual(meta, {"a": "b"})
        self.assertEqual(tensors["w"].tolist(), values)
        self.assertEqual(tensors["v"].float().flatten().tolist(), [1.5, -3.0])

    def test_rejects_bad_offsets(self):
        header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}).encode()
        blob = bytearray(len(header).to_bytes(8, "little") + header + bytes(12))
        with self.assertRaises(safetensors_io.SafetensorsError):
            safetensors_io.loads(blob)
        with self.assertRaises(safetensors_io.SafetensorsError):
            safetensors_io.loads(bytearray(b"\xff" * 8 + b"{}"))


class TestHFLoading(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = random_model(seed=1)
        cls.folders = {fmt: write_hf_folder(Path(cls.tmp.name) / fmt, cls.model, TINY, fmt)
                       for fmt in ("safetensors", "bin", "bare-f16")}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_both_formats_load_and_match(self):
        ids = ids_for(TINY)
        with torch.no_grad():
            want = self.model(ids)
            want_f16 = random_model(seed=1).half().float()(ids)  # the weights rounded to F16
        for fmt, folder in self.folders.items():
            with self.subTest(fmt=fmt):
                src = quiet_from_hf(folder)
                self.assertEqual(src.source, f"hf {folder}")
                with torch.no_grad():
                    ref = want_f16 if fmt == "bare-f16" else want
                    self.assertLess((src.model(ids) - ref).abs().max().item(), 1e-5)
                self.assertIs(src.model.lm_head.weight, src.model.transformer.wte.weight)

    def test_conv1d_layout_by_hand(self):
        src = quiet_from_hf(self.folders["safetensors"])
        tensors, _ = safetensors_io.load_file(str(self.folders["safetensors"] / "model.safetensors"))
        d = TINY.n_embd
        torch.manual_seed(9)
        x = torch.randn(d)
        for name, module in (("transformer.h.0.attn.c_attn", src.model.transformer.h[0].attn.c_attn),
                             ("transformer.h.1.attn.c_proj", src.model.transformer.h[1].attn.c_proj)):
            W, b = tensors[name + ".weight"].tolist(), tensors[name + ".bias"].tolist()
            n_out = len(b)
            by_hand = [sum(float(x[i]) * W[i][j] for i in range(d)) + b[j] for j in range(n_out)]
            with torch.no_grad():
                got = module(x.view(1, 1, d)).view(-1)
            self.assertLess(max(abs(g - h) for g, h in zip(got.tolist(), by_hand)), 1e-5, name)
        # c_proj is square: reading it as nn.Linear ([out, in]) would give another answer.
        W = tensors["transformer.h.1.attn.c_proj.weight"]
        self.assertGreater((x @ W - x @ W.T).abs().max().item(), 1e-3)

    def test_export_from_hf_folder(self):
        with tempfile.TemporaryDirectory() as out:
            path = os.path.join(out, "m.pt")
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                rc = export_gpt2.main(["--hf", str(self.folders["bin"]), "-o", path])
            self.assertEqual(rc, 0)
            extra = {"iglens.json": ""}
            torch.jit.load(path, _extra_files=extra)
            self.assertEqual(json.loads(extra["iglens.json"])["source"], f"hf {self.folders['bin']}")

    def test_missing_weights_and_bad_config(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "config.json").write_text(json.dumps(hf_config(TINY)))
            with self.assertRaises(export_gpt2.ExportError):
                export_gpt2.from_hf(str(folder))
            bad = dict(hf_config(TINY), activation_function="relu")
            with self.assertRaises(export_gpt2.ExportError):
                export_gpt2.config_from_hf(bad)

    def test_transformers_comparison(self):
        """With transformers importable the exporter compares logits and fails loudly on a mismatch.

        transformers is not installed here, so a stand-in module that computes
        the logits with the independent reference is injected.
        """
        folder = self.folders["safetensors"]
        tensors, _ = safetensors_io.load_file(str(folder / "model.safetensors"))
        test = self

        def make_stub(offset):
            class FakeModel:
                @classmethod
                def from_pretrained(cls, name):
                    test.assertEqual(name, str(folder))
                    return cls()

                def float(self):
                    return self

                def eval(self):
                    return self

                def __call__(self, ids):
                    return types.SimpleNamespace(logits=reference_logits(tensors, TINY, ids) + offset)

            return types.SimpleNamespace(GPT2LMHeadModel=FakeModel)

        saved = export_gpt2._transformers_available
        export_gpt2._transformers_available = lambda: True
        try:
            with tempfile.TemporaryDirectory() as out:
                for offset, ok in ((0.0, True), (1e-3, False)):
                    sys.modules["transformers"] = make_stub(offset)
                    path = os.path.join(out, f"m{ok}.pt")
                    err = io.StringIO()
                    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                        rc = export_gpt2.main(["--hf", str(folder), "-o", path])
                    self.assertEqual(rc, 0 if ok else 1, err.getvalue())
                    self.assertEqual(os.path.exists(path), ok)
                    if not ok:
                        self.assertIn("transformers' logits", err.getvalue())
                self.assertEqual(sorted(os.listdir(out)), ["mTrue.pt"])
        finally:
            export_gpt2._transformers_available = saved
            sys.modules.pop("transformers", None)


def export_quietly(argv):
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = export_gpt2.main(argv)
    return rc, err.getvalue()


def load_bundle(path):
    extra = {"iglens.json": "", "vocab.json": "", "merges.txt": ""}
    module = torch.jit.load(path, _extra_files=extra)
    return module, json.loads(extra["iglens.json"]), extra


def sum_errors(components):
    """Max |error| of heads + bias against resid_mid - resid_pre, and of mlp_out against its change."""
    pre, mid, heads, bias, mlp = components
    return ((heads.sum(2) + bias - (mid - pre[:-1])).abs().max().item(),
            (mlp - (pre[1:] - mid)).abs().max().item())


def bundle_schema():
    """iglens.json's JSON Schema, the one block of docs/bundle-format.md, the format's only description."""
    text = (PY_DIR.parent / "docs" / "bundle-format.md").read_text(encoding="utf-8")
    start = text.index("```json\n") + len("```json\n")
    return json.loads(text[start:text.index("```", start)])


class TestBundle(unittest.TestCase):

    def test_tiny_bundle(self):
        with tempfile.TemporaryDirectory() as out:
            path = os.path.join(out, "tiny.pt")
            golden = os.path.join(out, "tiny.golden.json")
            with contextlib.redirect_stdout(io.StringIO()):
                rc = export_gpt2.main(["--random-config", "tiny", "--seed", "7", "-o", path, "--golden", golden])
            self.assertEqual(rc, 0)
            self.assertEqual(sorted(os.listdir(out)), ["tiny.golden.json", "tiny.pt"])
            extra = {"iglens.json": "", "vocab.json": "", "merges.txt": ""}
            m = torch.jit.load(path, _extra_files=extra)
            meta = json.loads(extra["iglens.json"])
            # Debian's python3-jsonschema (scripts/install-deps.sh).
            jsonschema.Draft202012Validator(bundle_schema()).validate(meta)
            self.assertEqual(meta["format_version"], 1)
            self.assertEqual(meta["architecture"], "gpt2")
            self.assertEqual((meta["n_layer"], meta["d_model"], meta["n_head"], meta["vocab_size"],
                              meta["context_length"]), (2, 32, 4, 257, 64))
            self.assertEqual(meta["final_norm"]["kind"], "layernorm")
            self.assertEqual(meta["final_norm"]["eps"], 1e-5)
            self.assertIsNone(meta["unembedding"]["bias"])
            self.assertEqual(meta["special_tokens"], {"<|endoftext|>": 256})
            self.assertEqual(meta["tokenizer"], {"vocab": "vocab.json", "merges": "merges.txt"})
            self.assertEqual(meta["source"], "random-config tiny seed 7")
            self.assertEqual(meta["methods"], ["forward", "residual_stream", "readout", "components", "head_reads"])
            for method in meta["methods"]:
                self.assertTrue(hasattr(m, method), method)

            vocab = json.loads(extra["vocab.json"])
            self.assertEqual(len(vocab), 257)
            self.assertEqual(sorted(vocab.values()), list(range(257)))
            self.assertEqual(vocab["A"], 65)
            self.assertEqual(vocab["\u0120"], 32)  # space is GPT-2's "Ġ"
            self.assertEqual(extra["merges.txt"].decode().strip(), "#version: 0.2")

            params = dict(m.named_parameters())
            for name in (meta["final_norm"]["weight"], meta["final_norm"]["bias"], meta["unembedding"]["weight"]):
                self.assertIn(name, params)
            self.assertTrue(torch.equal(params[meta["unembedding"]["weight"]], m.lm_head.weight))
            self.assertTrue(torch.equal(params[meta["final_norm"]["weight"]], m.transformer.ln_f.weight))

            ids = torch.tensor([[1, 2, 3, 250, 5], [9, 8, 7, 6, 5]])
            with torch.no_grad():
                logits = m(ids)
                rs = m.residual_stream(ids)
                self.assertEqual(tuple(logits.shape), (2, 5, 257))
                self.assertEqual(tuple(rs.shape), (3, 2, 5, 32))
                ro = m.readout(rs[2].reshape(-1, 32)).reshape(2, 5, 257)
                self.assertLess((ro - logits).abs().max().item(), 1e-5)

                g = json.load(open(golden))
                self.assertEqual(set(g), {"prompt_ids", "logits", "residual_stream"})
                gid = torch.tensor([g["prompt_ids"]])
                self.assertEqual(len(g["prompt_ids"]), 8)
                self.assertTrue(torch.equal(torch.tensor(g["logits"]), m(gid)[0]))
                self.assertTrue(torch.equal(torch.tensor(g["residual_stream"]), m.residual_stream(gid)[:, 0]))

            # Same seed, same bundle contents.
            path2 = os.path.join(out, "again.pt")
            with contextlib.redirect_stdout(io.StringIO()):
                export_gpt2.main(["--random-config", "tiny", "--seed", "7", "-o", path2])
            m2 = torch.jit.load(path2)
            for (n1, p1), (n2, p2) in zip(m.named_parameters(), m2.named_parameters()):
                self.assertEqual(n1, n2)
                self.assertTrue(torch.equal(p1, p2), n1)

    def test_failed_checks_write_nothing(self):
        class ScriptedDiffers(GPT2):
            def forward(self, ids: torch.Tensor) -> torch.Tensor:
                x = self.transformer.embed(ids)
                for block in self.transformer.h:
                    x = block(x)
                out = self.lm_head(self.transformer.ln_f(x))
                if torch.jit.is_scripting():
                    out = out + 1e-3
                return out

        class ReadoutDiffers(GPT2):
            @torch.jit.export
            def readout(self, h: torch.Tensor) -> torch.Tensor:
                return self.lm_head(self.transformer.ln_f(h)) * 1.01

        class LinearLayoutHeads(Attention):
            """Reads c_proj as nn.Linear ([out, in]): the bug GPT-2's Conv1D layout invites."""

            def head_writes(self, z: torch.Tensor) -> torch.Tensor:
                B, S = z.shape[0], z.shape[1]
                weight = self.c_proj.weight.t().reshape(self.n_head, self.head_dim, -1)
                return torch.einsum("bshk,hkd->bshd", [z.reshape(B, S, self.n_head, self.head_dim), weight])

        def heads_in_linear_layout(cfg):
            model = GPT2(cfg)
            model.transformer.h[0].attn.__class__ = LinearLayoutHeads
            return model

        vocab, merges = export_gpt2.byte_level_tokenizer()
        cfg = GPT2Config(vocab_size=257, n_positions=16, n_embd=16, n_layer=1, n_head=2)
        cases = [(ScriptedDiffers, None, "scripted logits"), (ReadoutDiffers, None, "readout"),
                 (GPT2, lambda ids: torch.zeros(ids.shape[0], ids.shape[1], 257), "transformers"),
                 (heads_in_linear_layout, None, "heads \\+ attn_bias differ")]
        with tempfile.TemporaryDirectory() as out:
            for cls, reference, message in cases:
                with self.subTest(cls=cls.__name__, message=message):
                    torch.manual_seed(0)
                    model = cls(cfg)
                    with self.assertRaisesRegex(export_gpt2.ExportError, message):
                        export_gpt2.export_bundle(model, cfg, vocab, merges, "test", os.path.join(out, "x.pt"),
                                                  golden=os.path.join(out, "x.json"), reference=reference)
                    self.assertEqual(os.listdir(out), [])

    def test_checkpoint_source(self):
        cfg = GPT2Config(vocab_size=257, n_positions=32, n_embd=16, n_layer=2, n_head=2, dropout=0.1)
        model = random_model(cfg, seed=3)
        with tempfile.TemporaryDirectory() as out:
            ckpt = os.path.join(out, "ckpt.pt")
            torch.save({"model_config": cfg.to_dict(), "model": model.state_dict(), "step": 5}, ckpt)
            path = os.path.join(out, "demo.pt")
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(export_gpt2.main(["--checkpoint", ckpt, "-o", path]), 0)
            extra = {"iglens.json": ""}
            m = torch.jit.load(path, _extra_files=extra)
            self.assertEqual(json.loads(extra["iglens.json"])["source"], f"checkpoint {ckpt}")
            self.assertFalse(m.training)
            ids = torch.tensor([list(b"Hello")])
            with torch.no_grad():
                self.assertLess((m(ids) - model(ids)).abs().max().item(), 1e-6)

    def test_cli_help_and_errors(self):
        exe = [sys.executable, str(PY_DIR / "export_gpt2.py")]
        r = subprocess.run(exe + ["--help"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--random-config", r.stdout)
        with tempfile.TemporaryDirectory() as out:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = export_gpt2.main(["--random-config", "small", "-o", os.path.join(out, "s.pt")])
            self.assertEqual(rc, 1)
            self.assertIn("--vocab", err.getvalue())
            self.assertEqual(os.listdir(out), [])


class TestComponents(unittest.TestCase):
    """The components method of an exported bundle: what each head, bias and MLP writes."""

    def test_parts_sum_to_each_blocks_change(self):
        model = random_model(seed=4)  # random biases: attn_bias is not zero
        vocab, merges = export_gpt2.byte_level_tokenizer()
        ids = ids_for(TINY, S=12, B=1)
        with tempfile.TemporaryDirectory() as out:
            path = os.path.join(out, "m.pt")
            export_gpt2.export_bundle(model, TINY, vocab, merges, "test", path)
            m, _, _ = load_bundle(path)
            with torch.no_grad():
                components = m.components(ids)
                pre, mid, heads, bias, mlp = components
                L, S, H, d = TINY.n_layer, 12, TINY.n_head, TINY.n_embd
                self.assertEqual([tuple(t.shape) for t in components],
                                 [(L + 1, S, d), (L, S, d), (L, S, H, d), (L, S, d), (L, S, d)])
                self.assertTrue(torch.equal(pre, m.residual_stream(ids)[:, 0]))
                heads_error, mlp_error = sum_errors(components)
                self.assertLess(heads_error, 1e-5)
                self.assertLess(mlp_error, 1e-5)
                # Head 1 of block 1 by hand: its slice of z through its rows of c_proj.weight.
                block = model.transformer.h[1]
                z = block.attn.mix(block.ln_1(pre[1].unsqueeze(0)))[0]
                hd = d // H
                by_hand = z[:, hd:2 * hd] @ block.attn.c_proj.weight[hd:2 * hd, :]
                self.assertLess((heads[1, :, 1] - by_hand).abs().max().item(), 1e-6)
                self.assertTrue(torch.equal(bias[1], block.attn.c_proj.bias.expand(S, d)))
                self.assertGreater(bias.abs().max().item(), 0.0)
                with self.assertRaisesRegex(Exception, "one sequence"):
                    m.components(ids_for(TINY, B=2))


class TestBundleSource(unittest.TestCase):
    """--bundle: an existing bundle exported again with the current code."""

    def assert_same_model(self, old, new):
        g = torch.Generator().manual_seed(11)
        with torch.no_grad():
            for S in (1, 5, 16):
                ids = torch.randint(0, 257, (2, S), generator=g)
                self.assertTrue(torch.equal(old(ids), new(ids)), S)
                self.assertTrue(torch.equal(old.residual_stream(ids), new.residual_stream(ids)), S)
        for (n1, p1), (n2, p2) in zip(old.named_parameters(), new.named_parameters()):
            self.assertEqual(n1, n2)
            self.assertTrue(torch.equal(p1, p2), n1)

    def test_round_trip_keeps_logits_bit_identical(self):
        with tempfile.TemporaryDirectory() as out:
            first, second = os.path.join(out, "a.pt"), os.path.join(out, "b.pt")
            self.assertEqual(export_quietly(["--random-config", "tiny", "--seed", "3", "-o", first])[0], 0)
            rc, err = export_quietly(["--bundle", first, "-o", second])
            self.assertEqual(rc, 0, err)
            old, old_meta, old_extra = load_bundle(first)
            new, new_meta, new_extra = load_bundle(second)
            self.assert_same_model(old, new)
            self.assertEqual(new_meta,
                             dict(old_meta, source=f"random-config tiny seed 3, re-exported from bundle {first}"))
            self.assertEqual(new_extra["vocab.json"], old_extra["vocab.json"])
            self.assertEqual(new_extra["merges.txt"], old_extra["merges.txt"])
            # In place: the file is replaced only once the new one is checked.
            rc, err = export_quietly(["--bundle", second, "-o", second])
            self.assertEqual(rc, 0, err)
            self.assert_same_model(old, load_bundle(second)[0])
            self.assertEqual(sorted(os.listdir(out)), ["a.pt", "b.pt"])

    def test_old_style_bundle_gains_components(self):
        model = random_model(seed=6)
        with tempfile.TemporaryDirectory() as out:
            old_path, new_path = os.path.join(out, "old.pt"), os.path.join(out, "new.pt")
            write_old_style_bundle(model, TINY, old_path, "an old export")
            old, old_meta, _ = load_bundle(old_path)
            self.assertFalse(hasattr(old, "components") or hasattr(old, "head_reads"))
            self.assertNotIn("methods", old_meta)
            rc, err = export_quietly(["--bundle", old_path, "-o", new_path])
            self.assertEqual(rc, 0, err)
            new, new_meta, _ = load_bundle(new_path)
            self.assert_same_model(old, new)
            self.assertEqual(new_meta["methods"], ["forward", "residual_stream", "readout", "components", "head_reads"])
            self.assertEqual(new_meta["source"], f"an old export, re-exported from bundle {old_path}")
            with torch.no_grad():
                heads_error, mlp_error = sum_errors(new.components(ids_for(TINY, B=1)))
            self.assertLess(max(heads_error, mlp_error), 1e-5)

    def test_bad_bundles_write_nothing(self):
        with tempfile.TemporaryDirectory() as out:
            text = os.path.join(out, "text.pt")
            Path(text).write_text("not a model\n")
            plain = os.path.join(out, "plain.pt")
            torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), plain)
            llama = os.path.join(out, "llama.pt")
            self.assertEqual(export_quietly(["--random-config", "tiny", "-o", llama])[0], 0)
            _, meta, extra = load_bundle(llama)
            extra["iglens.json"] = json.dumps(dict(meta, architecture="llama"))
            torch.jit.save(torch.jit.load(llama), llama, _extra_files=extra)
            cases = [(os.path.join(out, "missing.pt"), "does not exist"), (text, "not a readable TorchScript"),
                     (plain, "no iglens.json inside"), (llama, "architecture 'llama'")]
            for path, message in cases:
                with self.subTest(path=path):
                    rc, err = export_quietly(["--bundle", path, "-o", os.path.join(out, "new.pt")])
                    self.assertEqual(rc, 1)
                    self.assertIn(message, err)
                    self.assertIn("nothing written", err)
                    self.assertEqual(sorted(os.listdir(out)), ["llama.pt", "plain.pt", "text.pt"])


if __name__ == "__main__":
    unittest.main()
