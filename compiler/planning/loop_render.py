"""Retry loops in `octoc plan --graph`: each loop's body grouped (nested loops inside their outer one),
a dashed back edge from each verdict to the step it sends back, labelled with its attempts, and a
dotted edge from a verdict to each step outside its loop that waits for it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Group:
    target: str
    verdicts: list[tuple[str, int]]  # (verdict, attempts)
    body: frozenset[str]
    inner: list["_Group"] = field(default_factory=list)


def _groups(plan: dict) -> list[_Group]:
    """One group per looped step, the outermost first, each holding the loops nested in it."""
    by_target: dict[str, _Group] = {}
    for entry in plan.get("loops", []):
        group = by_target.setdefault(entry["of"], _Group(entry["of"], [], frozenset(entry["body"])))
        group.verdicts.append((entry["verdict"], entry["attempts"]))
    groups = sorted(by_target.values(), key=lambda g: -len(g.body))
    top: list[_Group] = []
    for i, group in enumerate(groups):  # loops are nested or disjoint (E0306): the smallest one around is the parent
        around = [g for g in groups[:i] if group.body < g.body]
        (min(around, key=lambda g: len(g.body)).inner if around else top).append(group)
    return top


def _label(group: _Group) -> str:
    return f"loop: {' and '.join(v for v, _ in group.verdicts)} may send {group.target} back"


def _back_edges(plan: dict):
    for entry in plan.get("loops", []):
        if entry["attempts"] > 1:
            yield entry["verdict"], entry["of"], f"up to {entry['attempts']} attempts"


def _waits(plan: dict):
    """A step outside a loop that reads it waits for the loop's verdicts: (verdict, step)."""
    for step in plan["steps"]:
        for w in step.get("waits_for", []):
            if w not in step["depends_on"]:
                yield w, step["name"]


def _own_nodes(group: _Group, order: list[str]) -> list[str]:
    inner = frozenset().union(*(g.body for g in group.inner))
    return [n for n in order if n in group.body and n not in inner]


def dot_loops(plan: dict) -> list[str]:
    order = plan["graph"]["nodes"]
    lines: list[str] = []

    def cluster(group: _Group, indent: str) -> None:
        lines.append(f'{indent}subgraph "cluster_loop_{group.target}" {{')
        lines.append(f'{indent}  label="{_label(group)}"; style=dashed;')
        lines.extend(f'{indent}  "{n}";' for n in _own_nodes(group, order))
        for inner in group.inner:
            cluster(inner, indent + "  ")
        lines.append(f"{indent}}}")

    for group in _groups(plan):
        cluster(group, "  ")
    lines += [f'  "{v}" -> "{t}" [style=dashed, constraint=false, label="{label}"];' for v, t, label in _back_edges(plan)]
    lines += [f'  "{v}" -> "{s}" [style=dotted, label="final verdict"];' for v, s in _waits(plan)]
    return lines


def mermaid_loops(plan: dict) -> list[str]:
    order = plan["graph"]["nodes"]
    taken = set(order)
    lines: list[str] = []

    def name() -> str:  # loop0, loop1, ...: never a step's name
        n = 0
        while f"loop{n}" in taken:
            n += 1
        taken.add(f"loop{n}")
        return f"loop{n}"

    def subgraph(group: _Group, indent: str) -> None:
        lines.append(f'{indent}subgraph {name()} ["{_label(group)}"]')
        lines.extend(f"{indent}  {n}" for n in _own_nodes(group, order))
        for inner in group.inner:
            subgraph(inner, indent + "  ")
        lines.append(f"{indent}end")

    for group in _groups(plan):
        subgraph(group, "  ")
    lines += [f'  {v} -. "{label}" .-> {t}' for v, t, label in _back_edges(plan)]
    lines += [f'  {v} -. "final verdict" .- {s}' for v, s in _waits(plan)]
    return lines
