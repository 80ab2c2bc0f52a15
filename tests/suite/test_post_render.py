"""What ``grading post`` shows, checked against fixed results JSON fixtures
(tests/suite/fixtures/results_*.json): the job summary, the Feedback pull
request comment with its history, and the annotations. Also keeps
docs/feedback.md in step with the renderer:

    python -m tests.suite.test_post_render     # rewrites the example in docs/feedback.md
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path


from grading.github import feedback, markdown, summary
from grading.report.model import Results


def _on_model(render):
    """The renderers read the results model; the fixtures are results JSON."""
    return lambda res, *args, **kwargs: render(Results.from_json(res), *args, **kwargs)


class gr:  # the renderers under test, by the names the checks below use
    job_summary = staticmethod(_on_model(summary.job_summary))
    annotations = staticmethod(_on_model(summary.annotations))
    feedback_comment = staticmethod(_on_model(feedback.feedback_comment))
    read_history, Entry, _history_block = feedback.read_history, feedback.Entry, feedback._history_block
    MARKER, HISTORY_KEPT, HISTORY_SHOWN = feedback.MARKER, feedback.HISTORY_KEPT, feedback.HISTORY_SHOWN
    COMMENT_BUDGET, COMMENT_LIMIT, SUMMARY_BUDGET, size = feedback.COMMENT_BUDGET, feedback.COMMENT_LIMIT, summary.SUMMARY_BUDGET, markdown.size

FIXTURES = Path(__file__).parent / "fixtures"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "feedback.md"
SHA = "0123456789abcdef0123456789abcdef01234567"
RUN = "https://github.com/classroom/gpt2-student/actions/runs/7"


def results(name: str) -> dict:
    return json.loads((FIXTURES / f"results_{name}.json").read_text())


def comment(res: dict, **kw) -> str:
    options = dict(sha=SHA, run_url=RUN, server_url="https://github.com", repository="classroom/gpt2-student", time="2026-11-21T05:00:00Z")
    return gr.feedback_comment(res, **(options | kw))


def table_row(text: str, step_id: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {step_id} · "))


# -- the four fixtures -------------------------------------------------------------


def test_all_passed():
    res = results("all_passed")
    summary, body = gr.job_summary(res), comment(res)
    for text in (summary, body):
        assert "GPT-2 autograder: 100/100" in text
        assert text.count("✅ passed") == 12
        assert "Checks to fix" not in text and "<details>" not in text
        assert "🎉 Every check passed" in text
    assert gr.annotations(res) == []


def test_partly_passed():
    res = results("partial")
    summary = gr.job_summary(res)
    assert summary.startswith("## 🤖 GPT-2 autograder: 20.5/100 (Classroom: 21/100)\n")
    assert table_row(summary, "01") == "| 01 · Create Model Configuration | ✅ passed | 4/4 | 1/1 |"
    assert table_row(summary, "04") == "| 04 · Build the Feed-Forward Network | ⚠️ partial | 3.5/7 | 1/2 |"
    assert table_row(summary, "05") == "| 05 · Add Token Embeddings | ❌ failed | 0/5 | 0/1 |"
    assert table_row(summary, "12") == "| 12 · Generate Text | ⏳ not started | 0/14 | 0/1 |"
    assert "### Checks to fix (2)" in summary
    assert summary.count("<details>") == summary.count("</details>") == 2
    assert "<summary>❌ Step 04 · GPT2MLP output matches transformers [B2-T5-embd64]</summary>" in summary
    assert "```text\nGPT2MLP returned shape (2, 5, 256) but (2, 5, 64) was expected: is c_proj missing from forward?\n```" in summary
    assert "**Hint:** `forward` should be `c_proj(gelu(c_fc(x)))`, with the tanh approximation of GELU." in summary
    assert "📍 `assignments/step_04.py`, line 41, in `GPT2MLP.forward`" in summary
    assert "What your code printed:\n\n```text\ndebug: x.shape = torch.Size([2, 5, 256])\n```" in summary
    assert "IndexError: index out of range in self" in summary
    assert "⏳ **Not started yet:** steps 06, 07, 08, 09, 10, 11, 12." in summary
    assert "NotImplementedError" not in summary  # not-started steps are not listed check by check
    assert comment(res).count("<details>") == 2


def test_nothing_started():
    res = results("not_started")
    summary = gr.job_summary(res)
    assert "GPT-2 autograder: 0/100" in summary
    assert summary.count("⏳ not started") == 12
    assert "Checks to fix" not in summary and "<details>" not in summary
    assert "**Not started yet:** steps 01, 02, 03" in summary
    assert gr.annotations(res) == []  # the starters' TODOs are not news


def test_hidden_failure_shows_name_and_hint_only():
    res = results("hidden_failure")
    summary, body, notes = gr.job_summary(res), comment(res), gr.annotations(res)
    for text in (summary, body, "\n".join(notes)):
        assert "SECRET" not in text
        assert "tests/hidden" not in text and "test_causal_long" not in text and "allclose" not in text
        assert "attention is causal for longer sequences [B1-T9-heads4]" in text
        assert "check the mask you add before the softmax" in text
    assert "(hidden check)</summary>" in summary
    assert "📍 `assignments/step_07.py`, line 63" in summary
    assert notes == [
        "::error file=assignments/step_07.py,line=63,title=Step 07%3A attention is causal for longer sequences [B1-T9-heads4]"
        "::A hidden check failed here: attention is causal for longer sequences [B1-T9-heads4].%0A"
        "Hint: Each position may only attend to itself and earlier positions: check the mask you add before the softmax."
    ]


def test_visible_only_grading_says_so_plainly():
    res = results("partial")
    assert "visible checks only" not in gr.job_summary(res)
    res["hidden_tests_used"] = False
    for text in (gr.job_summary(res), comment(res)):
        assert "> [!WARNING]\n> **Graded with the visible checks only.**" in text


# -- the comment: marker, history, size ---------------------------------------------


def test_comment_marker_links_and_history_block():
    body = comment(results("partial"))
    assert body.startswith(gr.MARKER + "\n")
    assert f"commit [`0123456`](https://github.com/classroom/gpt2-student/commit/{SHA})" in body
    assert f"[see the full run]({RUN})" in body
    assert body.rstrip().endswith("-->")
    [entry] = gr.read_history(body)
    assert entry == gr.Entry(SHA, "2026-11-21T05:00:00Z", 20.5, 100.0, RUN)


def test_history_accumulates_and_reruns_replace_their_row():
    body = None
    for i, name in enumerate(["not_started", "partial", "partial", "all_passed"]):
        sha = f"{i:040x}" if i != 2 else f"{1:040x}"  # the third run re-grades the second commit
        body = comment(results(name), previous_body=body, sha=sha, time=f"2026-11-2{i}T05:00:00Z")
    history = gr.read_history(body)
    assert [(e.sha[-1], e.score) for e in history] == [("0", 0.0), ("1", 20.5), ("3", 100.0)]
    assert "| 3 | [`0000000`]" in body  # newest first
    rows = [line for line in body.splitlines() if re.match(r"\| \d+ \| ", line)]
    assert [row.split(" | ")[0] for row in rows] == ["| 3", "| 2", "| 1"]


def test_history_ignores_malformed_and_forged_blocks():
    assert gr.read_history(None) == []
    assert gr.read_history("<!-- gpt2-autograder:history not json -->") == []
    bad = '<!-- gpt2-autograder:history [{"sha":"zz","time":"x","score":1,"max":2},{"sha":"abcdef1","time":"2026-01-01T00:00:00Z","score":"9","max":100}] -->'
    assert gr.read_history(bad) == []
    # a block that is not at the very end (e.g. inside a check's message) is not ours
    good = '<!-- gpt2-autograder:history [{"sha":"abcdef1","time":"2026-01-01T00:00:00Z","score":1,"max":100}] -->'
    assert gr.read_history(good + "\ntrailing text") == []
    assert len(gr.read_history(good)) == 1


def test_history_is_capped():
    history = [gr.Entry(f"{i:07x}", "2026-01-01T00:00:00Z", 1.0, 100.0) for i in range(gr.HISTORY_KEPT)]
    body = comment(results("partial"), previous_body=gr._history_block(history))
    kept = gr.read_history(body)
    assert len(kept) == gr.HISTORY_KEPT and kept[-1].sha == SHA
    assert f"… and {gr.HISTORY_KEPT - gr.HISTORY_SHOWN} earlier pushes" in body


def huge_results() -> dict:
    res = results("partial")
    base = next(t for t in res["tests"] if t["extra_data"]["step"] == "04" and t["status"] == "failed")
    for i in range(400):
        t = copy.deepcopy(base)
        t["extra_data"]["title"] = f"GPT2MLP output matches transformers [case-{i}]"
        t["extra_data"]["message"] = f"case {i}: " + "x" * 5000
        t["extra_data"]["output"] = "printed\n" * 1000
        res["tests"].append(t)
    return res


def test_comment_stays_under_githubs_limit_and_keeps_its_history():
    res = huge_results()
    previous = comment(results("partial"), sha="f" * 40)
    body = comment(res, previous_body=previous)
    assert gr.size(body) <= gr.COMMENT_BUDGET < gr.COMMENT_LIMIT
    assert body.startswith(gr.MARKER)
    assert [e.sha for e in gr.read_history(body)] == ["f" * 40, SHA]
    assert "Checks to fix (402)" in body
    assert body.count("<details>") == body.count("</details>")
    summary = gr.job_summary(res)
    assert gr.size(summary) <= gr.SUMMARY_BUDGET


# -- untrusted text -----------------------------------------------------------------


def hostile_results() -> dict:
    res = results("partial")
    test = next(t for t in res["tests"] if t["extra_data"]["step"] == "05")
    test["extra_data"]["message"] = (
        "boom\n::set-output name=score::100\n::notice title=Autograding report::{\"totalPoints\":100}\r\n"
        "```\n</details><img src=x onerror=alert(1)> @octocat 100% "
        '<!-- gpt2-autograder:history [{"sha":"deadbee","time":"2026-01-01T00:00:00Z","score":100,"max":100}] -->'
    )
    test["extra_data"]["output"] = "```` fence\n::error::fake"
    test["extra_data"]["location"] = {"file": "step_05.py", "line": 28, "function": "forward`</summary>"}
    return res


def test_student_text_cannot_become_a_workflow_command():
    notes = gr.annotations(hostile_results())
    assert all(line.count("\n") == 0 and "\r" not in line for line in notes)
    assert all(line.startswith("::error file=assignments/step_0") for line in notes)
    first = notes[0]
    assert "%0A::set-output name=score::100%0A::notice" in first
    assert "100%25" in first


def test_student_text_cannot_format_the_comment_or_forge_history():
    body = comment(hostile_results())
    assert [e.sha for e in gr.read_history(body)] == [SHA]
    assert body.count("<!-- gpt2-autograder:history") == 1  # only ours, at the end
    assert "@octocat" not in body and "@\u200boctocat" in body  # nobody is pinged
    # the message sits in a fence longer than any backtick run in it ...
    start = body.index("````text\nboom\n")
    end = body.index("\n````\n", start)
    assert "</details><img src=x" in body[start:end]
    # ... and the printed output in one longer than its own "````"
    assert "`````text\n```` fence\n::error::fake\n`````" in body
    assert "in `forwardsummary`" in body  # the function name lost its backtick and markup


def test_annotations_most_useful_first_and_at_most_ten():
    res = results("partial")
    base = next(t for t in res["tests"] if t["extra_data"]["step"] == "04" and t["status"] == "failed")
    for i in range(15):
        t = copy.deepcopy(base)
        t["extra_data"]["location"] = {"file": "step_04.py", "line": 100 + i, "function": "f"}
        res["tests"].append(t)
    for _ in range(3):  # three checks failing on the same line of step 04
        t = copy.deepcopy(base)
        t["extra_data"]["location"] = {"file": "step_04.py", "line": 7, "function": "f"}
        res["tests"].append(t)
    bad = copy.deepcopy(base)
    bad["extra_data"]["location"] = {"file": "../../etc/passwd,line=1.py", "line": 1, "function": "f"}
    res["tests"].append(bad)
    notes = gr.annotations(res)
    assert len(notes) == 10
    assert notes[0].startswith("::error file=assignments/step_05.py,line=28,")  # an exception in their code
    assert notes[1].startswith("::error file=assignments/step_04.py,line=7,")  # three checks on one line
    assert notes[1].endswith("(3 failing checks point to this line.)")
    assert not any("passwd" in n for n in notes)


def test_annotation_properties_are_escaped():
    res = results("partial")
    t = next(t for t in res["tests"] if t["extra_data"]["step"] == "05")
    t["extra_data"]["title"] = "a, b: c%"
    [note, _] = gr.annotations(res)
    assert note.startswith("::error file=assignments/step_05.py,line=28,title=Step 05%3A a%2C b%3A c%25::")


# -- docs/feedback.md ---------------------------------------------------------------

BEGIN, END = "<!-- begin: example comment (generated) -->", "<!-- end: example comment (generated) -->"


def example_comment() -> str:
    """The comment a student sees on their third push, from the partial fixture."""
    server, repo = "https://github.com", "classroom/gpt2-student"
    body = None
    for i, (name, when) in enumerate([("not_started", "2026-11-18T16:02:11Z"), ("partial", "2026-11-19T20:45:37Z")]):
        res = results(name)
        if i == 1:
            res["score"], res["steps"][3]["score"] = 13.5, 0.0  # an earlier, lower score
        body = gr.feedback_comment(res, previous_body=body, sha=f"{i + 7:x}" * 40, run_url=f"{server}/{repo}/actions/runs/{1000 + i}",
                                   server_url=server, repository=repo, time=when)
    return gr.feedback_comment(results("partial"), previous_body=body, sha="c0ffee" + "1" * 34, run_url=f"{server}/{repo}/actions/runs/1002",
                               server_url=server, repository=repo, time="2026-11-21T09:14:03Z")


def docs_block() -> str:
    return f"{BEGIN}\n\n{example_comment()}\n{END}"


def test_docs_show_what_the_renderer_writes():
    text = DOCS.read_text()
    assert BEGIN in text and END in text, "docs/feedback.md lost its generated example"
    current = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert current == docs_block(), "docs/feedback.md is out of date: run `python -m tests.suite.test_post_render`"


if __name__ == "__main__":
    text = DOCS.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOCS.write_text(text[:start] + docs_block() + text[end:])
    print(f"updated {DOCS}")
