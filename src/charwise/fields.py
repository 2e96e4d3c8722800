"""Validation in one place: each config field's type, range and choices are field metadata,
checked by `validate(obj)` from the config's `__post_init__`.

    lr: float = option(3e-3, gt=0)        # peak learning rate
    kind: str = option("gru", choices=MODEL_KINDS)

A failed check raises `FieldError`. Its message is a template over field names, e.g.
"{hidden} must be at least 1" or "{max_vocab} cannot be given with {init_from}"; each front end
fills the names in its own way: the library with the field names themselves ("hidden must be at
least 1"), the command line with its flags (`commands/flags.py`: "--hidden must be at least 1"),
a run's config.json with its keys, the web page with its JSON fields.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import CharwiseError

# One seed rule everywhere: torch.Generator.manual_seed takes 64 bits, numpy's default_rng
# refuses negatives, and the trainer adds the step and the rank to the seed: [0, 2**63).
SEED_LIMIT = 2**63


class FieldError(CharwiseError):
    """A bad value for a named field. `template` names fields in braces ("{lr} must be
    positive"); `worded(name)` fills them with a front end's names for them."""

    def __init__(self, field: str, template: str):
        self.field, self.template = field, template
        super().__init__(self.worded(lambda f: f))

    def worded(self, name: Callable[[str], str]) -> str:
        return self.template.format_map(_Names(name))


class _Names(dict):
    def __init__(self, name: Callable[[str], str]):
        super().__init__()
        self.name = name

    def __missing__(self, key: str) -> str:
        return self.name(key)


def literal(text: Any) -> str:
    """Text (a path, a value) for a message template: braces doubled, so they stay literal."""
    return str(text).replace("{", "{{").replace("}", "}}")


def shown(value: Any) -> str:
    """A value quoted for a message template (its repr, braces doubled)."""
    return literal(repr(value))


@dataclass(frozen=True)
class Rule:
    """What a field accepts besides its annotated type. Bounds apply to numbers; `items` applies
    the bounds to each element of a tuple instead."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple | None = None
    allow_inf: bool = False  # floats are finite unless this is set (inf is a typo, not a value)
    seed: bool = False  # the one seed rule: an integer in [0, 2**63)
    nonempty: bool = False  # strings and tuples
    items: bool = False  # bounds and finiteness apply to each element of a tuple


def option(default: Any = dataclasses.MISSING, **rule: Any) -> Any:
    """A dataclass field with a default and a `Rule` (see Rule's fields for the keywords)."""
    return dataclasses.field(default=default, metadata={"rule": Rule(**rule)})


# The scalar annotations the type check knows. numbers.Integral / Real admit numpy's scalars;
# bool, an int subclass, is refused where a number is meant (True would train 1 layer).
_SCALARS = {
    "int": (numbers.Integral, "an integer"),
    "float": (numbers.Real, "a number"),
    "bool": (bool, "true or false"),
    "str": (str, "a string"),
}


def _kinds(annotation: Any) -> tuple[list[str], bool]:
    """'int | None' -> (['int'], True); 'tuple[float, ...]' -> (['tuple[float, ...]'], False)."""
    # Under `from __future__ import annotations` the annotation is a string; otherwise a type.
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    parts = [t.strip() for t in text.split("|")]
    return [t for t in parts if t != "None"], "None" in parts


def _is(value: Any, kind: str) -> bool:
    cls, _ = _SCALARS[kind]
    return isinstance(value, cls) and (cls is bool or not isinstance(value, bool))


def _check_type(name: str, annotation: Any, value: Any) -> None:
    kinds, optional = _kinds(annotation)
    if value is None and optional:
        return
    if len(kinds) != 1:
        return
    kind = kinds[0]
    if kind in _SCALARS:
        if not _is(value, kind):
            raise FieldError(name, f"{{{name}}} must be {_SCALARS[kind][1]}, not {shown(value)}")
        return
    if not kind.startswith("tuple["):
        return
    inner = [t.strip() for t in kind[len("tuple[") : -1].split(",")]
    length = None if inner[-1] == "..." else len(inner)
    if len(set(inner) - {"..."}) != 1 or inner[0] not in _SCALARS:
        return
    what = _SCALARS[inner[0]][1].removeprefix("an ").removeprefix("a ") + "s"
    if not isinstance(value, tuple) or not all(_is(v, inner[0]) for v in value):
        raise FieldError(name, f"{{{name}}} must be a list of {what}, not {shown(value)}")
    if length is not None and len(value) != length:
        raise FieldError(name, f"{{{name}}} needs {length} {what}, not {len(value)}")


def _range_words(r: Rule) -> str | None:
    lo = ("ge", r.ge) if r.ge is not None else ("gt", r.gt) if r.gt is not None else None
    hi = ("le", r.le) if r.le is not None else ("lt", r.lt) if r.lt is not None else None
    if lo and hi:
        left, right = "[" if lo[0] == "ge" else "(", "]" if hi[0] == "le" else ")"
        return f"be in {left}{lo[1]:g}, {hi[1]:g}{right}"
    if lo == ("ge", 0):
        return "not be negative"
    if lo == ("gt", 0):
        return "be positive"
    if lo:
        return f"be {'at least' if lo[0] == 'ge' else 'above'} {lo[1]:g}"
    if hi:
        return f"be {'at most' if hi[0] == 'le' else 'below'} {hi[1]:g}"
    return None


def _in_range(r: Rule, v: Any) -> bool:
    # Written as "not outside" so that NaN, which fails every comparison, is refused too.
    return not (
        (r.ge is not None and not v >= r.ge)
        or (r.gt is not None and not v > r.gt)
        or (r.le is not None and not v <= r.le)
        or (r.lt is not None and not v < r.lt)
    )


def _check_rule(name: str, r: Rule, value: Any) -> None:
    if value is None:
        return
    if r.seed and not (isinstance(value, numbers.Integral) and 0 <= value < SEED_LIMIT):
        raise FieldError(name, f"{{{name}}} must be an integer in [0, 2**63), not {shown(value)}")
    if r.nonempty and len(value) == 0:
        raise FieldError(name, f"{{{name}}} must not be empty")
    values = value if r.items else (value,)
    for v in values:
        if r.choices is not None and v not in r.choices:
            options = ", ".join(str(c) for c in r.choices)
            raise FieldError(name, f"unknown {{{name}}} {shown(v)}; choose one of {options}")
        if not isinstance(v, numbers.Real) or isinstance(v, bool):
            continue
        if isinstance(v, float) and math.isnan(v):
            raise FieldError(name, f"{{{name}}} must be a number, not nan")
        finite = math.isfinite(v) or r.allow_inf
        words = _range_words(r)
        if not finite or not _in_range(r, v):
            what = words or "be finite"
            if r.items and what.startswith("be "):
                what = "all " + what
            fin = " and finite" if words and not r.allow_inf and not finite else ""
            raise FieldError(name, f"{{{name}}} must {what}{fin}, not {shown(v)}")


def validate(obj: Any) -> None:
    """Check every field of dataclass `obj`: its annotated type, then its Rule. A list given for
    a tuple field (JSON has no tuples) is stored as a tuple first."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, list) and _kinds(f.type)[0][0].startswith("tuple["):
            value = tuple(value)
            object.__setattr__(obj, f.name, value)
        _check_type(f.name, f.type, value)
        rule = f.metadata.get("rule")
        if rule is not None:
            _check_rule(f.name, rule, value)


def require(ok: bool, field: str, template: str) -> None:
    """A check across fields, worded like the field checks: require(a <= b, "a", "{a} ...")."""
    if not ok:
        raise FieldError(field, template)
