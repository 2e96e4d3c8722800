"""The command line: a thin layer that parses, calls library functions and prints.

Each command lives in charwise/commands/<name>.py with `register(subparsers)`, which adds its
parser and sets `func(args) -> int`. Errors the user can fix print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .commands.flags import worded
from .errors import CharwiseError
from .fields import FieldError
from .training.distributed import launched_rank

COMMANDS = [
    "train",
    "sample",
    "evaluate",
    "info",
    "corpora",
    "inspect",
    "serve",
    "ngram",
    "compare",
    "reference",
    "export",
    "experiment",
]


class _Parser(argparse.ArgumentParser):
    """argparse's own errors (an unknown option, "abc" for an int) in charwise's form: one line
    and exit status 2. argparse printed its usage block first, 20 lines for `train`, which
    buried the message. Subcommand parsers inherit the class."""

    def error(self, message: str):
        self.exit(2, f"charwise: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="charwise",
        description="Character-level language models: train on any text, sample, evaluate, "
        "look inside.",
    )
    p.add_argument("--version", action="version", version=f"charwise {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(f"{__package__}.commands."):
                continue  # a command not part of this build
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CharwiseError as e:
        # Under torchrun every process meets the same bad input: one line, from rank 0 (torchrun
        # still reports which ranks failed).
        if launched_rank() == 0:
            message = worded(e) if isinstance(e, FieldError) else str(e)
            print(f"charwise: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("charwise: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `charwise sample ... | head`
        return 0
    except MemoryError:
        print(
            "charwise: error: out of memory; lower --batch-size, --seq-len or --hidden",
            file=sys.stderr,
        )
        return 2
    except OSError as e:
        print(
            f"charwise: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr
        )
        return 2
    except RuntimeError as e:
        if "out of memory" in str(e).lower():
            print(
                "charwise: error: out of (GPU) memory; lower --batch-size, --seq-len or --hidden",
                file=sys.stderr,
            )
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
