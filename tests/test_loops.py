"""Retry loops over subgraphs, local verdicts (`gate`), and runs that can never go on (issue 10, slice A).

Provider steps run on the emulator over the real SDKs, in a subprocess pointed
at an emulator in this process, whose scripted responder decides every answer
(so a test knows which verdict fails and what each round answers). What is
asserted is what the run stored: results, attempts, and re-run rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from conftest import ROOT
from octo.cli.main import main
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.base.encoding import decode_output

KEY = "sk-test-loops"


def octoc(*args, emulator=None, env=None):
    """octoc in a subprocess; with ``emulator``, OpenAI's base URL points at it."""
    full = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "OCTO_CRASHPOINT"}
    if emulator is not None:
        full.update({"OPENAI_BASE_URL": f"{emulator.url}/v1", "OPENAI_API_KEY": KEY})
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "octo", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=full, timeout=120)


def stored(run_dir, step: str) -> dict[str, tuple]:
    """unit id → (state, output, reason) of ``step``."""
    with sqlite3.connect(run_dir / "run.db") as db:
        rows = db.execute("SELECT u.id, r.state, r.output, r.reason FROM results r JOIN units u ON u.pos = r.unit "
                          "WHERE r.step = ?", (step,)).fetchall()
    return {uid: (state, decode_output(out) if out is not None else None, reason) for uid, state, out, reason in rows}


def attempts(run_dir, step: str) -> dict[str, list[tuple]]:
    """unit id → [(round, try, verdict, prompt)] of ``step``, in order."""
    with sqlite3.connect(run_dir / "run.db") as db:
        rows = db.execute("SELECT u.id, a.round, a.try, a.verdict, a.request FROM attempts a JOIN units u ON u.pos = a.unit "
                          "WHERE a.step = ? ORDER BY a.id", (step,)).fetchall()
    out: dict[str, list[tuple]] = {}
    for uid, round_, try_, verdict, request in rows:
        out.setdefault(uid, []).append((round_, try_, verdict, json.loads(request)["prompt"]))
    return out


