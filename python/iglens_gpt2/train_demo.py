"""Train the IG-Lens demo model: a small byte-level GPT-2 on Tiny Shakespeare.

Token id = byte value (vocabulary of 257 with <|endoftext|> = 256, never used
in training). The first 90 % of the file is the training split, the last 10 %
the validation split. Losses are cross-entropy in nats per byte; validation
loss is measured on a fixed set of validation windows (the same every time).

Everything that determines the run (seed, model shape, optimiser settings,
data file and its checksum) is written to the log header and into every
checkpoint. A checkpoint (model, optimiser, every RNG state, step) is written
atomically to OUT_DIR/ckpt.pt every --ckpt-every steps and at the end, and
``--resume`` continues from it with the settings stored in it.

Example (about 90 minutes at one thread):
    /usr/bin/python3 python/train_demo_gpt2.py --out-dir /work/demo-train
    /usr/bin/python3 python/train_demo_gpt2.py --out-dir /work/demo-train --resume
"""

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"

# Settings that define the run; on --resume they come from the checkpoint.
RUN_KEYS = [
    "data", "seed", "n_layer", "d_model", "n_head", "context", "dropout",
    "batch", "steps", "lr", "min_lr", "warmup", "weight_decay", "beta1", "beta2",
    "grad_clip", "eval_every", "eval_batches", "eval_batch_size", "ckpt_every", "log_every",
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="training text (default: %(default)s)")
    p.add_argument("--out-dir", default="/work/demo-train", help="checkpoints and log (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/ckpt.pt with its stored settings")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default: %(default)s)")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3500)
    p.add_argument("--lr", type=float, default=1.5e-3, help="peak learning rate")
    p.add_argument("--min-lr", type=float, default=1e-4, help="learning rate at the end of the cosine")
    p.add_argument("--warmup", type=int, default=200, help="linear warmup steps")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--eval-batches", type=int, default=16, help="fixed validation batches")
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--max-steps-this-run", type=int, default=0,
                   help="stop (with a checkpoint) after this many steps in this invocation; 0 = no limit")
    p.add_argument("--benchmark", type=int, default=0,
                   help="only time this many training steps (after 3 warm-up steps) and exit; writes nothing")
    return p.parse_args(argv)


