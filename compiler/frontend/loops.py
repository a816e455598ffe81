"""Retry loops: what a verdict re-runs, and what every step must wait for.

A verdict step V (a kind with ``verdict = True``: `judge`, `gate`) with
`of: T` may send T back for a unit. Every step on a path T → V (T and V
included) computed its result from T's answer, so they all go back with it:
that set is the loop's **body**. The rules (docs/language.md, "Loops"):

1. The verdicts of one target form **one loop**: its body is every step on a
   path from T to any of them. Any of them can send the body back, the round
   count is shared, and each verdict's `attempts` bounds the rounds it may start.
2. A body that holds another loop's target holds that whole loop: a step that
   is re-run is checked again by its own verdicts.
3. Two loops of different targets may then be **disjoint** or **nested** (one
   body wholly inside the other, holding none of the outer loop's verdicts;
   the inner loop starts again at round 1 whenever the outer one sends its
   body back). Any other overlap is E0306 — e.g. a judge of a judge: a step
   outside both could read an answer one loop withdraws after the other's
   verdict was final, and no order of waiting prevents it.
4. ``waits_for(S)`` = the steps S reads, plus every verdict of every loop whose
   body holds a step S reads but not S itself: outside a loop, a body step's
   result is final only once every verdict of that loop is.
5. A cycle in ``waits_for`` is E0305, spelled out; nothing on it could ever run.

Why rule 4 is enough (with rule 3): a verdict decides only while it has no
result; a step outside the body that reads the body waits for that verdict,
so it has no result either, and the steps inside the body are withdrawn
together. A verdict's final result can itself be withdrawn only by a loop
that contains it; under rule 3 that loop contains everything the first one
does, so the reader waits for it too (runtime/work/loops.py relies on this).
"""

from __future__ import annotations

from dataclasses import field

from ..base.diagnostics import Label, Reporter
from ..base.records import record_class
from ..expressions.ast import free_names
from .digraph import DiGraph, ancestors, descendants, shortest_path, strongly_connected_components
from .program import Program


@record_class(frozen=True)
class Loop:
    """The loop of one target: its verdicts (in source order) and its body."""

    target: str
    verdicts: tuple[str, ...]
    body: frozenset[str]


@record_class
class Loops:
    loops: list[Loop] = field(default_factory=list)
    waits_for: dict[str, list[str]] = field(default_factory=dict)
    # (step, verdict) → the step read that makes it wait for the verdict
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)

    def containing(self, step: str) -> list[Loop]:
        """The loops whose body holds ``step``, outermost first."""
        return sorted((loop for loop in self.loops if step in loop.body), key=lambda loop: -len(loop.body))


def verdict_target(program: Program, language, name: str) -> str | None:
    """The step a verdict step may send back, when that is a provider step other than itself (else None)."""
    step = program.steps[name]
    if not getattr(language.kinds[step.kind], "verdict", False):
        return None
    target = getattr(step.parsed, "of", None)
    if target not in program.steps or target == name:
        return None  # reported by the kind (E0302)
    return target if language.kinds[program.steps[target].kind].runs == "provider" else None


def find_loops(program: Program, language, graph: DiGraph, on_cycle: set[str], reporter: Reporter) -> Loops:
    """Every loop of the program and every step's ``waits_for``; E0306 and E0305 reported."""
    by_target: dict[str, list[str]] = {}
    for name in program.steps:
        target = verdict_target(program, language, name)
        if target is not None and name not in on_cycle and target not in on_cycle:
            by_target.setdefault(target, []).append(name)
    loops = [Loop(t, tuple(vs), frozenset().union(*(_paths(graph, t, v) for v in vs))) for t, vs in by_target.items()]
    loops = _refuse_overlaps(program, _with_inner_loops(loops), reporter)
    result = Loops(loops)
    _warn_blind_verdicts(program, result, reporter)
    _waits(program, result)
    _report_wait_cycles(program, result, on_cycle, reporter)
    return result


