"""`iglens corpus` end to end on the demo bundle: results equal `iglens attribute`'s prompt by prompt,
the summary equals statistics recomputed here, a killed run goes on where it stopped without writing an
id twice, input lines that are not records are reported with their line numbers, and 2 or 3 ranks under
torchrun (Debian's, which needs --redirects/--tee/--log_dir on Python 3.11) give one rank's results."""
import json
import re
import math
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

PROGRAM = os.environ["IGLENS_PROGRAM"]
DEMO = os.environ["IGLENS_DEMO_MODEL"]
MODEL = ["--model", DEMO, "--threads", "1"]
COMMON = MODEL + ["--generate", "2"]
RECORDS = [
    {"id": "romeo", "prompt": "ROMEO: But soft, what light"},
    {"id": 7, "prompt": "JULIET: O Romeo, Romeo", "target": " wherefore"},
    {"id": "hamlet", "prompt": "To be, or not to be"},
    {"id": "lear", "prompt": "Blow, winds, and crack your cheeks"},
    {"id": "macbeth", "prompt": "Tomorrow, and tomorrow"},
    {"id": "caesar", "prompt": "Friends, Romans, countrymen", "target": ", lend"},
]


def write_jsonl(folder, lines):
    path = os.path.join(folder, "input.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def corpus(input_path, out, *args):
    return subprocess.run([PROGRAM, "corpus", input_path, "--out", out, *COMMON, *args], capture_output=True,
                          text=True, timeout=600)


def results_of(out):
    """id -> result, from every chunk; fails on an id written twice."""
    results = {}
    for name in sorted(os.listdir(out)):
        if name.startswith("results-") and name.endswith(".jsonl"):
            with open(os.path.join(out, name), encoding="utf-8") as f:
                for line in f:
                    record = json.loads(line)
                    assert record["id"] not in results, f"id {record['id']} written twice"
                    results[record["id"]] = record
    return results


def complete_chunks(out):
    """Chunks renamed into place; a temporary file being written is named results-NNNNN.jsonl.iglens-PID.tmp."""
    return sum(n.startswith("results-") and n.endswith(".jsonl") for n in os.listdir(out)) if os.path.isdir(out) else 0


def input_and_whole_run(test, tmp, records, *args):
    """The input file of `records`, and the folder of its uninterrupted run in one process with `args`. Prompts
    share a forward pass only within a chunk, so runs with the same chunks give the same numbers bit for bit."""
    path = write_jsonl(tmp, records)
    whole = os.path.join(tmp, "whole")
    test.assertEqual(corpus(path, whole, *args).returncode, 0)
    return path, whole


def assert_same_results(test, out, reference):
    """The same ids, each once, with the same numbers bit for bit."""
    got, want = results_of(out), results_of(reference)
    test.assertEqual(sorted(got), sorted(want))
    for key in want:
        test.assertEqual(numbers(got[key]), numbers(want[key]), key)


def numbers(report):
    return [(t["position"], t["target_id"], t["ig"], t["lens"], t["f_final"], t["delta"], t["onset_layer"])
            for t in report["tokens"]]


class Corpus(unittest.TestCase):
    def test_results_are_attribute_reports_and_the_summary_their_statistics(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out")
            # One prompt a pass: the same computation as `attribute`'s.
            done = corpus(write_jsonl(tmp, RECORDS), out, "--chunk-size", "4", "--batch-size", "1")
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("6 records (0 done before this run), 6 attributed and 0 errors", done.stdout)
            self.assertEqual(sorted(n for n in os.listdir(out) if n.startswith("results-")),
                             ["results-00000.jsonl", "results-00001.jsonl"])
            results = results_of(out)
            self.assertEqual(sorted(results), sorted(str(r["id"]) for r in RECORDS))
            for record in RECORDS:
                args = [PROGRAM, "attribute", record["prompt"], "--format", "json"]
                args += [*MODEL, "--target", record["target"]] if "target" in record else COMMON
                alone = json.loads(subprocess.run(args, capture_output=True, check=True, timeout=300).stdout)
                result = results[str(record["id"])]
                self.assertEqual(result["prompt_ids"], alone["prompt_ids"])
                self.assertEqual(numbers(result), numbers(alone), record["id"])  # same process state: bit-identical

            with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
                summary = json.load(f)
            tokens = [t for r in results.values() for t in r["tokens"]]
            K = len(summary["layers"])
            self.assertEqual((summary["records"], summary["errors"], summary["tokens"]), (6, 0, len(tokens)))
            for j in range(K):
                column = [t["ig"][j] for t in tokens]
                mean = sum(column) / len(column)
                self.assertAlmostEqual(summary["ig_mean"][j], mean, delta=1e-12)
                self.assertAlmostEqual(summary["ig_std"][j],
                                       math.sqrt(sum((x - mean) ** 2 for x in column) / len(column)), delta=1e-9)
            onsets = {}
            for t in tokens:
                key = "none" if t["onset_layer"] is None else str(t["onset_layer"])
                onsets[key] = onsets.get(key, 0) + 1
            self.assertEqual(summary["onset_histogram"], onsets)
            self.assertAlmostEqual(summary["delta_mean"], sum(t["delta"] for t in tokens) / len(tokens), delta=1e-12)
            svg = ET.parse(os.path.join(out, "summary.svg")).getroot()
            self.assertEqual(len([r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "ig"]), K)

            again = corpus(write_jsonl(tmp, RECORDS), out)
            self.assertEqual(again.returncode, 0, again.stderr)
            self.assertIn("6 records (6 done before this run), 0 attributed", again.stdout)
            changed = corpus(write_jsonl(tmp, RECORDS), out, "--steps", "8")
            self.assertEqual(changed.returncode, 1)
            self.assertIn("holds results made with other settings", changed.stderr)

    def test_batched_prompts_give_the_numbers_of_one_at_a_time(self):
        # Lengths 20 to 60 tokens, some teacher-forced with 1 or 2 target tokens, in shuffled order.
        records = [{"id": i, "prompt": "To be, or not to be, that is the question"[:20 + (i * 7) % 41]}
                   for i in range(24)]
        for i in range(0, 24, 3):
            records[i]["target"] = " whether" if i % 2 else " w"
        with tempfile.TemporaryDirectory() as tmp:
            path = write_jsonl(tmp, records)
            for dtype, baseline, tolerance in (("float64", "causal-mean", 1e-12), ("float32", "causal-mean", 1e-5),
                                               ("float64", "mean", 1e-12), ("float64", "zero", 1e-12)):
                settings = ["--dtype", dtype, "--baseline", baseline]
                batched, alone = os.path.join(tmp, f"b-{dtype}-{baseline}"), os.path.join(tmp, f"a-{dtype}-{baseline}")
                many = corpus(path, batched, *settings)
                self.assertEqual(many.returncode, 0, many.stderr)
                one = corpus(path, alone, *settings, "--batch-size", "1")
                self.assertEqual(one.returncode, 0, one.stderr)
                batches = int(re.search(r"in (\d+) batch(?:es)?,", many.stdout).group(1))
                self.assertIn("in 24 batches", one.stdout)
                # Padding serves every baseline but mean, which averages every position: equal lengths only.
                self.assertLess(batches, 24 if baseline == "mean" else 10, many.stdout)
                got, want = results_of(batched), results_of(alone)
                self.assertEqual(sorted(got), sorted(want))
                for key in want:
                    self.assertEqual(got[key]["prompt_ids"], want[key]["prompt_ids"])
                    self.assertEqual([t["target_id"] for t in got[key]["tokens"]],
                                     [t["target_id"] for t in want[key]["tokens"]], key)
                    for a, b in zip(got[key]["tokens"], want[key]["tokens"]):
                        for name in ("ig", "lens"):
                            for x, y in zip(a[name], b[name]):
                                self.assertAlmostEqual(x, y, delta=tolerance, msg=f"{key} {name} {dtype} {baseline}")
                        self.assertAlmostEqual(a["f_final"], b["f_final"], delta=tolerance)
                        self.assertAlmostEqual(a["f_baseline"], b["f_baseline"], delta=tolerance)

    def test_progress_is_drawn_batch_by_batch_on_a_terminal(self):
        import pty
        with tempfile.TemporaryDirectory() as tmp:
            leader, follower = pty.openpty()
            done = subprocess.run([PROGRAM, "corpus", write_jsonl(tmp, RECORDS), "--out", os.path.join(tmp, "out"),
                                   *COMMON, "--batch-size", "2"], stdout=subprocess.PIPE, stderr=follower, timeout=300)
            os.close(follower)
            drawn = os.read(leader, 65536).decode()
            os.close(leader)
            self.assertEqual(done.returncode, 0)
            counts = {int(n) for n in re.findall(r"corpus  \[[#.]{30}\] (\d)/6", drawn)}
            self.assertIn(6, counts)
            self.assertTrue(counts & {1, 2, 3, 4, 5}, drawn)  # one chunk of 6, drawn before it is done
            self.assertRegex(drawn, r"\d/s  ETA \d+ s")

    def test_a_killed_run_goes_on_where_it_stopped(self):
        with tempfile.TemporaryDirectory() as tmp:
            records = RECORDS + [{"id": f"extra{i}", "prompt": f"Now is the winter {i}"} for i in range(40)]
            path, whole = input_and_whole_run(self, tmp, records, "--chunk-size", "1")
            out = os.path.join(tmp, "killed")
            process = subprocess.Popen([PROGRAM, "corpus", path, "--out", out, *COMMON, "--chunk-size", "1"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 300
            while time.time() < deadline and complete_chunks(out) < 3:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait()
            written = len(results_of(out))
            self.assertGreaterEqual(written, 3)
            self.assertLess(written, len(records), "the run finished before it was killed")
            rerun = corpus(path, out, "--chunk-size", "1")
            self.assertEqual(rerun.returncode, 0, rerun.stderr)
            self.assertIn(f"({written} done before this run)", rerun.stdout)
            assert_same_results(self, out, whole)

    def test_lines_that_are_not_records_are_reported_with_their_line_numbers(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = write_jsonl(tmp, [
                RECORDS[0],
                "{not json",
                {"id": "no-prompt"},
                {"prompt": "no id"},
                {"id": "romeo", "prompt": "the same id again"},
                {"id": "long", "prompt": "x" * 200},  # the demo model's context is 128 tokens
                "",
                RECORDS[2],
            ])
            out = os.path.join(tmp, "out")
            done = corpus(path, out)
            self.assertEqual(done.returncode, 0, done.stderr)
            for line, words in ((2, "not valid JSON"), (3, "\"prompt\" must be a non-empty string"), (4, "no \"id\""),
                                (5, "id 'romeo' is already on line 1"), (6, "context length")):
                self.assertIn(f"{path}:{line}: ", done.stderr)
                self.assertIn(words, done.stderr)
            results = results_of(out)
            self.assertEqual(sorted(results), ["hamlet", "long", "romeo"])
            self.assertIn("context length", results["long"]["error"])
            self.assertEqual(results["long"]["line"], 6)
            with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
                summary = json.load(f)
            self.assertEqual((summary["records"], summary["errors"]), (2, 1))
            self.assertEqual([p["line"] for p in summary["input_problems"]], [2, 3, 4, 5])

            strict = corpus(path, os.path.join(tmp, "strict"), "--strict")
            self.assertEqual(strict.returncode, 1)
            self.assertEqual(strict.stderr.count("\n"), 1, strict.stderr)
            self.assertIn(f"{path}:2: not valid JSON (--strict)", strict.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "strict")))

    def test_an_empty_corpus_is_an_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            done = corpus(write_jsonl(tmp, []), os.path.join(tmp, "out"))
            self.assertEqual(done.returncode, 1)
            self.assertIn("holds no records", done.stderr)
            self.assertEqual(done.stderr.count("\n"), 1)


class TokenizeJsonl(unittest.TestCase):
    def test_chat_records_render_with_the_chat_template_and_bad_ones_are_left_out(self):
        # The demo bundle (GPT-2) has no chat template of its own: --chat-template gives one.
        with tempfile.TemporaryDirectory() as tmp:
            template = os.path.join(tmp, "chat.jinja")
            with open(template, "w", encoding="utf-8") as f:
                f.write("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{{ eos_token }}{% endfor %}"
                        "{% if add_generation_prompt %}assistant:{% endif %}")
            path = write_jsonl(tmp, [
                {"id": "chat", "prompt": "To be", "chat": True},
                {"id": "messages", "messages": [{"role": "system", "content": "Verse."},
                                                {"role": "user", "content": "To be"}]},
                {"id": "role", "messages": [{"role": "narrator", "content": "x"}]},
                {"id": "both", "prompt": "x", "messages": [{"role": "user", "content": "x"}]},
                {"id": "empty", "messages": []},
                {"id": "flag", "prompt": "x", "chat": "yes"},
            ])

            def tokenize(*args):
                return subprocess.run([PROGRAM, "tokenize", "--model", DEMO, *args], capture_output=True, text=True,
                                      timeout=300)

            done = tokenize("--jsonl", path, "--chat-template", template)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertEqual(done.stderr.splitlines(), [
                f"iglens: tokenize: {path}:3: record 'role': message role 'narrator' is not system, user, assistant "
                "or tool, left out",
                f"iglens: tokenize: {path}:4: record 'both': \"messages\" is a chat of its own: give no \"prompt\" "
                "or \"chat\" with it, left out",
                f"iglens: tokenize: {path}:5: record 'empty': \"messages\" must be a non-empty list of "
                "{\"role\", \"content\"} strings, left out",
                f"iglens: tokenize: {path}:6: record 'flag': \"chat\" must be true or false, left out"])
            ids = {r["id"]: r["prompt_ids"] for r in map(json.loads, done.stdout.splitlines())}
            for record_id, text in (("chat", "user: To be<|endoftext|>assistant:"),
                                    ("messages", "system: Verse.<|endoftext|>user: To be<|endoftext|>assistant:")):
                self.assertEqual(ids[record_id], json.loads(tokenize("--special-tokens", text).stdout))
            chat = tokenize("--chat-template", template, "--system", "Verse.", "To be")
            self.assertEqual(json.loads(chat.stdout)["text"], "system: Verse.<|endoftext|>user: To be<|endoftext|>assistant:")
            self.assertEqual(json.loads(chat.stdout)["ids"], ids["messages"])
            # Without a template of its own or --chat-template: one line, before any record.
            for args in (["--chat", "To be"], ["--jsonl", path, "--chat"]):
                refused = tokenize(*args)
                self.assertEqual(refused.returncode, 1)
                self.assertEqual(refused.stderr, f"iglens: error: the model '{DEMO}' has no chat template: give one "
                                                 "with --chat-template FILE\n")
            broken = os.path.join(tmp, "broken.jinja")
            with open(broken, "w", encoding="utf-8") as f:
                f.write("{% for m in messages %}{{ m | no_such_filter }}{% endfor %}")
            refused = tokenize("--chat-template", broken, "To be")
            self.assertEqual(refused.returncode, 1)
            self.assertEqual(refused.stderr.count("\n"), 1, refused.stderr)
            self.assertIn(f"'{broken}': chat template: ", refused.stderr)

    def test_every_record_is_tokenized_as_corpus_and_tokenize_do(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = write_jsonl(tmp, [RECORDS[0], "[1, 2]", RECORDS[1], {"id": "x"}, RECORDS[5]])

            def tokenize(*args):
                return subprocess.run([PROGRAM, "tokenize", "--model", DEMO, *args], capture_output=True, text=True,
                                      timeout=300)

            done = tokenize("--jsonl", path)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertEqual(done.stderr.splitlines(), [
                f"iglens: tokenize: {path}:2: not a JSON object, left out",
                f"iglens: tokenize: {path}:4: record 'x': \"prompt\" must be a non-empty string, left out"])
            lines = [json.loads(line) for line in done.stdout.splitlines()]
            self.assertEqual([(r["id"], r["line"]) for r in lines], [("romeo", 1), ("7", 3), ("caesar", 5)])
            for got, record in zip(lines, (RECORDS[0], RECORDS[1], RECORDS[5])):
                self.assertEqual(got["prompt_ids"], json.loads(tokenize(record["prompt"]).stdout))
                if "target" in record:
                    self.assertEqual(got["target_ids"], json.loads(tokenize(record["target"]).stdout))
                else:
                    self.assertNotIn("target_ids", got)
            # --bos puts BOS before each prompt, never before a target; the ids are those corpus attributes.
            with_bos = [json.loads(line) for line in tokenize("--jsonl", path, "--bos").stdout.splitlines()]
            for plain, bos in zip(lines, with_bos):
                self.assertEqual(bos["prompt_ids"], [256] + plain["prompt_ids"])
                self.assertEqual(bos.get("target_ids"), plain.get("target_ids"))
            out = os.path.join(tmp, "corpus")
            self.assertEqual(corpus(path, out, "--bos").returncode, 0)
            self.assertEqual({k: r["prompt_ids"] for k, r in results_of(out).items()},
                             {r["id"]: r["prompt_ids"] for r in with_bos})

            written = os.path.join(tmp, "ids.jsonl")
            self.assertEqual(tokenize("--jsonl", path, "--out", written).returncode, 0)
            with open(written, encoding="utf-8") as f:
                self.assertEqual(f.read(), done.stdout)
            strict = tokenize("--jsonl", path, "--strict")
            self.assertEqual((strict.returncode, strict.stdout), (1, ""))
            self.assertEqual(strict.stderr, f"iglens: error: {path}:2: not a JSON object (--strict)\n")
            for args, words in ((["--jsonl", os.path.join(tmp, "missing.jsonl")], "cannot read the corpus"),
                                (["--jsonl", write_jsonl(tmp, ["{}"])], "holds no records to tokenize"),
                                (["--jsonl", path, "To be"], "excludes"), (["--out", written, "To be"], "requires")):
                failed = tokenize(*args)
                self.assertNotEqual(failed.returncode, 0, args)
                self.assertIn(words, failed.stderr, args)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def same_torch_as_torchrun():
    """Whether the program's LibTorch is the release of the torch that runs torchrun. Its agent's store
    (static rendezvous) speaks that release's wire protocol, which a 2.x client and a 1.13 server do not
    share; with --standalone rank 0 hosts the store in the program's own LibTorch."""
    program = subprocess.run([PROGRAM, "--version"], capture_output=True, text=True, check=True).stdout
    agent = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"], capture_output=True,
                           text=True, check=True).stdout
    release = re.compile(r"(\d+)\.(\d+)")
    return release.search(program.split("LibTorch")[1]).groups() == release.search(agent).groups()


def torchrun(ranks, log_dir, args, standalone=False):
    """The torchrun command for `ranks` processes of `iglens corpus ARGS` on this machine: the agent hosts
    the store (static rendezvous), or with `standalone` rank 0 does."""
    if not same_torch_as_torchrun():
        standalone = True
    rendezvous = ["--standalone"] if standalone else ["--nnodes", "1", "--master_port", str(free_port())]
    # The agent looks at its workers every --monitor_interval seconds: 5 by default, seconds lost per run.
    return ["torchrun", "--no_python", *rendezvous, "--monitor_interval", "0.1", "--nproc_per_node", str(ranks),
            "--redirects", "1", "--tee", "1", "--log_dir", log_dir, PROGRAM, "corpus", *args]


RANK_RECORDS = RECORDS + [{"id": f"extra{i}", "prompt": f"Now is the winter of our discontent {i}"} for i in range(8)]


class CorpusRanks(unittest.TestCase):
    def test_two_and_three_ranks_give_the_results_of_one(self):
        with tempfile.TemporaryDirectory() as tmp:
            path, one = input_and_whole_run(self, tmp, RANK_RECORDS, "--chunk-size", "2")
            for ranks, standalone in ((2, False), (3, True)):
                out = os.path.join(tmp, f"ranks{ranks}")
                done = subprocess.run(torchrun(ranks, os.path.join(tmp, f"logs{ranks}"),
                                               [path, "--out", out, *COMMON, "--chunk-size", "2"], standalone),
                                      capture_output=True, text=True, timeout=600)
                self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
                self.assertIn(f"by rank 0 of {ranks}", done.stdout)
                assert_same_results(self, out, one)
                with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
                    summary = json.load(f)
                with open(os.path.join(one, "summary.json"), encoding="utf-8") as f:
                    reference = json.load(f)
                self.assertEqual(summary["ranks"], ranks)
                for key in ("records", "errors", "tokens", "layers", "onset_histogram"):
                    self.assertEqual(summary[key], reference[key], key)
                for key in ("ig_mean", "ig_std", "lens_mean"):
                    for a, b in zip(summary[key], reference[key]):
                        self.assertAlmostEqual(a, b, delta=1e-12)

    def test_a_killed_rank_then_a_rerun_gives_every_id_once(self):
        with tempfile.TemporaryDirectory() as tmp:
            # Enough prompts that the run is still going when a rank is killed: with 50 the run of a fast
            # build could end between rank 1's first chunk and the look for its process.
            records = RANK_RECORDS + [{"id": f"more{i}", "prompt": f"Is this a dagger {i}"} for i in range(300)]
            path, whole = input_and_whole_run(self, tmp, records, "--chunk-size", "1")
            out = os.path.join(tmp, "out")
            args = [path, "--out", out, *COMMON, "--chunk-size", "1"]
            launcher = subprocess.Popen(torchrun(2, os.path.join(tmp, "logs"), args), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
            # Once rank 1 has written a chunk it is working on the next one (a prompt takes milliseconds,
            # writing a chunk far less), which the kill loses; rank 0 goes on until torchrun ends it.
            deadline = time.time() + 300
            while time.time() < deadline and not self._has_written(out, rank=1):
                time.sleep(0.005)
            workers = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and self._is_worker(int(pid), out)]
            self.assertEqual(len(workers), 2)
            os.kill(next(pid for pid in workers if self._rank_of(pid) == 1), signal.SIGKILL)
            self.assertNotEqual(launcher.wait(timeout=300), 0)  # torchrun ends the other rank and fails
            written = len(results_of(out))
            rerun = subprocess.run(torchrun(2, os.path.join(tmp, "logs-rerun"), args), capture_output=True,
                                   text=True, timeout=600)
            self.assertEqual(rerun.returncode, 0, rerun.stdout + rerun.stderr)
            self.assertIn(f"({written} done before this run)", rerun.stdout)
            assert_same_results(self, out, whole)

    @staticmethod
    def _has_written(out, rank):
        try:
            return any(r.get("rank") == rank for r in results_of(out).values())
        except (OSError, json.JSONDecodeError):
            return False

    @staticmethod
    def _rank_of(pid):
        with open(f"/proc/{pid}/environ", "rb") as f:
            variables = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        return int(variables[b"RANK"])

    @staticmethod
    def _is_worker(pid, out):
        """An iglens process (not the torchrun launcher) of the run writing to `out`."""
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                words = f.read().split(b"\0")
        except OSError:
            return False
        return os.path.realpath(exe) == os.path.realpath(PROGRAM) and out.encode() in words


if __name__ == "__main__":
    unittest.main()
