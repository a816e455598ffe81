"""A small directed graph with the few algorithms `check` and `plan` use.

It stands in for networkx, whose import alone cost `octoc check` ~150 ms (more than the rest of octo's
own startup; docs/design.md, "Performance: startup"). Nodes and each node's neighbours keep insertion
order, as networkx's `DiGraph` does, and the two algorithms whose output depends on that order
(strongly connected components, the shortest path) follow networkx's, so diagnostics spell cycles
out as they did.
"""

from __future__ import annotations

import heapq
from typing import Callable, Hashable, Iterable, Iterator

Node = Hashable


class DiGraph:
    def __init__(self) -> None:
        self._succ: dict[Node, dict[Node, dict]] = {}
        self._pred: dict[Node, dict[Node, dict]] = {}

    def add_node(self, node: Node) -> None:
        if node not in self._succ:
            self._succ[node] = {}
            self._pred[node] = {}

    def add_nodes_from(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            self.add_node(node)

    def add_edge(self, a: Node, b: Node, **data) -> None:
        """The edge a → b; its data updated when it is there already."""
        self.add_node(a)
        self.add_node(b)
        attrs = self._succ[a].setdefault(b, {})
        attrs.update(data)
        self._pred[b][a] = attrs

    def add_edges_from(self, edges: Iterable[tuple[Node, Node]]) -> None:
        for a, b in edges:
            self.add_edge(a, b)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._succ)

    def __contains__(self, node: Node) -> bool:
        return node in self._succ

    @property
    def nodes(self) -> list[Node]:
        return list(self._succ)

    def edges(self, data: bool = False) -> list[tuple]:
        """Every edge, by source node in insertion order (with its data as a third item when asked)."""
        return [(a, b, attrs) if data else (a, b) for a, out in self._succ.items() for b, attrs in out.items()]

    def has_edge(self, a: Node, b: Node) -> bool:
        return b in self._succ.get(a, ())

    def successors(self, node: Node) -> Iterator[Node]:
        return iter(self._succ[node])

    def predecessors(self, node: Node) -> Iterator[Node]:
        return iter(self._pred[node])

    def subgraph(self, nodes: Iterable[Node]) -> DiGraph:
        """A copy holding only ``nodes`` and the edges between them (in this graph's order)."""
        keep = set(nodes)
        sub = DiGraph()
        sub.add_nodes_from(n for n in self._succ if n in keep)
        for a in sub:
            for b, attrs in self._succ[a].items():
                if b in keep:
                    sub.add_edge(a, b, **attrs)
        return sub

    def without_edges(self, drop: Callable[[Node, Node], bool]) -> DiGraph:
        """A copy without the edges a → b for which ``drop(a, b)`` holds."""
        copy = DiGraph()
        copy.add_nodes_from(self)
        for a, b, attrs in self.edges(data=True):
            if not drop(a, b):
                copy.add_edge(a, b, **attrs)
        return copy


def strongly_connected_components(graph: DiGraph) -> Iterator[set]:
    """Each strongly connected component, as networkx yields them (Tarjan's algorithm with Nuutila's
    changes, without recursion)."""
    preorder: dict[Node, int] = {}
    lowlink: dict[Node, int] = {}
    found: set = set()
    stack: list[Node] = []
    counter = 0
    neighbours = {v: iter(graph._succ[v]) for v in graph}
    for source in graph:
        if source in found:
            continue
        queue = [source]
        while queue:
            v = queue[-1]
            if v not in preorder:
                counter += 1
                preorder[v] = counter
            descended = False
            for w in neighbours[v]:
                if w not in preorder:
                    queue.append(w)
                    descended = True
                    break
            if descended:
                continue
            lowlink[v] = preorder[v]
            for w in graph._succ[v]:
                if w not in found:
                    lowlink[v] = min(lowlink[v], lowlink[w] if preorder[w] > preorder[v] else preorder[w])
            queue.pop()
            if lowlink[v] == preorder[v]:
                component = {v}
                while stack and preorder[stack[-1]] > preorder[v]:
                    component.add(stack.pop())
                found |= component
                yield component
            else:
                stack.append(v)


def shortest_path(graph: DiGraph, source: Node, target: Node) -> list[Node]:
    """A shortest path source → target (both included; [source] when they are one node), found as networkx
    finds it (breadth-first from both ends, growing the smaller fringe), so ties resolve the same way."""
    if source == target:
        return [source]
    pred: dict[Node, Node | None] = {source: None}
    succ: dict[Node, Node | None] = {target: None}
    forward, reverse = [source], [target]
    meet = None
    while forward and reverse and meet is None:
        if len(forward) <= len(reverse):
            level, forward = forward, []
            for v in level:
                for w in graph._succ[v]:
                    if w not in pred:
                        forward.append(w)
                        pred[w] = v
                    if w in succ:
                        meet = w
                        break
                if meet is not None:
                    break
        else:
            level, reverse = reverse, []
            for v in level:
                for w in graph._pred[v]:
                    if w not in succ:
                        succ[w] = v
                        reverse.append(w)
                    if w in pred:
                        meet = w
                        break
                if meet is not None:
                    break
    if meet is None:
        raise ValueError(f"no path from {source!r} to {target!r}")
    path, node = [], meet
    while node is not None:
        path.append(node)
        node = pred[node]
    path.reverse()
    node = succ[path[-1]]
    while node is not None:
        path.append(node)
        node = succ[node]
    return path


def descendants(graph: DiGraph, source: Node) -> set:
    """The nodes reachable from ``source`` (itself not included, unless on a cycle through it)."""
    return _reach(graph._succ, source)


def ancestors(graph: DiGraph, target: Node) -> set:
    """The nodes that reach ``target`` (itself not included, unless on a cycle through it)."""
    return _reach(graph._pred, target)


def _reach(adjacency: dict[Node, dict], start: Node) -> set:
    seen: set = set()
    todo = [start]
    while todo:
        for w in adjacency[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    seen.discard(start)  # networkx leaves the node itself out, even on a cycle
    return seen


def topological_order(graph: DiGraph, key: Callable[[Node], object]) -> list[Node]:
    """Every node after its predecessors; among the nodes ready at once, the one with the smallest key first
    (networkx's lexicographical_topological_sort). The graph must have no cycle."""
    waiting = {v: len(graph._pred[v]) for v in graph}
    ready = [(key(v), i, v) for i, v in enumerate(graph) if waiting[v] == 0]
    heapq.heapify(ready)
    index = {v: i for i, v in enumerate(graph)}
    order = []
    while ready:
        _, _, v = heapq.heappop(ready)
        order.append(v)
        for w in graph._succ[v]:
            waiting[w] -= 1
            if waiting[w] == 0:
                heapq.heappush(ready, (key(w), index[w], w))
    if len(order) != len(waiting):
        raise ValueError("the graph has a cycle")
    return order
