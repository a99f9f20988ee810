"""Throughput of `iglens corpus`, measured side by side in one run on the same prompts:
  per-process   one `iglens attribute` process per prompt (start-up and model loading every time)
  one-by-one    one `iglens corpus` process, one prompt per forward pass (--batch-size 1)
  batched       one `iglens corpus` process, prompts of similar length sharing passes (the default)
  2 ranks       the batched run split between two processes under torchrun (--threads 1 each),
                against one rank under torchrun with --threads 1 and one process with every core
Prints prompts per second, the ratios and OK / NOT OK against the issue's target (corpus at least 5x the
prompts per second of one process per prompt). Prompts are lines of tinyshakespeare, the same every run.
Standard library only; run by scripts/bench-corpus.sh."""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

TARGET_SPEEDUP = 5.0


def prompts(text_path, count, seed):
    with open(text_path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if len(line.split()) >= 4]
    rng = random.Random(seed)
    return [{"id": i, "prompt": rng.choice(lines)} for i in range(count)]


def timed(command, **kwargs):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"bench_corpus: {' '.join(command[:3])} ... failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--program", required=True, help="the iglens program")
    parser.add_argument("--model", required=True, help="model for every run")
    parser.add_argument("--text", required=True, help="text file whose lines are the prompts")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--generate", type=int, default=8, help="answer tokens per prompt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ranks", action="store_true", help="leave out the torchrun rows")
    args = parser.parse_args()

    records = prompts(args.text, args.prompts, args.seed)
    common = ["--model", args.model, "--generate", str(args.generate)]
    work = tempfile.mkdtemp(prefix="iglens-bench-corpus-")
    try:
        corpus_input = os.path.join(work, "prompts.jsonl")
        with open(corpus_input, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)

        def corpus(name, *extra, launcher=()):
            elapsed, out = timed([*launcher, args.program, "corpus", corpus_input, "--out", os.path.join(work, name),
                                  *common, *extra])
            return elapsed, out

        rows = []  # (name, seconds, note)
        per_process = 0.0
        for record in records:
            elapsed, _ = timed([args.program, "attribute", record["prompt"], *common, "--format", "json"])
            per_process += elapsed
        rows.append(("per-process", per_process, "one `iglens attribute` per prompt"))
        one_by_one, _ = corpus("one-by-one", "--batch-size", "1")
        rows.append(("one-by-one", one_by_one, "corpus --batch-size 1"))
        batched, out = corpus("batched")
        passes = re.search(r" in (\d+) batch(?:es)?,", out)
        batches = passes.group(1) if passes else "?"
        rows.append(("batched", batched, f"corpus, {batches} forward passes"))
        one_rank = two_ranks = None
        if not args.no_ranks and shutil.which("torchrun"):
            # Both under torchrun, so that its start-up (Python importing torch) is in both; its agent looks at
            # the workers every --monitor_interval seconds (5 by default, which alone rounds a run up by seconds);
            # chunks of 16 so that the counter can even out prompts of different lengths.
            def launcher(ranks):
                return ["torchrun", "--no_python", "--standalone", "--monitor_interval", "0.1", "--nproc_per_node",
                        str(ranks), "--redirects", "1",
                        "--tee", "1", "--log_dir", os.path.join(work, f"logs{ranks}")]
            ranks_args = ("--threads", "1", "--chunk-size", "16")
            one_rank = corpus("rank1", *ranks_args, launcher=launcher(1))[0]
            rows.append(("1 rank, 1 thread", one_rank, "torchrun --standalone, corpus --threads 1 --chunk-size 16"))
            two_ranks = corpus("rank2", *ranks_args, launcher=launcher(2))[0]
            rows.append(("2 ranks, 1 thread each", two_ranks, "the same with --nproc_per_node 2"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = len(records)
    print(f"iglens corpus throughput: {n} prompts, --generate {args.generate}, model {args.model}, "
          f"{os.cpu_count()} cores")
    print(f"{'run':<26} {'seconds':>9} {'prompts/s':>10}  note")
    for name, seconds, note in rows:
        print(f"{name:<26} {seconds:9.2f} {n / seconds:10.1f}  {note}")
    speedup = per_process / batched
    print(f"corpus vs one process per prompt: {speedup:.1f}x the prompts per second "
          f"(target >= {TARGET_SPEEDUP:.0f}x): {'OK' if speedup >= TARGET_SPEEDUP else 'NOT OK'}")
    print(f"in-process batching vs one by one: {one_by_one / batched:.2f}x")
    if two_ranks:
        print(f"2 ranks vs 1 rank (1 thread each): {one_rank / two_ranks:.2f}x, parallel efficiency "
              f"{one_rank / two_ranks / 2:.0%}; vs 1 rank with {os.cpu_count()} threads: {batched / two_ranks:.2f}x")
    return 0 if speedup >= TARGET_SPEEDUP else 1


if __name__ == "__main__":
    sys.exit(main())
