"""Times the Python package's model.attribute, for iglens-bench's Python table.

    time_python_attribute.py MODEL --prompt TEXT --target TEXT [--steps N] [--threads N] [--repeats N]

Loads MODEL with `iglens.load` (the package must be importable: PYTHONPATH)
and times `model.attribute(prompt, target=..., steps=...)` after one warm-up
run, on torch.set_num_threads(N). Prints one JSON line,
{"median_s": .., "runs": .., "threads": .., "delta_sum": ..}.
"""
import argparse
import json
import statistics
import time

import torch

import iglens


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = iglens.load(args.model)
    run = lambda: model.attribute(args.prompt, target=args.target, steps=args.steps)
    result = run()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    print(json.dumps({"median_s": statistics.median(times), "runs": args.repeats, "threads": torch.get_num_threads(),
                      "delta_sum": float(result.delta.double().sum())}))


if __name__ == "__main__":
    main()
