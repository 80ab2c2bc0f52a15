"""How fast a student's check, one grading and a class regrade are, side by
side in one run, as ratios to the imports they cannot avoid:

    python benchmarks/class_speed.py [--clones 16] [--jobs 2] [--repeat 3]

- ``check 7`` on a finished step against ``python -c "import torch"`` (the
  visible checks never import transformers);
- ``run`` on the solutions against the import floor (``import torch,
  transformers.models.gpt2.modeling_gpt2``), and ``run`` on the starters
  (every check failing) against it on the solutions: a failed check is
  reported from its own message, so failing costs about what passing does;
- ``regrade --jobs 2`` over generated clones of the solutions: repositories a
  minute (and, since the target is absolute while this machine's speed
  drifts, how many import floors it took, the two taking turns), and the
  peak memory (PSS, so forked pages count once) of the whole process tree.
  The grades of every clone are compared with one lone ``run``.

Each timing is the best of ``--repeat``, taken with no memory polling (which
slows what it watches); the two commands of a ratio take turns. The
regrade's peak memory is polled in one more regrade of its own. Run it on a
quiet machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.grading_speed import IMPORT_FLOOR, measure  # noqa: E402
from grading.instructor.gradebook import json_path_for, load_entries  # noqa: E402

IMPORT_TORCH = [sys.executable, "-c", "import torch"]
GRADING = [sys.executable, "-m", "grading"]


def side_by_side(commands: dict[str, list[str]], repeat: int, cwd: Path = ROOT) -> dict:
    """The best of ``repeat`` timings of each command, the commands taking
    turns, so that a ratio of two compares the same minutes of a machine
    whose speed drifts."""
    runs: dict[str, list] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            run = measure(name, command, cwd=cwd, memory=False)
            assert run.returncode in (0, 1), f"{name} failed with exit code {run.returncode}"
            runs[name].append(run)
    return {name: min(timed, key=lambda run: run.seconds) for name, timed in runs.items()}


def make_classroom(root: Path, clones: int) -> Path:
    """``root/gpt2-submissions/gpt2-studentNN``: git clones holding the solutions."""
    subs = root / "gpt2-submissions"
    config = ["-c", "user.name=S", "-c", "user.email=s@example.com", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]
    for n in range(clones):
        repo = subs / f"gpt2-student{n:02d}"
        shutil.copytree(ROOT / "solutions", repo / "assignments")
        for args in (["init", "-q"], ["remote", "add", "origin", f"https://github.com/course/gpt2-student{n:02d}.git"],
                     ["add", "-A"], ["commit", "-q", "-m", "all steps"]):  # fmt: skip
            subprocess.run(["git", *config, "-C", str(repo), *args], check=True, capture_output=True)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clones", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    timed = side_by_side({"import torch": IMPORT_TORCH, "check 7": [*GRADING, "check", "7", "--submission", "solutions"]}, args.repeat)
    torch_floor, check = timed["import torch"], timed["check 7"]
    print(f"import torch:            {torch_floor.seconds:6.2f} s", flush=True)
    print(f"check 7 (finished step): {check.seconds:6.2f} s   check / import torch = {check.seconds / torch_floor.seconds:.2f}  (target <= 1.5)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        lone = Path(tmp) / "lone.json"
        run_command = [*GRADING, "run", "--submission", "solutions", "--json", str(lone)]
        starters_command = [*GRADING, "run", "--json", str(Path(tmp) / "starters.json")]
        timed = side_by_side({"import floor": IMPORT_FLOOR, "run": run_command, "run starters": starters_command}, args.repeat)
        floor, run, starters = timed["import floor"], timed["run"], timed["run starters"]
        print(f"import floor:            {floor.seconds:6.2f} s   (torch + transformers' GPT-2)", flush=True)
        print(f"run (solutions):         {run.seconds:6.2f} s   run / import floor = {run.seconds / floor.seconds:.2f}  (target <= 1.2)", flush=True)
        print(f"run (starters, 0/100):   {starters.seconds:6.2f} s   starters / solutions = {starters.seconds / run.seconds:.2f}  (every check failing)", flush=True)
        classroom = make_classroom(Path(tmp) / "classroom", args.clones)
        book = Path(tmp) / "gradebook.csv"
        regrade_command = [*GRADING, "regrade", str(classroom), "--jobs", str(args.jobs), "--fresh", "--out", str(book)]
        # The floor again, taking turns with the regrade: how fast the machine was meanwhile.
        timed = side_by_side({"import floor": IMPORT_FLOOR, "regrade": regrade_command}, args.repeat)
        floor, regrade = timed["import floor"], timed["regrade"]
        rate = 60 * args.clones / regrade.seconds
        print(f"regrade --jobs {args.jobs} of {args.clones} clones: {regrade.seconds:6.2f} s   {rate:.1f} repositories/min  (target >= 60)", flush=True)
        print(f"  = {regrade.seconds / floor.seconds:.2f} import floors of {floor.seconds:.2f} s, taken in turns with it", flush=True)
        polled = measure("regrade, memory polled", regrade_command)
        assert polled.returncode == 0, "the regrade failed"
        print(f"regrade peak memory:     {polled.pss_kb / 1024:6.0f} MB PSS ({polled.rss_kb / 1024:.0f} MB RSS)  (target < 2048 MB)", flush=True)
        expected = {t["name"]: (t["score"], t["status"]) for t in json.loads(lone.read_text())["tests"]}
        entries = load_entries(json_path_for(book))  # the last regrade's
        same = len(entries) == args.clones and all(
            {t["name"]: (t["score"], t["status"]) for t in e["results"]["tests"]} == expected for e in entries
        )
        with open(book, newline="") as fh:
            totals = sorted({row["total"] for row in csv.DictReader(fh)})

    print(f"regrade grades identical to a lone run, check by check: {same} ({len(entries)} repositories; totals {', '.join(totals)})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