def query(run_dir, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(run_dir / "run.db") as db:
        return db.execute(sql, args).fetchall()


def run(tmp_path, text: str, responder, *extra, env=None, run_dir="r"):
    f = tmp_path / "p.octo"
    f.write_text(text)
    emulator = Emulator(seed=1, responder=responder)
    with EmulatorServer(emulator):
        out = octoc("run", f, "--run-dir", tmp_path / run_dir, "--mode", "realtime", *extra, emulator=emulator, env=env)
    return out, tmp_path / run_dir, emulator


# --- a judge's loop: every step on a path from the judged step to the judge -------------------------

LOOP = """octo: 1
name: loops
seed: 1
units:
  repeat: 3
steps:
  draft:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Write about {{ unit.repeat }}.{% if feedback %} Rejected: {{ feedback.reason }}{% endif %}"
      output: {s: str}
  polish:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Polish{% if feedback %} again{% endif %}: {{ draft.s }}"
      output: {s: str}
    retries: 1
  stats:
    compute:
      chars: len(polish.s)
  review:
    judge:
      of: draft
      model: openai:gpt-4.1-mini
      prompt: "Review ({{ stats.chars }} chars): {{ polish.s }}"
      output: {ok: bool, reason: str}
      pass: ok
      attempts: 3
  after:
    compute:
      chars: stats.chars + 1
"""

LONG = "a much longer second draft"


def loop_answers(request, nth):
    """Round 1's draft is too short for the reviewer; a draft written with feedback is long enough. Every
    round's first polish is malformed (so `retries: 1` is needed in each round)."""
    p = request.prompt
    if p.startswith("Write about"):
        return {"s": LONG if "Rejected: too short" in p else "short"}
    if p.startswith("Polish"):
        return {"s": p.split(": ", 1)[1].split("\n")[0].upper()} if "could not be used" in p else "{not json"
    return {"ok": "SHORT" not in p, "reason": "too short"}


def test_a_failed_verdict_re_runs_its_whole_loop_and_steps_outside_wait_for_the_final_verdict(tmp_path):
    out, run_dir, _ = run(tmp_path, LOOP, loop_answers)
    assert out.returncode == 0, out.stdout + out.stderr
    units = ["r0", "r1", "r2"]
    # the body (draft → polish → stats → review) ran again with the second draft
    assert {u: r[1]["s"] for u, r in stored(run_dir, "draft").items()} == dict.fromkeys(units, LONG)
    assert {u: r[1]["s"] for u, r in stored(run_dir, "polish").items()} == dict.fromkeys(units, LONG.upper())
    assert {u: r[1]["chars"] for u, r in stored(run_dir, "stats").items()} == dict.fromkeys(units, len(LONG))
    assert {u: r[1]["passed"] for u, r in stored(run_dir, "review").items()} == dict.fromkeys(units, True)
    # outside the loop: computed once, from the final round (a result is never overwritten)
    assert {u: r[1]["chars"] for u, r in stored(run_dir, "after").items()} == dict.fromkeys(units, len(LONG) + 1)
    for unit in units:
        draft, polish, review = (attempts(run_dir, s)[unit] for s in ("draft", "polish", "review"))
        assert [(r, t) for r, t, _, _ in draft] == [(1, 1), (2, 1)]
        assert "Rejected: too short" in draft[1][3] and "Rejected" not in draft[0][3]
        # polish's tries are counted per round: two in each, its `retries: 1` applying to each round
        assert [(r, t) for r, t, _, _ in polish] == [(1, 1), (1, 2), (2, 1), (2, 2)]
        # `feedback` is bound in every provider step of the body, not only in the judged one
        assert [prompt.startswith("Polish again:") for _, _, _, prompt in polish] == [False, False, True, True]
        assert [(r, v) for r, _, v, _ in review] == [(1, "sent 'draft' back for round 2"), (2, "done")]
    reruns = query(run_dir, "SELECT step, round, feedback, loop FROM reruns WHERE unit = 0 ORDER BY step")
    assert reruns == [(step, 2, json.dumps({"ok": False, "reason": "too short"}), "draft")
                      for step in ("draft", "polish", "review", "stats")]


def test_the_plan_puts_the_loop_and_the_waits_in_the_plan(tmp_path):
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.frontend.check import check_file
    from octo.compiler.planning.planner import build_plan
    from octo.stdlib import default_language

    f = tmp_path / "p.octo"
    f.write_text(LOOP)
    result = check_file(str(f), default_language())
    assert result.ok, result.diagnostics
    plan = build_plan(result.program, default_language(), Reporter()).data
    assert plan["version"] == 3  # loops came in version 2
    assert plan["loops"] == [{"verdict": "review", "of": "draft", "body": ["draft", "polish", "stats", "review"],
                              "attempts": 3}]
    waits = {s["name"]: s["waits_for"] for s in plan["steps"]}
    assert waits == {"draft": [], "polish": ["draft"], "stats": ["polish"], "review": ["draft", "polish", "stats"],
                     "after": ["stats", "review"]}
    tries = {s["name"]: s["tries_per_unit"]["worst"] for s in plan["steps"] if "tries_per_unit" in s}
    assert tries == {"draft": 3 * 3, "polish": 3 * 2, "review": 3 * 3}  # rounds × tries, for every body step


def test_the_hang_example_runs_to_the_end(tmp_path, capsys):
    run_dir = tmp_path / "r"
    assert main(["run", str(ROOT / "examples" / "draft_review.octo"), "--provider", "emulator",
                 "--run-dir", str(run_dir)]) == 0
    assert query(run_dir, "SELECT value FROM meta WHERE key = 'state'") == [("done",)]
    for step in ("draft", "stats", "review"):
        assert {state for state, _, _ in stored(run_dir, step).values()} == {"done"} and len(stored(run_dir, step)) == 3
    assert query(run_dir, "SELECT count(*) FROM reruns")[0][0] > 0  # the emulator's coin failed some reviews


NESTED = """octo: 1
name: nested
units:
  repeat: 2
steps:
  outline:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Outline {{ unit.repeat }}.{% if feedback %} Judge: {{ feedback.reason }}{% endif %}"
      output: {o: str}
  draft:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Draft from {{ outline.o }}.{% if feedback and feedback.message %} Fix: {{ feedback.message }}{% endif %}"
      output: {s: str}
  draft_check:
    gate:
      of: draft
      pass: len(draft.s) > 3
      message: too short
      attempts: 2
  review:
    judge:
      of: outline
      model: openai:gpt-4.1-mini
      prompt: "Review {{ draft.s }}"
      output: {ok: bool, reason: str}
      pass: ok
      attempts: 2
"""


def nested_answers(request, nth):
    """The first outline is judged weak; each outline's first draft is too short for the gate."""
    p = request.prompt
    if p.startswith("Outline"):
        return {"o": "v2" if "Judge:" in p else "v1"}
    if p.startswith("Draft from"):
        version = p.split("Draft from ")[1][:2]
        return {"s": f"long {version}" if "Fix: too short" in p else "ab"}
    return {"ok": "v2" in p, "reason": "weak"}


def test_an_inner_loop_runs_inside_its_outer_loop_and_starts_again_in_each_outer_round(tmp_path):
    out, run_dir, _ = run(tmp_path, NESTED, nested_answers)
    assert out.returncode == 0, out.stdout + out.stderr
    # the gate of `draft` lies on no path to `review`, but `draft` is in review's loop, so its gate is too
    assert {u: r[1]["s"] for u, r in stored(run_dir, "draft").items()} == {"r0": "long v2", "r1": "long v2"}
    assert {u: r[1]["passed"] for u, r in stored(run_dir, "draft_check").items()} == {"r0": True, "r1": True}
    assert {u: r[1]["passed"] for u, r in stored(run_dir, "review").items()} == {"r0": True, "r1": True}
    for unit in ("r0", "r1"):
        assert [r for r, _, _, _ in attempts(run_dir, "outline")[unit]] == [1, 2]
        drafts = attempts(run_dir, "draft")[unit]
        # rounds of `draft`: the gate sends it back once per outline (2 attempts each time: the inner loop
        # starts again in the outer loop's second round), and the judge sends it back with its outline
        assert [(r, "Fix: too short" in prompt, prompt.split("Draft from ")[1][:2]) for r, _, _, prompt in drafts] == \
            [(1, False, "v1"), (2, True, "v1"), (3, False, "v2"), (4, True, "v2")]


TWO_VERDICTS_ONE_STEP = """octo: 1
name: two
units:
  repeat: 2
steps:
  draft:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Draft {{ unit.repeat }}.{% if feedback %} Again: {{ feedback.message }}{% endif %}"
      output: {s: str}
  review:
    judge:
      of: draft
      model: openai:gpt-4.1-mini
      prompt: "Review: {{ draft.s }}"
      output: {ok: bool}
      pass: ok
      attempts: 3
  long_enough:
    gate:
      of: draft
      pass: len(draft.s) > 5
      message: too short
      attempts: 2
  after:
    compute:
      s: draft.s
"""


def test_two_verdicts_of_one_step_form_one_loop_and_an_answer_for_a_withdrawn_round_is_discarded(tmp_path):
    """The gate sends `draft` back while the judge's request on the first draft is at the provider (a batch):
    that answer comes back for a round that no longer exists, is paid for, and is settled as stale."""
    answers = lambda request, nth: ({"ok": True} if request.prompt.startswith("Review")
                                    else {"s": "a long draft" if "Again" in request.prompt else "tiny"})
    out, run_dir, _ = run(tmp_path, TWO_VERDICTS_ONE_STEP, answers, "--mode", "batch", "--poll-interval", "0")
    assert out.returncode == 0, out.stdout + out.stderr
    for unit in ("r0", "r1"):
        reviews = attempts(run_dir, "review")[unit]
        assert [(r, v) for r, _, v, _ in reviews] == [
            (1, "stale: answered for round 1, after 'review' was sent back"), (2, "done")]
        assert "tiny" in reviews[0][3] and "a long draft" in reviews[1][3]
    assert {u: r[1]["s"] for u, r in stored(run_dir, "after").items()} == {"r0": "a long draft", "r1": "a long draft"}
    assert {u: (r[1]["passed"], r[1]["message"]) for u, r in stored(run_dir, "long_enough").items()} == \
        {"r0": (True, None), "r1": (True, None)}
    # one loop (of `draft`), sent back once per unit by the gate: a row for each step of the shared body
    assert query(run_dir, "SELECT step, round, loop FROM reruns WHERE unit = 0 ORDER BY step") == \
        [("draft", 2, "draft"), ("long_enough", 2, "draft"), ("review", 2, "draft")]


# --- the loops drawn ---------------------------------------------------------------------------

TWO_VERDICTS = NESTED + """  style:
    judge:
      of: outline
      model: openai:gpt-4.1-mini
      prompt: "Is this outline in style? {{ outline.o }}"
      output: {ok: bool}
      pass: ok
      attempts: 3
  shown:
    compute:
      text: draft.s
"""


@pytest.mark.parametrize("graph", ["dot", "mermaid"])
@pytest.mark.parametrize("source", ["two_verdicts", "draft_review", "blackjack"])
def test_the_graph_draws_each_loop_grouped_with_its_back_edge(tmp_path, source, graph, snapshot):
    """Two verdicts of one step (one loop), a loop nested in it, and a step waiting outside; the examples."""
    if source == "two_verdicts":
        path = tmp_path / "two_verdicts.octo"
        path.write_text(TWO_VERDICTS)
    else:
        path = ROOT / "examples" / f"{source}.octo"
    out = subprocess.run([sys.executable, "-m", "octo", "plan", path.name, "--graph", graph], capture_output=True,
                         text=True, cwd=path.parent, timeout=120)  # run beside the file: no path in the output
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout == snapshot


# --- gates: local verdicts -----------------------------------------------------------------------

GATE = """octo: 1
name: gate
seed: 1
units:
  repeat: 2
steps:
  guess:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Guess for {{ unit.repeat }}.{% if feedback %} Refused: {{ feedback.message }}{% endif %}"
      output: {n: int}
  check:
    gate:
      of: guess
      pass: guess.n % 2 == 0
      message: "{{ guess.n }} is odd"
      attempts: 3
  use:
    compute:
      n: guess.n
"""


def gate_answers(request, nth):
    """Unit 0 always guesses 1 (odd); unit 1 guesses 3, then 4 once refused."""
    if request.prompt.startswith("Guess for 0"):
        return {"n": 1}
    return {"n": 4 if "Refused" in request.prompt else 3}


def test_a_gate_sends_its_loop_back_with_its_message_and_stops_after_attempts(tmp_path):
    out, run_dir, _ = run(tmp_path, GATE, gate_answers)
    assert out.returncode == 0, out.stdout + out.stderr
    check = stored(run_dir, "check")
    assert check["r0"] == ("done", {"passed": False, "message": "1 is odd"}, None)  # the last round's verdict stands
    assert check["r1"] == ("done", {"passed": True, "message": None}, None)
    assert {u: r[1]["n"] for u, r in stored(run_dir, "use").items()} == {"r0": 1, "r1": 4}
    guesses = attempts(run_dir, "guess")
    assert [r for r, _, _, _ in guesses["r0"]] == [1, 2, 3]  # attempts: 3 rounds in all
    assert [r for r, _, _, _ in guesses["r1"]] == [1, 2]
    assert all("Refused: 1 is odd" in prompt for _, _, _, prompt in guesses["r0"][1:])
    assert "Refused: 3 is odd" in guesses["r1"][1][3]


GATE_FAILS = """octo: 1
name: gate
units:
  repeat: 2
steps:
  guess:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Guess for {{ unit.repeat }}."
      output: {n: int}
  check:
    gate:
      of: guess
      pass: 10 / (guess.n - 3) > 0
      message: "{{ 10 // (guess.n - 1) }}"
      attempts: 2
"""


def test_a_gate_whose_pass_or_message_fails_fails_that_unit_where_it_is_written(tmp_path):
    out, run_dir, _ = run(tmp_path, GATE_FAILS, lambda request, nth: {"n": 3 if "for 0" in request.prompt else 1})
    assert out.returncode == 6, out.stdout + out.stderr  # done, two units failed
    f = tmp_path / "p.octo"
    check = stored(run_dir, "check")
    assert check["r0"] == ("failed", None, f"division by zero in `10 / (guess.n - 3)` at {f}:14:13")
    assert check["r1"] == ("failed", None, f"the message did not render: division by zero in "
                                           f"`{{{{ 10 // (guess.n - 1) }}}}` at {f}:15:17")


# --- a kill in the middle of a send-back ---------------------------------------------------------

BATCHES = ("--mode", "batch", "--poll-interval", "0")  # batch requests carry custom ids: each is seen once

@pytest.mark.parametrize("text, responder", [(LOOP, loop_answers), (GATE, gate_answers)], ids=["judge", "gate"])
def test_a_kill_during_a_send_back_resumes_with_every_unit_accounted_for_and_nothing_paid_twice(tmp_path, text,
                                                                                                responder):
    emulator = Emulator(seed=1, responder=responder)
    f = tmp_path / "p.octo"
    f.write_text(text)
    with EmulatorServer(emulator):
        killed = octoc("run", f, "--run-dir", tmp_path / "r", *BATCHES, emulator=emulator,
                       env={"OCTO_CRASHPOINT": "during-send-back"})
        assert killed.returncode == 137, killed.stdout + killed.stderr
        assert query(tmp_path / "r", "SELECT count(*) FROM reruns")[0][0] == 0  # the send-back was lost whole
        resumed = octoc("run", "--resume", tmp_path / "r", emulator=emulator)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    clean, clean_dir, _ = run(tmp_path, text, responder, *BATCHES, run_dir="clean")
    assert clean.returncode == 0
    sent = [custom_id for _, _, custom_id in emulator.log]
    assert len(sent) == len(set(sent)), "a request was sent twice"
    rows = query(tmp_path / "r", "SELECT state, usage FROM attempts")
    assert {state for state, _ in rows} == {"settled"} and len(rows) == len(sent)  # each attempt reached it once
    steps = [s for s in ("draft", "polish", "stats", "review", "after", "guess", "check", "use") if f"  {s}:" in text]
    for step in steps:  # every unit accounted for, exactly as a run that was never killed
        assert stored(tmp_path / "r", step) == stored(clean_dir, step), step
    assert query(tmp_path / "r", "SELECT step, unit, round, feedback FROM reruns ORDER BY 1, 2, 3") == \
        query(clean_dir, "SELECT step, unit, round, feedback FROM reruns ORDER BY 1, 2, 3")


# --- no run waits forever ------------------------------------------------------------------------

LOCAL = """octo: 1
name: stuck
units:
  repeat: 3
steps:
  a:
    compute: {x: unit.repeat}
  b:
    compute: {y: a.x + 1}
"""


def test_a_run_that_can_never_go_on_stops_with_the_stuck_steps_and_exit_5(tmp_path, capsys):
    """A plan octoc would never make (`a` waits for `b`, which reads `a`), written into a created run."""
    from pathlib import Path

    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.frontend.check import check_file
    from octo.compiler.planning.ir import Plan
    from octo.compiler.planning.planner import build_plan
    from octo.runtime.rundirs.rundir import create_run
    from octo.stdlib import default_language

    f = tmp_path / "p.octo"
    f.write_text(LOCAL)
    plan = build_plan(check_file(str(f), default_language()).program, default_language(), Reporter()).data
    plan["steps"][0]["waits_for"] = ["b"]  # as if plan.json had been edited by hand
    run_dir = Path(tmp_path / "r")
    create_run(Plan(plan), run_dir, {})
    capsys.readouterr()
    for command in (["run", "--resume", str(run_dir)], ["tick", str(run_dir)]):
        assert main(command) == 5, command
        err = capsys.readouterr().err
        assert "the run cannot go on" in err
        assert "'a': 3 units without a result, waiting for 'b' (3 of them)" in err
        assert "'b': 3 units without a result, waiting for 'a' (3 of them)" in err
        assert f"octoc results {run_dir}" in err and "Traceback" not in err
    assert query(run_dir, "SELECT count(*) FROM events WHERE kind = 'stuck'")[0][0] == 2


# --- what the checker binds ----------------------------------------------------------------------

def test_feedback_is_bound_in_a_loops_provider_steps_only_and_typed_from_its_verdicts(check_text):
    program = LOOP.replace("  after:\n", """  outside:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "{{ stats.chars }}{% if feedback %}{{ feedback.reason }}{% endif %}"
  after:
""")
    diags = check_text(program)
    line = program[:program.rindex("feedback.reason")].count("\n") + 1  # `outside`'s prompt, outside every loop
    assert {(d.code, d.span.line) for d in diags} == {("E0202", line)}
    gate = GATE.replace("{{ feedback.message }}", "{{ feedback.message | upper }}{{ feedback.reason }}")
    assert [(d.code, "has no field" in d.message or "reason" in d.message) for d in check_text(gate)] == [("E0203", True)]
