"""assignments/generate.py, the students' payoff, run the way a student runs it
(`python generate.py "prompt" ...` from a folder of step files), offline,
against a tiny GPT-2 checkpoint and a tiny word-level tokenizer saved with
save_pretrained: with the solutions it writes what transformers writes; with
unfinished steps it names the first one and stops without a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

WORDS = (
    "<unk> <eos> once upon a time there was little cat who sat on the mat and dog ran to see "
    "it big red sun in sky day night tree house by sea old man said hello world"
).split()
PROMPT = "once upon a time"
SOLVED = [ROOT / "solutions" / f"step_{i:02d}.py" for i in range(1, 13)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny random GPT-2 and its tokenizer, saved side by side in one folder."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", eos_token="<eos>").save_pretrained(folder)

    torch.manual_seed(4)  # its greedy path is varied (5 different words) with clear margins
    config = GPT2Config(
        vocab_size=len(WORDS), n_positions=24, n_embd=32, n_layer=2, n_head=4,
        bos_token_id=1, eos_token_id=1,  # like GPT-2: <|endoftext|> is both
    )  # fmt: skip
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            torch.nn.init.normal_(p, std=1.0)
    model.save_pretrained(folder)
    return folder


def _folder(tmp_path: Path, steps: dict[str, Path]) -> Path:
    """A student's folder: the given step files and generate.py."""
    folder = tmp_path / "assignments"
    folder.mkdir()
    for name, source in steps.items():
        shutil.copy(source, folder / name)
    shutil.copy(ROOT / "assignments" / "generate.py", folder / "generate.py")
    return folder


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, str(folder / "generate.py"), *args],
        cwd=folder.parent, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def _expected_greedy(checkpoint: Path, new_tokens: int) -> str:
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = GPT2LMHeadModel.from_pretrained(checkpoint).eval()
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=new_tokens, eos_token_id=None, pad_token_id=1)
    assert out.shape[1] == ids.shape[1] + new_tokens
    return tokenizer.decode(out[0])


def _needs_all_solutions():
    missing = [p.name for p in SOLVED if not p.exists()]
    if missing:
        pytest.skip(f"solutions not written yet: {missing}")


@pytest.mark.parametrize(
    "settings",
    [["--greedy"], ["--temperature", "0.8", "--top-k", "5", "--seed", "3"], ["--top-k", "0", "--seed", "1"]],
    ids=["greedy", "temperature0.8-top5", "all-tokens"],
)
def test_solutions_write_what_transformers_writes(tmp_path, checkpoint, settings):
    _needs_all_solutions()
    folder = _folder(tmp_path, {p.name: p for p in SOLVED})
    run = _run(folder, PROMPT, "--model", str(checkpoint), "--max-new-tokens", "12", *settings)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "Your GPT-2:" in run.stdout and "transformers' GPT-2, same settings:" in run.stdout
    assert "✅ Both models wrote exactly the same tokens." in run.stdout, run.stdout
    if settings == ["--greedy"]:
        assert _expected_greedy(checkpoint, 12) in run.stdout


def test_starters_name_step_01_and_stop_cleanly(tmp_path, checkpoint):
    starters = {p.name: p for p in sorted((ROOT / "assignments").glob("step_*.py"))}
    folder = _folder(tmp_path, starters)
    run = _run(folder, PROMPT, "--model", str(checkpoint))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr, run.stderr
    assert "step 01 (step_01.py) is not finished" in run.stderr
    assert "python -m grading check 1`" in run.stderr
    assert "Your GPT-2:" not in run.stdout


def test_first_unfinished_step_is_named(tmp_path, checkpoint):
    _needs_all_solutions()
    steps = {p.name: p for p in SOLVED[:10]}
    steps |= {name: ROOT / "assignments" / name for name in ("step_11.py", "step_12.py")}
    folder = _folder(tmp_path, steps)
    run = _run(folder, PROMPT, "--model", str(checkpoint))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr, run.stderr
    assert "step 11 (step_11.py) is not finished" in run.stderr
    assert "TODO 4" in run.stderr and "(step_11.py, line" in run.stderr


def test_missing_step_file_is_named(tmp_path, checkpoint):
    _needs_all_solutions()
    folder = _folder(tmp_path, {p.name: p for p in SOLVED if p.name != "step_07.py"})
    run = _run(folder, PROMPT, "--model", str(checkpoint))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr, run.stderr
    assert "Step 07 is missing" in run.stderr
