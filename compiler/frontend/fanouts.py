"""Fan-out scopes: which units each step runs over (checked), and how many child units the plan expects.

A fan-out step (a kind with ``expands``) runs over the units of its scope and makes child units,
one per item of its list. Every step that reads it — directly or through other steps — runs over
those children. So a step's **scope** is the deepest of the places its reads are stored: a
fan-out's output lives in its children (the scope named after the fan-out), any other step's in
the units it runs over. The scopes form a tree rooted at the run's own units (""); a nested
fan-out's children are the children of its scope's units.

Checked here: a step's reads lie on one path of that tree (E0308: two unrelated fan-outs), and a
verdict runs over the same units as the step it sends back (E0309: a loop would cross a fan-out).
"""

from __future__ import annotations

from ..base.diagnostics import Label, Reporter
from ..base.records import record_class
from ..base.source import Span
from ..expressions.ast import free_names
from .program import Program, Step

ROOT = ""  # the scope of the run's own units
MAX_CHILDREN = 1_000_000  # a list holds at most this many items (compiler/expressions/evalsupport.py MAX_ITEMS)
TYPICAL_ITEMS = 3  # a list of unknown length, as the token estimates assume (estimate.typical_value)


def fanout_steps(program: Program, language) -> set[str]:
    return {n for n, s in program.steps.items() if getattr(language.kinds[s.kind], "expands", False)}


@record_class
class Scopes:
    """Each step's scope, and each fan-out's parent scope."""

    step: dict[str, str]
    parent: dict[str, str | None]  # scope → the scope its units are children of (None for the root)
    fanouts: set[str]

    def stored_in(self, name: str) -> str:
        """Where a step's output is read from: a fan-out's in its children, any other step's where it runs."""
        return name if name in self.fanouts else self.step[name]

    def chain(self, scope: str) -> list[str]:
        """``scope`` and the scopes above it, up to the root."""
        out: list[str] = []
        at: str | None = scope
        while at is not None:
            out.append(at)
            at = self.parent.get(at)
        return out

    def depth(self, scope: str) -> int:
        return len(self.chain(scope)) - 1


def step_scopes(program: Program, language, reporter: Reporter | None = None) -> Scopes:
    """Every step's scope, in dependency order; with a reporter, E0308 for reads of unrelated fan-outs."""
    scopes = Scopes({}, {ROOT: None}, fanout_steps(program, language))
    for name in program.order:
        step = program.steps[name]
        reads = [(dep, span) for dep, span in sorted(step.deps.items(), key=lambda kv: kv[1].start) if dep in scopes.step]
        scopes.step[name] = _deepest(scopes, reads, f"step '{name}'", reporter)
        if name in scopes.fanouts:
            scopes.parent[name] = scopes.step[name]
    return scopes


def _deepest(scopes: Scopes, reads: list[tuple[str, Span]], who: str, reporter: Reporter | None) -> str:
    """The deepest scope of ``reads``, which must lie on one path; the first read that does not is E0308."""
    deepest, because = ROOT, None
    for dep, span in reads:
        scope = scopes.stored_in(dep)
        if scope in scopes.chain(deepest):
            continue
        if deepest in scopes.chain(scope):
            deepest, because = scope, (dep, span)
            continue
        if reporter is not None:
            first, first_span = because
            reporter.report("E0308", span, f"{who} reads '{first}' and '{dep}', which run over the units of two "
                            f"unrelated fan-outs ('{deepest}' and '{scope}')",
                            label=f"{_units_of(scope)}", labels=[Label(first_span, _units_of(deepest))],
                            hint="a step (and `export`) runs over the units of one fan-out: nest one fan-out in the other (fan out "
                                 "from a step that reads the first), or read the two in separate steps")
        break
    return deepest


def _units_of(scope: str) -> str:
    return "per unit of the run" if scope == ROOT else f"per child unit of fan-out '{scope}'"


def check_fanouts(program: Program, language, reporter: Reporter) -> Scopes:
    """E0308 for steps and `export` that read unrelated fan-outs; E0309 for a verdict across a fan-out."""
    scopes = step_scopes(program, language, reporter)
    if not scopes.fanouts:
        return scopes
    for step in program.steps.values():
        if _is_verdict(step, language):
            _check_verdict(step, program, scopes, reporter)
    exprs = [expr for _, expr in program.export]
    if program.export_file is not None and program.export_file.where is not None:
        exprs.append(program.export_file.where)  # `where` filters the same rows the columns fill
    reads = [(name, span) for expr in exprs for name, span in free_names(expr) if name in scopes.step]
    _deepest(scopes, sorted(reads, key=lambda r: r[1].start), "`export`", reporter)
    return scopes


