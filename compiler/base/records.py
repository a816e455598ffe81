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

from dataclasses import MISSING, FrozenInstanceError, dataclass, fields

_object_setattr = object.__setattr__


def record_class(cls=None, /, *, init: bool = True, repr: bool = True, eq: bool = True, frozen: bool = False):
    """Use as ``@record_class`` or ``@record_class(eq=False)``, ``@record_class(frozen=True)``: ``dataclass``'s meaning."""

    def make(cls):
        return _make(cls, init, repr, eq, frozen)

    return make if cls is None else make(cls)


def plain_dataclass(cls):
    """``dataclass(init=False, repr=False, eq=False)``: the fields, with no generated method, and a
    class without a docstring given "Name(field, ...)" rather than the one ``dataclass`` makes from
    ``inspect.signature`` (which took as long as the rest of its work)."""
    undocumented = not cls.__dict__.get("__doc__")
    if undocumented:
        cls.__doc__ = cls.__name__  # a docstring, so that dataclass does not make one
    cls = dataclass(init=False, repr=False, eq=False)(cls)
    if undocumented:
        cls.__doc__ = f"{cls.__name__}({', '.join(f.name for f in fields(cls) if f.init)})"
    return cls


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
