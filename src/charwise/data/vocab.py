"""The vocabulary: characters (Unicode code points, or raw bytes) <-> integer ids.

Ids are assigned in code-point order, so encoding is one vectorised `searchsorted` over the
text's code points, with no Python loop per character. An optional <unk> id (the last one)
takes characters dropped by a `max_vocab` policy.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import CharwiseError

VOCAB_FORMAT = "charwise-vocab"
VOCAB_VERSION = 1
UNK_DISPLAY = "\ufffd"  # how <unk> prints when decoded


def codepoints(text: str) -> np.ndarray:
    """str -> (N,) uint32 array of its code points (no per-character Python objects)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@dataclass(frozen=True)
class Vocab:
    """`symbols`: sorted code points (chars mode) or byte values (bytes mode); id i <-> symbols[i].

    With `has_unk`, id len(symbols) is <unk>, the target of every character not in `symbols`.
    """

    symbols: tuple[int, ...]
    bytes_mode: bool = False
    has_unk: bool = False

    def __post_init__(self) -> None:
        if list(self.symbols) != sorted(set(self.symbols)):
            raise CharwiseError("vocabulary symbols must be sorted and unique")
        object.__setattr__(self, "_table", np.asarray(self.symbols, dtype=np.uint32))
        chars = [UNK_DISPLAY if self.bytes_mode else chr(s) for s in self.symbols]
        object.__setattr__(self, "_chars", chars + ([UNK_DISPLAY] if self.has_unk else []))

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_counts(
        cls, counts: dict[int, int], bytes_mode: bool = False, max_vocab: int | None = None
    ) -> Vocab:
        """Keep every symbol seen, or with `max_vocab` the most frequent max_vocab-1 plus <unk>."""
        if not counts:
            raise CharwiseError("the text is empty: nothing to build a vocabulary from")
        keep = list(counts)
        has_unk = False
        if max_vocab is not None and len(keep) > max_vocab:
            keep = sorted(keep, key=lambda s: (-counts[s], s))[: max_vocab - 1]
            has_unk = True
        return cls(tuple(sorted(keep)), bytes_mode=bytes_mode, has_unk=has_unk)

    @classmethod
    def from_text(cls, text: str, max_vocab: int | None = None) -> Vocab:
        """Build the character vocabulary of `text`."""
        syms, counts = np.unique(codepoints(text), return_counts=True)
        return cls.from_counts(
            dict(zip(syms.tolist(), counts.tolist(), strict=True)), max_vocab=max_vocab
        )

    # -- properties -------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self._chars)

    def __len__(self) -> int:
        return self.size

    @property
    def unk_id(self) -> int | None:
        return len(self.symbols) if self.has_unk else None

    @property
    def dtype(self) -> np.dtype:
        """The smallest unsigned dtype that holds every id (ids are cached on disk in it)."""
        return np.dtype(
            np.uint8 if self.size <= 256 else np.uint16 if self.size <= 65536 else np.uint32
        )

    def token(self, i: int) -> str:
        """Printable form of id i (bytes show as their Latin-1 char or \\xNN)."""
        if self.bytes_mode and i < len(self.symbols):
            b = self.symbols[i]
            return chr(b) if 32 <= b < 127 or b in (9, 10) else f"\\x{b:02x}"
        return self._chars[i]

    # -- encoding ---------------------------------------------------------------------------
    def encode_array(self, syms: np.ndarray, strict: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(N,) code points or bytes -> ((N,) ids in self.dtype, (N,) bool mask of unknown symbols).

        Unknown symbols become <unk> when the vocabulary has one. Otherwise, with `strict`, they
        raise; without it they get id 0 and the caller decides (the mask says which).
        """
        idx = np.searchsorted(self._table, syms)
        idx_c = np.minimum(idx, max(len(self.symbols) - 1, 0))
        unknown = self._table[idx_c] != syms if len(self.symbols) else np.ones(len(syms), bool)
        if unknown.any():
            if self.has_unk:
                idx = np.where(unknown, self.unk_id, idx)
            elif strict:
                raise CharwiseError(
                    f"characters not in the vocabulary: {self.describe_unknown(syms[unknown])}"
                )
            else:
                idx = np.where(unknown, 0, idx)
        return idx.astype(self.dtype), unknown

    def encode(self, text: str | bytes, strict: bool = True) -> np.ndarray:
        """Text -> (N,) ids. Raises CharwiseError naming characters outside the vocabulary."""
        return self.encode_array(self.symbols_of(text), strict=strict)[0]

    def symbols_of(self, text: str | bytes) -> np.ndarray:
        """Text -> (N,) uint32 code points (chars mode) or byte values (bytes mode)."""
        if self.bytes_mode:
            raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            return np.frombuffer(raw, dtype=np.uint8).astype(np.uint32)
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return codepoints(text)

    def unknown_chars(self, text: str) -> list[str]:
        """The distinct characters of `text` that have no id (empty when it has <unk>)."""
        if self.has_unk:
            return []
        syms = np.unique(self.symbols_of(text))
        return [self._show(s) for s in syms if s not in set(self.symbols)]

    def describe_unknown(self, syms: Iterable[int]) -> str:
        uniq = sorted(set(int(s) for s in syms))
        shown = ", ".join(self._show(s) for s in uniq[:10])
        return shown + (f" and {len(uniq) - 10} more" if len(uniq) > 10 else "")

    def _show(self, s: int) -> str:
        return f"byte 0x{s:02x}" if self.bytes_mode else f"{chr(s)!r} (U+{s:04X})"

    # -- decoding ---------------------------------------------------------------------------
    def decode(self, ids: Iterable[int]) -> str:
        """(N,) ids -> text. In bytes mode invalid UTF-8 shows as U+FFFD."""
        ids = [int(i) for i in ids]
        if self.bytes_mode:
            return self.decoder().decode_ids(ids, final=True)
        return "".join(self._chars[i] for i in ids)

    def decoder(self) -> StreamDecoder:
        """An incremental decoder for streamed output (bytes mode keeps partial UTF-8 sequences)."""
        return StreamDecoder(self)

    # -- (de)serialisation ------------------------------------------------------------------
    def to_json(self) -> str:
        body = {
            "format": VOCAB_FORMAT,
            "version": VOCAB_VERSION,
            "mode": "bytes" if self.bytes_mode else "chars",
            "unk": self.has_unk,
            # Characters are stored as strings for readability; code points make them exact.
            "chars": [chr(s) if not self.bytes_mode else None for s in self.symbols],
            "symbols": list(self.symbols),
        }
        return json.dumps(body, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str, source: str = "vocab.json") -> Vocab:
        """Parse vocab.json text; `source` names the file in error messages."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise CharwiseError(f"{source} is not valid JSON ({e.msg})") from None
        if not isinstance(d, dict) or d.get("format") != VOCAB_FORMAT:
            raise CharwiseError(f"{source} is not a charwise vocabulary")

        def damaged(why: str) -> CharwiseError:
            return CharwiseError(f"{source} is damaged: {why}")

        version = d.get("version", 0)
        if not _is_int(version):
            raise damaged(f'"version" is {_brief(version)}, not a whole number')
        if version > VOCAB_VERSION:
            raise CharwiseError(
                f"{source} has format version {version}; this charwise reads "
                f"up to {VOCAB_VERSION}: upgrade charwise"
            )
        mode = d.get("mode")
        if mode not in ("chars", "bytes"):
            raise damaged(f'"mode" is {_brief(mode)}, not "chars" or "bytes"')
        if "symbols" not in d:
            raise damaged('"symbols" is missing')
        symbols = d["symbols"]
        if not isinstance(symbols, list) or not symbols:
            raise damaged(f'"symbols" is {_brief(symbols)}, not a list of code points')
        top = 0xFF if mode == "bytes" else 0x10FFFF  # chr() and the uint32 table take no more
        bad = [s for s in symbols if not (_is_int(s) and 0 <= s <= top)]
        if bad:
            what = "byte value" if mode == "bytes" else "Unicode code point"
            raise damaged(f'"symbols" holds {_brief(bad[0])}, which is not a {what}')
        try:
            return cls(tuple(symbols), bytes_mode=mode == "bytes", has_unk=bool(d.get("unk")))
        except CharwiseError as e:  # not sorted, or repeated
            raise damaged(str(e)) from None


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)  # JSON true is no number


def _brief(x: object) -> str:
    """A JSON value for an error message, cut short: it may be a huge damaged list."""
    r = json.dumps(x, ensure_ascii=False)
    return r if len(r) <= 40 else r[:37] + "..."


class StreamDecoder:
    """Turns ids into text piece by piece; in bytes mode a multi-byte character is held back
    until complete, so streamed output never shows half a character."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def decode_ids(self, ids: Iterable[int], final: bool = False) -> str:
        v = self.vocab
        if not v.bytes_mode:
            return "".join(v._chars[int(i)] for i in ids)
        raw = bytes(v.symbols[i] if i < len(v.symbols) else 0x3F for i in map(int, ids))
        return self._utf8.decode(raw, final=final)
