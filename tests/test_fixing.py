"""`octoc retry` and `octoc revalidate` (issue 11, point 1), end to end through `octoc` on the emulator.

Each `octoc` is a real process (tests/octoproc.py). A run is made once per
pipeline and copied for each test that changes it, so every test starts from
the same stored answers. What a test reads back is the store itself: results,
attempts (every request the run paid for), requeues.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from octo.cli.exitcodes import EXPECT_FAILED, OK, UNITS_FAILED, USAGE
from octoproc import run as octoc

TIMEOUT = 120
KILLED = 137  # a crashpoint exits as SIGKILL would

# `ask` asks for a number; the rule keeps only numbers of at least 40 (about 60% of the emulator's, tries apart).
# `tell` asks for a word, independently; its rule fails some. `double` and `total` follow from `ask`.
PIPELINE = """octo: 1
name: fixes
seed: 11
units:
  repeat: 16
steps:
  ask:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Pick a number for unit {{ unit.repeat }}"
      output: {n: "int[0, 100]"}
    retries: 1
    validate:
      - rule: n >= 40
        message: "n is {{ n }}, below 40"
  tell:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Say a word for unit {{ unit.repeat }}"
      output: {word: str, size: "int[0, 10]"}
    retries: 0
    validate:
      - rule: size >= 3
        message: "a word too small"
  double:
    compute:
      m: ask.n * 2
  total:
    aggregate:
      metrics:
        units: count(unit.id)
        mean_m: mean(double.m)
      expect:
        - units >= 1
"""


def _write(folder: Path, text: str, name: str = "p.octo") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def _octoc(tmp_path: Path, *argv, env: dict | None = None):
    out = octoc([str(a) for a in argv], tmp_path, TIMEOUT, env=env)
    assert not out.hung, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr and "internal error" not in out.stderr, out.stderr
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A finished run of PIPELINE on the emulator, with failed units at both provider steps."""
    base = tmp_path_factory.mktemp("made")
    source = _write(base / "src", PIPELINE)
    out = _octoc(base, "run", source, "--run-dir", base / "run", "--provider", "emulator", "--mode", "realtime")
    assert out.code in (UNITS_FAILED, EXPECT_FAILED), out.stdout + out.stderr
    assert f"Some units failed. To ask them again: octoc retry {base / 'run'}   After editing a rule, to check the " \
           f"answers already bought: octoc revalidate {base / 'run'} FILE\n" in out.stdout  # how to go on, said
    return base / "run"


