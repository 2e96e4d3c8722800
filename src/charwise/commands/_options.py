"""Command-line options generated from the config dataclasses, so the CLI can never drift from
the library: every field becomes `--field-name`, its comment in config.py becomes the help."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import typing
from typing import Any

_COMMENT = re.compile(r"^\s+(\w+): [^=]+= .*?  # (.*)$")


def field_help(cls: type) -> dict[str, str]:
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    return {m.group(1): m.group(2) for m in map(_COMMENT.match, src.splitlines()) if m}


def _base_type(tp: Any) -> type:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if args else tp


def add_dataclass_options(
    group, cls: type, skip: set[str] = frozenset(), rename: dict[str, str] | None = None
) -> None:
    """Add --options for cls's fields. Defaults stay None so only what the user gives is used."""
    helps = field_help(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + (rename or {}).get(f.name, f.name).replace("_", "-")
        tp = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        h = helps.get(f.name, "")
        h = f"{h} (default: {default})" if default is not None else h
        if tp is bool:
            group.add_argument(
                flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=h
            )
        else:
            group.add_argument(
                flag, dest=f.name, type=tp, default=None, help=h, metavar=f.name.upper()
            )


def collect(args: argparse.Namespace, cls: type, skip: set[str] = frozenset()) -> dict[str, Any]:
    """The fields of cls the user set on the command line."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.name not in skip and getattr(args, f.name, None) is not None:
            out[f.name] = getattr(args, f.name)
    return out


def add_data_options(parser, title: str = "data") -> None:
    """The text options every command that reads a corpus shares (train, ngram, compare)."""
    d = parser.add_argument_group(title)
    d.add_argument("--corpus", help="a built-in corpus (see `charwise corpora`)")
    d.add_argument("--glob", help="file filter inside directories (default: *)")
    d.add_argument(
        "--bytes",
        dest="bytes_mode",
        action="store_true",
        default=None,
        help="read raw bytes instead of characters (for text that is not UTF-8)",
    )
    d.add_argument(
        "--max-vocab", type=int, help="keep the most frequent characters, map the rest to <unk>"
    )
    d.add_argument("--split", help="train,val,test fractions (default 0.9,0.05,0.05)")


def data_config(args: argparse.Namespace):
    """The DataConfig described by `args.text` and the options of add_data_options."""
    from ..config import DataConfig
    from ..errors import CharwiseError

    kw: dict[str, Any] = {}
    if args.split:
        try:
            kw["split"] = tuple(float(x) for x in args.split.split(","))
        except ValueError:
            raise CharwiseError("--split needs three numbers like 0.9,0.05,0.05") from None
    for name in ("glob", "bytes_mode", "max_vocab"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    return DataConfig(sources=tuple(args.text), corpus=args.corpus, **kw)