def _paths(graph: DiGraph, source: str, sink: str) -> set[str]:
    """Every step on a path ``source`` → ``sink`` (both included)."""
    return ({source} | descendants(graph, source)) & ({sink} | ancestors(graph, sink))


def _with_inner_loops(loops: list[Loop]) -> list[Loop]:
    """A body that holds another loop's target holds that whole loop: a step re-run is checked again."""
    bodies = {loop.target: set(loop.body) for loop in loops}
    changed = True
    while changed:
        changed = False
        for target, body in bodies.items():
            for other, inner in bodies.items():
                if other != target and other in body and not inner <= body:
                    body |= inner
                    changed = True
    return [Loop(loop.target, loop.verdicts, frozenset(bodies[loop.target])) for loop in loops]


def _refuse_overlaps(program: Program, loops: list[Loop], reporter: Reporter) -> list[Loop]:
    """Loops that are disjoint or nested are kept; a loop overlapping a kept one otherwise is E0306, and so is
    an inner loop that holds a verdict of the loop around it (it could withdraw that loop's final verdict)."""
    order = {name: i for i, name in enumerate(program.steps)}
    kept: list[Loop] = []
    for loop in sorted(loops, key=lambda loop: order[loop.verdicts[0]]):
        clash = next((k for k in kept if loop.body & k.body and not _nested(loop, k)), None)
        if clash is None:
            kept.append(loop)
            continue
        verdict = program.steps[loop.verdicts[0]]
        shared = sorted(loop.body & clash.body, key=order.__getitem__)
        if loop.target in clash.verdicts:
            hint = (f"a verdict cannot judge a verdict: judge '{clash.target}' again instead (several verdicts of one "
                    f"step form one loop), or check both things in one judge")
        else:
            hint = ("a step may be in two loops only when one loop lies wholly inside the other; "
                    "make one verdict read only steps of its own loop, or judge the same step twice")
        inner, outer = (loop, clash) if loop.body <= clash.body else (clash, loop)
        how = (f"but the inner one holds {_names(sorted(inner.body & set(outer.verdicts)))}, a verdict of the outer one"
               if inner.body <= outer.body else "but neither holds the other")
        reporter.report("E0306", verdict.parsed.of_node.span,
                        f"the loop of '{loop.verdicts[0]}' ({_words(loop, order)}) overlaps the loop of "
                        f"'{clash.verdicts[0]}' ({_words(clash, order)}) in {_names(shared)}, {how}",
                        label=f"'{loop.verdicts[0]}' sends '{loop.target}' back", hint=hint,
                        labels=[Label(program.steps[clash.verdicts[0]].parsed.of_node.span,
                                      f"'{clash.verdicts[0]}' sends '{clash.target}' back")])
    return kept


def _nested(a: Loop, b: Loop) -> bool:
    inner, outer = (a, b) if a.body <= b.body else (b, a) if b.body <= a.body else (None, None)
    return inner is not None and not (inner.body & set(outer.verdicts))


def _words(loop: Loop, order: dict[str, int]) -> str:
    return "re-running " + _names(sorted(loop.body, key=order.__getitem__))


