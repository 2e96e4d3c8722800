"""Text files -> one cached, memory-mapped id array -> contiguous train / val / test splits.

Encoding streams each file in fixed-size chunks, so peak memory stays at a few chunks
whatever the corpus size (char-rnn held the whole file as Lua tables). The result is cached
on disk under a key made of the files' content hash and the encoding options, and opened with
`np.load(mmap_mode="r")`: a 500 MB corpus trains without 500 MB of anything in RAM.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write, replace_atomically
from ..config import DataConfig
from ..errors import CharwiseError
from ..fields import FieldError, literal
from ..version import FORMAT
from .cache import default_cache_dir
from .corpora import corpus_files
from .vocab import Vocab

CHUNK_BYTES = 8 << 20  # 8 MiB of input per step of the streaming encoder
CACHE_VERSION = "1"
N_CODEPOINTS = 0x110000


@dataclass(frozen=True)
class Corpus:
    """ids: (N,) memory-mapped array of vocabulary ids; `unknown`: characters outside the vocabulary
    (only when a fixed vocabulary without <unk> was given; they are left out of `ids`)."""

    ids: np.ndarray
    vocab: Vocab
    files: tuple[str, ...]
    unknown: int = 0
    unknown_chars: str = ""
    text_hash: str = ""  # the files' content hash (see _content_key), stored by a run at start


@dataclass(frozen=True)
class Splits:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def resolve_files(sources: tuple[str, ...] | list[str], glob: str = "*") -> list[Path]:
    """Files and directories (searched recursively for `glob`) -> sorted list of files."""
    files: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            runs: dict[Path, bool] = {}
            found = sorted(
                f
                for f in p.rglob(glob)
                if f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and not _in_run_dir(f, p, runs)
            )
            if not found:
                raise CharwiseError(f"no files matching {glob!r} in directory {src}")
            # Empty files found by the scan (a package's __init__.py, a placeholder) add no text:
            # skip them rather than abort. Only a directory holding nothing else is an error.
            found = [f for f in found if f.stat().st_size > 0]
            if not found:
                raise CharwiseError(f"every file matching {glob!r} in directory {src} is empty")
            files.extend(found)
        elif p.is_file():
            # A file named explicitly was meant to be read: an empty one is a mistake to report.
            if p.stat().st_size == 0:
                raise CharwiseError(f"file is empty: {src}")
            files.append(p)
        elif p.exists():
            raise CharwiseError(f"not a regular file: {src}")
        else:
            raise CharwiseError(f"no such file or directory: {src}")
    return files


def _is_run_dir(d: Path) -> bool:
    """A charwise run folder: its config.json says so (read only where a vocab.json sits too)."""
    cfg, vocab = d / "config.json", d / "vocab.json"
    if not (cfg.is_file() and vocab.is_file()):
        return False
    try:
        meta = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False  # somebody's own config.json: text like any other
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def _in_run_dir(f: Path, root: Path, cache: dict[Path, bool]) -> bool:
    """Whether file f (found under root) lies in a charwise run folder: `charwise train . --out
    run` writes its run inside the text's directory, and the run's own files (log, samples,
    weights) must not become training text, nor change the text's hash so that --resume
    refuses the run."""
    d = f.parent
    while True:
        if d not in cache:
            cache[d] = _is_run_dir(d)
        if cache[d]:
            return True
        if d == root or d == d.parent:
            return False
        d = d.parent


def _content_key(files: list[Path], extra: str) -> tuple[str, str]:
    """(cache key, text hash) in one read of the files. The cache key also covers the encoding
    options; the text hash covers only the files' sizes and bytes, in order, so a run can tell
    on --resume whether its text changed whatever vocabulary it is encoded with."""
    h = hashlib.blake2b(digest_size=16)
    text = hashlib.blake2b(digest_size=16)
    h.update(f"charwise-cache-{CACHE_VERSION}|{extra}|".encode())
    for f in files:
        size = f"{f.stat().st_size}|".encode()
        h.update(size)
        text.update(size)
        with open(f, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                h.update(chunk)
                text.update(chunk)
    return h.hexdigest(), text.hexdigest()


def iter_symbols(files: list[Path], bytes_mode: bool):
    """Yield (M,) uint32 arrays of code points (or byte values), file after file, chunk by chunk."""
    for f in files:
        dec = None if bytes_mode else codecs.getincrementaldecoder("utf-8")("strict")
        offset = 0
        with open(f, "rb") as fh:
            while True:
                raw = fh.read(CHUNK_BYTES)
                final = not raw
                if bytes_mode:
                    if final:
                        break
                    yield np.frombuffer(raw, dtype=np.uint8).astype(np.uint32)
                    continue
                # e.start counts from the bytes the decoder still holds from the last chunk.
                held = len(dec.getstate()[0])
                try:
                    text = dec.decode(raw, final=final)
                except UnicodeDecodeError as e:
                    at = offset - held + e.start
                    raise NotUtf8Error(f"{f} is not valid UTF-8 (byte {at})") from None
                offset += len(raw)
                if text:
                    # surrogatepass: lone surrogates cannot come from strict UTF-8, but be safe.
                    yield np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
                if final:
                    break


def count_symbols(files: list[Path], bytes_mode: bool) -> np.ndarray:
    """Streamed histogram: (0x110000,) or (256,) int64 counts of every symbol."""
    n = 256 if bytes_mode else N_CODEPOINTS
    counts = np.zeros(n, dtype=np.int64)
    for syms in iter_symbols(files, bytes_mode):
        counts += np.bincount(syms, minlength=n)[:n]
    return counts


def _lookup_table(vocab: Vocab) -> np.ndarray:
    """(max symbol + 2,) int32: symbol -> id, -1 for symbols outside the vocabulary (the last
    entry stands for every symbol above the largest). One gather per character: ~5x faster
    than Vocab.encode_array's binary search, and 4 bytes per character of scratch, not 16."""
    syms = np.asarray(vocab.symbols, dtype=np.int64)
    lut = np.full(int(syms.max(initial=-1)) + 2, -1, dtype=np.int32)
    lut[syms] = np.arange(len(syms), dtype=np.int32)
    return lut


