"""`python -m grading release`: the template and the bundle it writes, the
leak check (planted leaks must fail, naming file and line), the refusal to
overwrite, and byte-identical output.

One verified release of a snapshot of this repository is shared by the
module (it costs three grading runs); every other test is cheap.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from grading import files as manifest
from grading.instructor import leaks
from grading.instructor.cli_process import run_cli
from grading.instructor.release import GRADER_TOP, TEMPLATE_TOP, ReleaseError, release, write_trees

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "out")


def snapshot(dest: Path) -> Path:
    """A copy of this repository (helpers may be editing it while the suite runs)."""
    shutil.copytree(ROOT, dest, ignore=SKIP)
    return dest


def run_release(source: Path, out: Path, *extra: str):
    return run_cli(["release", out, *extra], cwd=source, timeout=900)


def files_of(tree: Path) -> dict[str, bytes]:
    return {p.relative_to(tree).as_posix(): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return snapshot(tmp_path_factory.mktemp("release") / "source")


@pytest.fixture(scope="module")
def released(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("release-out") / "out"
    proc = run_release(source, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


# --- the verified release ------------------------------------------------------------------


def test_release_verifies_with_progress_lines(released):
    _, proc = released
    assert "leak check: no solution body" in proc.stdout
    for n in (1, 2, 3):
        assert re.search(rf"\[{n}/3\] ok: ", proc.stdout), proc.stdout
    assert "reports all" in proc.stdout and "grades the template's starters 0/100" in proc.stdout
    assert "grades solutions/" in proc.stdout


def test_template_holds_exactly_what_students_need(released, source):
    template = released[0] / "template"
    assert sorted(p.name for p in template.iterdir()) == sorted(TEMPLATE_TOP)
    files = files_of(template)
    assert [f for f in files if f.startswith(".github/")] == [".github/workflows/classroom.yml"]
    assert sorted({f.split("/")[1] for f in files if f.startswith("tests/")}) == ["__init__.py", "conftest.py", "visible"]
    assert files[".devcontainer/devcontainer.json"] == (source / ".devcontainer" / "devcontainer.json").read_bytes()
    assert not any(f.startswith(("solutions/", "benchmarks/", "docs/", ".ci/", "tests/hidden/", "tests/suite/")) for f in files)
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    assert not any(f.startswith("grading/instructor/") for f in files), "the template ships the instructor tools"
    assert files["README.md"] == (source / "docs" / "student_readme.md").read_bytes()
    for starter in (source / "assignments").glob("*"):
        if starter.is_file():
            assert files[f"assignments/{starter.name}"] == starter.read_bytes()


def test_bundle_holds_the_grader_and_every_check(released, source):
    bundle = released[0] / "grader"
    assert sorted(p.name for p in bundle.iterdir()) == sorted(GRADER_TOP)
    files = files_of(bundle)
    for hidden in (source / "tests" / "hidden").glob("*.py"):
        assert files[f"tests/hidden/{hidden.name}"] == hidden.read_bytes()
    assert "tests/visible/__init__.py" in files and "grading/cli.py" in files
    assert "grading/instructor/release.py" in files
    assert not any(f.startswith(("assignments/", "solutions/", "tests/suite/", ".github/")) for f in files)


def test_both_trees_carry_the_template_manifest(released):
    template, bundle = released[0] / "template", released[0] / "grader"
    recorded = json.loads((template / "grading" / "manifest.json").read_text())
    assert (bundle / "grading" / "manifest.json").read_bytes() == (template / "grading" / "manifest.json").read_bytes()
    assert recorded == manifest.build_manifest(template)
    assert ".github/workflows/classroom.yml" in recorded["protected"]
    assert any(p.startswith("tests/visible/") for p in recorded["protected"])
    assert "grading/cli.py" in recorded["protected"]
    assert recorded["starters"] and all(name.startswith("step_") for name in recorded["starters"])
    # the bundle's grading package is the template's, so its hashes hold for both
    assert {k: v for k, v in manifest.build_manifest(bundle)["protected"].items() if k.startswith("grading/")} == {
        k: v for k, v in recorded["protected"].items() if k.startswith("grading/")
    }


def test_same_source_gives_byte_identical_trees(released, source, tmp_path):
    for attempt in ("a", "b"):
        write_trees(source, tmp_path / attempt)
        for tree in ("template", "grader"):
            assert files_of(tmp_path / attempt / tree) == files_of(released[0] / tree), (attempt, tree)


def test_refuses_a_non_empty_out_without_force(released, source):
    out = released[0]
    before = files_of(out)
    proc = run_release(source, out)
    assert proc.returncode != 0
    assert "not empty" in proc.stderr and "--force" in proc.stderr
    assert files_of(out) == before


def test_force_replaces_template_and_grader_only(source, tmp_path):
    out = tmp_path / "out"
    (out / "template").mkdir(parents=True)
    (out / "template" / "stale.txt").write_text("old")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ReleaseError, match="not empty"):
        release(source, out, check=False)
    release(source, out, force=True, check=False)
    assert not (out / "template" / "stale.txt").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "grader" / "tests" / "hidden").is_dir()


def test_refuses_to_write_over_the_source(source):
    with pytest.raises(ReleaseError, match="holds the source"):
        release(source, source.parent, force=True, check=False)


# --- planted leaks -------------------------------------------------------------------------


def planted_copy(source: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "source"
    shutil.copytree(source, copy)
    return copy


def largest_block(copy: Path) -> leaks.Block:
    return max(leaks.solution_blocks(copy / "solutions"), key=lambda b: (len(b.dumps), b.source))


def test_a_solution_body_planted_in_a_starter_fails_the_release(source, tmp_path):
    copy = planted_copy(source, tmp_path)
    block = largest_block(copy)
    solution = copy / block.source
    body = textwrap.dedent("\n".join(solution.read_text().splitlines()[block.first - 1 : block.last]))
    starter = copy / "assignments" / Path(block.source).name
    if not starter.exists():
        starter = copy / "assignments" / "step_01.py"
    lines = starter.read_text().splitlines()
    planted_at = len(lines) + 3  # after a blank line and the def line
    starter.write_text("\n".join(lines + ["", "def _looks_familiar(self, *args):", textwrap.indent(body, "    ")]) + "\n")

    proc = run_release(copy, tmp_path / "out")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"template/assignments/{starter.name}:{planted_at}: the body of {block.name}" in proc.stderr, proc.stderr
    assert not (tmp_path / "out" / "template").exists()


def test_a_solution_body_quoted_in_a_guide_fails_the_release(source, tmp_path):
    copy = planted_copy(source, tmp_path)
    block = largest_block(copy)
    body = textwrap.dedent("\n".join((copy / block.source).read_text().splitlines()[block.first - 1 : block.last]))
    guide = copy / "assignments" / "step_99_notes.md"
    guide.write_text("# Notes\n\nThe answer, in case you need it:\n\n```python\n" + body + "\n```\n")

    proc = run_release(copy, tmp_path / "out")
    assert proc.returncode == 1
    assert f"template/assignments/step_99_notes.md:6: the body of {block.name}" in proc.stderr, proc.stderr


def test_a_hidden_check_line_in_a_starter_fails_the_release(source, tmp_path):
    copy = planted_copy(source, tmp_path)
    hidden = leaks.hidden_lines(copy / "tests" / "hidden", [copy / "tests" / "visible", copy / "grading", copy / "solutions"])
    line, origin = sorted(hidden.items(), key=lambda item: item[1])[0]
    starter = copy / "assignments" / "step_01.py"
    lines = starter.read_text().splitlines()
    starter.write_text("\n".join(lines + [f"# {line}"]) + "\n")

    proc = run_release(copy, tmp_path / "out")
    assert proc.returncode == 1
    assert f"template/assignments/step_01.py:{len(lines) + 1}: a line of the hidden checks ({origin})" in proc.stderr, proc.stderr


# --- the leak detector on its own ------------------------------------------------------------


def write_solution(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step_01.py").write_text(textwrap.dedent(text))
    return folder


def test_one_liners_and_given_functions_are_not_leak_signals(tmp_path):
    solutions = write_solution(
        tmp_path / "solutions",
        '''
        def add(a, b):
            """Adds."""
            return a + b

        def given(x):  # release: given
            y = x * 2
            return y + 1

        class Model:
            def forward(self, x):
                h = self.fc(x)
                return self.out(h)
        ''',
    )
    names = [b.name for b in leaks.solution_blocks(solutions)]
    assert names == ["Model.forward"]


def test_syntax_matches_ignore_formatting_and_comments(tmp_path):
    solutions = write_solution(
        tmp_path / "solutions",
        """
        def forward(self, x):
            h = self.fc(x)  # (B, T, 4C)
            return self.out(h)
        """,
    )
    tree = tmp_path / "tree"
    (tree / "assignments").mkdir(parents=True)
    (tree / "assignments" / "step_01.py").write_text("class A:\n    def go(self, x):\n        h = self.fc( x )\n        return self.out(\n            h\n        )\n")
    found = leaks.scan(tree, leaks.solution_blocks(solutions), {})
    assert [str(leak) for leak in found] == ["assignments/step_01.py:3: the body of forward (solutions/step_01.py:3-4)"]


def test_every_solution_parses_for_the_leak_check():
    for path in (ROOT / "solutions").glob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
