"""A self-contained GPT-2 (torch.nn) for IG-Lens.

The parameter names and layouts follow Hugging Face's ``GPT2LMHeadModel`` so a
checkpoint saved by ``transformers`` loads with ``load_state_dict`` after the
non-parameter buffers (``attn.bias``, ``attn.masked_bias``) are dropped:

    transformer.wte.weight            [V, d]
    transformer.wpe.weight            [C, d]
    transformer.h.{i}.ln_1.{weight,bias}
    transformer.h.{i}.attn.c_attn.{weight,bias}   Conv1D, weight [d, 3d]
    transformer.h.{i}.attn.c_proj.{weight,bias}   Conv1D, weight [d, d]
    transformer.h.{i}.ln_2.{weight,bias}
    transformer.h.{i}.mlp.c_fc.{weight,bias}      Conv1D, weight [d, 4d]
    transformer.h.{i}.mlp.c_proj.{weight,bias}    Conv1D, weight [4d, d]
    transformer.ln_f.{weight,bias}
    lm_head.weight                    [V, d], the same Parameter as wte

A Conv1D weight is stored [in, out] (the transpose of nn.Linear): y = x @ W + b.

The model is scriptable with ``torch.jit.script`` and exposes four methods:
``forward`` (logits), ``residual_stream`` (the residual stream at every layer
boundary), ``readout`` (final norm + unembedding of residual vectors) and
``components`` (what each head, attention bias and MLP writes into the
residual stream of one sequence, for component attribution).
"""

import math
from dataclasses import dataclass, asdict
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


@dataclass
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: Optional[int] = None  # None means 4 * n_embd
    layer_norm_epsilon: float = 1e-5
    dropout: float = 0.0  # used for training only; identity in eval mode

    def to_dict(self) -> Dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: Dict) -> "GPT2Config":
        known = GPT2Config.__dataclass_fields__.keys()
        return GPT2Config(**{k: v for k, v in d.items() if k in known})


def gelu_new(x: Tensor) -> Tensor:
    """The tanh approximation of GELU used by GPT-2 ("gelu_new")."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


class Conv1D(nn.Module):
    """GPT-2's linear layer: weight [n_in, n_out], y = x @ weight + bias."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        return torch.matmul(x, self.weight) + self.bias