def encode_files(files: list[Path], vocab: Vocab, out_path: Path, total: int) -> tuple[int, str]:
    """Stream-encode `files` into an .npy of exactly `total` ids (the count of symbols kept, known
    beforehand from the streamed histogram, so the file never needs shrinking: no whole-corpus
    copy). Symbols outside a vocabulary without <unk> are dropped; returns (how many, a
    description of them).

    The ids are appended with plain writes after the .npy header rather than through a memory
    map, so the written pages stay in the page cache instead of in this process's resident set.
    """
    header = {
        "descr": np.lib.format.dtype_to_descr(vocab.dtype),
        "fortran_order": False,
        "shape": (total,),
    }
    lut = _lookup_table(vocab)
    pos, dropped, unknown_syms = 0, 0, set()
    with open(out_path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for syms in iter_symbols(files, vocab.bytes_mode):
            ids = lut[np.minimum(syms, len(lut) - 1)]
            unknown = ids < 0
            if unknown.any() and vocab.has_unk:
                ids[unknown] = vocab.unk_id
            elif unknown.any():
                dropped += int(unknown.sum())
                if len(unknown_syms) < 50:
                    unknown_syms.update(np.unique(syms[unknown]).tolist())
                ids = ids[~unknown]
            pos += len(ids)
            if pos > total:
                break
            ids.astype(vocab.dtype).tofile(fh)
    if pos != total:
        raise CharwiseError("the text changed while it was being encoded; run again")
    return dropped, vocab.describe_unknown(unknown_syms) if dropped else ""


class NotUtf8Error(FieldError):
    """A file that does not decode as UTF-8. `fact` says which; the message adds the advice for
    training (raw bytes); evaluating a model trained on characters gives other advice."""

    def __init__(self, fact: str):
        super().__init__(
            "bytes_mode",
            f"{literal(fact)}; train on raw bytes with {{bytes_mode}} (or, for a directory, "
            "pick its text files with {glob})",
        )
        self.fact = fact


class TextChangedError(CharwiseError):
    """The text no longer hashes to what the caller expected (a resumed run's text changed)."""


def load_corpus(
    data: DataConfig,
    vocab: Vocab | None = None,
    cache_dir: Path | None = None,
    expect_hash: str | None = None,
) -> Corpus:
    """Resolve, (stream-)encode and cache the text `data` names; reuse the cache when it exists.

    With `vocab` given (fine-tuning, evaluation), the text is encoded with it; otherwise the
    vocabulary is discovered from the text (optionally capped by data.max_vocab). With
    `expect_hash`, raise TextChangedError when the text's hash differs, before encoding anything.
    """
    files = (
        corpus_files(data.corpus, cache_dir)
        if data.corpus
        else resolve_files(data.sources, data.glob)
    )
    vocab_key = vocab.to_json() if vocab else ""
    extra = f"bytes={data.bytes_mode}|max_vocab={data.max_vocab}|vocab={vocab_key}"
    key, text_hash = _content_key(files, extra)
    if expect_hash and text_hash != expect_hash:
        raise TextChangedError("the text changed")
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    entry = cache / key
    names = tuple(str(f) for f in files)
    if (entry / "ids.npy").exists() and (entry / "vocab.json").exists():
        meta = (entry / "unknown.txt").read_text(encoding="utf-8").split("\n", 1)
        return Corpus(
            np.load(entry / "ids.npy", mmap_mode="r"),
            Vocab.from_json((entry / "vocab.json").read_text(encoding="utf-8")),
            names,
            int(meta[0]),
            meta[1] if len(meta) > 1 else "",
            text_hash,
        )
    counts = count_symbols(files, data.bytes_mode)
    total = int(counts.sum())
    if total == 0:
        raise CharwiseError("the text is empty")
    if vocab is None:
        present = np.nonzero(counts)[0]
        vocab = Vocab.from_counts(
            dict(zip(present.tolist(), counts[present].tolist(), strict=True)),
            bytes_mode=data.bytes_mode,
            max_vocab=data.max_vocab,
        )
    if not vocab.has_unk:  # symbols outside the vocabulary will be left out
        known = np.asarray(vocab.symbols, dtype=np.int64)
        total = int(counts[known[known < len(counts)]].sum())
    try:
        entry.mkdir(parents=True, exist_ok=True)
    except OSError:
        entry = Path(tempfile.mkdtemp(prefix="charwise-"))
    # Each file replaced whole; vocab.json comes last, so an entry that has it is complete.
    dropped, desc = replace_atomically(
        entry / "ids.npy", lambda tmp: encode_files(files, vocab, tmp, total)
    )
    atomic_write(entry / "unknown.txt", f"{dropped}\n{desc}")
    atomic_write(entry / "vocab.json", vocab.to_json())
    return Corpus(np.load(entry / "ids.npy", mmap_mode="r"), vocab, names, dropped, desc, text_hash)


def split_ids(ids: np.ndarray, fractions: tuple[float, float, float], rows: int = 1) -> Splits:
    """(N,) ids -> train / val / test ids of the given fractions.

    rows == 1: contiguous views (no copies), test is the end of the text. rows > 1: char-rnn's
    CharSplitLMMinibatchLoader, as the 2015 paper used it: the text (cut to a multiple of
    `rows`) as `rows` equal pieces, each piece split by `fractions`, and each split the
    concatenation of its `rows` parts (copies), so val and test sample the whole text. A model
    carrying state reads across the joins as across any other text.
    """
    n = len(ids)
    if rows <= 1:
        n_train = int(round(n * fractions[0]))
        n_val = int(round(n * fractions[1]))
        return Splits(ids[:n_train], ids[n_train : n_train + n_val], ids[n_train + n_val :])
    row_len = n // rows
    if row_len < 3:
        raise FieldError(
            "split_rows",
            f"{{split_rows}} {rows} leaves rows of {row_len} character"
            f"{'' if row_len == 1 else 's'}; lower it",
        )
    grid = np.asarray(ids[: rows * row_len]).reshape(rows, row_len)
    n_train = int(round(row_len * fractions[0]))
    n_val = int(round(row_len * fractions[1]))
    return Splits(
        np.ascontiguousarray(grid[:, :n_train]).ravel(),
        np.ascontiguousarray(grid[:, n_train : n_train + n_val]).ravel(),
        np.ascontiguousarray(grid[:, n_train + n_val :]).ravel(),
    )
