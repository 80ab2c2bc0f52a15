"""The regrade's progress: a bar on a terminal, one line per finished
repository otherwise. Called by ``grading.instructor.regrade``.
"""

from __future__ import annotations

import sys
import time

from ..report.text import points


class Progress:
    """A bar on a terminal; one line per finished repository otherwise."""

    def __init__(self, total: int, bar=None, lines=None):
        self.total, self.done, self.errors, self.skipped = total, 0, 0, 0
        self.bar = bar or sys.stderr
        self.lines = lines or sys.stdout
        self.tty = self.bar.isatty()
        self.started = time.monotonic()

    def update(self, entry: dict):
        self.done += 1
        self.errors += bool(entry.get("error"))
        self.skipped += bool(entry.get("skipped"))
        if self.tty:
            width = 30
            filled = int(width * self.done / max(1, self.total))
            elapsed = time.monotonic() - self.started
            eta = elapsed / self.done * (self.total - self.done) if self.done else 0
            self.bar.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} repos"
                f"  {self.errors} errors  {self.skipped} skipped  {_clock(elapsed)} elapsed, ~{_clock(eta)} left "
            )
            if self.done == self.total:
                self.bar.write("\n")
            self.bar.flush()
        else:
            if entry.get("error"):
                outcome = f"error: {entry['error']}"
            else:
                results = entry["results"]
                outcome = f"{points(results['score'])}/{points(results['max_score'])}"
                outcome += " (already graded)" if entry.get("skipped") else f" ({entry.get('seconds', 0):.0f} s)"
            commit = (entry.get("commit") or "")[:8]
            print(f"[{self.done}/{self.total}] {entry['repository']} {commit} {outcome}".replace("  ", " "), file=self.lines, flush=True)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"
