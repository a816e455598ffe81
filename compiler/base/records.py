"""`record_class`: a dataclass whose methods are shared, not compiled per class.

``dataclass`` writes the source of ``__init__``, ``__repr__``, ``__eq__`` (and for a frozen class
``__hash__``, ``__setattr__``, ``__delattr__``) for each class and compiles it with ``exec`` when the
module is imported; compiled code is not kept in the bytecode cache, so every `octoc` command pays
it again: about half of the compiler's own import time went there (issue 14, startup). A
``record_class`` is still a dataclass (``fields``, ``replace``, ``asdict``, ``__match_args__`` and
``match`` patterns work) with the same behaviour — the constructor's arguments and defaults,
``default_factory``, ``init=False`` fields, ``__post_init__``, the repr, equality and hashing over
the compared fields in order, frozen instances — but its methods are the few generic functions
below, shared by every record class. They are slower per call than generated ones (a loop over the
field names): records are the compiler's objects (a few hundred per check), not per-unit values.

Methods a class defines itself are kept, as ``dataclass`` keeps them.
"""

from __future__ import annotations

import abc
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field, fields

_object_setattr = object.__setattr__


@dataclass(init=False, repr=False, eq=False)
class _Template:
    """What ``dataclass(init=False, repr=False, eq=False)`` leaves on a class: its parameters, and the
    mark of a field that is a field (not a ClassVar or an InitVar), taken from a real dataclass."""

    x: int


_PARAMS = _Template.__dataclass_params__
_FIELD_TYPE = _Template.__dataclass_fields__["x"]._field_type
# A field annotated so is no plain field (ClassVar, InitVar, KW_ONLY): record classes have none.
_NOT_PLAIN = ("ClassVar", "typing.ClassVar", "InitVar", "dataclasses.InitVar", "KW_ONLY", "dataclasses.KW_ONLY")


def record_class(cls=None, /, *, init: bool = True, repr: bool = True, eq: bool = True, frozen: bool = False):
    """Use as ``@record_class`` or ``@record_class(eq=False)``, ``@record_class(frozen=True)``: ``dataclass``'s meaning."""

    def make(cls):
        return _make(cls, init, repr, eq, frozen)

    return make if cls is None else make(cls)


def plain_dataclass(cls):
    """``dataclass(init=False, repr=False, eq=False)``: the fields, with no generated method, and a
    class without a docstring given "Name(field, ...)" rather than the one ``dataclass`` makes from
    ``inspect.signature`` (which took as long as the rest of its work).

    The fields are collected here rather than by ``dataclass``, whose general machinery (a
    ``Field`` per annotation checked against ``ClassVar``, ``InitVar`` and ``KW_ONLY`` spelled
    every way, parameters of every kind) took ~200,000 instructions a class, ~75 classes on every
    `octoc check`. The class ends as ``dataclass`` leaves it — ``__dataclass_fields__`` (inherited
    fields first), ``__dataclass_params__``, the defaults as class attributes, ``__match_args__`` —
    so ``fields``, ``replace``, ``asdict`` and ``match`` work; tests/test_records.py compares the two.
    """
    own = cls.__dict__
    collected: dict[str, Field] = {}
    for base in cls.__mro__[-1:0:-1]:
        inherited = base.__dict__.get("__dataclass_fields__")
        if inherited is not None:
            collected.update(inherited)
    for name, annotation in own.get("__annotations__", {}).items():
        collected[name] = _field(cls, name, annotation)
    for name, value in own.items():
        if isinstance(value, Field) and name not in collected:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    cls.__dataclass_params__ = _PARAMS
    cls.__dataclass_fields__ = collected
    if "__match_args__" not in own:
        cls.__match_args__ = tuple(f.name for f in collected.values() if f.init)
    if isinstance(cls, abc.ABCMeta):
        abc.update_abstractmethods(cls)
    if not own.get("__doc__"):
        cls.__doc__ = f"{cls.__name__}({', '.join(f.name for f in collected.values() if f.init)})"
    return cls


