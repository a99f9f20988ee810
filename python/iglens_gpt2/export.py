"""Export a GPT-2 as one self-contained IG-Lens TorchScript bundle.

The bundle is the scripted model with iglens.json, vocab.json and merges.txt
beside it, as docs/bundle-format.md specifies (its tests check this output
against that page's schema).

Sources (exactly one):
  --hf NAME_OR_PATH       a Hugging Face GPT-2 folder (config.json,
                          model.safetensors or pytorch_model.bin, vocab.json,
                          merges.txt), read without transformers. When
                          transformers is importable the model is also loaded
                          with it (then a hub name works too) and the logits
                          must agree to 1e-4.
  --random-config NAME    a seeded random GPT-2 (tiny or small; see --seed and
                          the --n-layer/--d-model/--n-head/--context overrides).
  --checkpoint FILE       a checkpoint written by train_demo_gpt2.py.
  --bundle FILE           an existing bundle, older ones included: its weights,
                          tokenizer files and source, exported again with the
                          current code (e.g. to add the components or
                          head_reads method).
                          The rebuilt model's logits must match the bundle's.

Before anything is written the scripted module's logits are compared with the
eager module's, readout(residual_stream(ids)[L]) with forward(ids), and the
scripted components with the eager ones, each block's parts summing to its
change of the residual stream, and the scripted head_reads with the eager ones,
each head's write equal to the sum of what it reads. The bundle is written under a temporary name, loaded back and checked, then
renamed, so a failed export leaves no file behind.
"""

import argparse
import importlib.util
import json
import math
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from . import safetensors_io
from .gpt2 import GPT2, GPT2Config, load_hf_state_dict

SCRIPT_TOL = 1e-5  # scripted vs eager, readout vs forward, a block's parts vs its change
HF_TOL = 1e-4  # ours vs transformers
EOT = "<|endoftext|>"
METHODS = ["forward", "residual_stream", "readout", "components", "head_reads"]  # iglens.json "methods"
BUNDLE_FILES = ("iglens.json", "vocab.json", "merges.txt")

RANDOM_CONFIGS = {
    "tiny": dict(n_layer=2, n_embd=32, n_head=4, n_positions=64),
    "small": dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024),
}


class ExportError(RuntimeError):
    pass


# --------------------------------------------------------------------------
# Tokenizer files


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's byte -> printable character table.

    Bytes that are printable Latin-1 characters (other than space and the
    soft hyphen) stand for themselves; the remaining 68 bytes, in increasing
    order, take the characters U+0100, U+0101, ...
    """
    keep = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAC + 1)) | set(range(0xAE, 0xFF + 1))
    table: Dict[int, str] = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def byte_level_tokenizer() -> Tuple[bytes, bytes]:
    """vocab.json and merges.txt of the 257-token byte-level vocabulary."""
    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    vocab[EOT] = 256
    return (json.dumps(vocab, ensure_ascii=False).encode("utf-8"), b"#version: 0.2\n")


# --------------------------------------------------------------------------
# Sources


class Source:
    """A model ready to export plus what describes it."""

    def __init__(self, model: GPT2, cfg: GPT2Config, vocab_json: bytes, merges_txt: bytes, source: str,
                 reference=None):
        self.model = model
        self.cfg = cfg
        self.vocab_json = vocab_json
        self.merges_txt = merges_txt
        self.source = source
        self.reference = reference  # optional callable ids -> logits (transformers)


def config_from_hf(d: Dict) -> GPT2Config:
    if d.get("model_type", "gpt2") != "gpt2":
        raise ExportError(f"config.json: model_type {d.get('model_type')!r} is not gpt2")
    act = d.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ExportError(f"config.json: activation_function {act!r} is not supported (need gelu_new)")
    if not d.get("scale_attn_weights", True):
        raise ExportError("config.json: scale_attn_weights = false is not supported")
    if d.get("scale_attn_by_inverse_layer_idx", False):
        raise ExportError("config.json: scale_attn_by_inverse_layer_idx = true is not supported")
    if d.get("add_cross_attention", False):
        raise ExportError("config.json: add_cross_attention = true is not supported")
    if d.get("tie_word_embeddings", True) is False:
        raise ExportError("config.json: untied word embeddings are not supported")
    return GPT2Config(
        vocab_size=int(d["vocab_size"]),
        n_positions=int(d.get("n_positions", d.get("n_ctx", 1024))),
        n_embd=int(d["n_embd"]),
        n_layer=int(d["n_layer"]),
        n_head=int(d["n_head"]),
        n_inner=d.get("n_inner"),
        layer_norm_epsilon=float(d.get("layer_norm_epsilon", 1e-5)),
    )


def _load_bin(path: Path) -> Dict[str, torch.Tensor]:
    """A pytorch_model.bin, unpickled with torch's weights-only loader."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # a torch without weights_only
        return torch.load(path, map_location="cpu")
    except pickle.UnpicklingError as e:
        raise ExportError(f"{path}: not a plain tensor state dict ({e}); convert it to model.safetensors") from None


