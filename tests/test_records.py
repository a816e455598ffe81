"""`record_class` (compiler/base/records.py) behaves as `dataclass` does, for every shape the compiler
uses: each test builds the same class both ways and compares what they do."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, field

import pytest

from octo.compiler.base.records import record_class


def both(**options):
    """The same class body made by dataclass and by record_class with ``options``."""

    def body():
        class Point:
            x: int
            y: int = 0
            tags: list = field(default_factory=list)
            note: str = field(default="", repr=False)
            seen: set = field(default_factory=set, init=False, compare=False)

            def norm(self) -> int:
                return abs(self.x) + abs(self.y)

        return Point

    return dataclasses.dataclass(**options)(body()), record_class(**options)(body())


SHAPES = [{}, {"eq": False}, {"frozen": True}]


@pytest.mark.parametrize("options", SHAPES)
def test_construction_repr_and_equality_match_dataclass(options):
    classes = both(**options)
    for cls in classes:
        a, b = cls(3, tags=["a"]), cls(3, tags=["a"])
        assert (a.x, a.y, a.tags, a.note, a.seen) == (3, 0, ["a"], "", set())
        assert (a == b) is (options.get("eq", True))
        assert a != cls(4, tags=["a"])
    plain, fast = (cls(3, tags=["a"]) for cls in classes)
    assert repr(plain) == repr(fast).replace("test_records.both.<locals>.body.<locals>.", "").replace(
        type(fast).__qualname__, type(plain).__qualname__)
    assert [f.name for f in dataclasses.fields(fast)] == [f.name for f in dataclasses.fields(plain)]
    assert type(fast).__match_args__ == type(plain).__match_args__ == ("x", "y", "tags", "note")


def test_defaults_are_fresh_per_instance():
    _, cls = both()
    a, b = cls(1), cls(2)
    a.tags.append("x")
    assert b.tags == [] and a.seen is not b.seen


@pytest.mark.parametrize("options", SHAPES)
def test_hashing_matches_dataclass(options):
    plain, fast = both(**options)
    if options.get("frozen"):
        assert hash(fast(1, 2, ("t",))) == hash(fast(1, 2, ("t",)))
        assert {fast(1, 2, ("t",)), fast(1, 2, ("t",))} == {fast(1, 2, ("t",))}
    for cls in (plain, fast):
        hashable = cls.__hash__ is not None
        assert hashable is (options.get("frozen", False) or options.get("eq") is False)


def test_compare_false_fields_are_left_out_of_equality():
    _, cls = both()
    a, b = cls(1), cls(1)
    a.seen.add("x")
    assert a == b


def test_frozen_refuses_assignment_and_deletion():
    _, cls = both(frozen=True)
    p = cls(1)
    with pytest.raises(FrozenInstanceError):
        p.x = 2
    with pytest.raises(FrozenInstanceError):
        del p.x
    assert dataclasses.replace(p, y=5) == cls(1, 5)


@pytest.mark.parametrize("args, kwargs", [((), {}), ((1, 2, [], "", "extra"), {}), ((1,), {"z": 1}),
                                          ((1,), {"x": 2}), ((1,), {"seen": set()})])
def test_wrong_arguments_are_a_type_error_as_with_dataclass(args, kwargs):
    for cls in both():
        with pytest.raises(TypeError):
            cls(*args, **kwargs)


def test_post_init_runs_after_the_fields_are_set():
    @record_class
    class Lines:
        text: str
        starts: list = field(init=False, repr=False)

        def __post_init__(self):
            self.starts = [i for i, ch in enumerate(self.text) if ch == "\n"]

    assert Lines("a\nb\n").starts == [1, 3]


def test_a_class_keeps_the_methods_it_defines():
    @record_class(frozen=True)
    class Named:
        name: str

        def __repr__(self):
            return f"<{self.name}>"

        def __eq__(self, other):
            return isinstance(other, Named) and self.name.lower() == other.name.lower()

        def __hash__(self):
            return hash(self.name.lower())

    assert repr(Named("A")) == "<A>" and Named("A") == Named("a") and len({Named("A"), Named("a")}) == 1


def test_inherited_fields_come_first_as_with_dataclass():
    @record_class(eq=False)
    class Base:
        span: int

    @record_class(eq=False)
    class Leaf(Base):
        value: str = ""

    leaf = Leaf(3, "v")
    assert (leaf.span, leaf.value) == (3, "v") and Leaf(4).value == ""
    assert leaf != Leaf(3, "v")  # eq=False: identity


@record_class(frozen=True)
class _Frozen:
    name: str
    items: tuple = ()


@record_class(eq=False)
class _Open:
    name: str
    seen: set = field(default_factory=set)


def test_records_pickle_and_copy():
    import copy
    import pickle

    frozen = _Frozen("a", (1, 2))
    assert pickle.loads(pickle.dumps(frozen)) == frozen and copy.deepcopy(frozen) == frozen
    opened = pickle.loads(pickle.dumps(_Open("b", {1})))
    assert (opened.name, opened.seen) == ("b", {1})
