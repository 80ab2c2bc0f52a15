"""How fast is grading? Four timings of the same submission and tests, in
one run, with their ratios and peak memory.

    python benchmarks/grading_speed.py [--submission solutions] [--repeat 1]

(a) the import floor: ``python -c "import torch, transformers.models.gpt2.modeling_gpt2"``,
    what any grader of this course pays at least once;
(b) our grader: ``python -m grading run --submission DIR`` (the CLI, the judge
    with every test file, a sandboxed worker per step);
(c) plain pytest: one pytest process over the same test files, the judge's
    own command line (``grading.engine.judge.judge_command``) with
    ``benchmarks/inprocess_plugin.py`` added, which replaces the sandboxed
    ``student`` fixture by the submission imported in-process. The tests need
    a ``student`` fixture, and an in-process one is what a classic pytest
    autograder does: (c) is our work minus the sandbox and the runner;
(d) one pytest process per step, like GitHub Classroom's python-grader runs
    one command per test: (c)'s command, once per step with that step's files.

Targets (2 cores): (b)/(a) ≤ 1.5, (d)/(b) ≥ 8, peak memory ≤ 1.5 GB.
Peak memory is polled every 20 ms over the whole process tree of each
command: the sum of RSS (shared pages of forked workers counted once per
process, an over-estimate) and the sum of PSS (shared pages split), with the
largest single process (``ru_maxrss`` of the waited children) for reference.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading.engine import judge as runner  # noqa: E402  (light: no torch)
from grading.config import STEPS, Limits, step_of  # noqa: E402

IMPORT_FLOOR = [sys.executable, "-c", "import torch, transformers.models.gpt2.modeling_gpt2"]


def _tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            parents.setdefault(int(stat[stat.rfind(")") + 2 :].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class Measured:
    def __init__(self, name: str, seconds: float, rss_kb: int, pss_kb: int, returncode: int):
        self.name, self.seconds, self.rss_kb, self.pss_kb, self.returncode = name, seconds, rss_kb, pss_kb, returncode


def measure(name: str, command: list[str], env: dict | None = None, cwd: Path = ROOT, memory: bool = True) -> Measured:
    """Wall time of ``command`` and, with ``memory``, the peak memory of its
    process tree. Reading a large process's PSS walks its page tables (about
    20 ms for one that has imported torch) and contends with its page
    faults, so polling slows what it watches, a process tree of several
    such processes most: time a command with ``memory=False``."""
    peak = [0, 0]
    done = threading.Event()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def poll():
        while not done.wait(0.02):
            total = [0, 0]
            for pid in _tree(process.pid):
                rss, pss = _memory_kb(pid)
                total[0] += rss
                total[1] += pss
            peak[0], peak[1] = max(peak[0], total[0]), max(peak[1], total[1])

    poller = threading.Thread(target=poll, daemon=True)
    if memory:
        poller.start()
    returncode = process.wait()
    seconds = time.perf_counter() - started
    done.set()
    if memory:
        poller.join()
    return Measured(name, seconds, peak[0], peak[1], returncode)


def plain_pytest_command(submission: Path, files: list[Path]) -> tuple[list[str], dict]:
    """The judge's command, with the in-process ``student`` fixture."""
    limits = Limits.from_env()
    command = runner.judge_command(submission, files, 0, limits, set())
    at = command.index("--results-fd")
    command[at : at + 2] = []  # no results stream: pytest's own exit is enough here
    command[command.index("grading.engine.plugin") + 1 : command.index("grading.engine.plugin") + 1] = ["-p", "benchmarks.inprocess_plugin"]
    env = runner.judge_environment(limits) | {"PYTHONPATH": str(ROOT)}
    return command, env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submission", default=str(ROOT / "solutions"))
    parser.add_argument("--repeat", type=int, default=1, help="measure each command this many times, keep the best")
    args = parser.parse_args(argv)
    submission = Path(args.submission).resolve()
    files = runner.test_files(True)
    steps = [s.id for s in STEPS if any(step_of(f) and step_of(f).id == s.id for f in files)]
    print(f"submission {submission}; {len(files)} test files for steps {', '.join(steps)}; {os.cpu_count()} cores")

    def best(name, make):
        runs = [make() for _ in range(args.repeat)]
        return min(runs, key=lambda m: m.seconds)

    with tempfile.TemporaryDirectory() as tmp:
        a = best("(a) import floor", lambda: measure("(a)", IMPORT_FLOOR))
        b = best(
            "(b) grader",
            lambda: measure("(b)", [sys.executable, "-m", "grading", "run", "--submission", str(submission), "--json", f"{tmp}/r.json"]),
        )
        command, env = plain_pytest_command(submission, files)
        c = best("(c) plain pytest", lambda: measure("(c)", command, env))

        def per_step():
            total = Measured("(d)", 0.0, 0, 0, 0)
            for step in steps:
                step_files = [f for f in files if step_of(f).id == step]
                cmd, env_d = plain_pytest_command(submission, step_files)
                m = measure(step, cmd, env_d)
                total.seconds += m.seconds
                total.rss_kb, total.pss_kb = max(total.rss_kb, m.rss_kb), max(total.pss_kb, m.pss_kb)
                total.returncode = max(total.returncode, m.returncode)
            return total

        d = best("(d) pytest per step", per_step)

    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rows = [
        ("(a) import floor", a),
        ("(b) our grader", b),
        ("(c) one plain pytest process", c),
        (f"(d) one pytest process per step ({len(steps)})", d),
    ]
    print(f"\n{'':40} {'wall s':>8} {'peak RSS MB':>12} {'peak PSS MB':>12}  exit")
    for label, m in rows:
        print(f"{label:40} {m.seconds:8.2f} {m.rss_kb / 1024:12.0f} {m.pss_kb / 1024:12.0f}  {m.returncode}")
    print(f"\nlargest single process (ru_maxrss): {largest / 1024:.0f} MB")
    ratio_ba, ratio_db, ratio_bc = b.seconds / a.seconds, d.seconds / b.seconds, b.seconds / c.seconds
    print(f"(b)/(a) = {ratio_ba:.2f}  (target ≤ 1.5)  {'ok' if ratio_ba <= 1.5 else 'MISSED'}")
    print(f"(d)/(b) = {ratio_db:.2f}  (target ≥ 8)    {'ok' if ratio_db >= 8 else 'MISSED'}")
    print(f"(b)/(c) = {ratio_bc:.2f}  (the sandbox's and runner's cost over plain pytest)")
    peak_mb = b.pss_kb / 1024
    print(f"(b) peak memory of the process tree: {peak_mb:.0f} MB PSS, {b.rss_kb / 1024:.0f} MB RSS (target ≤ 1536 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
