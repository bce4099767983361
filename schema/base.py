"""The base of every record, and the order types: shared by ``records`` and ``billing`` without an import cycle."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OrderType", "Record", "StrEnum", "trusted"]

P = ParamSpec("P")
M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


class StrEnum(enum.StrEnum):
    """The standard ``StrEnum`` with a ``value`` read in C.

    pydantic writes an enum field as its ``value``, and Python 3.11's ``Enum.value`` is a descriptor
    written in Python: in ``fireflow bench kitchen`` a sampler on CPU time found 4 % of the node in it,
    under the commits' JSON. Here ``value`` is the member's ``_value_`` (the same string) read through
    ``operator.attrgetter``, with no Python frame.
    """

    if TYPE_CHECKING:

        @property
        def value(self) -> str: ...

    else:
        value = property(attrgetter("_value_"))


def _shell(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """An instance of ``cls`` holding ``values`` as they are: what ``BaseModel.__copy__`` and
    ``model_construct`` make, without their Python-level loops over fields, extras and private state
    (a record here has neither)."""
    made = cls.__new__(cls)
    _set(made, "__dict__", values)
    _set(made, "__pydantic_fields_set__", fields_set)
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    return made


_IMMUTABLE = (type(None), bool, int, float, str, bytes, tuple, frozenset, enum.Enum)
_BUILDERS: dict[type[BaseModel], Callable[..., Any]] = {}


def _builder(cls: type[M]) -> Callable[..., M]:
    fields = cls.model_fields
    if cls.model_config.get("extra") == "allow" or cls.__private_attributes__:
        raise TypeError(f"{cls.__name__} keeps extras or private state: build it with its constructor")
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name, info in fields.items():
        if info.default_factory is not None:
            factories[name] = info.default_factory  # type: ignore[assignment]
        elif not info.is_required():
            if not isinstance(info.default, _IMMUTABLE):
                raise TypeError(f"{cls.__name__}.{name} has a mutable default: build it with its constructor")
            defaults[name] = info.default
    required = frozenset(name for name, info in fields.items() if info.is_required())
    # In the fields' order, as validation leaves them (repr, dumps and copies alike): a merge keeps its keys' order.
    template = {name: defaults.get(name) for name in fields}

    def build(**values: Any) -> M:
        merged = {**template, **values}
        if len(merged) != len(template) or not required <= values.keys():
            missing, unknown = sorted(required - values.keys()), sorted(values.keys() - fields.keys())
            raise TypeError(f"{cls.__name__}: missing {missing}, unknown {unknown}")
        for name, factory in factories.items():
            if name not in values:
                merged[name] = factory()
        return _shell(cls, merged, set(values))

    return build


def trusted(cls: Callable[P, M]) -> Callable[P, M]:
    """``cls``'s constructor without validation, for records the domain builds from values already valid.

    Validation is for what comes in (a frame, a command, a row read back): a ticket line built from an
    order line the hub parsed has nothing left to check, yet pydantic checked each field again, 23
    records a fire in ``bench kitchen``. This builder sets the fields as given (the defaults filled in),
    and mypy checks its arguments against the record's own signature. Only for records without mutable
    defaults, extras or private state; a missing or unknown field is still a ``TypeError``.
    """
    assert isinstance(cls, type)
    found = _BUILDERS.get(cls)
    if found is None:
        found = _BUILDERS[cls] = _builder(cls)
    return found


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """pydantic's shallow copy in three lines of C-level work: a copy of the fields with ``update`` laid
        over them, unvalidated as pydantic's own is. A fire copies seven records, a prediction one per order."""
        if deep or self.__pydantic_private__ is not None:
            return super().model_copy(update=update, deep=deep)
        values = self.__dict__.copy()
        if not update:
            return _shell(type(self), values, set(self.__pydantic_fields_set__))
        values.update(update)
        return _shell(type(self), values, self.__pydantic_fields_set__ | update.keys())


class GeoPoint(Record):
    """A place on Earth (WGS 84 degrees): a restaurant, a delivery address, a rider's phone."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class OrderType(StrEnum):
    DINE_IN = "DINE_IN"
    TAKEAWAY = "TAKEAWAY"
    DELIVERY = "DELIVERY"
