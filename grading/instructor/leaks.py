"""Find solution code and hidden-test text in a tree that students will see.

Called by ``release`` on the student template before anything is written to
OUT. Two signals, each reported with the file and line where it appears:

* **Solution bodies.** From ``solutions/*.py`` (via ``ast``): the body of every
  function or method with at least 2 statements or 3 lines, and the field
  block of every class with at least 2 statements (``GPT2Config``'s fields).
  Trivial one-liners such as ``return a + b`` are too common to be a signal.
  A template ``.py`` file leaks a body when the same statements (compared as
  syntax trees, so formatting and comments do not matter) appear in a row in
  any of its blocks; any file, a guide included, leaks it when the body's
  lines appear in a row in its text (whitespace and comments ignored).
  A function that a starter gives students on purpose is marked in the
  solution with a ``# release: given`` comment on its ``def`` line.
* **Hidden-test text.** The distinctive lines of ``tests/hidden/*.py``: long
  enough to mean something (40 characters), not an import, and not part of
  any line of the visible checks, the grading package or the solutions
  (those ship or are checked above), so shared code never counts.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from .. import files

GIVEN = re.compile(r"#\s*release:\s*given")
MIN_STATEMENTS = 2
MIN_LINES = 3
MIN_HIDDEN_LINE = 40  # characters, after whitespace is collapsed: shorter lines are common code


@dataclass(frozen=True)
class Block:
    """A run of solution statements that must not ship."""

    name: str  # "GPT2MLP.forward"
    source: str  # "solutions/step_04.py"
    first: int
    last: int
    dumps: tuple[str, ...]  # one canonical syntax-tree dump per statement
    lines: tuple[str, ...]  # normalized text lines of the statements


@dataclass(frozen=True)
class Leak:
    path: str  # relative to the scanned tree
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def normalize_line(line: str) -> str:
    """A line as compared: comment dropped (crudely), whitespace collapsed."""
    line = line.split("#", 1)[0] if not line.lstrip().startswith(("'", '"')) else line
    return " ".join(line.split())


def _dump(stmt: ast.stmt) -> str:
    return ast.dump(stmt, annotate_fields=True, include_attributes=False)


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        if isinstance(body[0].value.value, str):
            return body[1:]
    return body


def _text_lines(source_lines: list[str], first: int, last: int) -> tuple[str, ...]:
    normalized = (normalize_line(line) for line in source_lines[first - 1 : last])
    return tuple(line for line in normalized if line)


def solution_blocks(solutions: Path) -> list[Block]:
    """Every solution body worth protecting, in file and line order."""
    blocks = []
    for path in sorted(Path(solutions).glob("*.py")):
        text = path.read_text(encoding="utf-8")
        source_lines = text.splitlines()
        rel = f"{Path(solutions).name}/{path.name}"

        def visit(node, prefix: str):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    name = f"{prefix}{child.name}"
                    header = source_lines[(child.decorator_list[0].lineno if child.decorator_list else child.lineno) - 1 : child.body[0].lineno - 1]
                    body = _without_docstring(child.body)
                    if body and not any(GIVEN.search(line) for line in header):
                        add(name, body)
                    visit(child, f"{name}.")
                elif isinstance(child, ast.ClassDef):
                    name = f"{prefix}{child.name}"
                    fields = [s for s in _without_docstring(child.body) if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
                    if len(fields) >= MIN_STATEMENTS:
                        add(f"{name} (class fields)", fields, span_rule=False)
                    visit(child, f"{name}.")

        def add(name: str, body: list[ast.stmt], span_rule: bool = True):
            first, last = body[0].lineno, max(s.end_lineno for s in body)
            if len(body) >= MIN_STATEMENTS or (span_rule and last - first + 1 >= MIN_LINES):
                blocks.append(Block(name, rel, first, last, tuple(_dump(s) for s in body), _text_lines(source_lines, first, last)))

        visit(ast.parse(text, filename=str(path)), "")
    return blocks


def hidden_lines(hidden: Path, shared: list[Path]) -> dict[str, str]:
    """Distinctive hidden-test lines → where they come from ("tests/hidden/x.py:12").

    A line that is part of any line of ``shared`` (the visible checks, the
    grading package, the solutions) is common code, not a secret."""
    common = "\n".join(" ".join(line.split()) for root in shared for path in files.walk(Path(root)) for line in _read(path).splitlines())
    found: dict[str, str] = {}
    for path in sorted(Path(hidden).glob("*.py")):
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = " ".join(raw.split())
            code = normalize_line(raw)
            if len(line) < MIN_HIDDEN_LINE or line in common or (len(code) >= MIN_HIDDEN_LINE and code in common):
                continue
            if line.startswith(("import ", "from ")) or not re.search(r"[A-Za-z0-9]", line):
                continue
            found.setdefault(line, f"tests/hidden/{path.name}:{number}")
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return ""


def _statement_lists(tree: ast.AST):
    """Every block of statements in a module: module, class, function, if/for/with/try bodies."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody", "handlers"):
            value = getattr(node, name, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield value
        if isinstance(node, ast.Match):
            for case in node.cases:
                yield case.body


def _find_run(haystack: list, needle: tuple) -> int:
    n = len(needle)
    for start in range(len(haystack) - n + 1):
        if tuple(haystack[start : start + n]) == needle:
            return start
    return -1


def scan(tree: Path, blocks: list[Block], hidden: dict[str, str]) -> list[Leak]:
    """Every place in ``tree`` where a solution block or a hidden line appears."""
    leaks: set[Leak] = set()
    tree = Path(tree)
    for path in files.walk(tree):
        rel = path.relative_to(tree).as_posix()
        text = _read(path)
        if not text:
            continue
        numbered = [(n, normalize_line(line)) for n, line in enumerate(text.splitlines(), 1)]
        numbered = [(n, line) for n, line in numbered if line]
        lines = [line for _, line in numbered]
        for block in blocks:
            at = _find_run(lines, block.lines) if block.lines else -1
            if at >= 0:
                leaks.add(Leak(rel, numbered[at][0], _what(block)))
        if path.suffix == ".py":
            try:
                module = ast.parse(text)
            except (SyntaxError, ValueError):
                module = None
            if module is not None:
                for statements in _statement_lists(module):
                    dumps = [_dump(s) for s in statements]
                    for block in blocks:
                        at = _find_run(dumps, block.dumps)
                        if at >= 0:
                            leaks.add(Leak(rel, statements[at].lineno, _what(block)))
        collapsed = "\n".join(" ".join(line.split()) for line in text.splitlines())
        for line, origin in hidden.items():
            at = collapsed.find(line)
            if at >= 0:
                leaks.add(Leak(rel, collapsed.count("\n", 0, at) + 1, f"a line of the hidden checks ({origin})"))
    return _one_per_place(leaks)


def _what(block: Block) -> str:
    return f"the body of {block.name} ({block.source}:{block.first}-{block.last})"


def _one_per_place(leaks: set[Leak]) -> list[Leak]:
    """The text and syntax matches of one block can land a line apart; keep the first."""
    kept: dict[tuple[str, str], Leak] = {}
    for leak in sorted(leaks, key=lambda l: (l.path, l.line, l.what)):
        kept.setdefault((leak.path, leak.what), leak)
    return sorted(kept.values(), key=lambda l: (l.path, l.line, l.what))


def check_tree(tree: Path, source: Path) -> list[Leak]:
    """Leaks of ``source``'s solutions and hidden checks into ``tree``."""
    source = Path(source)
    blocks = solution_blocks(source / "solutions")
    shared = [source / "tests" / "visible", source / "grading", source / "solutions"]
    hidden = hidden_lines(source / "tests" / "hidden", [p for p in shared if p.exists()])
    return scan(tree, blocks, hidden)
