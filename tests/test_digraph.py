"""compiler/frontend/digraph.py against networkx, which it replaces in `check` and `plan`: the same
components in the same order, the same shortest paths (ties too: cycle diagnostics spell them out),
the same reachable sets and topological order, on random graphs. networkx is a test dependency only."""

import pytest
from hypothesis import given, settings, strategies as st

from octo.compiler.frontend import digraph

nx = pytest.importorskip("networkx")

NAMES = [f"s{i}" for i in range(8)]
graphs = st.tuples(st.lists(st.sampled_from(NAMES), min_size=1, max_size=8, unique=True),
                   st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES)), max_size=24))


def both(nodes, edges):
    ours, theirs = digraph.DiGraph(), nx.DiGraph()
    for g in (ours, theirs):
        g.add_nodes_from(nodes)
        for i, (a, b) in enumerate(edges):
            g.add_edge(a, b, n=i)
    return ours, theirs


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_the_same_graph_algorithms_as_networkx(graph):
    ours, theirs = both(*graph)
    assert ours.nodes == list(theirs.nodes)
    assert ours.edges(data=True) == list(theirs.edges(data=True))
    assert list(digraph.strongly_connected_components(ours)) == list(nx.strongly_connected_components(theirs))
    for a in ours:
        assert digraph.descendants(ours, a) == nx.descendants(theirs, a)
        assert digraph.ancestors(ours, a) == nx.ancestors(theirs, a)
        for b in ours:
            if nx.has_path(theirs, a, b):
                assert digraph.shortest_path(ours, a, b) == nx.shortest_path(theirs, a, b)
            else:
                with pytest.raises(ValueError):
                    digraph.shortest_path(ours, a, b)


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_the_same_topological_order_as_networkx(graph):
    ours, theirs = both(*graph)
    component = {n: i for i, c in enumerate(nx.strongly_connected_components(theirs)) for n in c}
    ours = ours.without_edges(lambda a, b: component[a] == component[b])
    theirs.remove_edges_from([(a, b) for a, b in list(theirs.edges) if component[a] == component[b]])
    key = {n: -i for i, n in enumerate(NAMES)}.__getitem__  # not insertion order, so the key decides
    assert digraph.topological_order(ours, key) == list(nx.lexicographical_topological_sort(theirs, key=key))


def test_subgraph_keeps_the_order_and_the_edges_between_its_nodes():
    g = digraph.DiGraph()
    g.add_edges_from([("c", "a"), ("a", "b"), ("b", "c"), ("b", "d")])
    sub = g.subgraph({"a", "b", "c"})
    assert sub.nodes == ["c", "a", "b"]
    assert sub.edges() == [("c", "a"), ("a", "b"), ("b", "c")]
