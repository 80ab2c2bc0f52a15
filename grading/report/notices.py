"""GitHub Actions workflow commands: the Classroom notices, and keeping
everything else inert.

Called by the ``run`` command (and by ``post`` for its annotations). Only the grader speaks to the
Actions runner: text that may come from a submission is printed inside a
``::stop-commands::`` block with an unguessable token, and every line that
would still look like a command is escaped.
"""

from __future__ import annotations

import re
import secrets
import sys
from contextlib import contextmanager

from .model import Results

_COMMAND_LINE = re.compile(r"(?:^|(?<=\r))([ \t\f\v]*)::", re.MULTILINE)  # the runner also ends lines at \r
_LEGACY_COMMAND = re.compile(r"##\[")  # the runner's older "##[command]" form, matched anywhere in a line


def neutralize(text: str) -> str:
    """Make every line that starts like a workflow command plain text."""
    text = _LEGACY_COMMAND.sub("#\u200b#[", text)
    return _COMMAND_LINE.sub(lambda m: m.group(1) + ":\u200b:", text)


@contextmanager
def inert_output(stream=None):
    """Within this block the runner ignores workflow commands."""
    stream = stream or sys.stdout
    token = secrets.token_hex(16)
    print(f"::stop-commands::{token}", file=stream, flush=True)
    try:
        yield
    finally:
        print(f"::{token}::", file=stream, flush=True)


def classroom_notices(results: Results) -> list[str]:
    """The two lines GitHub Classroom reads (docs/architecture.md, Publish),
    in whole points: Classroom's grade export turns a fractional total into 0.
    The exact score stays in the results JSON and the feedback."""
    total, maximum = results.classroom_points, results.classroom_max
    return [
        f"::notice title=Autograding complete::Points {total}/{maximum}",
        f'::notice title=Autograding report::{{"totalPoints":{total},"maxPoints":{maximum}}}',
    ]


def escape_data(text: str) -> str:
    """Escape a workflow command's message (the part after the last ::)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (file=..., title=...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
