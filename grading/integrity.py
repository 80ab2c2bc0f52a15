"""Integrity flags: what in a submission is worth a human look.

Called by ``grading.cli.grade`` after scoring; the flags go into the results
JSON as a top-level ``integrity`` list (each ``{kind, file, line, detail}``). They are for the instructor and never change a
score: the grade is already safe from all of this (the judge never runs
submission code), but a student who tried it is worth a conversation.

Two sources, both static (nothing here imports or runs submission code):

* a scan of the submission's Python files: imports of test or grader
  machinery (``pytest``, ``_pytest``, ``ctypes``, ``transformers``,
  ``grading``), ``os._exit``, writes to ``sys.modules``, signals and killing,
  new processes, file paths outside the submission, and planted files
  (``conftest.py``, ``pytest.ini``, ``sitecustomize.py``, ``*.pth``, …);
* the protected files (``.github/``, ``tests/visible/``, ``grading/``) of
  the submission's repository compared with the template's recorded hashes
  (``grading.files``), when the submission folder is a repository's
  ``assignments/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from . import files

SUSPECT_IMPORTS = {
    "pytest": "imports pytest, the grader's test runner",
    "_pytest": "imports pytest's internals",
    "ctypes": "imports ctypes (raw memory and C calls)",
    "transformers": "imports transformers, the library the grader compares against",
    "grading": "imports the grader's own package",
}
PLANTED = {
    "conftest.py", "pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini",
    "sitecustomize.py", "usercustomize.py", ".pytest.ini",
}  # fmt: skip
_CALLS = {
    ("os", "_exit"): ("exit", "calls os._exit, which ends the process at once"),
    ("os", "kill"): ("signal", "sends a signal to a process (os.kill)"),
    ("os", "killpg"): ("signal", "sends a signal to a process group (os.killpg)"),
    ("os", "abort"): ("exit", "calls os.abort"),
    ("signal", "signal"): ("signal", "installs a signal handler"),
    ("signal", "pthread_kill"): ("signal", "sends a signal to a thread"),
    ("signal", "alarm"): ("signal", "sets an alarm signal"),
    ("signal", "setitimer"): ("signal", "sets an interval timer signal"),
    ("os", "fork"): ("process", "starts a process (os.fork)"),
    ("os", "setsid"): ("process", "detaches a process into a new session (os.setsid)"),
    ("os", "system"): ("process", "runs a shell command (os.system)"),
    ("os", "execv"): ("process", "replaces the process (os.execv)"),
    ("os", "execvp"): ("process", "replaces the process (os.execvp)"),
    ("os", "getppid"): ("signal", "looks up its parent process (os.getppid)"),
    ("subprocess", "*"): ("process", "starts a program (subprocess)"),
    ("multiprocessing", "*"): ("process", "starts processes (multiprocessing)"),
}
_PATH_CALLS = {"open", "Path", "read_text", "read_bytes", "write_text", "write_bytes", "listdir", "scandir",
               "walk", "glob", "load", "loadtxt", "remove", "unlink", "rmtree", "chdir"}  # fmt: skip
_MAX_FILES = 200
_MAX_BYTES = 1_000_000


def flag(kind: str, file: str, line: int, detail: str) -> dict:
    return {"kind": kind, "file": file, "line": line, "detail": detail}


def scan(submission: Path, manifest_data: dict | None = None) -> list[dict]:
    """Every flag for the submission folder (and its repository, if known)."""
    submission = Path(submission).resolve()
    manifest_data = manifest_data or files.load_manifest()
    flags = scan_sources(submission, manifest_data)
    flags += protected_changes(submission, manifest_data)
    return flags


def scan_sources(submission: Path, manifest_data: dict | None = None) -> list[dict]:
    shipped = (manifest_data or {}).get("protected", {})
    flags = []
    for path in list(files.walk(submission))[:_MAX_FILES]:
        name = path.relative_to(submission).as_posix()
        if shipped.get(f"assignments/{name}") == files.sha256(path):
            continue  # a file the template shipped (generate.py), unchanged
        if path.name in PLANTED or path.suffix == ".pth":
            flags.append(flag("planted-file", name, 0, f"{path.name} in the submission folder; the grader ignores it"))
        if path.suffix != ".py":
            continue
        try:
            source = path.read_bytes()[:_MAX_BYTES].decode("utf-8", "replace")
            tree = ast.parse(source, filename=name)
        except (OSError, SyntaxError, ValueError):
            continue
        flags += _SourceScan(name).run(tree)
    return flags


class _SourceScan(ast.NodeVisitor):
    def __init__(self, file: str):
        self.file = file
        self.flags: list[dict] = []
        self.aliases: dict[str, str] = {}  # local name -> module or module.attr

    def run(self, tree) -> list[dict]:
        self.visit(tree)
        return self.flags

    def add(self, kind, node, detail):
        self.flags.append(flag(kind, self.file, getattr(node, "lineno", 0), detail))

    # imports
    def _imported(self, module: str, node):
        top = module.split(".")[0]
        if top in SUSPECT_IMPORTS:
            self.add("import", node, f"{SUSPECT_IMPORTS[top]} ({module})")

    def visit_Import(self, node):
        for alias in node.names:
            self._imported(alias.name, node)
            self.aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if node.level == 0:
            self._imported(module, node)
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
            if module in ("os", "signal") and (module, alias.name) in _CALLS:
                kind, detail = _CALLS[(module, alias.name)]
                self.add(kind, node, detail)
        self.generic_visit(node)

    # calls
    def _dotted(self, node) -> str:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(self.aliases.get(node.id, node.id))
            return ".".join(reversed(parts))
        return ""

    def visit_Call(self, node):
        name = self._dotted(node.func)
        module, _, attr = name.rpartition(".")
        for key in ((module, attr), (module.split(".")[0], "*")):
            if key in _CALLS:
                kind, detail = _CALLS[key]
                self.add(kind, node, detail)
                break
        if name in ("__import__", "importlib.import_module") and node.args and isinstance(node.args[0], ast.Constant):
            if isinstance(node.args[0].value, str):
                self._imported(node.args[0].value, node)
        if name.startswith("sys.modules.") and attr in ("update", "setdefault", "pop", "clear", "__setitem__", "popitem"):
            self.add("sys-modules", node, f"changes sys.modules ({attr})")
        if attr in _PATH_CALLS or name.split(".")[-1] in _PATH_CALLS:
            for arg in node.args[:1]:
                text = _literal_start(arg)
                if text and _outside(text):
                    self.add("file-outside", node, f"uses a path outside the submission: {text[:80]!r}")
        self.generic_visit(node)

    # sys.modules[...] = / del sys.modules[...]
    def _target(self, target, node, verb):
        if isinstance(target, ast.Subscript) and self._dotted(target.value) == "sys.modules":
            self.add("sys-modules", node, f"{verb} an entry of sys.modules")

    def visit_Assign(self, node):
        for target in node.targets:
            self._target(target, node, "replaces")
            if isinstance(target, ast.Attribute):
                base = self._dotted(target.value)
                if base.split(".")[0] in _PATCHED_MODULES:
                    self.add("monkeypatch", node, f"replaces {base}.{target.attr}")
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self._target(target, node, "deletes")
        self.generic_visit(node)


_PATCHED_MODULES = {"torch", "transformers", "pytest", "_pytest", "grading", "builtins", "sys", "os", "signal", "importlib"}


def _literal_start(node) -> str | None:
    """A string literal, or the literal start of an f-string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