class Attention(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        if cfg.n_embd % cfg.n_head != 0:
            raise ValueError(f"n_embd {cfg.n_embd} is not divisible by n_head {cfg.n_head}")
        self.n_head = cfg.n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        self.c_attn = Conv1D(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = Conv1D(cfg.n_embd, cfg.n_embd)
        self.attn_dropout = nn.Dropout(cfg.dropout)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def mix(self, x: Tensor) -> Tensor:
        """z [B, S, D]: every head's attention-weighted values, concatenated, before c_proj."""
        return self.attend(x)[0]

    def attend(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """(z [B, S, D] as in ``mix``, the attention pattern [B, H, S, S], the values [B, H, S, hd])."""
        B, S, D = x.shape[0], x.shape[1], x.shape[2]
        qkv = self.c_attn(x)
        q, k, v = qkv.split(D, dim=2)
        # [B, S, D] -> [B, H, S, hd]
        q = q.reshape(B, S, self.n_head, self.head_dim).transpose(1, 2)
        k = k.reshape(B, S, self.n_head, self.head_dim).transpose(1, 2)
        v = v.reshape(B, S, self.n_head, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(float(self.head_dim))
        causal = torch.ones(S, S, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
        probs = self.attn_dropout(torch.softmax(scores, dim=-1))
        return torch.matmul(probs, v).transpose(1, 2).reshape(B, S, D), probs, v

    def project(self, z: Tensor) -> Tensor:
        """The attention output written into the residual stream: c_proj of z."""
        return self.resid_dropout(self.c_proj(z))

    def head_writes(self, z: Tensor) -> Tensor:
        """[B, S, H, D]: head h's slice of z through its rows of c_proj.weight (Conv1D, [in, out]).

        Summed over h and plus c_proj.bias, this is ``project(z)`` (in eval mode).
        """
        B, S = z.shape[0], z.shape[1]
        per_head = z.reshape(B, S, self.n_head, self.head_dim)
        weight = self.c_proj.weight.reshape(self.n_head, self.head_dim, -1)
        return torch.einsum("bshk,hkd->bshd", [per_head, weight])

    def head_values(self, v: Tensor) -> Tensor:
        """[B, S, H, D]: each source's value v [B, H, S, hd] through head h's rows of c_proj.weight.

        Weighted by the attention pattern and summed over sources, this is ``head_writes``.
        """
        weight = self.c_proj.weight.reshape(self.n_head, self.head_dim, -1)
        return torch.einsum("bhsk,hkd->bshd", [v, weight])

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.mix(x))


class MLP(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        inner = cfg.n_inner if cfg.n_inner is not None else 4 * cfg.n_embd
        self.c_fc = Conv1D(cfg.n_embd, inner)
        self.c_proj = Conv1D(inner, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(gelu_new(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)

    def sublayers(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """(z, resid_mid, mlp_out): the attention heads' outputs before c_proj
        (Attention.mix), the stream after attention, and the MLP's write."""
        z = self.attn.mix(self.ln_1(x))
        mid = x + self.attn.project(z)
        return z, mid, self.mlp(self.ln_2(mid))

    def forward(self, x: Tensor) -> Tensor:
        _, mid, mlp_out = self.sublayers(x)
        return mid + mlp_out


class Transformer(nn.Module):
    """The ``transformer`` submodule of GPT2LMHeadModel."""

    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)

    def embed(self, ids: Tensor) -> Tensor:
        S = ids.shape[1]
        pos = torch.arange(S, dtype=torch.long, device=ids.device)
        return self.drop(self.wte(ids) + self.wpe(pos).unsqueeze(0))


class GPT2(nn.Module):
    """GPT-2 language model with HF ``GPT2LMHeadModel`` parameter names."""

    def __init__(self, cfg: GPT2Config):
        super().__init__()
        self.n_layer = cfg.n_layer
        self.n_positions = cfg.n_positions
        self.transformer = Transformer(cfg)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied
        self._init_weights(cfg)

    def _init_weights(self, cfg: GPT2Config) -> None:
        # GPT-2's initialisation: N(0, 0.02), residual projections scaled by
        # 1/sqrt(2 L), zero biases, unit LayerNorm gains.
        nn.init.normal_(self.transformer.wte.weight, std=0.02)
        nn.init.normal_(self.transformer.wpe.weight, std=0.01)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))

    def _check_ids(self, ids: Tensor) -> None:
        if ids.dim() != 2:
            raise ValueError("ids must be a [batch, seq] int64 tensor")
        if ids.shape[1] > self.n_positions:
            raise ValueError("sequence longer than the context length")

    @torch.jit.export
    def residual_stream(self, ids: Tensor) -> Tensor:
        """[L+1, B, S, d]: 0 = embeddings, l = after block l (L = before ln_f)."""
        self._check_ids(ids)
        x = self.transformer.embed(ids)
        states: List[Tensor] = [x]
        for block in self.transformer.h:
            x = block(x)
            states.append(x)
        return torch.stack(states, dim=0)

    @torch.jit.export
    def components(self, ids: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """What every block writes into the residual stream of ids [1, S], in one forward pass:
        (resid_pre [L+1, S, d], resid_mid [L, S, d], head_results [L, S, H, d],
        attn_bias [L, S, d], mlp_out [L, S, d]), TransformerLens' names. Per block,
        heads + bias = resid_mid - resid_pre and mlp_out = next resid_pre - resid_mid
        (up to rounding: the forward pass applies c_proj to all heads at once)."""
        self._check_ids(ids)
        if ids.shape[0] != 1:
            raise ValueError("components: ids must be one sequence [1, S]")
        x = self.transformer.embed(ids)
        pre: List[Tensor] = [x[0]]
        mid: List[Tensor] = []
        heads: List[Tensor] = []
        bias: List[Tensor] = []
        mlp: List[Tensor] = []
        for block in self.transformer.h:
            z, resid_mid, mlp_out = block.sublayers(x)
            heads.append(block.attn.head_writes(z)[0])
            bias.append(block.attn.c_proj.bias.expand(x.shape[1], x.shape[2]))
            mid.append(resid_mid[0])
            mlp.append(mlp_out[0])
            x = resid_mid + mlp_out
            pre.append(x[0])
        return (torch.stack(pre), torch.stack(mid), torch.stack(heads), torch.stack(bias), torch.stack(mlp))

    @torch.jit.export
    def head_reads(self, ids: Tensor) -> Tuple[Tensor, Tensor]:
        """What every head reads, for the split by source position, for ids [1, S]:
        (attn_pattern [L, H, S, S], head_values [L, S, H, d]), so that
        head_results[l, i, h] = sum_j attn_pattern[l, h, i, j] * head_values[l, j, h]."""
        self._check_ids(ids)
        if ids.shape[0] != 1:
            raise ValueError("head_reads: ids must be one sequence [1, S]")
        x = self.transformer.embed(ids)
        patterns: List[Tensor] = []
        values: List[Tensor] = []
        for block in self.transformer.h:
            _, probs, v = block.attn.attend(block.ln_1(x))
            patterns.append(probs[0])
            values.append(block.attn.head_values(v)[0])
            x = block(x)
        return torch.stack(patterns), torch.stack(values)

    @torch.jit.export
    def readout(self, h: Tensor) -> Tensor:
        """Logits of residual vectors: lm_head(ln_f(h)), h [..., d] -> [..., V]."""
        return self.lm_head(self.transformer.ln_f(h))

    def forward(self, ids: Tensor) -> Tensor:
        """Logits [B, S, V] for int64 ids [B, S]."""
        self._check_ids(ids)
        x = self.transformer.embed(ids)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


HF_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")


def clean_hf_state_dict(sd: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Map a GPT-2 state dict as saved by HF onto our names.

    Drops the attention mask buffers, accepts checkpoints saved from the bare
    ``GPT2Model`` (no ``transformer.`` prefix) and fills a missing tied
    ``lm_head.weight`` from ``wte``.
    """
    out: Dict[str, Tensor] = {}
    for k, v in sd.items():
        if k.endswith(HF_IGNORED_SUFFIXES):
            continue
        if not (k.startswith("transformer.") or k.startswith("lm_head.")):
            k = "transformer." + k
        out[k] = v
    if "lm_head.weight" not in out and "transformer.wte.weight" in out:
        out["lm_head.weight"] = out["transformer.wte.weight"]
    return out


def load_hf_state_dict(model: GPT2, sd: Dict[str, Tensor]) -> None:
    """Load an HF GPT-2 state dict strictly (after ``clean_hf_state_dict``)."""
    sd = clean_hf_state_dict(sd)
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        raise ValueError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"{k}: shape {tuple(v.shape)} in checkpoint, {tuple(own[k].shape)} in model")
    tied = sd["lm_head.weight"]
    if tied is not sd["transformer.wte.weight"] and not torch.equal(
        tied.float(), sd["transformer.wte.weight"].float()
    ):
        raise ValueError("lm_head.weight differs from transformer.wte.weight; untied heads are not supported")
    with torch.no_grad():
        for k, v in sd.items():
            own[k].copy_(v.to(own[k].dtype))
