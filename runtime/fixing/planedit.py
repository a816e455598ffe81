"""Which edits of a run's pipeline `octoc revalidate DIR FILE` honours, and putting the edited plan in its place.

A run's answers were bought for the questions its plan asks. An edit that
changes only how an answer is judged, or what is computed for free from the
results, is honoured by checking the answers again; an edit that changes a
question — a prompt, a model, the units, the data — is not: the stored answers
answer the old question, and only new requests (a new run, or `octoc retry`)
can answer the new one.

Honoured (compared on the compiled plans, positions and estimates aside):
- `validate` rules and their messages, of a provider step or of a local
  per-unit step (that step is computed again, free);
- a provider step's output constraints: `minimum`/`maximum` (ranges), `enum`,
  `minItems`/`maxItems` (item counts), and the other JSON Schema keywords that
  only narrow or widen the values a field may take (lengths, `pattern`,
  `multipleOf`, `const`, …). The schema's shape — its fields, their types,
  which are required, their nesting — must stay: answers of another shape
  answer another question;
- `retries` and `mode`: how the step is asked from now on;
- an aggregate's `by`, metrics, `expect`s and `when` (computed again from the results);
- `export`; the description, comments and layout.

Everything else is refused, each change with why. The accepted plan replaces
``plan.json``; the plan it replaces and the edited file are kept under
``edits/N/`` (N = 1, 2, …). The run keeps its prices and budget.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..base.crashpoints import crashpoint
from ..rundirs.rundir import PLAN_FILE, RunDirError, _write_atomically

STAGED = ".plan.next.json"  # the edited plan, before it takes plan.json's place
EDITS_DIR = "edits"

POSITIONS = frozenset({"at", "lines", "message_lines"})
ESTIMATES = frozenset({"units", "notes", "estimate", "tries_per_unit", "price_known", "per_model", "fanout"})
IGNORED_TOP = frozenset({"graph", "prices", "totals", "assumptions", "disk"})  # derived, or kept from the run
CONSTRAINTS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems",
                         "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "format", "enum", "const",
                         "minProperties", "maxProperties", "description", "title", "examples", "default"})
NEW_QUESTION = "the stored answers answer the old one"


@dataclass
class Edit:
    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)  # local steps to compute again (their `validate` changed)
    aggregates: list[str] = field(default_factory=list)  # aggregates to compute again

    @property
    def changes(self) -> bool:
        return bool(self.accepted or self.refused)


def compare(old: dict, new: dict, kinds) -> Edit:
    """What the edit from plan ``old`` to plan ``new`` changes, accepted and refused (``kinds``: the step kinds)."""
    edit = Edit()
    for key in sorted(set(old) | set(new)):
        if key in IGNORED_TOP or key == "steps":
            continue
        a, b = _bare(old.get(key)), _bare(new.get(key))
        if a == b:
            continue
        if key == "export":
            edit.accepted.append("export: the columns of `octoc results`")
        elif key == "export_file":
            edit.accepted.append("export: which rows `octoc results --export` writes, and where")
        elif key == "pipeline":
            _pipeline(a, b, edit)
        elif key == "budget":
            if (a or {}).get("max_usd") != (b or {}).get("max_usd"):
                edit.refused.append("budget: max_usd changed — a run keeps its budget; to allow more, resume with "
                                    "--max-usd AMOUNT")
        else:
            edit.refused.append(f"{key}: {_TOP_REASONS.get(key, 'changed — revalidation cannot honour it')}")
    _steps(old["steps"], new["steps"], kinds, edit)
    return edit


_TOP_REASONS = {
    "data": "the data changed — the stored answers were given for the old data; start a new run",
    "units": "the units changed — the stored results are those of the old units; start a new run",
    "loops": "the retry loops changed — rounds already run cannot be run another way; start a new run",
    "format": "the plan's format changed", "version": "the plan's version changed (another octoc); start a new run",
}


def _pipeline(a: dict, b: dict, edit: Edit) -> None:
    if a.get("seed") != b.get("seed"):
        edit.refused.append(f"seed: {a.get('seed')} → {b.get('seed')} — every random draw of the run came from the "
                            "old seed; start a new run")
    if a.get("name") != b.get("name"):
        edit.refused.append(f"name: '{a.get('name')}' → '{b.get('name')}' — a run keeps its pipeline's name")


def _steps(old: list[dict], new: list[dict], kinds, edit: Edit) -> None:
    before, after = [s["name"] for s in old], [s["name"] for s in new]
    if before != after:
        added, removed = [n for n in after if n not in before], [n for n in before if n not in after]
        what = "; ".join(filter(None, [f"added {', '.join(added)}" if added else "",
                                       f"removed {', '.join(removed)}" if removed else "",
                                       "" if added or removed else "in another order"]))
        edit.refused.append(f"steps: {what} — the run's results are those of its steps; start a new run")
        return
    for a, b in zip(old, new):
        _step(_bare(a), _bare(b), kinds[a["kind"]], edit)


def _step(a: dict, b: dict, kind, edit: Edit) -> None:
    name = a["name"]
    where = f"step '{name}'"
    if a["kind"] != b["kind"]:
        edit.refused.append(f"{where}: a {a['kind']} step is now a {b['kind']} step — start a new run")
        return
    aggregate, provider = not kind.per_unit, a["runs"] == "provider"
    if any(a.get(key) != b.get(key) for key in MODEL_KEYS):
        models = [", ".join(s.get("models") or [s.get("model") or "?"]) for s in (a, b)]
        edit.refused.append(f"{where}: its model changed ({models[0]} → {models[1]}) — {NEW_QUESTION}, from "
                            "another model; start a new run")
    for key in sorted((set(a) | set(b)) - ESTIMATES - MODEL_KEYS - {"name", "kind", "output"}):
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        if key in ("retries", "mode"):
            edit.accepted.append(f"{where}: {key} {x} → {y}")
        elif key == "validate" and (provider or not (aggregate or getattr(kind, "expands", False))):
            edit.accepted.append(f"{where}: validate rules")
            if not provider:
                edit.local.append(name)
        elif key == "validate":
            edit.refused.append(f"{where}: validate rules — a fan-out's rules decide which child units exist, "
                                "and the children made cannot be made again; start a new run")
        elif key == "config":
            _config(where, name, x, y, provider, aggregate, edit)
        elif key == "when" and aggregate:
            edit.accepted.append(f"{where}: when")
            _once(edit.aggregates, name)
        else:
            edit.refused.append(f"{where}: {_STEP_REASONS.get(key, f'{key} changed — revalidation cannot honour it')}")


MODEL_KEYS = frozenset({"model", "model_from", "model_map", "models"})
_STEP_REASONS = {
    "when": "its `when` changed — which units it runs for is decided as they run; start a new run",
    "depends_on": "it reads other steps now — its results were computed from the old ones; start a new run",
    "waits_for": "it waits for other steps now — start a new run",
    "runs": "it runs elsewhere now (locally or at a provider) — start a new run",
    "scope": "it runs over other units now (a fan-out's, or the run's) — start a new run",
}


def _config(where: str, name: str, x: dict, y: dict, provider: bool, aggregate: bool, edit: Edit) -> None:
    if aggregate:
        changed = ", ".join(k for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k))
        edit.accepted.append(f"{where}: {changed}")
        _once(edit.aggregates, name)
        return
    if not provider:
        edit.refused.append(f"{where}: what it computes changed — revalidation checks results against new rules, "
                            "it does not compute them another way; start a new run")
        return
    for key in sorted(set(x) | set(y)):
        a, b = x.get(key), y.get(key)
        if a == b:
            continue
        if key == "output_schema":
            if _shape(a) == _shape(b):
                edit.accepted.append(f"{where}: output constraints")
            else:
                edit.refused.append(f"{where}: the output's fields or types changed — {NEW_QUESTION}, asked for "
                                    "another shape; start a new run (only ranges, enums, item counts, lengths and "
                                    "patterns may change)")
        else:
            edit.refused.append(f"{where}: {_CONFIG_REASONS.get(key, f'{key} changed — {NEW_QUESTION}')}")


_CONFIG_REASONS = {
    "prompt": f"the prompt changed — {NEW_QUESTION}; to ask the new one, start a new run (octoc run FILE)",
    "system": f"the system prompt changed — {NEW_QUESTION}; to ask the new one, start a new run (octoc run FILE)",
    "temperature": f"temperature changed — {NEW_QUESTION}, sampled the old way; start a new run",
    "max_tokens": f"max_tokens changed — {NEW_QUESTION}, cut at the old length; start a new run",
    "top_p": f"top_p changed — {NEW_QUESTION}, sampled the old way; start a new run",
    "seed": f"seed changed — {NEW_QUESTION}, sampled with the old seed; start a new run",
    "reasoning": f"reasoning changed — {NEW_QUESTION}, with the old reasoning; start a new run",
    "of": "it judges another step now — start a new run",
    "pass": "`pass` changed — the verdicts already given sent loops back (or not) by the old `pass`, and rounds "
            "already run cannot be undone; start a new run",
    "attempts": "attempts changed — the loop's rounds already run were counted by the old number; start a new run",
}


def _shape(schema):
    """A JSON Schema without the keywords that only narrow or widen values: its fields, types and nesting."""
    if isinstance(schema, list):
        return [_shape(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in CONSTRAINTS:
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            out[key] = {k: _shape(v) for k, v in value.items()} if isinstance(value, dict) else value
        else:
            out[key] = _shape(value) if isinstance(value, (dict, list)) else value
    return out


def _bare(value):
    """A plan record without source positions (an edited copy is another file, its lines elsewhere); a null field
    is an absent one (a plan of an earlier octoc lacks the fields added since, a later one has them null)."""
    if isinstance(value, dict):
        return {k: _bare(v) for k, v in value.items() if k not in POSITIONS and v is not None}
    if isinstance(value, list):
        return [_bare(v) for v in value]
    return value


def _once(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


# --- putting the edited plan in place ---------------------------------------------------------------


def edited_plan(old: dict, new: dict) -> str:
    """The text of the plan the run goes on with: the edited one, with the run's prices and budget."""
    from octo.compiler.planning.ir import Plan

    return Plan({**new, "prices": old["prices"], "budget": old.get("budget")}).to_json()