def read_hf_weights(folder: Path) -> Dict[str, torch.Tensor]:
    """State dict of an HF folder: model.safetensors, pytorch_model.bin or sharded either."""
    for single, index, reader in (
        ("model.safetensors", "model.safetensors.index.json", lambda p: safetensors_io.load_file(p)[0]),
        ("pytorch_model.bin", "pytorch_model.bin.index.json", _load_bin),
    ):
        if (folder / single).exists():
            return dict(reader(folder / single))
        if (folder / index).exists():
            weight_map = json.loads((folder / index).read_text())["weight_map"]
            sd: Dict[str, torch.Tensor] = {}
            for shard in sorted(set(weight_map.values())):
                sd.update(reader(folder / shard))
            return sd
    raise ExportError(f"{folder}: no model.safetensors or pytorch_model.bin (or sharded index) found")


def _transformers_available() -> bool:
    return importlib.util.find_spec("transformers") is not None


def from_hf(name_or_path: str) -> Source:
    folder = Path(name_or_path)
    have_tf = _transformers_available()
    hf_model = None
    if have_tf:
        import transformers  # noqa: F401  (optional dependency)

        hf_model = transformers.GPT2LMHeadModel.from_pretrained(name_or_path).float().eval()
    if folder.is_dir():
        cfg_dict = json.loads((folder / "config.json").read_text())
        sd = read_hf_weights(folder)
        try:
            vocab_json = (folder / "vocab.json").read_bytes()
            merges_txt = (folder / "merges.txt").read_bytes()
        except FileNotFoundError as e:
            raise ExportError(f"{folder}: tokenizer file missing: {e.filename}") from None
    elif have_tf:
        cfg_dict = hf_model.config.to_dict()
        sd = {k: v.detach().clone() for k, v in hf_model.state_dict().items()}
        with tempfile.TemporaryDirectory() as tmp:
            tok = transformers.GPT2Tokenizer.from_pretrained(name_or_path)
            files = tok.save_vocabulary(tmp)
            vocab_json = Path([f for f in files if f.endswith("vocab.json")][0]).read_bytes()
            merges_txt = Path([f for f in files if f.endswith("merges.txt")][0]).read_bytes()
    else:
        raise ExportError(f"--hf {name_or_path}: not a folder, and a hub name needs transformers "
                          "(which is not importable)")
    cfg = config_from_hf(cfg_dict)
    model = GPT2(cfg)
    try:
        load_hf_state_dict(model, sd)
    except ValueError as e:
        raise ExportError(f"--hf {name_or_path}: {e}") from None
    reference = None
    if hf_model is not None:
        def reference(ids: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return hf_model(ids).logits.float()
    else:
        print("note: transformers is not importable; skipping the comparison with transformers' logits",
              file=sys.stderr)
    return Source(model.eval(), cfg, vocab_json, merges_txt, f"hf {name_or_path}", reference)


def from_random(name: str, seed: int, vocab: Optional[str], merges: Optional[str],
                overrides: Dict[str, Optional[int]]) -> Source:
    shape = dict(RANDOM_CONFIGS[name])
    for key, value in overrides.items():
        if value is not None:
            shape[key] = value
    if (vocab is None) != (merges is None):
        raise ExportError("--vocab and --merges go together")
    if vocab is not None:
        vocab_json, merges_txt = Path(vocab).read_bytes(), Path(merges).read_bytes()
        vocab_size = len(json.loads(vocab_json))
    elif name == "small":
        raise ExportError("--random-config small needs GPT-2's vocabulary: pass --vocab encoder.json "
                          "--merges vocab.bpe")
    else:
        vocab_json, merges_txt = byte_level_tokenizer()
        vocab_size = 257
    cfg = GPT2Config(vocab_size=vocab_size, **shape)
    torch.manual_seed(seed)
    model = GPT2(cfg).eval()
    source = f"random-config {name} seed {seed}"
    extra = [f"{k} {v}" for k, v in overrides.items() if v is not None]
    if extra:
        source += " " + " ".join(extra)
    return Source(model, cfg, vocab_json, merges_txt, source)


def from_checkpoint(path: str) -> Source:
    ckpt = torch.load(path, map_location="cpu")  # our own training checkpoint (full pickle)
    cfg = GPT2Config.from_dict(ckpt["model_config"])
    cfg.dropout = 0.0
    if cfg.vocab_size != 257:
        raise ExportError(f"{path}: vocab_size {cfg.vocab_size}; demo checkpoints are byte-level (257)")
    model = GPT2(cfg)
    model.load_state_dict(ckpt["model"])
    vocab_json, merges_txt = byte_level_tokenizer()
    return Source(model.eval(), cfg, vocab_json, merges_txt, f"checkpoint {path}")


def from_bundle(path: str) -> Source:
    """The eager GPT2 of a bundle, rebuilt from its iglens.json and weights."""
    extra = {name: "" for name in BUNDLE_FILES}
    try:
        old = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    except RuntimeError as e:
        raise ExportError(f"{path}: not a readable TorchScript archive: {str(e).splitlines()[0]}") from None
    for name, data in extra.items():
        if not data:
            raise ExportError(f"{path}: no {name} inside; not an IG-Lens bundle")
    try:
        meta = json.loads(extra["iglens.json"])
        if meta["format_version"] != 1 or meta["architecture"] != "gpt2":
            raise ExportError(f"{path}: iglens.json describes format_version {meta['format_version']!r}, "
                              f"architecture {meta['architecture']!r}; --bundle reads version 1 gpt2 bundles")
        if meta["tokenizer"] != {"vocab": "vocab.json", "merges": "merges.txt"}:
            raise ExportError(f"{path}: iglens.json names tokenizer files {meta['tokenizer']}, "
                              "not vocab.json and merges.txt")
        d_model = int(meta["d_model"])
        state = {name: value.detach().clone() for name, value in old.state_dict().items()}
        inner_key = "transformer.h.0.mlp.c_fc.weight"
        inner = state[inner_key].shape[1] if inner_key in state else 4 * d_model
        cfg = GPT2Config(vocab_size=int(meta["vocab_size"]), n_positions=int(meta["context_length"]),
                         n_embd=d_model, n_layer=int(meta["n_layer"]), n_head=int(meta["n_head"]),
                         n_inner=None if inner == 4 * d_model else inner,
                         layer_norm_epsilon=float(meta["final_norm"]["eps"]))
        source = f"{meta.get('source', 'unknown')}, re-exported from bundle {path}"
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportError(f"{path}: iglens.json is not valid JSON: {e}") from None
    except (KeyError, TypeError) as e:
        raise ExportError(f"{path}: iglens.json lacks or mistypes a field: {e}") from None
    model = GPT2(cfg)
    try:
        load_hf_state_dict(model, state)
    except ValueError as e:
        raise ExportError(f"{path}: {e}") from None
    model.eval()
    # The old bundle's code may predate gpt2.py's current one: the rebuilt model must compute the same.
    ids = torch.tensor([check_ids(json.loads(extra["vocab.json"]), cfg)])
    with torch.no_grad():
        d = _max_diff(model(ids), old(ids))
    if not d <= SCRIPT_TOL:
        raise ExportError(f"{path}: the rebuilt model's logits differ from the bundle's by {d:.3g} (> {SCRIPT_TOL})")
    return Source(model, cfg, extra["vocab.json"], extra["merges.txt"], source)


# --------------------------------------------------------------------------
# Checks and writing


def check_ids(vocab: Dict[str, int], cfg: GPT2Config) -> List[int]:
    """The fixed prompt used by the checks and the golden file (8 tokens)."""
    n = min(8, cfg.n_positions)
    if cfg.vocab_size == 257 and vocab.get(EOT) == 256:
        return list(b"To be or")[:n]  # byte-level vocabulary
    words = ["The", "\u0120quick", "\u0120brown", "\u0120fox", "\u0120jumps", "\u0120over", "\u0120the",
             "\u0120lazy"]
    if all(w in vocab and vocab[w] < cfg.vocab_size for w in words):
        return [vocab[w] for w in words][:n]
    g = torch.Generator().manual_seed(1234)
    return torch.randint(0, cfg.vocab_size, (n,), generator=g).tolist()


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return math.inf
    return (a.double() - b.double()).abs().max().item()


def run_checks(eager: torch.nn.Module, scripted, ids: torch.Tensor, n_layer: int, reference=None) -> None:
    with torch.no_grad():
        want = eager(ids)
        got = scripted(ids)
        d = _max_diff(want, got)
        if not d <= SCRIPT_TOL:
            raise ExportError(f"scripted logits differ from eager logits by {d:.3g} (> {SCRIPT_TOL})")
        rs = scripted.residual_stream(ids)
        expect_shape = (n_layer + 1, ids.shape[0], ids.shape[1], rs.shape[-1])
        if tuple(rs.shape) != expect_shape:
            raise ExportError(f"residual_stream shape {tuple(rs.shape)}, expected {expect_shape}")
        ro = scripted.readout(rs[n_layer].reshape(-1, rs.shape[-1])).reshape(got.shape)
        d = _max_diff(ro, got)
        if not d <= SCRIPT_TOL:
            raise ExportError(f"readout(residual_stream(ids)[L]) differs from forward(ids) by {d:.3g} "
                              f"(> {SCRIPT_TOL})")
        if reference is not None:
            d = _max_diff(reference(ids), want)
            if not d <= HF_TOL:
                raise ExportError(f"our logits differ from transformers' logits by {d:.3g} (> {HF_TOL})")
            print(f"transformers check passed (max |diff| {d:.2g})", file=sys.stderr)


def check_components(eager: GPT2, scripted, ids: torch.Tensor, cfg: GPT2Config) -> None:
    """Scripted components of each sequence of ids against eager, resid_pre against
    residual_stream, and each block's parts against its change of the stream."""
    L, H, d = cfg.n_layer, cfg.n_head, cfg.n_embd
    names = ("resid_pre", "resid_mid", "head_results", "attn_bias", "mlp_out")
    with torch.no_grad():
        for row in range(ids.shape[0]):
            one = ids[row:row + 1]
            S = one.shape[1]
            got = scripted.components(one)
            want = eager.components(one)
            shapes = ((L + 1, S, d), (L, S, d), (L, S, H, d), (L, S, d), (L, S, d))
            for name, part, expected, eager_part in zip(names, got, shapes, want):
                if tuple(part.shape) != expected:
                    raise ExportError(f"components: {name} has shape {tuple(part.shape)}, expected {expected}")
                diff = _max_diff(part, eager_part)
                if not diff <= SCRIPT_TOL:
                    raise ExportError(f"components: scripted {name} differs from eager by {diff:.3g} (> {SCRIPT_TOL})")
            pre, mid, heads, bias, mlp = got
            for what, diff in (
                ("resid_pre differs from residual_stream", _max_diff(pre, scripted.residual_stream(one)[:, 0])),
                ("heads + attn_bias differ from resid_mid - resid_pre", _max_diff(heads.sum(2) + bias, mid - pre[:-1])),
                ("mlp_out differs from the next resid_pre - resid_mid", _max_diff(mlp, pre[1:] - mid)),
            ):
                if not diff <= SCRIPT_TOL:
                    raise ExportError(f"components: {what} by {diff:.3g} (> {SCRIPT_TOL})")


def check_head_reads(eager: GPT2, scripted, ids: torch.Tensor, cfg: GPT2Config) -> None:
    """Scripted head_reads against eager, and each head's write against the sum of what it reads."""
    L, H, d = cfg.n_layer, cfg.n_head, cfg.n_embd
    with torch.no_grad():
        for row in range(ids.shape[0]):
            one = ids[row:row + 1]
            S = one.shape[1]
            pattern, values = scripted.head_reads(one)
            for name, part, expected, eager_part in zip(("attn_pattern", "head_values"), (pattern, values),
                                                        ((L, H, S, S), (L, S, H, d)), eager.head_reads(one)):
                if tuple(part.shape) != expected:
                    raise ExportError(f"head_reads: {name} has shape {tuple(part.shape)}, expected {expected}")
                diff = _max_diff(part, eager_part)
                if not diff <= SCRIPT_TOL:
                    raise ExportError(f"head_reads: scripted {name} differs from eager by {diff:.3g} (> {SCRIPT_TOL})")
            read = torch.einsum("lhij,ljhd->lihd", [pattern, values])
            diff = _max_diff(read, scripted.components(one)[2])
            if not diff <= SCRIPT_TOL:
                raise ExportError(f"head_reads: what the heads read differs from their writes by {diff:.3g} "
                                  f"(> {SCRIPT_TOL})")


def unembedding_name(eager: GPT2, scripted) -> str:
    names = dict(scripted.named_parameters())
    if "lm_head.weight" in names:
        return "lm_head.weight"
    if eager.lm_head.weight is eager.transformer.wte.weight and "transformer.wte.weight" in names:
        return "transformer.wte.weight"
    raise ExportError("cannot name the unembedding parameter of the scripted module")


def describe(cfg: GPT2Config, vocab: Dict[str, int], source: str, unembedding: str) -> Dict:
    if EOT not in vocab:
        raise ExportError(f"vocab.json has no {EOT} token")
    return {
        "format_version": 1,
        "architecture": "gpt2",
        "n_layer": cfg.n_layer,
        "d_model": cfg.n_embd,
        "n_head": cfg.n_head,
        "vocab_size": cfg.vocab_size,
        "context_length": cfg.n_positions,
        "final_norm": {"kind": "layernorm", "eps": cfg.layer_norm_epsilon,
                       "weight": "transformer.ln_f.weight", "bias": "transformer.ln_f.bias"},
        "unembedding": {"weight": unembedding, "bias": None},
        "special_tokens": {EOT: vocab[EOT]},
        "tokenizer": {"vocab": "vocab.json", "merges": "merges.txt"},
        "source": source,
        "methods": list(METHODS),
    }


def _verify_saved(path: str, meta: Dict, ids: torch.Tensor, want: torch.Tensor) -> None:
    extra = {name: "" for name in BUNDLE_FILES}
    loaded = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    if json.loads(extra["iglens.json"]) != meta:
        raise ExportError("iglens.json read back from the bundle differs from what was written")
    for method in meta["methods"]:
        if not hasattr(loaded, method):
            raise ExportError(f"method {method!r} listed in iglens.json is not in the saved module")
    params = dict(loaded.named_parameters())
    for name in (meta["final_norm"]["weight"], meta["final_norm"]["bias"], meta["unembedding"]["weight"]):
        if name not in params:
            raise ExportError(f"parameter {name!r} named in iglens.json is not in the saved module")
    with torch.no_grad():
        d = _max_diff(loaded(ids), want)
    if not d <= SCRIPT_TOL:
        raise ExportError(f"the reloaded bundle's logits differ by {d:.3g}")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def export_bundle(model: GPT2, cfg: GPT2Config, vocab_json: bytes, merges_txt: bytes, source: str,
                  out: str, golden: Optional[str] = None, reference=None) -> Dict:
    """Check, script and save ``model``; return the iglens.json dict. Writes nothing on failure."""
    model = model.eval()
    try:
        vocab = json.loads(vocab_json)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportError(f"vocab.json is not valid JSON: {e}") from None
    if max(vocab.values()) >= cfg.vocab_size:
        raise ExportError(f"vocab.json has ids up to {max(vocab.values())} but the model has "
                          f"{cfg.vocab_size} embeddings")
    prompt = check_ids(vocab, cfg)
    ids = torch.tensor([prompt, prompt[::-1]], dtype=torch.long)
    scripted = torch.jit.script(model)
    run_checks(model, scripted, ids, cfg.n_layer, reference)
    check_components(model, scripted, ids, cfg)
    check_head_reads(model, scripted, ids, cfg)
    meta = describe(cfg, vocab, source, unembedding_name(model, scripted))

    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Save under the final file name (torch.jit.save names the archive's root
    # folder after it) in a temporary folder beside the target, then rename.
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.tmp-", dir=out_path.parent))
    tmp = tmp_dir / out_path.name
    extra = {"iglens.json": json.dumps(meta, indent=2) + "\n", "vocab.json": vocab_json,
             "merges.txt": merges_txt}
    try:
        torch.jit.save(scripted, str(tmp), _extra_files=extra)
        with torch.no_grad():
            want = model(ids)
        _verify_saved(str(tmp), meta, ids, want)
        if golden is not None:
            one = ids[:1]
            with torch.no_grad():
                logits = scripted(one)[0]
                rs = scripted.residual_stream(one)[:, 0]
            blob = {"prompt_ids": prompt, "logits": logits.tolist(), "residual_stream": rs.tolist()}
            _atomic_write_bytes(Path(golden), json.dumps(blob).encode("utf-8"))
        os.replace(tmp, out_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return meta


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--hf", metavar="NAME_OR_PATH", help="Hugging Face GPT-2 folder (or hub name with transformers)")
    src.add_argument("--random-config", choices=sorted(RANDOM_CONFIGS), help="seeded random GPT-2")
    src.add_argument("--checkpoint", metavar="FILE", help="checkpoint from train_demo_gpt2.py")
    src.add_argument("--bundle", metavar="FILE.pt", help="existing bundle to export again with the current code")
    p.add_argument("-o", "--out", required=True, metavar="FILE.pt", help="bundle to write")
    p.add_argument("--golden", metavar="FILE.json", help="also write logits and residual stream of a fixed prompt")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-config (default: %(default)s)")
    p.add_argument("--vocab", metavar="FILE", help="vocab.json / encoder.json for --random-config")
    p.add_argument("--merges", metavar="FILE", help="merges.txt / vocab.bpe for --random-config")
    p.add_argument("--n-layer", type=int, help="override for --random-config")
    p.add_argument("--d-model", type=int, help="override for --random-config")
    p.add_argument("--n-head", type=int, help="override for --random-config")
    p.add_argument("--context", type=int, help="override for --random-config")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = p.parse_args(argv)
    overrides = (args.n_layer, args.d_model, args.n_head, args.context)
    if args.random_config is None and any(v is not None for v in overrides):
        p.error("--n-layer/--d-model/--n-head/--context apply to --random-config only")
    if args.random_config is None and (args.vocab or args.merges):
        p.error("--vocab/--merges apply to --random-config only")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if args.hf:
            src = from_hf(args.hf)
        elif args.random_config:
            src = from_random(args.random_config, args.seed, args.vocab, args.merges,
                              {"n_layer": args.n_layer, "n_embd": args.d_model, "n_head": args.n_head,
                               "n_positions": args.context})
        elif args.bundle:
            src = from_bundle(args.bundle)
        else:
            src = from_checkpoint(args.checkpoint)
        meta = export_bundle(src.model, src.cfg, src.vocab_json, src.merges_txt, src.source, args.out,
                             args.golden, src.reference)
    except (ExportError, safetensors_io.SafetensorsError, OSError, ValueError) as e:
        print(f"export_gpt2: error: {e}", file=sys.stderr)
        print("export_gpt2: nothing written", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {meta['source']}, {meta['n_layer']} layers, d_model {meta['d_model']}, "
          f"vocab {meta['vocab_size']}, context {meta['context_length']}")
    if args.golden:
        print(f"wrote {args.golden}")
    return 0

