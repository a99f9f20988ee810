#!/usr/bin/env python3
"""IG-Lens' component attribution next to TransformerLens' direct logit
attribution (DLA), head by head, on a GPT-2 bundle (the demo model by default).

TransformerLens is an independent implementation: it gets the bundle's weights
(Hugging Face GPT-2 names, Conv1D [in, out]) through its own
`convert_gpt2_weights`, and its logits must equal the bundle's TorchScript
`forward` (asserted, float32 to 1e-4). Per attributed token (position i,
target y) it computes

  DLA_c = <LN_final-scaled(c at i), W_U[:, y]>    (cache.stack_head_results /
          decompose_resid with apply_ln=True, dotted with
          model.tokens_to_residual_directions(y); the final norm's weight is
          folded into W_U)

for every head, and the IG-Lens program gives each head's share of the change
in p_y (`iglens attribute --components --format json`). The table shows both,
their ranks among the heads, and Spearman's rank correlation over the heads.

Run with the reference environment's Python (scripts/python-env.sh):

  venv=$(bash scripts/python-env.sh)
  "$venv/bin/python" scripts/compare_transformer_lens.py [--program build/apps/iglens]

Exit status 1 if TransformerLens' logits differ from the bundle's, the DLA
parts do not add up to the logit, or a correlation is not a finite number;
2 if the program cannot run.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_MODEL = os.path.join(ROOT, "models", "demo-shakespeare.pt")
DEMO_PROMPT = "ROMEO: But soft, what light through yonder window"  # scripts/demo.sh
LOGIT_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10}  # TransformerLens vs the bundle
CLOSURE_TOLERANCE = {torch.float32: 1e-3, torch.float64: 1e-9}  # sum of DLA parts + b_U[y] vs the logit


def default_program():
    return os.environ.get("IGLENS_PROGRAM", os.path.join(ROOT, "build", "examples", "iglens"))


# --- the bundle in TransformerLens -------------------------------------------------------------

def load_bundle(path):
    """The TorchScript module and its iglens.json config."""
    extra = {"iglens.json": ""}
    module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    module.eval()
    config = json.loads(extra["iglens.json"])
    if config.get("architecture") != "gpt2":
        raise SystemExit(f"{path}: architecture {config.get('architecture')!r}, only gpt2 bundles are supported")
    return module, config


class _Namespace:
    """Attribute access into a flat state dict (transformer.h.0.attn.c_attn.weight), the
    shape `convert_gpt2_weights` reads from a Hugging Face GPT2LMHeadModel."""

    def __init__(self, state, prefix=""):
        self._state, self._prefix = state, prefix

    def __getattr__(self, name):
        key = self._prefix + name
        if key in self._state:
            return self._state[key]
        if not any(k.startswith(key + ".") for k in self._state):
            raise AttributeError(key)
        return _Namespace(self._state, key + ".")

    def __getitem__(self, index):
        return getattr(self, str(index))


def hooked_transformer(module, config, dtype=torch.float32):
    """A TransformerLens HookedTransformer with the bundle's weights.

    The final LayerNorm's weight and bias are folded into W_U / b_U (so that
    tokens_to_residual_directions is the true direction for DLA); nothing else
    is changed: no centring of writing weights or of W_U, and no folding of the
    value biases into b_O, so the residual stream, each head's result z_h W_O^h
    and the output bias b_O are the same vectors IG-Lens splits a block into.
    """
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights

    d_model, n_head = config["d_model"], config["n_head"]
    state = {k: v.detach().to(dtype) for k, v in module.state_dict().items()}
    d_mlp = state["transformer.h.0.mlp.c_fc.weight"].shape[1]
    cfg = HookedTransformerConfig(
        n_layers=config["n_layer"], d_model=d_model, n_ctx=config["context_length"], n_heads=n_head,
        d_head=d_model // n_head, d_mlp=d_mlp, d_vocab=config["vocab_size"], act_fn="gelu_new",
        normalization_type="LNPre",  # LN, with its weights folded into the next linear maps
        eps=config["final_norm"]["eps"], positional_embedding_type="standard", dtype=dtype, device="cpu",
        default_prepend_bos=False)
    cfg.use_attn_result = True
    model = HookedTransformer(cfg)
    converted = convert_gpt2_weights(_Namespace(state), cfg)
    converted = {k: v.contiguous() for k, v in converted.items()}
    expected = set(converted)
    model.load_and_process_state_dict(converted, fold_ln=True, center_writing_weights=False,
                                      center_unembed=False, fold_value_biases=False)
    # load_and_process_state_dict loads with strict=False: make sure every weight arrived.
    loaded = dict(model.state_dict())
    for key in ("embed.W_E", "pos_embed.W_pos", "unembed.W_U", f"blocks.{cfg.n_layers - 1}.mlp.W_out"):
        if key not in expected or key not in loaded:
            raise SystemExit(f"TransformerLens state dict lacks {key}")
    model.eval()
    return model


def logit_difference(module, model, ids):
    """max |TransformerLens logits - bundle forward| on ids [1, S]."""
    dtype = model.cfg.dtype
    with torch.no_grad():
        bundle = module.to(dtype)(ids)
        module.to(torch.float32)
        lens = model(ids, return_type="logits")
    return (bundle - lens).abs().max().item()


# --- the two attributions ----------------------------------------------------------------------

def direct_logit_attribution(model, cache, position, target):
    """DLA of every component for the logit of `target` at `position`: labels in IG-Lens'
    names ("embedding", "l.attn.head h", "l.attn.bias", "l.mlp") and values [C]."""
    direction = model.tokens_to_residual_directions(int(target))  # W_U[:, y], ln_final.w folded in
    heads, head_labels = cache.stack_head_results(layer=-1, pos_slice=position, apply_ln=True,
                                                  return_labels=True)
    parts, part_labels = cache.decompose_resid(layer=-1, pos_slice=position, apply_ln=True,
                                               return_labels=True)
    head_dla = (heads[:, 0] @ direction).tolist()
    part_dla = dict(zip(part_labels, (parts[:, 0] @ direction).tolist()))
    values = {"embedding": part_dla["embed"] + part_dla["pos_embed"]}
    H = model.cfg.n_heads
    for l in range(model.cfg.n_layers):
        for h in range(H):
            assert head_labels[l * H + h] == f"L{l}H{h}"
            values[f"{l}.attn.head {h}"] = head_dla[l * H + h]
        # attn_out = sum of heads + b_O: the bias is what the heads leave of attn_out.
        values[f"{l}.attn.bias"] = part_dla[f"{l}_attn_out"] - sum(head_dla[l * H:(l + 1) * H])
        values[f"{l}.mlp"] = part_dla[f"{l}_mlp_out"]
    return values


def run_iglens(program, model_path, *args, timeout=600):
    """`iglens attribute --components --format json` output (parsed)."""
    command = [program, "attribute", "--model", model_path, "--components", "--format", "json", *args]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout)
    except OSError as error:
        print(f"cannot run {program}: {error}", file=sys.stderr)
        sys.exit(2)
    if done.returncode != 0:
        print(f"{' '.join(command)}\nexited {done.returncode}:\n{done.stderr.decode('utf-8', 'replace')}",
              file=sys.stderr)
        sys.exit(2)
    return json.loads(done.stdout)


def sequence_ids(report):
    """The ids the attributed tokens were read from: the prompt and every attributed token but
    the last (generated greedily or given by --target; both are teacher-forced here)."""
    ids = list(report["prompt_ids"])
    for token in report["tokens"][:-1]:
        ids.append(token["target_id"])
    return ids


# --- ranks -------------------------------------------------------------------------------------

def ranks(values):
    """Ranks 1..n, largest value first; ties get their mean rank."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    result = np.empty(len(values))
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[order[j + 1]] == values[order[i]]:
            j += 1
        result[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return result


def spearman(a, b):
    """Spearman's rank correlation (Pearson's of the ranks); NaN if either is constant."""
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum()) / denominator if denominator > 0 else float("nan")