@pytest.fixture
def run_dir(made, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(made, copy)
    (copy / "run.lock").unlink(missing_ok=True)
    return copy


def _db(run_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(run_dir / "run.db")


def _results(run_dir: Path, step: str) -> dict[int, tuple]:
    with _db(run_dir) as db:
        return {u: (s, o, r) for u, s, o, r in
                db.execute("SELECT unit, state, output, reason FROM results WHERE step = ?", (step,))}


def _attempts(run_dir: Path, step: str | None = None) -> list[tuple]:
    """(id, step, unit, round, try, request, text, cost, list_cost) of every attempt, in order."""
    sql = "SELECT id, step, unit, round, try, request, text, cost, list_cost FROM attempts"
    with _db(run_dir) as db:
        rows = db.execute(sql + (" WHERE step = ?" if step else "") + " ORDER BY id", (step,) if step else ()).fetchall()
    return rows


def _failed(run_dir: Path, step: str) -> set[int]:
    return {u for u, (state, _, _) in _results(run_dir, step).items() if state == "failed"}


def _meta(run_dir: Path, key: str) -> str | None:
    with _db(run_dir) as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _expected_code(run_dir: Path) -> int:
    with _db(run_dir) as db:
        failed = db.execute("SELECT count(*) FROM results WHERE state = 'failed'").fetchone()[0]
        expect_failed = db.execute("SELECT count(*) FROM expects WHERE passed = 0").fetchone()[0]
    return EXPECT_FAILED if expect_failed else UNITS_FAILED if failed else OK


def _accounted(run_dir: Path) -> None:
    """Every unit has exactly one result per per-unit step, the aggregate is computed, the run is done, nothing open."""
    with _db(run_dir) as db:
        units = db.execute("SELECT count(*) FROM units").fetchone()[0]
        for step in ("ask", "tell", "double"):
            assert db.execute("SELECT count(*) FROM results WHERE step = ?", (step,)).fetchone()[0] == units, step
        groups = db.execute("SELECT units, metrics FROM groups WHERE step = 'total'").fetchall()
        done = db.execute("SELECT count(*) FROM results WHERE step = 'double' AND state = 'done'").fetchone()[0]
        assert len(groups) == 1 and groups[0][0] == done  # computed again from the units as they are now
        assert db.execute("SELECT count(*) FROM attempts WHERE state != 'settled'").fetchone()[0] == 0
        assert db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0] == "done"
        assert db.execute("SELECT count(*) FROM meta WHERE key = 'fixing'").fetchone()[0] == 0


def _unchanged(before: list[tuple], after: list[tuple]) -> None:
    """Every attempt paid for before is still there, as it was: same request, same answer, same cost."""
    kept = {row[0]: row for row in after}
    for row in before:
        assert kept[row[0]][:9] == row[:9]


# --- retry ------------------------------------------------------------------------------------------


def test_retry_requeues_the_failed_units_with_fresh_tries_and_finishes_the_run(run_dir, tmp_path):
    failed = {"ask": _failed(run_dir, "ask"), "tell": _failed(run_dir, "tell")}
    assert failed["ask"] and failed["tell"]
    before = _attempts(run_dir)
    blocked = {u for u, (state, _, _) in _results(run_dir, "double").items() if state == "blocked"}
    assert blocked == failed["ask"]

    out = _octoc(tmp_path, "retry", run_dir)

    assert f"retrying {len(failed['ask']) + len(failed['tell'])} failed units, with fresh tries:" in out.stdout
    assert f"  ask   {len(failed['ask'])}\n" in out.stdout and f"  tell  {len(failed['tell'])}\n" in out.stdout
    assert out.code == _expected_code(run_dir), out.stdout + out.stderr
    _accounted(run_dir)
    after = _attempts(run_dir)
    _unchanged(before, after)
    new = [row for row in after if row[0] > before[-1][0]]
    for step in ("ask", "tell"):
        asked = [row for row in new if row[1] == step]
        assert {row[2] for row in asked} == failed[step]  # the failed units, and no other, asked again
        for unit in failed[step]:
            tries = [row[4] for row in asked if row[2] == unit]
            assert tries == list(range(1, len(tries) + 1))  # tries count again from 1 ...
            assert len(tries) <= 1 + (1 if step == "ask" else 0)  # ... up to the step's retries
    # the emulator answers anew (a retry moves its seed): some failed units are done now
    assert _failed(run_dir, "ask") < failed["ask"] or _failed(run_dir, "tell") < failed["tell"]
    for unit in failed["ask"] - _failed(run_dir, "ask"):  # what they blocked is computed now
        assert _results(run_dir, "double")[unit][0] == "done"


def test_retry_step_and_reason_keep_to_the_failures_they_name(run_dir, tmp_path):
    failed_ask, failed_tell = _failed(run_dir, "ask"), _failed(run_dir, "tell")
    before = _attempts(run_dir)

    out = _octoc(tmp_path, "retry", run_dir, "--step", "tell")

    assert f"retrying {len(failed_tell)} failed units" in out.stdout and "ask" not in out.stdout.split("progress")[0]
    new = [row for row in _attempts(run_dir) if row[0] > before[-1][0]]
    assert {row[2] for row in new} == failed_tell and {row[1] for row in new} == {"tell"}
    assert _failed(run_dir, "ask") == failed_ask  # not retried: still failed, not asked again

    before = _attempts(run_dir)
    out = _octoc(tmp_path, "retry", run_dir, "--reason", "BELOW 40")  # a reason's text, whatever its case
    assert f"retrying {len(failed_ask)} failed units" in out.stdout
    new = [row for row in _attempts(run_dir) if row[0] > before[-1][0]]
    assert {row[1] for row in new} == {"ask"} and {row[2] for row in new} == failed_ask
    _accounted(run_dir)


def test_nothing_to_retry_is_a_message_and_exit_0_and_a_wrong_step_is_a_usage_error(run_dir, tmp_path):
    before = _attempts(run_dir)
    out = _octoc(tmp_path, "retry", run_dir, "--reason", "no failure says this")
    assert out.code == OK
    assert out.stdout == "nothing to retry: no unit failed with a reason containing 'no failure says this'\n"
    out = _octoc(tmp_path, "retry", run_dir, "--step", "double")
    assert out.code == OK and "nothing to retry: no unit failed at step 'double'" in out.stdout
    out = _octoc(tmp_path, "retry", run_dir, "--step", "nope")
    assert out.code == USAGE
    assert "octoc: error: --step nope: the run has no step 'nope' (its steps: ask, tell, double)" in out.stderr
    out = _octoc(tmp_path, "retry", run_dir, "--step", "total")
    assert out.code == USAGE and "'total' is an aggregate" in out.stderr
    assert _attempts(run_dir) == before


@pytest.mark.parametrize("then", ["resume", "retry"])
def test_a_kill_during_retry_is_completed_by_a_resume_or_a_second_retry(run_dir, tmp_path, then):
    failed = _failed(run_dir, "ask") | _failed(run_dir, "tell")
    before, failed_ask = _attempts(run_dir), _failed(run_dir, "ask")

    out = _octoc(tmp_path, "retry", run_dir, env={"OCTO_CRASHPOINT": "during-retry"})
    assert out.code == KILLED
    assert json.loads(_meta(run_dir, "fixing"))["kind"] == "retry"  # recorded, not done
    assert _failed(run_dir, "ask") == failed_ask and _attempts(run_dir) == before  # the chunk was lost

    out = _octoc(tmp_path, *(["run", "--resume", run_dir] if then == "resume" else ["retry", run_dir]))
    if then == "retry":
        assert "completed the retry that was interrupted" in out.stdout
    assert out.code == _expected_code(run_dir), out.stdout + out.stderr
    _accounted(run_dir)
    after = _attempts(run_dir)
    _unchanged(before, after)
    new = [row for row in after if row[0] > before[-1][0]]
    assert {row[2] for row in new} == failed  # each failed unit asked again, and no other
    with _db(run_dir) as db:  # each put back once: the retry was completed once, not done twice
        rows = db.execute("SELECT step, unit, count(*) FROM requeues WHERE why = 'octoc retry' GROUP BY step, unit")
        assert all(n == 1 for _, _, n in rows)


# --- revalidate ----------------------------------------------------------------------------------


def _edited(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = PIPELINE
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    return _write(tmp_path / "edited", text)


def _expected_by_new_rules(run_dir: Path) -> dict[str, dict[int, int | None]]:
    """What revalidating `ask` against `20 <= n <= 80` must do, per unit: from its stored answers (latest first), the
    number it keeps or takes (None: asked again, or still failed)."""
    answers: dict[int, list[int]] = {}
    for _, _, unit, _, _, _, text, _, _ in _attempts(run_dir, "ask"):
        answers.setdefault(unit, []).insert(0, json.loads(text)["n"])
    passing = {u: next((n for n in ns if 20 <= n <= 80), None) for u, ns in answers.items()}
    out = {"unchanged": {}, "replaced": {}, "now_fail": {}, "now_pass": {}, "still_fail": {}}
    for unit, (state, _, _) in _results(run_dir, "ask").items():
        if state == "done":
            kind = "unchanged" if passing[unit] == answers[unit][0] else "replaced" if passing[unit] else "now_fail"
        else:
            kind = "now_pass" if passing[unit] is not None else "still_fail"
        out[kind][unit] = passing[unit]
    return out


def test_revalidate_an_edited_rule_keeps_what_passes_without_a_request_and_asks_again_what_fails(run_dir, tmp_path):
    # the rule goes from n >= 40 to n >= 20, and the range from [0, 100] to [0, 80]
    edited = _edited(tmp_path, ("n >= 40", "n >= 20"), ("below 40", "below 20"), ('int[0, 100]', 'int[0, 80]'))
    expected = _expected_by_new_rules(run_dir)
    now_pass, now_fail = expected["now_pass"], expected["now_fail"]
    assert now_pass and now_fail  # the stored answers give both cases
    before = _attempts(run_dir)
    old_plan = (run_dir / "plan.json").read_text()

    out = _octoc(tmp_path, "revalidate", run_dir, edited)

    assert "  step 'ask': output constraints\n  step 'ask': validate rules\n" in out.stdout
    assert f"ask: 16 answers checked: {len(now_pass)} now pass (no new request), {len(now_fail)} now fail (asked " \
           f"again)" in out.stdout
    if expected["replaced"]:
        assert f"{len(expected['replaced'])} now fail, replaced by another answer already bought" in out.stdout
    assert out.code == _expected_code(run_dir), out.stdout + out.stderr
    _accounted(run_dir)
    after = _attempts(run_dir)
    _unchanged(before, after)
    new = [row for row in after if row[0] > before[-1][0]]
    assert not {row[2] for row in new if row[1] == "ask"} & set(now_pass)  # now passing: no new attempt, nothing paid
    assert {row[2] for row in new if row[1] == "ask"} == set(now_fail)  # now failing: asked again ...
    for unit in now_fail:
        first = next(row for row in new if row[1] == "ask" and row[2] == unit)
        request = json.loads(first[5])
        assert first[4] == 1 and "(Your previous answer could not be used: the answer does not match the output " \
                                  "schema at n:" in request["prompt"]  # ... with the reason, with fresh tries
        assert request["schema"]["properties"]["n"]["maximum"] == 80  # under the schema as edited
    assert not [row for row in new if row[1] == "tell"]  # its rules did not change: nothing asked
    for unit, n in {**now_pass, **expected["replaced"]}.items():
        assert json.loads(_results(run_dir, "ask")[unit][1]) == {"n": n}
        assert json.loads(_results(run_dir, "double")[unit][1])["m"] == 2 * n  # downstream, computed again
    # the edit is the run's now: its plan replaced, the old one kept
    assert (run_dir / "edits" / "1" / "plan.json").read_text() == old_plan
    assert (run_dir / "edits" / "1" / "p.octo").read_text() == edited.read_text()
    assert "n >= 20" in (run_dir / "plan.json").read_text()


def test_revalidate_without_a_file_changes_nothing_and_calls_no_provider(run_dir, tmp_path):
    before, results = _attempts(run_dir), _results(run_dir, "ask")
    out = _octoc(tmp_path, "revalidate", run_dir)
    assert out.code == _expected_code(run_dir)
    assert "ask: 16 answers checked:" in out.stdout and "now pass" not in out.stdout and "now fail" not in out.stdout
    assert _attempts(run_dir) == before and _results(run_dir, "ask") == results


def test_an_edit_revalidation_cannot_honour_is_refused_with_each_change_and_why(run_dir, tmp_path):
    edited = _edited(tmp_path, ("Pick a number", "Choose a number"), ("openai:gpt-4.1-mini\n      prompt: \"Say",
                                                                      "openai:gpt-4.1\n      prompt: \"Say"),
                     ("repeat: 16", "repeat: 17"))
    plan, store = (run_dir / "plan.json").read_bytes(), (run_dir / "run.db").read_bytes()
    out = _octoc(tmp_path, "revalidate", run_dir, edited)
    assert out.code == USAGE
    assert f"octoc: error: revalidate cannot honour 3 changes in {edited}:" in out.stderr
    assert "  units: the units changed" in out.stderr
    assert "  step 'ask': the prompt changed — the stored answers answer the old one" in out.stderr
    assert "  step 'tell': its model changed (openai:gpt-4.1-mini → openai:gpt-4.1)" in out.stderr
    assert "start a new run" in out.stderr and f"octoc retry {run_dir}" in out.stderr
    assert (run_dir / "plan.json").read_bytes() == plan and not (run_dir / "edits").exists()
    assert (run_dir / "run.db").read_bytes() == store


@pytest.mark.parametrize("point", ["before-edited-plan", "during-revalidate"])
def test_a_kill_during_revalidate_resumes_to_what_an_uninterrupted_revalidation_gives(run_dir, tmp_path, point):
    edited = _edited(tmp_path, ("n >= 40", "n >= 20"), ('int[0, 100]', 'int[0, 80]'))
    twin = tmp_path / "twin"
    shutil.copytree(run_dir, twin)
    before, old_plan = _attempts(run_dir), (run_dir / "plan.json").read_text()
    assert _octoc(tmp_path, "revalidate", twin, edited).code in (OK, UNITS_FAILED, EXPECT_FAILED)

    out = _octoc(tmp_path, "revalidate", run_dir, edited, env={"OCTO_CRASHPOINT": point})
    assert out.code == KILLED
    assert json.loads(_meta(run_dir, "fixing"))["kind"] == "revalidate"
    assert _attempts(run_dir) == before  # nothing asked, nothing changed yet
    assert ((run_dir / "plan.json").read_text() == old_plan) == (point == "before-edited-plan")
    out = _octoc(tmp_path, "run", "--resume", run_dir)
    assert out.code == _expected_code(run_dir), out.stdout + out.stderr
    assert (run_dir / "plan.json").read_text() == (twin / "plan.json").read_text()

    _accounted(run_dir)
    _unchanged(before, _attempts(run_dir))
    for step in ("ask", "tell", "double"):
        assert _results(run_dir, step) == _results(twin, step)
    assert len(_attempts(run_dir)) == len(_attempts(twin))  # nothing asked twice


# --- judges and fan-outs -----------------------------------------------------------------------------

JUDGED = """octo: 1
name: judged
seed: 6
units:
  repeat: 24
steps:
  draft:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Write a line for unit {{ unit.repeat }}{% if feedback %} (again: {{ feedback.why }}){% endif %}"
      output: {line: str}
  review:
    judge:
      of: draft
      model: openai:gpt-4.1-mini
      prompt: "Grade {{ draft.line }}"
      output: {score: "int[1, 5]", why: str}
      pass: score >= 3
      attempts: 2
    retries: 0
    validate:
      - rule: score != 2
        message: "a 2 is not allowed"
"""


def test_a_judges_answer_that_passes_now_decides_as_a_verdict_does_and_sends_its_loop_back(tmp_path):
    source = _write(tmp_path / "src", JUDGED)
    run_dir = tmp_path / "run"
    _octoc(tmp_path, "run", source, "--run-dir", run_dir, "--provider", "emulator", "--mode", "realtime")
    with _db(run_dir) as db:
        failed = dict(db.execute("SELECT r.unit, max(a.round) FROM results r JOIN attempts a ON a.step = r.step AND "
                                 "a.unit = r.unit WHERE r.step = 'review' AND r.state = 'failed' GROUP BY r.unit"))
    first_round = {u for u, round_ in failed.items() if round_ == 1}
    assert first_round and set(failed) - first_round  # a 2 in round 1 (a round left) and in round 2 (none left)
    before = _attempts(run_dir)

    out = _octoc(tmp_path, "revalidate", run_dir, _write(tmp_path / "edited", JUDGED.replace("score != 2", "score > 0")))

    assert "review: 24 answers checked" in out.stdout and f"{len(failed)} now pass (no new request)" in out.stdout
    after = _attempts(run_dir)
    _unchanged(before, after)
    new = [row for row in after if row[0] > before[-1][0]]
    with _db(run_dir) as db:
        verdicts = dict(db.execute("SELECT unit, verdict FROM attempts WHERE step = 'review' AND id <= ? AND unit IN "
                                   f"({','.join(map(str, failed))})", (before[-1][0],)).fetchall())
        sent_back = {u for u, in db.execute("SELECT unit FROM reruns WHERE step = 'draft' AND round = 2")}
    for unit in first_round:  # a 2 fails the verdict: the loop goes back to the draft, in round 2
        assert verdicts[unit] == "sent 'draft' back for round 2 (revalidated; was: failed: a 2 is not allowed " \
                                 "(validate: `score != 2`) (after 1 try))"
        assert [(row[1], row[3]) for row in new if row[2] == unit][:1] == [("draft", 2)]
    for unit in set(failed) - first_round:  # no round left: the verdict stands, failed, and nothing is asked
        assert verdicts[unit].startswith("done (revalidated; was: failed:")
        review = json.loads(_results(run_dir, "review")[unit][1])
        assert review["score"] == 2 and review["passed"] is False
        assert not [row for row in new if row[2] == unit]
    assert first_round <= sent_back


STORIES = """octo: 1
name: stories
seed: 3
data:
  topics:
    - {id: tides, name: the tides}
    - {id: knots, name: knots}
    - {id: gulls, name: seagulls}
units:
  for: {topic: topics}
  repeat: 4
steps:
  ideas:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Ideas about {{ unit.topic.name }} ({{ unit.repeat }})"
      output: {ideas: "list[str][3, 5]"}
  idea:
    fanout:
      each: ideas.ideas
  story:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "A story on {{ idea.item }}"
      output: {title: str}
  per_topic:
    aggregate:
      by: [unit.topic.id]
      metrics:
        stories: count(story.title)
"""


def test_a_fan_outs_list_that_fails_now_loses_its_children_which_are_made_again_from_the_new_answer(tmp_path):
    source = _write(tmp_path / "src", STORIES)
    run_dir = tmp_path / "run"
    _octoc(tmp_path, "run", source, "--run-dir", run_dir, "--provider", "emulator", "--mode", "realtime")
    with _db(run_dir) as db:
        units = {pos: (uid, parent) for pos, uid, parent in db.execute("SELECT pos, id, parent FROM units")}
        stories = {u: o for u, o in db.execute("SELECT unit, output FROM results WHERE step = 'story'")}
    ideas = {u: len(json.loads(o)["ideas"]) for u, (s, o, _) in _results(run_dir, "ideas").items()}
    five = {u for u, n in ideas.items() if n == 5}
    kept = {pos for pos, (_, parent) in units.items() if parent is not None and parent not in five}
    assert five and kept
    before = _attempts(run_dir)

    out = _octoc(tmp_path, "revalidate", run_dir, _write(tmp_path / "edited", STORIES.replace("[3, 5]", "[3, 4]")))

    assert f"{len(five)} now fail (asked again)" in out.stdout
    _unchanged(before, _attempts(run_dir))
    new = [row for row in _attempts(run_dir) if row[0] > before[-1][0]]
    assert {row[2] for row in new if row[1] == "ideas"} == five  # asked again: the parents whose list fails now
    with _db(run_dir) as db:
        now = {pos: (uid, parent) for pos, uid, parent in db.execute("SELECT pos, id, parent FROM units")}
        story_rows = {u: o for u, o in db.execute("SELECT unit, output FROM results WHERE step = 'story'")}
        groups = {key: json.loads(metrics)["metrics"]["stories"]
                  for key, metrics in db.execute("SELECT key, metrics FROM groups WHERE step = 'per_topic'")}
    for pos in kept:  # the other parents' children are as they were, their stories not asked again
        assert now[pos] == units[pos] and story_rows[pos] == stories[pos]
    assert not {row[2] for row in new if row[1] == "story"} & kept
    remade = {pos: v for pos, v in now.items() if v[1] in five}
    assert remade and min(remade) > max(units)  # new positions: none of a removed child's is given again
    for parent in five:
        n = len(json.loads(_results(run_dir, "ideas")[parent][1])["ideas"])
        assert 3 <= n <= 4
        assert sorted(uid for uid, p in remade.values() if p == parent) == \
            sorted(f"{units[parent][0]}-idea-{i}" for i in range(n))  # the same ids, from the new list
    children = [pos for pos, (_, parent) in now.items() if parent is not None]
    assert set(story_rows) == set(children)  # one story per child, none for a removed one
    assert sum(groups.values()) == len(children)  # the aggregate, computed again


LOCAL = """octo: 1
name: local
seed: 1
units:
  repeat: 1300
steps:
  half:
    compute:
      x: 10 / (unit.repeat % 2)
  next:
    compute:
      y: half.x + 1
  total:
    aggregate:
      metrics:
        n: count(next.y)
"""


def test_a_kill_between_two_chunks_of_a_retry_is_completed_by_the_resume(tmp_path):
    source = _write(tmp_path / "src", LOCAL)
    run_dir = tmp_path / "run"
    assert _octoc(tmp_path, "run", source, "--run-dir", run_dir).code == UNITS_FAILED
    assert len(_failed(run_dir, "half")) == 650  # two chunks of a retry: 500 and 150

    out = _octoc(tmp_path, "retry", run_dir, env={"OCTO_CRASHPOINT": "during-retry@2"})
    assert out.code == KILLED and "retrying 650 failed units" in out.stdout
    assert len(_failed(run_dir, "half")) == 150 and len(_results(run_dir, "half")) == 800  # the first chunk was kept
    assert _meta(run_dir, "aggregated:total") is None  # and what followed from it withdrawn with it

    out = _octoc(tmp_path, "run", "--resume", run_dir)
    assert out.code == UNITS_FAILED, out.stdout + out.stderr
    with _db(run_dir) as db:
        for step in ("half", "next"):
            assert db.execute("SELECT count(*) FROM results WHERE step = ?", (step,)).fetchone()[0] == 1300
        kinds = [k for k, in db.execute("SELECT kind FROM events WHERE kind LIKE 'retry%' ORDER BY seq")]
        n = json.loads(db.execute("SELECT metrics FROM groups WHERE step = 'total'").fetchone()[0])["metrics"]["n"]
    assert kinds == ["retry begun", "retry done"]  # begun once, completed once
    assert len(_failed(run_dir, "half")) == 650 and n == 650  # a local step fails again the same way


def test_a_run_made_with_provider_model_is_compared_with_the_file_planned_for_that_model(tmp_path):
    from chaos import provider_env
    from octo.runtime.emulator.core import Emulator
    from octo.runtime.emulator.server import EmulatorServer

    source = _write(tmp_path / "src", PIPELINE)
    run_dir = tmp_path / "run"
    with EmulatorServer(Emulator(seed=2)) as server:  # the real SDKs, pointed at the emulator
        env = provider_env(server.url)
        _octoc(tmp_path, "run", source, "--run-dir", run_dir, "--provider", "anthropic:claude-sonnet-4-5",
               "--mode", "realtime", env=env)
        before = _attempts(run_dir)
        out = _octoc(tmp_path, "revalidate", run_dir, _edited(tmp_path, ("n >= 40", "n >= 20")), env=env)
    assert "  step 'ask': validate rules\n" in out.stdout  # not refused as a change of model
    assert out.code == _expected_code(run_dir), out.stdout + out.stderr
    _unchanged(before, _attempts(run_dir))
    assert {json.loads(row[5])["model"] for row in _attempts(run_dir)} == {"claude-sonnet-4-5"}
