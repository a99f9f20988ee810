"""The Python package against the `iglens` program: the same numbers, bit for
bit in float64, on the same inputs; the same one-line errors; outputs;
Ctrl-C; the README's Python examples. Run by scripts/test-python-binding.sh
against Debian's torch 1.13 and PyPI's torch 2.9.1."""

import json
import math
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

import iglens

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROGRAM = os.environ["IGLENS_PROGRAM"]
DEMO = os.environ["IGLENS_DEMO_MODEL"]
SMOLLM2 = os.environ.get("IGLENS_SMOLLM2_GGUF")
# SmolLM2's weights as a Hugging Face folder (hf/, written by transformers from the GGUF file, with
# tokenizer_config.json in hf_tokenizer/) and its tokenizer.json from the `tokenizers` library.
SMOLLM2_REFERENCE = os.environ.get("IGLENS_SMOLLM2_REFERENCE")
SMOLLM2_TOKENIZER_JSON = os.environ.get("IGLENS_SMOLLM2_TOKENIZER_JSON")
needs_smollm2 = pytest.mark.skipif(not SMOLLM2 or not os.path.exists(SMOLLM2), reason="IGLENS_SMOLLM2_GGUF not set")
needs_folder = pytest.mark.skipif(not SMOLLM2_REFERENCE or not os.path.isdir(SMOLLM2_REFERENCE)
                                  or not SMOLLM2_TOKENIZER_JSON or not os.path.isfile(SMOLLM2_TOKENIZER_JSON),
                                  reason="IGLENS_SMOLLM2_REFERENCE not set")

torch.set_num_threads(1)  # the program runs with --threads 1: the same sums in the same order


