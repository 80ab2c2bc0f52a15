"""The gradebook ``regrade`` writes: a CSV with one row per student and a JSON
with every result in full, plus merging the gradebooks of several shards.

Called by ``grading.instructor.regrade``. It needs no torch, so the merge
also runs where torch is not installed:

    python -m grading.instructor.gradebook --out gradebook.csv shard-1.csv shard-2.csv ...

An *entry* is the plain data of one graded repository (``regrade`` builds
it): ``repository`` (its key, a path), ``username``, ``commit``,
``commit_date``, ``bundle``, ``error``, ``results`` (the results JSON or
None) and ``post_error``. Rows and entries are sorted by ``repository``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from ..config import STEPS
from ..report.model import Results
from ..report.text import flag_text, points

STEP_COLUMNS = [f"step_{step.id}" for step in STEPS]
COLUMNS = ["username", "repository", "commit", "commit_date", *STEP_COLUMNS, "total", "integrity", "error", "bundle"]


def integrity_text(flags) -> str:
    """Integrity flags in one cell."""
    return "; ".join(flag_text(flag) if isinstance(flag, dict) else str(flag) for flag in flags or [])


def row(entry: dict) -> dict[str, str]:
    """One CSV row; step points and total stay empty when the repository could not be graded."""
    results = Results.from_json(entry["results"]) if entry.get("results") else None
    by_step = {s.id: s for s in results.steps} if results else {}
    out = {
        "username": entry.get("username", ""),
        "repository": entry.get("repository", ""),
        "commit": entry.get("commit") or "",
        "commit_date": entry.get("commit_date") or "",
        "total": points(results.score) if results else "",
        "integrity": integrity_text(results.integrity if results else []),
        "error": entry.get("error") or "",
        "bundle": entry.get("bundle") or "",
    }
    for step, column in zip(STEPS, STEP_COLUMNS):
        out[column] = points(by_step[step.id].score) if step.id in by_step else ""
    return out


def _atomic_write(path: Path, text: str):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def csv_text(rows: list[dict]) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in sorted(rows, key=lambda r: r["repository"]):
        writer.writerow(r)
    return buffer.getvalue()


def write(entries: list[dict], csv_path: Path, json_path: Path, meta: dict | None = None):
    """Write the CSV and the full JSON of ``entries``."""
    entries = sorted(entries, key=lambda e: e["repository"])
    _atomic_write(json_path, _json_text(meta or {}, entries))
    _atomic_write(csv_path, csv_text([row(e) for e in entries]))


def _json_text(meta: dict, entries: list[dict]) -> str:
    """The gradebook JSON, unindented: each entry holds a submission's whole
    results (about 150 kB), and a regrade saves the book every 15 s;
    json's indented output is written by its Python encoder, four times slower."""
    return json.dumps({**meta, "repositories": entries}, sort_keys=True) + "\n"


def load_entries(json_path: Path) -> list[dict]:
    """Entries of a gradebook JSON; none if it does not exist."""
    path = Path(json_path)
    if not path.exists():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("repositories", []))


def json_path_for(csv_path: Path) -> Path:
    return Path(csv_path).with_suffix(".json")


class MergeError(Exception):
    pass


def merge(csv_paths: list[Path], out: Path) -> tuple[int, bool]:
    """Merge shard gradebooks into ``out`` (and their JSONs, when every shard has one).

    Returns (rows written, whether the JSON was merged too). A repository in two
    shards with different rows is an error: shards must not overlap."""
    rows: dict[str, dict] = {}
    for path in csv_paths:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != COLUMNS:
                raise MergeError(f"{path} does not have the gradebook's columns ({', '.join(COLUMNS)})")
            for r in reader:
                key = r["repository"]
                if key in rows and rows[key] != r:
                    raise MergeError(f"{key} is in more than one shard, with different rows ({path})")
                rows[key] = r
    jsons = [json_path_for(p) for p in csv_paths]
    merged_json = all(p.exists() for p in jsons)
    if merged_json:
        entries: dict[str, dict] = {}
        metas = []
        for path in jsons:
            data = json.loads(path.read_text(encoding="utf-8"))
            metas.append({k: v for k, v in data.items() if k not in ("repositories", "shard")})
            for entry in data.get("repositories", []):
                entries[entry["repository"]] = entry
        meta = metas[0] if metas and all(m == metas[0] for m in metas) else {}
        _atomic_write(json_path_for(out), _json_text(meta, sorted(entries.values(), key=lambda e: e["repository"])))
    _atomic_write(out, csv_text(list(rows.values())))
    return len(rows), merged_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.gradebook", description="Merge shard gradebooks into one.")
    parser.add_argument("csvs", nargs="+", metavar="CSV", help="the shards' gradebook CSVs")
    parser.add_argument("--out", required=True, help="the merged gradebook CSV (its JSON is written next to it)")
    args = parser.parse_args(argv)
    try:
        count, merged_json = merge([Path(p) for p in args.csvs], Path(args.out))
    except (MergeError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    note = f" and {json_path_for(Path(args.out))}" if merged_json else " (no JSON: not every shard had one)"
    print(f"merged {len(args.csvs)} gradebooks, {count} students, into {args.out}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
