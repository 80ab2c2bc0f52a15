"""Make your GPT-2 write: the payoff of the twelve steps.

    python assignments/generate.py "Once upon a time"
    python assignments/generate.py "The meaning of life is" --greedy --max-new-tokens 20
    python assignments/generate.py "Hello" --temperature 0.8 --top-k 40 --seed 3
    python assignments/generate.py "Hello" --model path/to/folder   # saved with save_pretrained

It builds YOUR ``GPT2LMHeadModel`` (step 11) from the step files next to this
script, loads OpenAI's GPT-2 weights into it through Hugging Face
``transformers`` (downloaded from the hub the first time, about 500 MB), and
prints the text your ``generate_tokens`` (step 12) writes. For comparison it
then prints what transformers' own GPT-2 writes with the same settings and the
same seed, side by side: with ``--greedy`` the two must agree token for token.
With sampling they agree token for token too when your step 12 draws as
Hugging Face does: logits / temperature, the top-k mask with -inf, softmax, and
``torch.multinomial`` over the whole vocabulary. Another correct sampler (among
the k kept tokens then ``gather``, Gumbel-max, ``torch.distributions.Categorical``)
writes other tokens here, but the grader grades sampling by its distribution,
not by one random stream, so it earns full marks all the same.

If a step is not finished yet, it tells you which one and stops.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = "openai-community/gpt2"

# Hugging Face's GPT-2 uses Conv1D layers, which store their weight as
# (in_features, out_features); nn.Linear stores (out_features, in_features).
# These are the only weights that differ: they are transposed when loading.
CONV1D_WEIGHTS = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"]
# Causal-mask buffers some transformers versions keep in the state dict; not weights.
HF_BUFFERS = (".attn.bias", ".attn.masked_bias")


class NotReady(Exception):
    """A step is not finished, or the weights do not fit: a message, no traceback."""


# -- loading OpenAI's weights into your model --------------------------------------


def config_from_hf(hf_config):
    """Your GPT2Config (step 01) with the sizes of a transformers GPT2Config."""
    from step_01 import GPT2Config

    return GPT2Config(
        vocab_size=hf_config.vocab_size,
        n_positions=hf_config.n_positions,
        n_embd=hf_config.n_embd,
        n_layer=hf_config.n_layer,
        n_head=hf_config.n_head,
        n_inner=hf_config.n_inner or 4 * hf_config.n_embd,  # null in GPT-2's config.json: 4 * n_embd
        layer_norm_epsilon=hf_config.layer_norm_epsilon,
    )


def load_hf_weights(model, hf_state_dict):
    """Copy a Hugging Face ``GPT2LMHeadModel`` state dict into ``model``.

    The keys are the same (``transformer.h.0.attn.c_attn.weight``, …); only the
    Conv1D weights in CONV1D_WEIGHTS are transposed. Every shape is asserted, so
    a mismatch fails loudly instead of loading garbage."""
    import torch

    theirs = {k: v for k, v in hf_state_dict.items() if not k.endswith(HF_BUFFERS)}
    theirs.setdefault("lm_head.weight", theirs["transformer.wte.weight"])  # GPT-2 ties them
    ours = model.state_dict()
    parameters = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    missing = sorted(parameters - theirs.keys())
    unexpected = sorted(theirs.keys() - ours.keys())
    if missing or unexpected:
        raise NotReady(
            "GPT-2's weights do not fit your model.\n"
            + (f"  Your model has parameters GPT-2 does not have: {', '.join(missing[:5])}\n" if missing else "")
            + (f"  GPT-2 has weights your model has no place for: {', '.join(unexpected[:5])}\n" if unexpected else "")
            + "  Compare your attribute names with the table in the step guides (wte, wpe, h, ln_1, attn, c_attn, ...)."
        )
    with torch.no_grad():
        for key, value in theirs.items():
            if any(key.endswith(name) for name in CONV1D_WEIGHTS):
                assert value.shape[::-1] == ours[key].shape, (
                    f"{key}: yours {tuple(ours[key].shape)}, GPT-2's transposed {tuple(value.shape[::-1])}"
                )
                ours[key].copy_(value.t())
            else:
                assert value.shape == ours[key].shape, (
                    f"{key}: yours {tuple(ours[key].shape)}, GPT-2's {tuple(value.shape)}"
                )
                ours[key].copy_(value)


# -- is every step ready? -----------------------------------------------------------

TINY = dict(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2, n_inner=32, layer_norm_epsilon=1e-5)


def _shape(value, shape, what):
    import torch

    if not isinstance(value, torch.Tensor):
        return f"{what} returned {'None' if value is None else type(value).__name__}, not a tensor"
    if tuple(value.shape) != tuple(shape):
        return f"{what} returned shape {tuple(value.shape)}, but {tuple(shape)} was expected"
    return None


def _smoke_tests():
    """One quick call per step, in course order, on a tiny model: each returns
    None when the step runs and gives the right shape, or what is wrong."""
    import torch

    torch.manual_seed(0)
    x, ids = torch.randn(2, 3, 8), torch.tensor([[1, 2, 3], [4, 5, 6]])

    def config(m):
        default = m.GPT2Config()
        empty = [name for name in TINY if getattr(default, name, None) is None]
        if empty:
            return f"GPT2Config has no value yet for {', '.join(empty)}"
        m.GPT2Config(**TINY)  # it must take the fields as keyword arguments (a dataclass)
        return None

    def tiny():
        return importlib.import_module("step_01").GPT2Config(**TINY)

    def generation(m):
        model = importlib.import_module("step_11").GPT2LMHeadModel(tiny()).eval()
        with torch.no_grad():
            next_token = m.generate_next_token(model, ids, do_sample=False)
            problem = _shape(next_token, (2,), "generate_next_token")
            tokens = m.generate_tokens(model, ids, max_new_tokens=2, do_sample=False)
            return problem or _shape(tokens, (2, 5), "generate_tokens(max_new_tokens=2)")

    return [
        ("01", config),
        ("02", lambda m: _shape(m.causal_mask(3), (3, 3), "causal_mask(3)")),
        ("03", lambda m: _shape(m.LayerNorm(8)(x), x.shape, "LayerNorm")),
        ("04", lambda m: _shape(m.GPT2MLP(32, tiny())(x), x.shape, "GPT2MLP")),
        ("05", lambda m: _shape(m.GPT2Embeddings(tiny())(ids), (2, 3, 8), "GPT2Embeddings")),
        ("06", lambda m: _shape(m.GPT2PositionEmbeddings(tiny())(torch.arange(3)), (3, 8), "GPT2PositionEmbeddings")),
        ("07", lambda m: _shape(m.GPT2MultiHeadAttention(tiny())(x), x.shape, "GPT2MultiHeadAttention")),
        (
            "08",
            lambda m: _shape(m.apply_residual_connection(x, x), x.shape, "apply_residual_connection")
            or _shape(m.ResidualBlock(8)(x, x), x.shape, "ResidualBlock"),
        ),
        ("09", lambda m: _shape(m.GPT2Block(tiny())(x), x.shape, "GPT2Block")),
        ("10", lambda m: _shape(m.GPT2Model(tiny())(ids), (2, 3, 8), "GPT2Model")),
        ("11", lambda m: _shape(m.GPT2LMHeadModel(tiny())(ids), (2, 3, 11), "GPT2LMHeadModel")),
        ("12", generation),
    ]


def _where(exc: BaseException) -> str:
    """' (step_07.py, line 42)' for the innermost frame in your files."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if path.parent == HERE and path.name.startswith("step_"):
            return f" ({path.name}, line {frame.lineno})"
    return ""


