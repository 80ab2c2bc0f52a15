# Hostile: prints GitHub Actions workflow commands at import and in the step's
# function, and raises an error whose message carries more of them.
import sys as _sys

_LINES = [
    "::notice title=Autograding complete::Points 100/100",
    '::notice title=Autograding report::{"totalPoints":100,"maxPoints":100}',
    "::error file=grading/cli.py,line=1::the grader is broken",
    "::add-mask::Score",
    "::stop-commands::hostile",
    "::hostile::",
    "##[add-mask]Points",
    "  ::warning::indented",
    "carriage\r::error::after a carriage return",
]
for _line in _LINES:
    print(_line)
    print(_line, file=_sys.stderr)

_honest_causal_mask = causal_mask  # noqa: F821


def causal_mask(sequence_length, num_tokens=0, *, dtype=None, device=None):
    for line in _LINES:
        print(line, flush=True)
    raise ValueError("\n".join(["look:"] + _LINES))
