"""Times Hugging Face transformers' forward of a causal LM, for iglens-bench's real-model table.

    time_transformers_forward.py HF_FOLDER|FILE.gguf --ids 1,2,3 [--threads N] [--repeats N] [--warm-up N] [--generate N]

Loads the folder (or a GGUF file, with a current transformers that has gguf and accelerate) in float32, eval mode, and times `model(ids, output_hidden_states=True)` under
no_grad on torch.set_num_threads(N): what IG-Lens' residual stream computes. With --generate N it
times a greedy loop of exactly N new tokens on the model's own key/value cache (past_key_values)
instead, and adds the new ids to the output. (`generate()` itself cannot run here: under Debian's
torch 1.13 on Python 3.11 it imports torch.distributed modules that fail to load; the loop is its
greedy search without logits processors.) Prints one JSON line,
{"median_ms": .., "runs": .., "threads": .., "tokens": ..}.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers  # noqa: E402


def greedy(model, input_ids, n):
    """n greedy tokens: the prompt once, then one position per step on the model's cache."""
    out = model(input_ids, past_key_values=transformers.DynamicCache(), use_cache=True)
    new_ids = []
    while True:
        next_id = out.logits[0, -1].argmax()
        new_ids.append(int(next_id))
        if len(new_ids) == n:
            return new_ids
        out = model(next_id.view(1, 1), past_key_values=out.past_key_values, use_cache=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hf_folder")
    parser.add_argument("--ids", required=True, help="comma-separated token ids, one sequence")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warm-up", type=int, default=1)
    parser.add_argument("--generate", type=int, default=0)
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1 or args.warm_up < 0:
        sys.exit("time_transformers_forward: --threads and --repeats must be >= 1, --warm-up >= 0")
    try:
        ids = [int(token) for token in args.ids.split(",")]
    except ValueError:
        sys.exit(f"time_transformers_forward: --ids is not a comma-separated list of integers: {args.ids!r}")

    torch.set_num_threads(args.threads)
    if args.hf_folder.endswith(".gguf"):
        # A current transformers (with gguf and accelerate) dequantizes the file into float32 weights.
        path = os.path.abspath(args.hf_folder)
        model = transformers.AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                                  torch_dtype=torch.float32)
    else:
        model = transformers.AutoModelForCausalLM.from_pretrained(args.hf_folder, torch_dtype=torch.float32)
    model.eval()
    input_ids = torch.tensor([ids], dtype=torch.long)

    times = []
    new_ids = []
    with torch.no_grad():
        for run in range(args.warm_up + args.repeats):
            begin = time.perf_counter()
            if args.generate:
                new_ids = greedy(model, input_ids, args.generate)
            else:
                model(input_ids, output_hidden_states=True)
            if run >= args.warm_up:
                times.append(time.perf_counter() - begin)
    result = {"median_ms": statistics.median(times) * 1e3, "runs": args.repeats,
              "threads": torch.get_num_threads(), "tokens": len(ids)}
    if args.generate:
        result["new_ids"] = new_ids
    print(json.dumps(result))


if __name__ == "__main__":
    main()