def check_steps():
    """Raise NotReady naming the first step that does not run yet."""
    import torch

    for step_id, smoke_test in _smoke_tests():
        number, filename = int(step_id), f"step_{step_id}.py"
        advice = (
            f"Finish it (the guide is assignments/step_{step_id}.md), check it with "
            f"`python -m grading check {number}`, then run this script again."
        )
        try:
            module = importlib.import_module(f"step_{step_id}")
            with torch.no_grad():
                problem = smoke_test(module)
        except ModuleNotFoundError as exc:
            if exc.name == f"step_{step_id}":
                raise NotReady(f"Step {step_id} is missing: there is no {filename} next to generate.py.")
            problem = f"importing it raised ModuleNotFoundError: {exc}{_where(exc)}"
        except NotImplementedError as exc:
            problem = f"{exc}{_where(exc)}"
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}{_where(exc)}"
        if problem:
            raise NotReady(
                f"Your model cannot run yet: step {step_id} ({filename}) is not finished.\n  {problem}\n{advice}"
            )


# -- generating ---------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Run your own GPT-2 on OpenAI's weights and compare it with transformers'."
    )
    parser.add_argument("prompt", help='the text to continue, e.g. "Once upon a time"')
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"hub name or local folder (default: {DEFAULT_MODEL})"
    )
    parser.add_argument("--max-new-tokens", type=int, default=30, help="how many tokens to add (default: 30)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: 1.0)")
    parser.add_argument("--top-k", type=int, default=50, help="sample among the k likeliest; 0: all (default: 50)")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed before each model writes (default: 0)")
    parser.add_argument("--greedy", action="store_true", help="always take the most likely token (no sampling)")
    args = parser.parse_args(argv)
    if args.max_new_tokens < 1:
        parser.error("--max-new-tokens must be at least 1")
    if args.temperature <= 0:
        parser.error("--temperature must be above 0 (use --greedy for the most likely token)")
    if args.top_k < 0:
        parser.error("--top-k must be 0 (all tokens) or more")
    return args