# --- report ------------------------------------------------------------------------------------

def shown(text):
    return json.dumps(text, ensure_ascii=False)


def compare(model, report, top=None, out=sys.stdout):
    """Per token: the head table and Spearman's rank correlation. Returns the correlations."""
    labels = report["components"]["labels"]
    ids = torch.tensor([sequence_ids(report)])
    with torch.no_grad():
        logits, cache = model.run_with_cache(ids)
    heads = [label for label in labels if ".attn.head " in label]
    correlations, closure = [], 0.0
    for token in report["tokens"]:
        credits = dict(zip(labels, token["component_credits"]))
        dla = direct_logit_attribution(model, cache, token["position"], token["target_id"])
        # DLA is exact in logit space: its parts and b_U[y] add up to the logit.
        logit_y = logits[0, token["position"], token["target_id"]].item()
        closure = max(closure, abs(sum(dla.values()) + model.b_U[token["target_id"]].item() - logit_y))
        ig = [credits[h] for h in heads]
        logit = [dla[h] for h in heads]
        rank_ig, rank_dla = ranks(ig), ranks(logit)
        rho = spearman(logit, ig)
        correlations.append(rho)
        print(f"\nposition {token['position']}  target {shown(token['target'])}  "
              f"p = {token['f_final']:.4f}  Δp from the baseline = {token['delta']:+.4f}  "
              f"Spearman over {len(heads)} heads = {rho:+.3f}", file=out)
        print(f"  {'head':<14}{'DLA (logit)':>12}{'rank':>6}{'IG-Lens (prob)':>16}{'rank':>6}", file=out)
        order = np.argsort(rank_ig, kind="stable")
        for n, k in enumerate(order):
            if top is not None and n >= top:
                break
            sign = "" if (logit[k] > 0) == (ig[k] > 0) or logit[k] == 0 or ig[k] == 0 else "  sign differs"
            print(f"  {heads[k]:<14}{logit[k]:>+12.4f}{rank_dla[k]:>6.0f}{ig[k]:>+16.4f}{rank_ig[k]:>6.0f}{sign}",
                  file=out)
        others = [(label, dla[label], credits[label]) for label in labels if ".attn.head " not in label]
        print("  embedding and MLPs, DLA / IG-Lens: " +
              ", ".join(f"{label} {d:+.3f} / {c:+.4f}" for label, d, c in others
                        if label == "embedding" or label.endswith(".mlp")), file=out)
        differs = [heads[k] for k in range(len(heads))
                   if logit[k] != 0 and ig[k] != 0 and (logit[k] > 0) != (ig[k] > 0)]
        gap = np.abs(rank_dla - rank_ig)
        worst = [f"{heads[k]} ({rank_dla[k]:.0f} vs {rank_ig[k]:.0f})"
                 for k in np.argsort(-gap, kind="stable")[:3] if gap[k] > 0]
        print(f"  sign differs: {', '.join(differs) or 'none'};  largest rank gaps (DLA vs IG-Lens): "
              f"{', '.join(worst) or 'none'}", file=out)
    return correlations, closure


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--program", default=default_program(), help="the iglens program")
    parser.add_argument("--model", default=DEMO_MODEL, help="a GPT-2 bundle (*.pt)")
    parser.add_argument("--prompt", default=DEMO_PROMPT)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--generate", type=int, default=12, help="greedy tokens to attribute")
    group.add_argument("--target", help="attribute this continuation instead")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--top", type=int, help="show only the N heads IG-Lens ranks highest per token")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    module, config = load_bundle(args.model)
    model = hooked_transformer(module, config, dtype)
    continuation = ["--target", args.target] if args.target is not None else ["--generate", str(args.generate)]
    report = run_iglens(args.program, args.model, args.prompt, *continuation, "--steps", str(args.steps),
                        "--dtype", args.dtype, "--threads", str(args.threads))
    components = report["components"]
    ids = torch.tensor([sequence_ids(report)])
    difference = logit_difference(module, model, ids)
    print(f"model {args.model}: {config['n_layer']} layers x {config['n_head']} heads, d_model {config['d_model']}, "
          f"{args.dtype}")
    print(f"TransformerLens logits vs the bundle's forward on {ids.shape[1]} tokens: max |diff| = {difference:.3e}")
    print(f"IG-Lens: estimator {components['estimator']}, {components['steps']} steps, baseline "
          f"{report['baseline']}; DLA in logits (final norm scale frozen), IG-Lens in probability")
    failures = []
    if not difference < LOGIT_TOLERANCE[dtype]:
        failures.append(f"TransformerLens' logits differ from the bundle's by {difference:.3e} "
                        f"(tolerance {LOGIT_TOLERANCE[dtype]:g})")
    correlations, closure = compare(model, report, args.top)
    print(f"\nDLA parts + b_U[y] vs the logit: max |diff| = {closure:.3e}")
    if not closure < CLOSURE_TOLERANCE[dtype]:
        failures.append(f"DLA parts do not add up to the logit: max |diff| {closure:.3e}")
    finite = [rho for rho in correlations if math.isfinite(rho)]
    if len(finite) != len(correlations):
        failures.append(f"{len(correlations) - len(finite)} rank correlation(s) are not finite numbers")
    if finite:
        print(f"\nSpearman rank correlation over heads, DLA vs IG-Lens: mean {np.mean(finite):+.3f}, "
              f"median {np.median(finite):+.3f}, min {min(finite):+.3f}, max {max(finite):+.3f} "
              f"({len(finite)} tokens)")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
