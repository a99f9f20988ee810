"""Times Hugging Face transformers' forward of a causal LM, for iglens-bench's real-model table.

    time_transformers_forward.py HF_FOLDER --ids 1,2,3 [--threads N] [--repeats N] [--warm-up N]

Loads the folder in float32, eval mode, and times `model(ids, output_hidden_states=True)` under
no_grad on torch.set_num_threads(N): what IG-Lens' residual stream computes. Prints one JSON line,
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hf_folder")
    parser.add_argument("--ids", required=True, help="comma-separated token ids, one sequence")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warm-up", type=int, default=1)
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1 or args.warm_up < 0:
        sys.exit("time_transformers_forward: --threads and --repeats must be >= 1, --warm-up >= 0")
    try:
        ids = [int(token) for token in args.ids.split(",")]
    except ValueError:
        sys.exit(f"time_transformers_forward: --ids is not a comma-separated list of integers: {args.ids!r}")

    torch.set_num_threads(args.threads)
    model = transformers.AutoModelForCausalLM.from_pretrained(args.hf_folder, torch_dtype=torch.float32)
    model.eval()
    input_ids = torch.tensor([ids], dtype=torch.long)

    times = []
    with torch.no_grad():
        for run in range(args.warm_up + args.repeats):
            begin = time.perf_counter()
            model(input_ids, output_hidden_states=True)
            if run >= args.warm_up:
                times.append(time.perf_counter() - begin)
    print(json.dumps({"median_ms": statistics.median(times) * 1e3, "runs": args.repeats,
                      "threads": torch.get_num_threads(), "tokens": len(ids)}))


if __name__ == "__main__":
    main()
