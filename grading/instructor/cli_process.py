"""Run this grader's own command line in a subprocess, in a session of its
own that is ended afterwards, whatever the grader left running.

Called by ``release`` (its verification) and ``regrade`` (one grading per
repository), and by the project's own test suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Finished:
    returncode: int | None  # None: it was stopped at the time limit
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + ("\n" + self.stderr if self.stderr else "")


def run_cli(args: list[str], *, cwd: Path, timeout: float, env: dict | None = None) -> Finished:
    """``python -m grading ARGS`` in ``cwd`` (the grader tree to use);
    ``env`` replaces the environment (default: this process's)."""
    return run_module(["grading", *args], cwd=cwd, timeout=timeout, env=env)


def run_module(args: list[str], *, cwd: Path, timeout: float, env: dict | None = None) -> Finished:
    """``python -m MODULE ARGS`` (``args[0]`` is the module), as ``run_cli``."""
    environment = dict(os.environ if env is None else env, PYTHONDONTWRITEBYTECODE="1")
    environment.pop("PYTHONPATH", None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", *map(str, args)],
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the grader's leftovers, if any
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read().decode("utf-8", "replace"))
    return Finished(code, *texts)
