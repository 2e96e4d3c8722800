"""Command-line options generated from the option dataclasses, so the CLI can never drift from
the library: every field becomes a flag (`commands/flags.py` names it), its trailing comment in
the dataclass becomes its help, and its value is checked by the dataclass itself (fields.py)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import typing
from typing import Any

from ..config import DataConfig
from ..errors import CharwiseError
from ..fields import validate
from .flags import METAVARS, REPEATED, SHORT, flag


def field_help(cls: type) -> dict[str, str]:
    """{field: the comment on its line(s)} from the class source (empty where unavailable)."""
    try:
        src = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    body = ast.parse(src).body[0].body
    out = {}
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            lines = range(node.lineno, node.end_lineno + 1)
            text = " ".join(comments[n] for n in lines if n in comments)
            if text:
                out[node.target.id] = text
    return out


def _parts(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether it is a tuple of that type)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is typing.Union or type(tp).__name__ == "UnionType":
        tp = args[0]
    if typing.get_origin(tp) is tuple:
        return typing.get_args(tp)[0], True
    return tp, False


def _parse_list(s: str, kind: type, name: str) -> tuple:
    """'0.9,0.05,0.05' -> (0.9, 0.05, 0.05) for a tuple field; "" -> ()."""
    try:
        return tuple(kind(x.strip()) for x in s.split(",") if x.strip())
    except ValueError:
        what = "numbers" if kind in (int, float) else "values"
        raise CharwiseError(
            f"{flag(name)} needs comma-separated {what}, like 1,2,3 (got {s!r})"
        ) from None


def add_options(
    parser, cls: type, skip: frozenset[str] | set[str] = frozenset(), positional: str | None = None
) -> None:
    """Add cls's fields to `parser` (or an argument group). Defaults stay None, so only what the
    user gives reaches the dataclass, whose own defaults apply otherwise. `positional` names
    the field taken from positional arguments (a list)."""
    helps = field_help(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind, is_tuple = _parts(hints[f.name])
        h = helps.get(f.name, "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(default, tuple):
            default = ",".join(map(str, default)) or None
        if default not in (None, "", False):
            h = f"{h} (default: {default})"
        rule = f.metadata.get("rule")
        choices = rule.choices if rule is not None and not rule.items else None
        h = h.replace("%", "%%")
        if f.name == positional:
            parser.add_argument(f.name, nargs="*", metavar=flag(f.name), help=h)
            continue
        names = [flag(f.name)] + ([SHORT[f.name]] if f.name in SHORT else [])
        common = {"dest": f.name, "default": None, "help": h}
        if kind is bool:
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, **common)
        elif is_tuple and f.name in REPEATED:
            parser.add_argument(*names, action="append", metavar=METAVARS.get(f.name), **common)
        else:
            # A tuple stays text here and is split by collect(), so a bad item is a charwise
            # error from the command, like any other bad value.
            parse = str if is_tuple else kind
            metavar = METAVARS.get(f.name, f.name.upper())
            if choices:
                metavar = "{" + ",".join(map(str, choices)) + "}"
            parser.add_argument(*names, type=parse, metavar=metavar, **common)


def collect(
    args: argparse.Namespace, cls: type, skip: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """The fields of cls the user set on the command line (lists as tuples)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        v = getattr(args, f.name, None)
        if f.name in skip or v is None or (isinstance(v, list) and not v):
            continue
        kind, is_tuple = _parts(hints[f.name])
        if is_tuple and isinstance(v, str):
            v = _parse_list(v, kind, f.name)
        out[f.name] = tuple(v) if isinstance(v, list) else v
    return out


def build(args: argparse.Namespace, cls: type, skip=frozenset(), **fixed: Any):
    """cls(**fixed, **what the user set), validated (a command's own small dataclass has no
    __post_init__ of its own)."""
    obj = cls(**fixed, **collect(args, cls, skip))
    validate(obj)
    return obj


def data_config(args: argparse.Namespace):
    """The DataConfig of the text options (add_options(..., DataConfig, positional="sources"))."""
    kw = collect(args, DataConfig)
    if not kw.get("sources") and not kw.get("corpus"):
        raise CharwiseError(
            "give text files or directories, or --corpus NAME (see `charwise corpora`)"
        )
    return DataConfig(**kw)