def _field(cls, name: str, annotation) -> Field:
    """The field ``dataclass`` makes of ``name: annotation [= default]``, the class attribute set as it sets it."""
    if isinstance(annotation, str) and annotation.split("[")[0].strip() in _NOT_PLAIN or annotation in _NOT_PLAIN:
        raise TypeError(f"{cls.__name__}.{name}: a record class takes plain fields only, not {annotation}")
    default = cls.__dict__.get(name, MISSING)
    made = default if isinstance(default, Field) else field(default=default)
    made.name, made.type, made._field_type, made.kw_only = name, annotation, _FIELD_TYPE, False
    if made.default is not MISSING and made.default.__class__.__hash__ is None:
        raise ValueError(f"mutable default {type(made.default)} for field {name} is not allowed: use default_factory")
    if isinstance(default, Field):
        if made.default is MISSING:
            delattr(cls, name)
        else:
            setattr(cls, name, made.default)
    return made


def _make(cls, init: bool, repr_: bool, eq: bool, frozen: bool):
    cls = plain_dataclass(cls)
    every = fields(cls)
    cls._record_init = tuple(f.name for f in every if f.init)
    cls._record_defaults = {f.name: f.default for f in every if f.default is not MISSING}
    cls._record_factories = {f.name: f.default_factory for f in every if f.default_factory is not MISSING}
    cls._record_later = tuple(f.name for f in every if not f.init  # set by the constructor, not passed to it
                              and (f.default is not MISSING or f.default_factory is not MISSING))
    cls._record_repr = tuple(f.name for f in every if f.repr)
    cls._record_compare = tuple(f.name for f in every if f.compare)
    own = cls.__dict__
    if init and "__init__" not in own:
        cls.__init__ = _init
    if repr_ and "__repr__" not in own:
        cls.__repr__ = _repr
    if eq and "__eq__" not in own:
        cls.__eq__ = _eq
    if eq and own.get("__hash__") is None:  # as dataclass (no __hash__ of the class's own): hashable when frozen
        cls.__hash__ = _hash if frozen else None
    if frozen:
        cls.__setattr__, cls.__delattr__ = _frozen_setattr, _frozen_delattr
    return cls


def _init(self, *args, **kwargs):
    names = self._record_init
    if len(args) > len(names):
        raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments, not {len(args)}")
    for name, value in zip(names, args):
        _object_setattr(self, name, value)
    for name in names[len(args):]:
        if name in kwargs:
            _object_setattr(self, name, kwargs.pop(name))
        elif name in self._record_defaults:
            _object_setattr(self, name, self._record_defaults[name])
        elif name in self._record_factories:
            _object_setattr(self, name, self._record_factories[name]())
        else:
            raise TypeError(f"{type(self).__name__}() is missing '{name}'")
    if kwargs:
        raise TypeError(f"{type(self).__name__}() got an unexpected argument {', '.join(map(repr, kwargs))}")
    for name in self._record_later:
        factory = self._record_factories.get(name)
        _object_setattr(self, name, factory() if factory is not None else self._record_defaults[name])
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _repr(self) -> str:
    return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._record_repr)})"


def _compared(self) -> tuple:
    return tuple([getattr(self, name) for name in self._record_compare])


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _compared(self) == _compared(other)


def _hash(self) -> int:
    return hash(_compared(self))


def _frozen(self, name) -> bool:
    """As dataclass: a frozen class's own instances refuse every attribute, a plain subclass's its fields."""
    return "__dataclass_fields__" in type(self).__dict__ or name in self.__dataclass_fields__


def _frozen_setattr(self, name, value):
    if _frozen(self, name):
        raise FrozenInstanceError(f"cannot assign to field '{name}'")
    _object_setattr(self, name, value)


def _frozen_delattr(self, name):
    if _frozen(self, name):
        raise FrozenInstanceError(f"cannot delete field '{name}'")
    object.__delattr__(self, name)
