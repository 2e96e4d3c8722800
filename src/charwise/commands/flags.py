"""The one table of command-line names: a config field's flag, where it is not `--field-name`,
its short alias and metavariable. Option generation (`_options.py`) and error wording (`cli.py`)
both read it, so an error names exactly the flag the user typed."""

from __future__ import annotations

from ..fields import FieldError

# Fields whose flag is not `--` + the field name with dashes.
FLAGS = {
    "kind": "--model",
    "bytes_mode": "--bytes",
    "features": "--feature",
    "sources": "TEXT",
    "files": "FILE",
    "run_dir": "RUN_DIR",
    "run_dirs": "RUN_DIR",
    "experiments": "NAME",
}
SHORT = {"length": "-n", "temperature": "-t", "num_samples": "-m"}
METAVARS = {
    "adapt": "FILE",
    "resume": "RUN_DIR",
    "init_from": "RUN_DIR",
    "out": "PATH",
    "features": "NAME=REGEX",
    "prime_file": "FILE",
    "stop_regex": "REGEX",
    "beam": "N",
    "length_penalty": "ALPHA",
    "temperature_end": "T",
    "data": "DIR",
    "page": "FILE",
    "runs": "DIR",
}
# Tuple fields given once per value (a regex may hold commas); other tuples are comma-separated.
REPEATED = {"features"}


def flag(field: str) -> str:
    """The command-line name of config field `field` (`lr` -> `--lr`, `kind` -> `--model`)."""
    return FLAGS.get(field) or "--" + field.replace("_", "-")


def worded(e: FieldError) -> str:
    """A FieldError's message with the command line's names for the fields it mentions."""
    return e.worded(flag)
