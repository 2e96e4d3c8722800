"""`charwise corpora`: the built-in corpora."""

from __future__ import annotations

from ..data.corpora import CORPORA


def register(sub) -> None:
    p = sub.add_parser("corpora", help="list the built-in corpora (--corpus NAME)")
    p.set_defaults(func=run)


def run(args) -> int:
    for c in CORPORA.values():
        print(f"{c.name:8s}  {c.description}")
    return 0