def _is_verdict(step: Step, language) -> bool:
    kind = language.kinds[step.kind]
    return bool(getattr(kind, "verdict", kind.name == "judge"))


def _check_verdict(step: Step, program: Program, scopes: Scopes, reporter: Reporter) -> None:
    of = getattr(step.parsed, "of", None)
    if of not in scopes.step or step.name not in scopes.step or scopes.step[step.name] == scopes.step[of]:
        return
    own, theirs = scopes.step[step.name], scopes.step[of]
    at = getattr(step.parsed, "of_node", None)
    span = at.span if at is not None else step.name_span
    deeper = next(((dep, s) for dep, s in sorted(step.deps.items(), key=lambda kv: kv[1].start)
                   if dep in scopes.step and scopes.stored_in(dep) in scopes.chain(own)
                   and scopes.stored_in(dep) not in scopes.chain(theirs)), None)
    labels = [Label(deeper[1], f"'{deeper[0]}' is read {_units_of(own)}")] if deeper else []
    reporter.report("E0309", span, f"'{step.name}' runs {_units_of(own)}, but '{of}', the step it sends back, runs "
                    f"{_units_of(theirs)}: a failed verdict cannot re-run it across the fan-out",
                    label=f"sent back {_units_of(theirs)}", labels=labels,
                    hint="a verdict sends back a step of its own units: judge a step inside the fan-out, or give the "
                         "verdict only what comes before the fan-out")


# --- the plan: child counts ----------------------------------------------------------------------


@record_class
class ScopeCount:
    """How many units a scope has: expected and at worst (the run's own units are counted exactly)."""

    name: str
    expected: int
    worst: int
    exact: bool


@record_class
class PerParent:
    """Children per parent unit: the declared item counts of the list and `max:`, and the estimate."""

    low: int
    high: int | None  # None: no upper bound
    expected: float
    worst: int

    @classmethod
    def of(cls, parsed) -> "PerParent":
        low = max(parsed.min_items or 0, 0)
        bounds = [b for b in (parsed.max_items, parsed.max) if b is not None]
        high = min(bounds) if bounds else None
        if high is None:
            return cls(low, None, float(max(low, TYPICAL_ITEMS)), MAX_CHILDREN)
        low = min(low, high)  # a list longer than `max` fails its unit: at most `max` children either way
        return cls(low, high, (low + high) / 2, high)


class ScopeCounts:
    """The units each scope is planned to have, filled in dependency order as the plan's rows are made."""

    def __init__(self, program: Program, language, root_count: int):
        self.program = program
        self.scopes = step_scopes(program, language)
        self.counts = {ROOT: ScopeCount(ROOT, root_count, root_count, True)}

    def of(self, step: str) -> ScopeCount:
        return self.counts.get(self.scopes.step.get(step, ROOT), self.counts[ROOT])

    def record(self, step: Step, row: dict) -> None:
        """After a fan-out's row is made: its children's counts, and its `fanout` record in the row."""
        if step.name not in self.scopes.fanouts:
            return
        per = PerParent.of(step.parsed)
        expected = round(row["units"]["count"] * per.expected)
        worst = row["units"]["worst"] * per.worst
        self.counts[step.name] = ScopeCount(step.name, expected, worst, False)
        row["fanout"] = {"per_unit": {"min": per.low, "max": per.high, "expected": per.expected, "worst": per.worst},
                         "children": {"expected": expected, "worst": worst}}


def merge_worst(expected, worst):
    """``expected`` with every value under a key ``worst`` or ``*_worst`` taken from ``worst``, a record of the
    same shape: a fan-out's step estimated twice, with its expected and its worst count of units."""
    if isinstance(expected, dict) and isinstance(worst, dict):
        return {k: (worst.get(k, v) if k == "worst" or k.endswith("_worst") else merge_worst(v, worst.get(k)))
                for k, v in expected.items()}
    if isinstance(expected, list) and isinstance(worst, list) and len(expected) == len(worst):
        return [merge_worst(a, b) for a, b in zip(expected, worst)]
    return expected
