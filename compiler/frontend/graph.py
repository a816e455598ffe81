"""Dependencies between steps: inferred from references, checked for cycles."""

from __future__ import annotations

from ..base.diagnostics import Label, Reporter
from ..expressions import ast
from ..expressions.ast import free_names
from ..expressions.templates import template_roots
from .digraph import DiGraph, shortest_path, strongly_connected_components, topological_order
from .program import Program


def infer_dependencies(program: Program) -> None:
    """Fill each step's ``deps`` from the names its expressions and templates read."""
    for step in program.steps.values():
        own_outputs = set(step.output.names()) if step.output is not None else set()
        rule_ids = {id(e) for e in step.validate_exprs}
        for expr in step.exprs:
            local = step.local_names | (own_outputs if id(expr) in rule_ids else set())
            for name, span in free_names(expr):
                if name in program.steps and name not in local:
                    step.deps.setdefault(name, span)
        for name in step.template_roots:
            if name in program.steps and name not in step.local_names:
                step.deps.setdefault(name, step.template_refs.get(name, step.kind_span))
        for _, message in step.validate:  # messages, like rules, see the step's own outputs
            for name in template_roots(message) if message is not None else ():
                if name in program.steps and name not in step.local_names | own_outputs:
                    step.deps.setdefault(name, message.span)


def build_graph(program: Program) -> DiGraph:
    graph = DiGraph()
    graph.add_nodes_from(program.steps)
    for step in program.steps.values():
        for dep in step.deps:
            graph.add_edge(dep, step.name)
    return graph


def report_cycles(program: Program, graph: DiGraph, reporter: Reporter) -> set[str]:
    """Report each cycle once, spelled out; returns the steps on a cycle."""
    on_cycle: set[str] = set()
    for component in strongly_connected_components(graph):
        members = sorted(component, key=lambda n: program.steps[n].name_span.start)
        if len(members) == 1 and not graph.has_edge(members[0], members[0]):
            continue
        on_cycle |= component
        cycle = _one_cycle(graph.subgraph(component), members[0])
        _report_cycle(program, cycle, reporter)
    return on_cycle


def _one_cycle(graph: DiGraph, start: str) -> list[str]:
    """A cycle through ``start``, written in the order the data flows."""
    if graph.has_edge(start, start):
        return [start, start]
    back = min(graph.predecessors(start), key=lambda p: len(shortest_path(graph, start, p)))
    return shortest_path(graph, start, back) + [start]


def _report_cycle(program: Program, cycle: list[str], reporter: Reporter) -> None:
    """``cycle`` is [a, b, ..., a] where each step feeds the next (b reads a)."""
    if len(set(cycle)) == 1:
        step = program.steps[cycle[0]]
        reporter.report("E0301", step.deps[step.name], f"step '{step.name}' refers to its own output",
                        label="a step cannot read itself",
                        hint="move the value into an earlier step, or into `init` of a simulate step")
        return
    edges = list(zip(cycle, cycle[1:]))
    (src, dst), rest = edges[0], edges[1:]
    labels = [Label(program.steps[b].deps[a], f"'{b}' reads '{a}'") for a, b in rest]
    reporter.report("E0301", program.steps[dst].deps[src], f"dependency cycle: {' → '.join(cycle)}",
                    label=f"'{dst}' reads '{src}'", labels=labels,
                    hint="a step can only read steps that come before it; break the cycle")


def dependency_order(program: Program, graph: DiGraph, on_cycle: set[str]) -> list[str]:
    """Steps in an order where each comes after what it reads (cycles broken by source order)."""
    acyclic = graph.without_edges(lambda a, b: a in on_cycle and b in on_cycle)
    position = {name: i for i, name in enumerate(program.steps)}
    return topological_order(acyclic, key=position.__getitem__)
