"""Named properties of a text, one value per character, that interpretable cells may track.

Each is computed for character t as the state *after reading* it, which is what a cell's value
at t can know. Binary properties (0/1) are scored by AUC, graded ones by correlation:

    in_quotes        inside double quotes ("..."), both quotes included; a blank line closes an
                     open quote, so a text that starts inside a quote gets back in step (binary)
    in_parens        inside ( ) (binary)          in_brackets   inside [ ] (binary)
    in_braces        inside { } (binary)          nesting_depth open ( [ { not yet closed (graded)
    line_position    characters since the last newline (graded)
    indentation      leading spaces of the current line, a tab counting 4 (graded)
    in_comment       from a # (outside quotes) or // to the end of the line (binary)
    word_start       first letter or digit of a word (binary)
plus any user feature NAME=REGEX: 1 on the characters a match of REGEX covers (binary).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..fields import FieldError, literal, shown

DESCRIPTIONS = {
    "in_quotes": "inside double quotes",
    "in_parens": "inside ( )",
    "in_brackets": "inside [ ]",
    "in_braces": "inside { }",
    "nesting_depth": "nesting depth of ( [ {",
    "line_position": "position in the line",
    "indentation": "indentation of the line",
    "in_comment": "inside a # or // comment",
    "word_start": "start of a word",
}
GRADED = {"nesting_depth", "line_position", "indentation"}
_PAIRS = {
    "(": ("in_parens", 1),
    ")": ("in_parens", -1),
    "[": ("in_brackets", 1),
    "]": ("in_brackets", -1),
    "{": ("in_braces", 1),
    "}": ("in_braces", -1),
}


@dataclass(frozen=True)
class Property:
    name: str
    kind: str  # "binary" (scored by AUC) or "graded" (scored by correlation)
    description: str
    values: np.ndarray  # (N,) float32


def parse_feature(spec: str) -> tuple[str, re.Pattern]:
    """'NAME=REGEX' -> (name, compiled regex); CharwiseError when malformed."""
    name, sep, rx = spec.partition("=")
    name = name.strip()
    if not sep or not name or not rx:
        raise FieldError("features", f"{{features}} must look like NAME=REGEX, got {shown(spec)}")
    if not re.fullmatch(r"[A-Za-z_][\w-]*", name):
        raise FieldError(
            "features", f"{{features}} name {shown(name)} must be a word (letters, digits, _ or -)"
        )
    try:
        return name, re.compile(rx)
    except re.error as e:
        raise FieldError(
            "features", f"{{features}} {literal(name)}: bad regular expression ({literal(e)})"
        ) from None


def builtin_properties(chars: list[str]) -> dict[str, np.ndarray]:
    """(N,) characters -> {name: (N,) float32} for the built-in properties (one pass)."""
    N = len(chars)
    out = {name: np.zeros(N, dtype=np.float32) for name in DESCRIPTIONS}
    depth = {"in_parens": 0, "in_brackets": 0, "in_braces": 0}
    quote = comment = False
    col = indent = 0
    at_indent = True  # still in the line's leading whitespace
    prev = "\n"
    for t, ch in enumerate(chars):
        if ch == "\n":
            quote = quote and prev != "\n"  # a blank line ends any open quote
            comment, col, indent, at_indent = False, 0, 0, True
        else:
            col += 1
            if at_indent and ch in " \t":
                indent += 4 if ch == "\t" else 1
            else:
                at_indent = False
        is_quote = ch == '"' and not comment  # a quote inside a comment opens nothing
        if is_quote:
            quote = not quote
        elif not quote and (ch == "#" or (ch == "/" and prev == "/")):
            comment = True
        if ch in _PAIRS and not quote and not comment:
            name, d = _PAIRS[ch]
            depth[name] = max(0, depth[name] + d)
        # A closing quote/bracket ends the span once read, an opening one starts it.
        out["in_quotes"][t] = quote or is_quote
        out["in_comment"][t] = comment
        for name, d in depth.items():
            out[name][t] = d > 0 or (ch in _PAIRS and _PAIRS[ch][0] == name and _PAIRS[ch][1] < 0)
        out["nesting_depth"][t] = sum(depth.values())
        out["line_position"][t] = col
        out["indentation"][t] = indent
        out["word_start"][t] = ch.isalnum() and not (prev.isalnum() or prev == "_")
        prev = ch
    return out


def regex_property(chars: list[str], pattern: re.Pattern) -> np.ndarray:
    """(N,) 1.0 where a match of `pattern` covers the character (multi-char tokens count as one)."""
    text = "".join(c if len(c) == 1 else "\ufffd" for c in chars)
    v = np.zeros(len(chars), dtype=np.float32)
    for m in pattern.finditer(text):
        v[m.start() : m.end()] = 1.0
    return v


def text_properties(chars: list[str], features: list[str] | tuple[str, ...] = ()) -> list[Property]:
    """The built-in properties plus user features ('NAME=REGEX') of a text."""
    props = [
        Property(name, "graded" if name in GRADED else "binary", DESCRIPTIONS[name], v)
        for name, v in builtin_properties(chars).items()
    ]
    taken = {p.name for p in props}
    for spec in features:
        name, rx = parse_feature(spec)
        if name in taken:
            raise FieldError("features", f"{{features}} {literal(name)}: that name is already used")
        taken.add(name)
        props.append(Property(name, "binary", f"matches /{rx.pattern}/", regex_property(chars, rx)))
    return props
