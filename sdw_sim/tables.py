"""Scenario tables read from the dataclasses that hold them: one strict, bounded parser.

Each table of a scenario is a frozen dataclass.  Its fields are the
table's keys; a field's type hint says what a value may be (``bool``,
``int``, ``float``, ``str``, ``tuple[str, ...]``, ``X | None``); its
:func:`key` metadata adds what a type cannot say: bounds, the allowed
words, a pattern, the word that stands for None, a default that follows
from other keys.  :func:`build` checks a TOML table against its class and
returns the instance; every error names the table and the key, and says
what the value must be.  Rules that tie several keys together are the
class's own ``problem(data)`` method, which returns what is wrong (or
None) and is asked once the instance is built.

Why so strict: a scenario drives the tests, and a typo that is silently
ignored tests the healthy case and passes for the wrong reason.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 1024 * 1024  # one string of a scenario (the file itself is at most 1 MiB)

Table = dict[str, Any]


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says what and where."""


@dataclass(frozen=True)
class Rule:
    """What a key's value must be, beyond its type hint (see :func:`key`)."""

    low: float = 0  # int and float: the smallest value
    high: float | None = None  # int: default 255; float: no bound
    positive: bool = False  # float: greater than 0
    choices: tuple[str, ...] = ()  # str: one of these words
    pattern: str = ""  # str, and each item of a tuple[str, ...]: must match in full
    shape: str = ""  # what a value that does not match is said to have to be
    text: bool = False  # str: ANY string (a hostile VM's answer), at most MAX_TEXT bytes
    none: str | None = None  # str: the word that stands for None ("none", "")
    derive: Callable[[Mapping[str, Any]], Any] | None = None  # default from the other keys
    read: Callable[[Any, str, str], Any] | None = None  # a value no type hint describes
    name: str = ""  # the key's name in the file, when it is not the field's
    is_key: bool = True  # False: set by the parser, never by the file (e.g. a VM's name)


_RULE = "rule"


def key(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    **rule: Any,
) -> Any:
    """A dataclass field that is a scenario key, with the :class:`Rule` for its value."""
    metadata = {_RULE: Rule(**rule)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def rule_of(field: dataclasses.Field[Any]) -> Rule:
    found = field.metadata.get(_RULE)
    return found if isinstance(found, Rule) else Rule()


def file_name(field: dataclasses.Field[Any]) -> str:
    """The key's name in the scenario file."""
    return rule_of(field).name or field.name


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def keys_of(cls: type) -> tuple[str, ...]:
    """The keys a table of this class may hold, in the order its fields are declared."""
    return tuple(file_name(f) for f in dataclasses.fields(cls) if rule_of(f).is_key)


def check_keys(data: Table, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(allowed)})"
        )


def table(data: Table, name: str, where: str) -> Table:
    """A sub-table (a missing one is empty)."""
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: {name} must be a table, not {type(value).__name__}")
    return value


# ----- one value -----------------------------------------------------------------


def _bool(value: Any, name: str, rule: Rule) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value


def _int(value: Any, name: str, rule: Rule) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    low, high = int(rule.low), int(255 if rule.high is None else rule.high)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _float(value: Any, name: str, rule: Rule) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < rule.low or (rule.positive and number == 0):
        need = "greater than 0" if rule.positive else "0 or more"
        raise ValueError(f"{name} must be a finite number {need}, not {value!r}")
    if rule.high is not None and number > rule.high:
        raise ValueError(f"{name} must be at most {rule.high:g}, not {value!r}")
    return number


def _str(value: Any, name: str, rule: Rule) -> str | None:
    if rule.choices:
        if value not in rule.choices:
            raise ValueError(f"{name} must be one of {', '.join(rule.choices)}, not {value!r}")
    elif not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {value!r}")
    elif rule.text and len(value.encode("utf-8", "surrogatepass")) > MAX_TEXT:
        raise ValueError(f"{name} must be at most {MAX_TEXT} bytes")
    elif rule.pattern and not re.fullmatch(rule.pattern, value):
        raise ValueError(f"{name} must {rule.shape or 'match ' + rule.pattern}, not {value!r}")
    return None if rule.none is not None and value == rule.none else str(value)


def _strings(value: Any, name: str, rule: Rule) -> tuple[str, ...]:
    """A list of strings (each matching the rule's pattern), without repeats."""
    if not isinstance(value, list) or not all(
        isinstance(item, str) and (not rule.pattern or re.fullmatch(rule.pattern, item))
        for item in value
    ):
        raise ValueError(f"{name} must be {rule.shape or 'a list of strings'}")
    return tuple(dict.fromkeys(value))


_READERS: dict[Any, Callable[[Any, str, Rule], Any]] = {
    bool: _bool,
    int: _int,
    float: _float,
    str: _str,
    tuple[str, ...]: _strings,
}


def _without_none(hint: Any) -> Any:
    """``X | None`` -> ``X``: None never comes from a file, only from a default or a word."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(others) == 1:
            return others[0]
    return hint


def read_value(hint: Any, rule: Rule, value: Any, name: str, where: str) -> Any:
    """One key's value, checked against its type hint and rule; ScenarioError naming it."""
    try:
        if rule.read is not None:
            return rule.read(value, name, where)
        reader = _READERS.get(_without_none(hint))
        if reader is None:
            raise TypeError(f"{name}: no reader for {hint!r}")  # a mistake in this package
        return reader(value, name, rule)
    except ScenarioError:
        raise  # a nested table's error already says where
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


# ----- one table -------------------------------------------------------------------


def read_keys(cls: type, data: Table, where: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys ``data`` holds, checked (field names as keys); unknown keys are errors.

    ``extra`` are keys the caller reads itself.
    """
    check_keys(data, keys_of(cls) + extra, where)
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        name = file_name(field)
        rule = rule_of(field)
        if rule.is_key and name in data:
            values[field.name] = read_value(hints[field.name], rule, data[name], name, where)
    return values


def build(cls: type, data: Table, where: str, **given: Any) -> Any:
    """An instance of ``cls`` from a TOML table: its keys, else ``given``, else the defaults.

    Defaults that follow from other keys (``Rule.derive``) are computed once
    every other value is known; then the class's ``problem(data)`` has its say.
    """
    values = {**given, **read_keys(cls, data, where)}
    derived = [
        f for f in dataclasses.fields(cls) if f.name not in values and rule_of(f).derive is not None
    ]
    if derived:
        known = {f.name: _default(f) for f in dataclasses.fields(cls)} | values
        for field in derived:
            derive = rule_of(field).derive
            assert derive is not None
            values[field.name] = known[field.name] = derive(known)
    missing = [file_name(f) for f in dataclasses.fields(cls) if _required(f, values)]
    if missing:
        raise ScenarioError(f"{where}: {missing[0]} is required{_choices(cls, missing[0])}")
    instance = cls(**values)
    problem = getattr(instance, "problem", None)
    text = problem(data) if callable(problem) else None
    if text:
        raise ScenarioError(f"{where}: {text}")
    return instance


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _required(field: dataclasses.Field[Any], values: Mapping[str, Any]) -> bool:
    return (
        field.name not in values
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    )


def _choices(cls: type, name: str) -> str:
    for field in dataclasses.fields(cls):
        if file_name(field) == name and rule_of(field).choices:
            return f" ({', '.join(rule_of(field).choices)})"
    return ""