def _names(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _warn_blind_verdicts(program: Program, result: Loops, reporter: Reporter) -> None:
    """W0406: a verdict that reads neither its target nor anything computed from it judges the same thing every round."""
    for loop in result.loops:
        for name in loop.verdicts:
            verdict = program.steps[name]
            reads = {n for expr in verdict.exprs for n, _ in free_names(expr)} | verdict.template_roots
            if not (reads - verdict.local_names) & (loop.body - {name}):
                reporter.report("W0406", verdict.parsed.of_node.span,
                                f"'{name}' reads nothing of what it sends back: neither '{loop.target}' nor a step "
                                f"computed from it, so every round would get the same verdict",
                                label=f"'{name}' sends '{loop.target}' back",
                                hint=f"read '{loop.target}' (or a step computed from it) in its "
                                     f"{'prompt' if program.steps[name].kind == 'judge' else '`pass`'}")


def _waits(program: Program, result: Loops) -> None:
    for name in program.order:
        step = program.steps[name]
        waits = list(sorted(step.deps))
        for dep in sorted(step.deps):
            for loop in result.containing(dep):
                if name in loop.body:
                    continue
                for verdict in loop.verdicts:
                    if verdict not in step.deps:
                        result.reasons.setdefault((name, verdict), dep)
                    if verdict not in waits:
                        waits.append(verdict)
        result.waits_for[name] = waits


def _report_wait_cycles(program: Program, result: Loops, on_cycle: set[str], reporter: Reporter) -> None:
    """A cycle through a wait: X waits for Y and Y (through reads and waits) for X. Data cycles are E0301's."""
    graph = DiGraph()
    graph.add_nodes_from(n for n in program.steps if n not in on_cycle)
    for name, waits in result.waits_for.items():
        graph.add_edges_from((name, w) for w in waits if name not in on_cycle and w not in on_cycle)
    order = {name: i for i, name in enumerate(program.steps)}
    for component in strongly_connected_components(graph):
        if len(component) < 2:
            continue
        sub = graph.subgraph(component)
        # start with a wait (a data edge alone never closes a cycle here), at the step written first
        start, first = min(((n, w) for n in component for w in sub.successors(n) if (n, w) in result.reasons),
                           key=lambda edge: (order[edge[0]], order[edge[1]]))
        _report_wait_cycle(program, result, [start] + shortest_path(sub, first, start), reporter)


def _report_wait_cycle(program: Program, result: Loops, cycle: list[str], reporter: Reporter) -> None:
    """``cycle`` is [a, b, ..., a], each waiting for the next."""
    edges = list(zip(cycle, cycle[1:]))
    words = [_wait_words(result, a, b) for a, b in edges]
    text = f"'{cycle[0]}' {words[0]}" + "".join(f", which {w}" for w in words[1:])
    spans = [program.steps[a].deps[result.reasons.get((a, b), b)] for a, b in edges]
    labels = [Label(span, f"'{a}' {_short(result, a, b)}") for span, (a, b) in zip(spans[1:], edges[1:])]
    reporter.report("E0305", spans[0], f"these steps wait for each other and can never run: {text}",
                    label=f"'{cycle[0]}' {_short(result, *edges[0])}", labels=labels,
                    hint="outside a loop, a step that reads the loop's steps waits for the loop's final verdict; "
                         "read what the verdict needs inside its loop, or drop one of these reads")


def _wait_words(result: Loops, step: str, other: str) -> str:
    dep = result.reasons.get((step, other))
    if dep is None:
        return f"reads '{other}'"
    return f"waits for the final verdict of '{other}' (it reads '{dep}', which '{other}' may send back)"


def _short(result: Loops, step: str, other: str) -> str:
    dep = result.reasons.get((step, other))
    return f"reads '{other}'" if dep is None else f"reads '{dep}', so it waits for '{other}'"


# --- the plan ----------------------------------------------------------------------------------


def waits_for(program: Program, name: str) -> list[str]:
    """What the runtime waits for before ``name`` runs for a unit (its reads when loops are unknown)."""
    loops = program.loops
    if loops is None or name not in loops.waits_for:
        return sorted(program.steps[name].deps)
    return list(loops.waits_for[name])


def loops_ir(program: Program) -> list[dict]:
    """The plan's `loops`: one record per verdict, its loop's body in plan order (docs/plan.md)."""
    if program.loops is None:
        return []
    order = {name: i for i, name in enumerate(program.order)}
    out = []
    for loop in program.loops.loops:
        body = sorted(loop.body, key=lambda n: order.get(n, len(order)))
        out += [{"verdict": v, "of": loop.target, "body": body, "attempts": program.steps[v].parsed.attempts}
                for v in loop.verdicts]
    return sorted(out, key=lambda r: order.get(r["verdict"], len(order)))