def stage(run_dir: Path, number: int, old_text: str, new_text: str, source: Path) -> str:
    """Keep the replaced plan and the edited file under edits/N/, and write the new plan beside plan.json; its hash."""
    kept = run_dir / EDITS_DIR / str(number)
    kept.mkdir(parents=True, exist_ok=True)
    _write_atomically(kept / PLAN_FILE, old_text)
    _write_atomically(kept / source.name, source.read_text(encoding="utf-8"))
    _write_atomically(run_dir / STAGED, new_text)
    return digest(new_text)


def put_in_place(run_dir: Path, fix: dict) -> None:
    """Make the plan a revalidation recorded the run's plan (a kill may have come before it was)."""
    wanted = fix.get("plan")
    if wanted is None:
        return
    current, staged = run_dir / PLAN_FILE, run_dir / STAGED
    if digest(current.read_text(encoding="utf-8")) == wanted:
        staged.unlink(missing_ok=True)
        return
    if staged.is_file() and digest(staged.read_text(encoding="utf-8")) == wanted:
        crashpoint("before-edited-plan")
        os.replace(staged, current)
        return
    raise RunDirError(f"the edited plan of the revalidation begun in '{run_dir}' is neither its {PLAN_FILE} nor "
                      f"{STAGED}; the run directory was changed by hand. Put back {EDITS_DIR}/"
                      f"{fix.get('edit')}/{PLAN_FILE} as {PLAN_FILE} and revalidate again")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