def _outside(text: str) -> bool:
    if "\n" in text or len(text) > 300:
        return False
    return text.startswith(("/", "~")) or ".." in Path(text).parts


def repository_root(submission: Path) -> Path | None:
    """The student's repository: the parent of an ``assignments/`` folder."""
    submission = Path(submission).resolve()
    return submission.parent if submission.name == "assignments" else None


def protected_changes(submission: Path, manifest_data: dict) -> list[dict]:
    root = repository_root(submission)
    if root is None:
        return []
    try:
        recorded = manifest_data.get("protected", {})
        current = files.build_manifest(root)["protected"]
    except (OSError, ValueError):
        return []
    if not recorded:
        return []
    flags = []
    for name in sorted(set(recorded) | set(current)):
        if name not in current:
            detail = "was deleted"
        elif name not in recorded:
            detail = "was added"
        elif current[name] != recorded[name]:
            detail = "differs from the template"
        else:
            continue
        flags.append(flag("protected-file", name, 0, f"protected file {detail}"))
    return _grouped(flags)


def _grouped(flags: list[dict], most: int = 3) -> list[dict]:
    """Many protected files changed the same way in one folder read better as
    one flag ("27 protected files under grading/ were deleted")."""
    by_folder: dict[tuple[str, str], list[dict]] = {}
    for item in flags:
        folder = item["file"].rsplit("/", 1)[0] + "/" if "/" in item["file"] else item["file"]
        by_folder.setdefault((folder, item["detail"]), []).append(item)
    grouped = []
    for (folder, detail), items in by_folder.items():
        if len(items) > most:
            verb = detail.removeprefix("protected file ")
            grouped.append(flag("protected-file", folder, 0, f"{len(items)} protected files under {folder} {verb.replace('was', 'were').replace('differs', 'differ')}"))
        else:
            grouped.extend(items)
    return grouped
