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


def _field_facts(cls) -> list:
    """Everything `dataclass` records of each field, and what it leaves on the class."""
    made = cls.__dataclass_fields__
    facts = [(f.name, f.type, f.default, f.default_factory, f.init, f.repr, f.compare, f.hash, dict(f.metadata),
              f.kw_only, f._field_type, cls.__dict__.get(f.name, "absent")) for f in made.values()]
    return facts + [cls.__match_args__, repr(cls.__dataclass_params__), dataclasses.is_dataclass(cls)]


def _shapes():
    class Base:
        span: int
        kind: str = "base"

    class Leaf(Base):
        """A documented leaf."""
        value: "list[int] | None" = None
        tags: list = field(default_factory=list, repr=False, metadata={"why": "test"})
        hidden: int = field(default=0, init=False, compare=False, hash=True)
        kind: str = "leaf"  # overrides the inherited default, keeps its place

    return Base, Leaf


def test_plain_fields_are_those_dataclass_makes():
    # plain_dataclass collects the fields itself (dataclass's machinery cost ~200,000 instructions a class)
    from octo.compiler.base.records import plain_dataclass

    plain_base, plain_leaf = _shapes()
    plain_base = dataclasses.dataclass(init=False, repr=False, eq=False)(plain_base)
    fast_base, fast_leaf = _shapes()
    fast_base = plain_dataclass(fast_base)
    assert _field_facts(fast_base) == _field_facts(plain_base)
    # a leaf of each kind of base, both ways
    plain_leaf = dataclasses.dataclass(init=False, repr=False, eq=False)(type("Leaf", (plain_base,), _body(plain_leaf)))
    fast_leaf = plain_dataclass(type("Leaf", (fast_base,), _body(fast_leaf)))
    assert _field_facts(fast_leaf) == _field_facts(plain_leaf)
    assert [f.name for f in dataclasses.fields(fast_leaf)] == ["span", "kind", "value", "tags", "hidden"]
    assert fast_leaf.__doc__ == "A documented leaf." and fast_base.__doc__ == "Base(span, kind)"


def _body(cls) -> dict:
    return {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}


def test_plain_fields_refuse_what_dataclass_refuses():
    from octo.compiler.base.records import plain_dataclass

    class Mutable:
        items: list = []

    class Unannotated:
        items = field(default_factory=list)

    class Classy:
        counter: ClassVar[int] = 0  # noqa: F821 (an annotation, never evaluated)

    with pytest.raises(ValueError, match="mutable default"):
        plain_dataclass(Mutable)
    with pytest.raises(TypeError, match="no type annotation"):
        plain_dataclass(Unannotated)
    with pytest.raises(TypeError, match="plain fields only"):
        plain_dataclass(Classy)


def test_replace_asdict_and_match_work_on_records():
    @record_class
    class Pair:
        left: int
        right: list = field(default_factory=list)

    pair = Pair(1, [2])
    assert dataclasses.replace(pair, left=5) == Pair(5, [2])
    assert dataclasses.asdict(pair) == {"left": 1, "right": [2]}
    match pair:
        case Pair(1, [x]):
            assert x == 2
        case _:
            raise AssertionError("no match")