def program(*args):
    threads = ["--threads", "1"] if args[0] == "attribute" else []
    done = subprocess.run([PROGRAM, *args, *threads], capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout, done.stderr


def program_json(model, prompt, *args):
    code, out, err = program("attribute", "--model", model, prompt, *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def program_error(*args):
    code, _, err = program(*args)
    assert code != 0
    line = err.strip().splitlines()[-1]
    assert line.startswith("iglens: error: "), err
    return line[len("iglens: error: "):]


@pytest.fixture(scope="session")
def smollm2_folder(tmp_path_factory):
    """One folder with SmolLM2's weights and tokenizer, as users have it."""
    folder = tmp_path_factory.mktemp("SmolLM2-135M-Instruct")
    for part, name in [("hf", "config.json"), ("hf", "model.safetensors"), ("hf_tokenizer", "tokenizer_config.json"),
                       ("hf_tokenizer", "special_tokens_map.json")]:
        (folder / name).symlink_to(os.path.join(SMOLLM2_REFERENCE, part, name))
    (folder / "tokenizer.json").symlink_to(SMOLLM2_TOKENIZER_JSON)
    return str(folder)


@pytest.fixture(scope="module")
def demo():
    return iglens.load(DEMO)


def assert_same_map(result, expected):
    """Every number of the program's JSON, exactly, against the result's tensors."""
    assert result.layers == expected["layers"]
    assert result.prompt_ids == expected["prompt_ids"]
    assert result.stopped == expected["stopped"]
    rows = expected["tokens"]
    assert result.positions.tolist() == [row["position"] for row in rows]
    assert result.target_ids.tolist() == [row["target_id"] for row in rows]
    assert result.targets == [row["target"] for row in rows]
    assert result.ig.tolist() == [row["ig"] for row in rows]
    assert result.lens.tolist() == [row["lens"] for row in rows]
    for name in ("f_final", "f_baseline", "delta"):
        assert getattr(result, name).tolist() == [row[name] for row in rows], name
    assert result.onset.tolist() == [-1 if row["onset_layer"] is None else row["onset_layer"] for row in rows]
    assert result.completeness_max_abs == expected["completeness_max_abs"]
    assert json.loads(result.to_json()) == expected


def test_layer_map_equals_the_program_bit_for_bit_in_float64(demo):
    result = demo.attribute("ROMEO:\nWhat", target=" say you", k=4, dtype="float64")
    expected = program_json(DEMO, "ROMEO:\nWhat", "--target", " say you", "--k", "4", "--dtype", "float64")
    assert result.ig.dtype == torch.float64 and tuple(result.ig.shape) == (8, 4)
    assert_same_map(result, expected)
    # Each row telescopes: the credits add up to the change of probability.
    assert (result.ig.sum(1) - result.delta).abs().max().item() < 1e-12


def test_float32_after_float64_is_the_program_float32_run(demo):
    demo.attribute("ROMEO:\nWhat", target=" say", dtype="float64", baseline="zero")
    result = demo.attribute("ROMEO:\nWhat", target=" say", baseline="zero", estimator="midpoint", steps=16)
    expected = program_json(DEMO, "ROMEO:\nWhat", "--target", " say", "--baseline", "zero", "--estimator",
                            "midpoint", "--steps", "16")
    assert result.ig.dtype == torch.float32
    assert_same_map(result, expected)


def test_generation_and_components_and_sources_equal_the_program(demo):
    result = demo.attribute("JULIET:\nO Romeo", generate=3, dtype="float64", sources=True, components=True,
                            baseline="zero")
    expected = program_json(DEMO, "JULIET:\nO Romeo", "--generate", "3", "--dtype", "float64", "--sources",
                            "--baseline", "zero")
    assert result.mode == "generate" and result.stopped == "limit"
    assert_same_map(result, expected)
    assert result.component_labels == expected["components"]["labels"]
    assert result.component_credits.tolist() == [row["component_credits"] for row in expected["tokens"]]
    # Source credits [T, L, H, S]: each head's positions up to the token's own, zeros after.
    for t, row in enumerate(expected["tokens"]):
        width = row["position"] + 1
        assert result.source_credits[t, :, :, :width].tolist() == row["source_credits"]
        assert not result.source_credits[t, :, :, width:].any()
    # A block's heads, bias and MLP add up to the map's credit of the layer after it.
    blocks = len(result.layers) - 1
    for t in range(result.ig.shape[0]):
        for block in range(blocks):
            parts = [i for i, label in enumerate(result.component_labels) if label.startswith(f"{block}.")]
            assert abs(result.component_credits[t, parts].sum().item() - result.ig[t, block + 1].item()) < 1e-12


def test_top_sources_and_foil_settings_reach_the_library(demo):
    result = demo.attribute("ROMEO:\nWhat", target=" s", objective="prob-diff", foil="t", dtype="float64")
    expected = program_json(DEMO, "ROMEO:\nWhat", "--target", " s", "--objective", "prob-diff", "--foil", "t",
                            "--dtype", "float64")
    assert_same_map(result, expected)
    assert result.foil_ids.tolist() == [row["foil_id"] for row in expected["tokens"]]
    kept = demo.attribute("ROMEO:\nWhat", target=" s", sources=True, components=True, top_sources=2)
    assert json.loads(kept.to_json())["sources"]["top"] == 2


def test_outputs_are_the_program_s_and_files_are_written_whole(demo, tmp_path):
    result = demo.attribute("ROMEO:\nWhat", target=" say", k=3)
    assert result.to_dict() == json.loads(result.to_json())
    assert str(result) == result.to_table()
    assert result.to_csv().splitlines()[0].startswith("#")
    svg, html = tmp_path / "map.svg", tmp_path / "map.html"
    result.to_svg(svg)
    result.to_html(html)
    assert svg.read_text().startswith("<svg") or "<svg" in svg.read_text()[:200]
    assert "<html" in html.read_text()[:400].lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html", "map.svg"]  # no temporary file left
    with pytest.raises(OSError):
        result.to_svg(tmp_path / "missing-folder" / "map.svg")
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pandas"):
            result.to_pandas()
    else:
        table = result.to_pandas()
        assert len(table) == result.ig.numel()
        assert table["ig"].tolist() == result.ig.flatten().tolist()


def test_info_and_tokenize(demo):
    info = demo.info
    assert info["format"] == "iglens-bundle" and info["n_layer"] == 4
    tokens = demo.tokenize("Hi there")
    assert tokens["ids"] == [72, 105, 32, 116, 104, 101, 114, 101]
    assert tokens["tokens"][0] == "H" and tokens["text"] == "Hi there"


BAD_INPUTS = [
    ({"baseline": "average"}, ["--baseline", "average"]),
    ({"estimator": "simpson"}, ["--estimator", "simpson"]),
    ({"dtype": "float16"}, ["--dtype", "float16"]),
    ({"steps": 0}, ["--steps", "0"]),
    ({"objective": "prob-diff"}, ["--objective", "prob-diff"]),
    ({"foil": "t"}, ["--foil", "t"]),
    ({"sources": True, "components": False, "top_sources": 0}, ["--sources", "--top-sources", "0"]),
    ({"chat": True}, ["--chat"]),
    ({"stop": ["ab"]}, ["--stop", "ab"]),
    ({"target": ""}, ["--target", ""]),
    ({"generate": 100000}, ["--generate", "100000"]),
]


@pytest.mark.parametrize("keywords, flags", BAD_INPUTS, ids=[" ".join(f) for _, f in BAD_INPUTS])
def test_bad_inputs_raise_iglens_error_with_the_program_s_message(demo, keywords, flags):
    with pytest.raises(iglens.Error) as raised:
        demo.attribute("ROMEO:", **keywords)
    assert isinstance(raised.value, ValueError)
    assert str(raised.value) == program_error("attribute", "--model", DEMO, "ROMEO:", *flags)


def test_layers_chosen_two_ways_is_an_error(demo):
    # The program's command line refuses this before the library sees it.
    with pytest.raises(iglens.Error, match="--layers and --k choose layers in two ways; give one"):
        demo.attribute("ROMEO:", k=2, layers=[1])


def test_a_missing_model_is_the_program_s_error(tmp_path):
    missing = str(tmp_path / "none.gguf")
    with pytest.raises(iglens.Error) as raised:
        iglens.load(missing)
    assert str(raised.value) == program_error("info", "--model", missing)


def test_ctrl_c_stops_a_long_run_with_keyboard_interrupt():
    # A map that takes minutes: 127 tokens through 24 layers, a 32000-token vocabulary, 512 midpoint steps.
    script = textwrap.dedent("""
        import os, signal, threading, time, torch, iglens
        torch.manual_seed(0)
        head = iglens.NormHead("rmsnorm", torch.ones(512), torch.randn(32000, 512))
        residual = torch.randn(25, 128, 512)
        targets = iglens.Targets(range(127), range(127))
        threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        try:
            iglens.attribute(residual, targets, head, estimator="midpoint", steps=512)
        except KeyboardInterrupt:
            print("interrupted after", time.monotonic() - start)
        else:
            print("finished after", time.monotonic() - start)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("interrupted after"), done.stdout + done.stderr
    assert float(done.stdout.split()[-1]) < 30


def test_the_gil_is_released_while_the_library_works():
    # A map in a thread: Python's main thread runs on meanwhile, with no long pause.
    import threading
    import time

    torch.manual_seed(0)
    head = iglens.NormHead("rmsnorm", torch.ones(256), torch.randn(16000, 256))
    residual = torch.randn(13, 64, 256)
    targets = iglens.Targets(range(63), range(63))

    def pauses(steps):
        worker = threading.Thread(
            target=lambda: iglens.attribute(residual, targets, head, estimator="midpoint", steps=steps))
        start = time.perf_counter()
        worker.start()
        stamps = [start]
        while worker.is_alive():
            stamps.append(time.perf_counter())
        return stamps[-1] - start, max(b - a for a, b in zip(stamps, stamps[1:]))

    steps = 16
    took, longest_pause = pauses(steps)
    while took < 0.5 and steps < 4096:  # long enough to tell, on any machine
        steps *= 4
        took, longest_pause = pauses(steps)
    assert took >= 0.5, f"the map took {took:.3f} s at {steps} steps: too short to tell"
    assert longest_pause < took / 4, f"Python paused {longest_pause:.3f} s of {took:.3f} s"


@needs_smollm2
def test_a_chat_answer_on_smollm2_equals_the_program():
    model = iglens.load(SMOLLM2)
    result = model.attribute("What is the capital of France?", chat=True, generate=12, k=6)
    expected = program_json(SMOLLM2, "What is the capital of France?", "--chat", "--generate", "12", "--k", "6")
    assert_same_map(result, expected)
    assert result.stopped == "end token"
    tokens = model.tokenize("What is the capital of France?", chat=True)
    assert tokens["ids"] == expected["prompt_ids"] and tokens["text"] == expected["prompt"]


@needs_smollm2
def test_weights_kept_as_stored_give_the_same_map():
    args = dict(target=" Paris", k=4, dtype="float64")
    kept = iglens.load(SMOLLM2, weights="stored").attribute("The capital of France is", **args)
    loaded = iglens.load(SMOLLM2).attribute("The capital of France is", **args)
    # Kept matrices are multiplied a tile of rows at a time: the same values, products blocked otherwise.
    for ours, theirs in [(kept.ig, loaded.ig), (kept.lens, loaded.lens)]:
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)
    with pytest.raises(iglens.Error, match="weights kept as stored are for GGUF files and Hugging Face folders"):
        iglens.load(DEMO, weights="stored")
    with pytest.raises(iglens.Error, match="unknown --weights 'fp8'"):
        iglens.load(DEMO, weights="fp8")


def hidden_states_before_the_final_norm(folder, ids):
    """transformers' residual stream [L+1, S, d] of `ids`: its hidden states
    with the last one taken before the final norm (hidden_states[-1] is after it)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float64)
    captured = {}
    hook = model.model.norm.register_forward_pre_hook(lambda _, inputs: captured.update(h=inputs[0]))
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    hook.remove()
    return model, torch.stack([*out.hidden_states[:-1], captured["h"]])[:, 0]


@needs_folder
def test_a_transformers_residual_stream_gives_the_program_s_map(smollm2_folder):
    # The program on the folder: its own tokens and forward pass.
    expected = program_json(smollm2_folder, "The capital of France is", "--target", " Paris", "--k", "6", "--dtype",
                            "float64")
    row = expected["tokens"][-1]
    ids = expected["prompt_ids"] + [row["target_id"]]
    # transformers' forward pass over the same ids, read by the lower-level call.
    model, residual = hidden_states_before_the_final_norm(smollm2_folder, ids)
    head = iglens.NormHead("rmsnorm", model.model.norm.weight, model.lm_head.weight,
                           eps=model.config.rms_norm_eps)
    result = iglens.attribute(residual, iglens.Targets.next_tokens(ids, first=len(ids) - 3), head, k=6)
    assert result.ig.dtype == torch.float64 and tuple(result.ig.shape) == (2, 6)
    assert result.completeness_error < 1e-12
    assert result.layers == expected["layers"]
    assert result.target_ids[-1].item() == row["target_id"]
    # Two forward passes: ours in float64 throughout, transformers' with its rotary angles and attention
    # softmax in float32 even for a float64 model (relative error about 1e-7 on the residual stream).
    assert max(abs(a - b) for a, b in zip(result.ig[-1].tolist(), row["ig"])) < 1e-6
    assert max(abs(a - b) for a, b in zip(result.lens[-1].tolist(), row["lens"])) < 1e-6
    assert abs(result.f_final[-1].item() - row["f_final"]) < 1e-6


def test_the_lower_level_call_checks_its_inputs():
    d, V = 4, 7
    head = iglens.NormHead("layernorm", torch.ones(d), torch.randn(V, d))
    residual = torch.randn(3, 5, d)
    result = iglens.attribute(residual, iglens.Targets([1, 3], [2, 6]), head)
    assert tuple(result.ig.shape) == (2, 3) and result.layers == [0, 1, 2]
    assert torch.allclose(result.ig.sum(1), result.delta, atol=1e-6)
    with pytest.raises(iglens.Error, match="unknown norm 'batchnorm'"):
        iglens.NormHead("batchnorm", torch.ones(d), torch.randn(V, d))
    with pytest.raises(iglens.Error, match="norm weight must be"):
        iglens.NormHead("rmsnorm", torch.ones(d + 1), torch.randn(V, d))
    with pytest.raises(iglens.Error, match="one id per position"):
        iglens.attribute(residual, iglens.Targets([1, 3], [2]), head)
    with pytest.raises(iglens.Error):
        iglens.attribute(residual, iglens.Targets([9], [2]), head)
    with pytest.raises(iglens.Error):
        iglens.attribute(residual[0], iglens.Targets([1], [2]), head)
    with pytest.raises(iglens.Error, match="at least 2 tokens"):
        iglens.Targets.next_tokens([5])


def test_the_rule_that_picks_openblas_kernels():
    from iglens import _blas

    avx512 = {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"}
    assert _blas.better_core("Prescott", avx512, None) == "SkylakeX"
    assert _blas.better_core("Sandybridge", {"avx2", "fma", "avx"}, None) == "Haswell"
    assert _blas.better_core("Prescott", {"sse3", "avx"}, None) is None  # nothing better to offer
    assert _blas.better_core("Haswell", avx512, None) is None  # OpenBLAS knew the CPU
    assert _blas.better_core("Prescott", avx512, "Prescott") is None  # the user chose
    assert _blas.better_core(None, avx512, None) is None  # another BLAS


def test_import_warns_where_openblas_runs_generic_kernels_and_the_advice_works():
    script = textwrap.dedent("""
        import json, warnings
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            import iglens
        from iglens import _blas
        print(json.dumps({"core": _blas.loaded_openblas_core(),
                          "warnings": [str(w.message) for w in seen if "OpenBLAS" in str(w.message)]}))
    """)

    def start(environment):
        done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    from iglens import _blas

    # Python as a user starts it: a warning exactly where the kernels are generic and better ones exist.
    environment = {name: value for name, value in os.environ.items() if name != "OPENBLAS_CORETYPE"}
    plain = start(environment)
    better = _blas.better_core(plain["core"], _blas.cpu_flags(), None)
    if better is None:
        assert plain["warnings"] == []
        return
    assert len(plain["warnings"]) == 1 and f"OPENBLAS_CORETYPE={better} " in plain["warnings"][0]
    # The advice followed: those kernels, and no warning.
    advised = start({**environment, "OPENBLAS_CORETYPE": better, "OPENBLAS_NUM_THREADS": "1"})
    assert advised == {"core": better, "warnings": []}


def readme_python_blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as file:
        readme = file.read()
    return re.findall(r"```python\n(.*?)```", readme, re.S)


def test_the_readme_python_examples_run(tmp_path, request):
    blocks = readme_python_blocks()
    assert len(blocks) >= 2
    for block in blocks:
        if "path/to/SmolLM2-135M-Instruct" in block:
            if not SMOLLM2_REFERENCE or not SMOLLM2_TOKENIZER_JSON:
                continue
            block = block.replace("path/to/SmolLM2-135M-Instruct", request.getfixturevalue("smollm2_folder"))
        # From a folder of its own (the examples write files) that sees the checkout's models/.
        if not (tmp_path / "models").exists():
            (tmp_path / "models").symlink_to(os.path.join(ROOT, "models"))
        done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=600,
                              cwd=tmp_path)
        assert done.returncode == 0, block + done.stderr
