#!/usr/bin/python3
"""Writes a bundle as the exporter wrote them before the components method:
the GPT-2 module without `components` (nor the later `head_reads`) and an
iglens.json without "methods".
The tests re-export such a bundle (--bundle) and check that IG-Lens asks for
that when components are wanted from it.

usage: write_old_style_bundle.py -o OLD.pt [--seed N]   (a seeded tiny random GPT-2)
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from iglens_gpt2 import export as export_gpt2  # noqa: E402
from iglens_gpt2.gpt2 import GPT2, GPT2Config  # noqa: E402


class WithoutComponents(GPT2):
    """GPT2 whose scripted module has no `components`: ignored methods are not compiled."""

    @torch.jit.ignore
    def components(self, ids: Tensor):
        raise NotImplementedError("bundles written before component attribution have no components")

    @torch.jit.ignore
    def head_reads(self, ids: Tensor):
        raise NotImplementedError("bundles written before component attribution have no head_reads")


def write_old_style_bundle(model: GPT2, cfg: GPT2Config, path: str, source: str) -> None:
    """Saves the weights of `model` as an old-style bundle (byte-level tokenizer)."""
    old = WithoutComponents(cfg)
    old.load_state_dict(model.state_dict())
    scripted = torch.jit.script(old.eval())
    vocab_json, merges_txt = export_gpt2.byte_level_tokenizer()
    meta = export_gpt2.describe(cfg, json.loads(vocab_json), source, export_gpt2.unembedding_name(old, scripted))
    del meta["methods"]
    torch.jit.save(scripted, path, _extra_files={"iglens.json": json.dumps(meta, indent=2) + "\n",
                                                  "vocab.json": vocab_json, "merges.txt": merges_txt})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--out", required=True, metavar="OLD.pt")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = GPT2Config(vocab_size=257, **export_gpt2.RANDOM_CONFIGS["tiny"])
    torch.manual_seed(args.seed)
    write_old_style_bundle(GPT2(cfg), cfg, args.out, f"old-style random-config tiny seed {args.seed}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
