"""IG-Lens from Python: between which layers, through which components and
from which earlier tokens is the probability of a predicted token produced?

    import iglens
    model = iglens.load("SmolLM2-135M-Instruct.Q4_1.gguf")
    result = model.attribute("The capital of France is", target=" Paris", k=6)
    result.ig          # torch tensor [T, K]: each chosen layer's credit, rows sum to result.delta

The numbers come from the C++ library (the same code as the `iglens`
program, run with the GIL released; Ctrl-C stops a run). Every problem
raises iglens.Error, a ValueError, with the program's one-line message.
"""

import json
import os
import tempfile
import warnings

import torch  # noqa: F401  (loads LibTorch before the extension that links it)

from . import _blas, _core
from ._core import Error

_blas_advice = _blas.advice()
if _blas_advice:
    warnings.warn(_blas_advice, RuntimeWarning, stacklevel=2)

__all__ = ["Error", "Model", "Result", "Map", "NormHead", "Targets", "load", "attribute"]


def _settings(**values):
    settings = _core.AttributeSettings()
    for name, value in values.items():
        if value is not None:
            setattr(settings, name, value)
    return settings


def _layer_choice(layers, k):
    return {"layers": None if layers is None else [int(layer) for layer in layers], "k": k}


def _write_atomically(path, text):
    """Writes `text` to `path` through a temporary file beside it, so that an
    existing file is replaced whole or not at all."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class Result:
    """One prompt's map: T attributed answer tokens by K chosen layers.

    Tensors (the run's dtype; ids int64): ig and lens [T, K], f_final,
    f_baseline and delta [T], onset [T] (-1 where a row has no |IG| mass),
    positions and target_ids [T], foil_ids [T] with a foil; with
    components, component_credits [T, P] ordered like component_labels;
    with sources, source_credits [T, n_layer, n_head, S] (position s of
    the sequence; later positions than a token's own hold 0).
    """

    def __init__(self, report):
        self._report = report
        for name, tensor in report.arrays().items():
            setattr(self, name, tensor)
        if not hasattr(self, "foil_ids"):
            self.foil_ids = None
        if not hasattr(self, "component_credits"):
            self.component_credits = None
        if not hasattr(self, "source_credits"):
            self.source_credits = None
        self.layers = report.layers
        self.targets = report.targets
        self.prompt = report.prompt
        self.prompt_ids = report.prompt_ids
        self.mode = report.mode
        self.stopped = report.stopped or None
        self.stop_id = report.stop_id
        self.dtype = report.dtype
        self.completeness_max_abs = report.completeness_max_abs
        self.component_labels = report.component_labels
        self.source_tokens = report.source_tokens

    def to_json(self):
        """The program's JSON (`iglens attribute --format json`) as text."""
        return self._report.to_json()

    def to_dict(self):
        return json.loads(self.to_json())

    def to_table(self):
        return self._report.to_table()

    def __str__(self):
        return self.to_table()

    def to_csv(self):
        return self._report.to_csv()

    def to_svg(self, path):
        """Writes the heatmap (and with components, their panels) as SVG."""
        _write_atomically(path, self._report.to_svg())

    def to_html(self, path):
        """Writes the self-contained interactive report."""
        _write_atomically(path, self._report.to_html())

    def to_pandas(self):
        """A long table: one row per (token, layer) with ig and lens; needs pandas."""
        try:
            import pandas
        except ImportError as missing:
            raise ImportError("Result.to_pandas needs pandas: pip install pandas") from missing
        rows = []
        for t, target in enumerate(self.targets):
            for k, layer in enumerate(self.layers):
                rows.append({"position": int(self.positions[t]), "target_id": int(self.target_ids[t]),
                             "target": target, "layer": layer, "ig": float(self.ig[t, k]),
                             "lens": float(self.lens[t, k])})
        return pandas.DataFrame(rows)


class Model:
    """A model file loaded once: a GGUF file, a Hugging Face folder or a bundle."""

    def __init__(self, core):
        self._core = core

    @property
    def path(self):
        return self._core.path

    @property
    def info(self):
        """What `iglens info` prints: format, family, sizes, tokenizer."""
        return json.loads(self._core.info)

    def tokenize(self, text, chat=False, system=None, chat_template=None, special_tokens=False, bos=False):
        """The prompt's token ids as attribute() reads them: a dict with
        `ids`, `tokens` and `text` (with chat, the rendered template)."""
        return self._core.tokenize(_settings(prompt=text, chat=chat, system=system,
                                             chat_template=None if chat_template is None else os.fspath(chat_template),
                                             special_tokens=special_tokens, bos=bos))

    def attribute(self, prompt, target=None, generate=None, chat=False, layers=None, k=None,
                  baseline="causal-mean", estimator="observed-delta", steps=64, objective="prob", foil=None,
                  dtype="float32", components=False, sources=False, top_sources=None, stop=(), system=None,
                  chat_template=None, special_tokens=False, bos=False, onset_fraction=0.5, device="cpu"):
        """The map of each answer token: `target` teacher-forced, else the
        model's greedy answer of at most `generate` tokens (8; 80 for a
        chat), which stops at the model's end tokens and `stop`. The
        arguments are `iglens attribute`'s options."""
        uses_chat = chat or system is not None or chat_template is not None
        if generate is None:
            generate = 80 if uses_chat else 8
        return Result(self._core.attribute(_settings(
            prompt=prompt, target=target, generate=generate, chat=chat, baseline=baseline,
            estimator=estimator, steps=steps, objective=objective, foil=foil, dtype=dtype,
            components=components, sources=sources, top_sources=top_sources,
            stop=[str(token) for token in stop], system=system,
            chat_template=None if chat_template is None else os.fspath(chat_template),
            special_tokens=special_tokens, bos=bos, onset_fraction=onset_fraction, device=device,
            **_layer_choice(layers, k))))


def load(path, weights="float"):
    """Loads a GGUF file, a Hugging Face folder or an IG-Lens bundle.
    weights: "float" converts every weight to float32 as it loads; "stored"
    keeps a GGUF file's or a Hugging Face folder's matrices (layers,
    embedding, head) as the file stores them (quantised or 16-bit) and
    converts each while it is multiplied (`iglens attribute --weights`)."""
    return Model(_core.load(os.fspath(path), weights))


class NormHead:
    """A final norm and unembedding given as tensors: logits =
    softcap(unembedding @ norm(h) + head_bias). kind is "layernorm" or
    "rmsnorm"; weight is the norm's gain as the model applies it (for
    Gemma's (1 + w), pass 1 + w)."""

    def __init__(self, kind, weight, unembedding, bias=None, eps=1e-5, head_bias=None, softcap=0.0):
        self._core = _core.NormHead(kind, weight.detach(), unembedding.detach(),
                                    None if bias is None else bias.detach(), float(eps),
                                    None if head_bias is None else head_bias.detach(), float(softcap))


class Targets:
    """Which positions are read, and for which token: position i's
    next-token prediction of ids[j]; foils for objective prob-diff."""

    def __init__(self, positions, ids, foils=None):
        as_list = lambda values: [int(v) for v in (values.tolist() if torch.is_tensor(values) else values)]
        self._core = _core.Targets(as_list(positions), as_list(ids), as_list(foils) if foils is not None else [])

    @classmethod
    def next_tokens(cls, ids, first=0):
        """Teacher forcing over a sequence: position i reads ids[i + 1], from `first` on."""
        targets = cls.__new__(cls)
        targets._core = _core.Targets.next_tokens([int(i) for i in (ids.tolist() if torch.is_tensor(ids) else ids)],
                                                  int(first))
        return targets

Map = _core.Attribution


def attribute(residual, targets, norm_head, layers=None, k=None, baseline="causal-mean",
              estimator="observed-delta", steps=64, objective="prob", dtype=None, onset_fraction=0.5):
    """The layer map of a residual stream you already have: residual is
    [L+1, S, d] (the embeddings, then each block's output, the last one
    before the final norm), read through norm_head (an iglens.NormHead).
    Returns a Map with ig and lens [T, K], f_final, f_baseline, delta,
    onset and layers. dtype: float32 or float64 (default: float64 for a
    float64 residual, else float32)."""
    if dtype is None:
        dtype = "float64" if residual.dtype == torch.float64 else "float32"
    return _core.attribute(residual.detach(), targets._core, norm_head._core, _settings(
        baseline=baseline, estimator=estimator, steps=steps, objective=objective, dtype=dtype,
        onset_fraction=onset_fraction, **_layer_choice(layers, k)))