def load_reference(name: str):
    """transformers' GPT-2 and its tokenizer, from the hub or a local folder."""
    from transformers import AutoTokenizer
    from transformers import GPT2LMHeadModel as HFGPT2LMHeadModel

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        hf_model = HFGPT2LMHeadModel.from_pretrained(name).eval()
    except (OSError, ValueError) as exc:
        raise NotReady(
            f"Could not load GPT-2 from '{name}': {str(exc).splitlines()[0]}\n"
            "The first run downloads the weights from the Hugging Face hub (internet needed); "
            "or pass --model with a folder saved by save_pretrained."
        )
    return tokenizer, hf_model


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, str(HERE))  # your step files, as the grader imports them
    try:
        import torch

        check_steps()
        from step_11 import GPT2LMHeadModel
        from step_12 import generate_tokens

        tokenizer, hf_model = load_reference(args.model)
        model = GPT2LMHeadModel(config_from_hf(hf_model.config))
        try:
            load_hf_weights(model, hf_model.state_dict())
        except AssertionError as exc:
            raise NotReady(f"GPT-2's weights do not fit your model: {exc}")
        model.eval()

        input_ids = tokenizer(args.prompt, return_tensors="pt").input_ids  # (1, T)
        T = input_ids.shape[1]
        if T == 0:
            raise NotReady("The prompt is empty after tokenization: give some text to continue.")
        if T + args.max_new_tokens > hf_model.config.n_positions:
            raise NotReady(
                f"The prompt ({T} tokens) plus --max-new-tokens must fit in {hf_model.config.n_positions} positions."
            )

        sampling = {} if args.greedy else {"temperature": args.temperature, "top_k": args.top_k or None}
        settings = (
            "greedy"
            if args.greedy
            else f"sampling, temperature {args.temperature:g}, top-k {args.top_k or 'all'}, seed {args.seed}"
        )
        print(f"Prompt: {args.prompt!r}   ({settings}, {args.max_new_tokens} new tokens)\n", flush=True)

        torch.manual_seed(args.seed)
        try:
            with torch.no_grad():
                ours = generate_tokens(
                    model, input_ids, max_new_tokens=args.max_new_tokens, do_sample=not args.greedy, **sampling
                )
        except Exception as exc:
            raise NotReady(f"Your model raised {type(exc).__name__} while generating: {exc}{_where(exc)}")
        print("Your GPT-2:")
        print(tokenizer.decode(ours[0]), end="\n\n", flush=True)

        torch.manual_seed(args.seed)
        with torch.no_grad():
            theirs = hf_model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=args.max_new_tokens,
                do_sample=not args.greedy,
                **({"temperature": args.temperature, "top_k": args.top_k, "top_p": 1.0} if not args.greedy else {}),
                eos_token_id=None,  # yours does not stop at <|endoftext|>, so neither does this one
                pad_token_id=tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0,
            )
        print("transformers' GPT-2, same settings:")
        print(tokenizer.decode(theirs[0]), end="\n\n")
    except NotReady as exc:
        print(exc, file=sys.stderr)
        return 1

    if ours.shape == theirs.shape and torch.equal(ours, theirs):
        print("✅ Both models wrote exactly the same tokens.")
    else:
        n = min(ours.shape[1], theirs.shape[1])
        diff = (ours[0, :n] != theirs[0, :n]).nonzero()
        first = int(diff[0]) - T + 1 if len(diff) else n - T + 1
        print(f"⚠️  The two continuations differ from new token {first} on.")
        print(
            "   With --greedy they should be identical: if not, compare steps 11 and 12 with the guides."
            if args.greedy
            else "   With sampling they match only when your step 12 draws exactly as transformers does "
            "(logits / temperature, top-k mask with -inf, softmax, torch.multinomial over the whole vocabulary).\n"
            "   Sampling is graded by its distribution, so another correct sampler earns full marks all the same:\n"
            "   `python -m grading check 12` tells you whether yours is right."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
