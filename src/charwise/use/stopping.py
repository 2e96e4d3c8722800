"""Where a generated text ends: at a string (`stop_at`, cut before it) or at a regular
expression (`stop_regex`, the match kept). Sampling (use/sampling.drive) and beam search
(use/beam.py) share this one rule, so a stop means the same under both.

Why the two differ: a stop string's length is known, so streamed text can lag that many
characters and the string never leaks out; a regular expression's match can be any length
(`\\n\\n+`, `THE END.*\\n`), so no fixed lag could hide it. The regex match is therefore kept:
the text ends with the character that completed the first match, and everything streamed is
part of the text returned.
"""

from __future__ import annotations

import re

from ..data.vocab import Vocab
from ..fields import FieldError, literal


def compile_regex(pattern: str) -> re.Pattern[str]:
    """The compiled stop pattern, or a one-line FieldError naming `stop_regex`."""
    try:
        return re.compile(pattern)
    except re.error as e:  # "unterminated character set at position 0"
        raise FieldError(
            "stop_regex", f"{{stop_regex}} is not a valid regular expression: {literal(e)}"
        ) from None


class StopRule:
    """One stream's stop test. `hold` is how many characters streamed text must lag so that no
    part of a stop string is shown before it is known whether it completes."""

    def __init__(self, at: str | None = None, regex: str | None = None):
        self.at = at
        self.regex = compile_regex(regex) if regex else None
        self.hold = len(at) - 1 if at else 0

    @property
    def active(self) -> bool:
        return bool(self.at) or self.regex is not None

    def check_vocab(self, vocab: Vocab) -> None:
        """A stop string the model can never write could never match: refuse it before a long
        --length runs to its end for nothing. (A regex cannot be checked this way.)"""
        bad = vocab.unknown_chars(self.at) if self.at else []
        if bad:
            raise FieldError(
                "stop_at",
                "{stop_at} has characters the model never writes (not in its vocabulary): "
                + literal(", ".join(bad[:10])),
            )

    def cut(self, text: str, new: int) -> int | None:
        """If `text` (whose last `new` characters are new since the last check, which found no
        stop) now stops: the length to cut it to; else None."""
        if self.at:
            # Only a match that overlaps the new characters can be new.
            i = text.find(self.at, max(0, len(text) - new - len(self.at) + 1))
            return i if i >= 0 else None
        if self.regex is not None:
            m = self.regex.search(text)  # the whole text: anchors (^, \b) see real context
            if m is None:
                return None
            # Keep the match; never cut into text already streamed (a lookahead's match ends
            # before the characters that completed it).
            return max(m.end(), len(text) - new)
        return None