def tune_malloc():
    """Keep freed large blocks in the heap (glibc): the activations of a step
    are tens of MB, and mmap/munmap of them every step costs page faults."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD (the glibc maximum)
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, 256 * 1024 * 1024)  # M_TOP_PAD
    except (OSError, AttributeError):
        pass


def main(argv=None):
    args = parse_args(argv)
    tune_malloc()
    # Thread counts must be set before torch (and its BLAS) start.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch
    import torch.nn.functional as F

    from .gpt2 import GPT2, GPT2Config

    torch.set_num_threads(args.threads)
    out_dir = Path(args.out_dir)
    ckpt_path = out_dir / "ckpt.pt"
    log_path = out_dir / "train.log"

    ckpt = None
    if args.resume:
        if not ckpt_path.exists():
            sys.exit(f"--resume: no checkpoint at {ckpt_path}")
        ckpt = torch.load(ckpt_path, map_location="cpu")
        run = ckpt["run"]
    else:
        run = {k: getattr(args, k) for k in RUN_KEYS}

    raw = Path(run["data"]).read_bytes()
    md5 = hashlib.md5(raw).hexdigest()
    if ckpt is not None and md5 != ckpt["data_md5"]:
        sys.exit(f"--resume: data md5 {md5} differs from the checkpoint's {ckpt['data_md5']}")
    data = torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()
    n_train = int(0.9 * len(data))
    train_data, val_data = data[:n_train], data[n_train:]
    C = run["context"]

    cfg = GPT2Config(vocab_size=257, n_positions=C, n_embd=run["d_model"], n_layer=run["n_layer"],
                     n_head=run["n_head"], dropout=run["dropout"])

    # Fixed validation windows: evenly spaced over the validation split.
    n_val = run["eval_batches"] * run["eval_batch_size"]
    starts = torch.linspace(0, len(val_data) - C - 1, n_val).long()
    val_x = torch.stack([val_data[s:s + C] for s in starts.tolist()])
    val_y = torch.stack([val_data[s + 1:s + C + 1] for s in starts.tolist()])

    torch.manual_seed(run["seed"])
    random.seed(run["seed"])
    model = GPT2(cfg)
    gen = torch.Generator().manual_seed(run["seed"] + 1)  # batch sampling

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": run["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=run["lr"], betas=(run["beta1"], run["beta2"]))

    step = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step = ckpt["step"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        gen.set_state(ckpt["rng"]["batch"])
        random.setstate(ckpt["rng"]["python"])

    def lr_at(s):
        if s < run["warmup"]:
            return run["lr"] * (s + 1) / run["warmup"]
        t = min(1.0, (s - run["warmup"]) / max(1, run["steps"] - run["warmup"]))
        return run["min_lr"] + 0.5 * (run["lr"] - run["min_lr"]) * (1.0 + math.cos(math.pi * t))

    def get_batch():
        ix = torch.randint(0, len(train_data) - C - 1, (run["batch"],), generator=gen)
        x = torch.stack([train_data[i:i + C] for i in ix.tolist()])
        y = torch.stack([train_data[i + 1:i + C + 1] for i in ix.tolist()])
        return x, y

    def train_step(s):
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        x, y = get_batch()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), run["grad_clip"])
        opt.step()
        return loss.item()

    @torch.no_grad()
    def evaluate():
        model.eval()
        total = 0.0
        bs = run["eval_batch_size"]
        for i in range(0, n_val, bs):
            logits = model(val_x[i:i + bs])
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), val_y[i:i + bs].reshape(-1),
                                     reduction="sum").item()
        model.train()
        return total / (n_val * C)

    model.train()
    if args.benchmark:
        for s in range(3):
            train_step(s)
        t0 = time.time()
        for s in range(args.benchmark):
            train_step(s)
        dt = (time.time() - t0) / args.benchmark
        t1 = time.time()
        evaluate()
        te = time.time() - t1
        nparam = sum(p.numel() for p in model.parameters())
        print(f"benchmark: {dt:.3f} s/step, batch {run['batch']} x {C}, {nparam} params, "
              f"{args.threads} thread(s); one evaluation {te:.1f} s")
        return

    out_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a", buffering=1)

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")

    def save_ckpt(path, history_val):
        blob = {
            "step": step, "run": run, "model_config": cfg.to_dict(), "data_md5": md5,
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "batch": gen.get_state(), "python": random.getstate()},
            "val_loss": history_val, "best_val": best_val, "torch_version": torch.__version__,
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, path)

    nparam = sum(p.numel() for p in model.parameters())
    if ckpt is None:
        say("# IG-Lens demo GPT-2 training run")
        say("# settings " + json.dumps(run, sort_keys=True))
        say(f"# model_config {json.dumps(cfg.to_dict(), sort_keys=True)} params {nparam}")
        say(f"# data {run['data']} md5 {md5} bytes {len(data)} train {len(train_data)} val {len(val_data)}")
        say(f"# fixed validation windows: {n_val} x {C} bytes, evenly spaced; loss in nats/byte")
        say(f"# torch {torch.__version__} threads {args.threads} started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    else:
        say(f"# resumed at step {step} from {ckpt_path} at {time.strftime('%Y-%m-%d %H:%M:%S')} "
            f"(threads {args.threads})")
    last_val = ckpt["val_loss"] if ckpt is not None else None
    best_val = ckpt.get("best_val") if ckpt is not None else None

    t_start = time.time()
    window, n_window, t_window = 0.0, 0, time.time()
    steps_this_run = 0
    while step < run["steps"]:
        loss = train_step(step)
        step += 1
        steps_this_run += 1
        window += loss
        n_window += 1
        if step % run["log_every"] == 0 or step == run["steps"]:
            sps = (time.time() - t_window) / n_window
            say(f"step {step:6d} train {window / n_window:.4f} lr {lr_at(step - 1):.2e} "
                f"{sps:.3f} s/step elapsed {time.time() - t_start:.0f} s")
            window, n_window, t_window = 0.0, 0, time.time()
        if step % run["eval_every"] == 0 or step == run["steps"]:
            last_val = evaluate()
            say(f"step {step:6d} val {last_val:.4f}")
            if best_val is None or last_val < best_val:
                best_val = last_val
                save_ckpt(out_dir / "best.pt", last_val)
            t_window = time.time()
        stop_now = args.max_steps_this_run and steps_this_run >= args.max_steps_this_run
        if step % run["ckpt_every"] == 0 or step == run["steps"] or stop_now:
            save_ckpt(ckpt_path, last_val)
        if stop_now:
            say(f"# stopped after {steps_this_run} steps this run (step {step}); resume with --resume")
            return
    say(f"# finished step {step} val {last_val:.4f} best val {best_val:.4f} at {time.strftime('%Y-%m-%d %H:%M:%S')}")
    save_ckpt(out_dir / "final.pt", last_val)

