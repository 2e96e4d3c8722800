"""Vocabulary: characters (or bytes) <-> ids, <unk>, JSON round trip, named unknown characters."""

from __future__ import annotations

import json

import numpy as np
import pytest

from charwise.data.vocab import UNK_DISPLAY, Vocab
from charwise.errors import CharwiseError

UNICODE_TEXT = 'héllo wörld — naïve café, 日本語 and 🎉 emoji\nЖ ж ß\t"quotes" [ok]'


def test_unicode_round_trip_is_per_code_point():
    v = Vocab.from_text(UNICODE_TEXT)
    ids = v.encode(UNICODE_TEXT)
    # One id per code point (not per UTF-8 byte: char-rnn's most-reported bug).
    assert len(ids) == len(UNICODE_TEXT)
    assert v.decode(ids) == UNICODE_TEXT
    assert v.size == len(set(UNICODE_TEXT))
    # Ids follow code-point order.
    assert [v.decode([i]) for i in range(v.size)] == sorted(set(UNICODE_TEXT))


def test_ids_use_the_smallest_dtype():
    assert Vocab.from_text("abc").encode("cab").dtype == np.uint8
    big = "".join(chr(0x4E00 + i) for i in range(300))
    assert Vocab.from_text(big).encode(big).dtype == np.uint16


def test_unknown_characters_are_named():
    v = Vocab.from_text("abc")
    with pytest.raises(CharwiseError) as e:
        v.encode("abxΩ")
    msg = str(e.value)
    assert "'x'" in msg and "U+0078" in msg and "'Ω'" in msg and "U+03A9" in msg
    assert "\n" not in msg
    assert v.unknown_chars("abxxΩ") == ["'x' (U+0078)", "'Ω' (U+03A9)"]
    # Without strict, the mask says which were unknown.
    ids, unknown = v.encode_array(v.symbols_of("axb"), strict=False)
    assert unknown.tolist() == [False, True, False]


def test_max_vocab_maps_rare_characters_to_unk():
    text = "aaaaabbbbcccdde"
    v = Vocab.from_text(text, max_vocab=3)
    assert v.has_unk and v.size == 3 and v.unk_id == 2
    ids = v.encode(text)
    assert ids.tolist() == [0] * 5 + [1] * 4 + [2] * 6
    # Characters never seen also go to <unk> instead of raising.
    assert v.encode("aZ").tolist() == [0, 2]
    assert v.decode(v.encode("abcz")) == "ab" + UNK_DISPLAY * 2
    assert v.unknown_chars("zzz") == []
    # No cap needed: no <unk>.
    assert not Vocab.from_text(text, max_vocab=5).has_unk


@pytest.mark.parametrize("max_vocab", [None, 4])
def test_json_round_trip(max_vocab):
    v = Vocab.from_text(UNICODE_TEXT, max_vocab=max_vocab)
    w = Vocab.from_json(v.to_json())
    assert w == v
    assert w.decode(w.encode(UNICODE_TEXT)) == v.decode(v.encode(UNICODE_TEXT))
    b = Vocab(tuple(range(256)), bytes_mode=True)
    assert Vocab.from_json(b.to_json()) == b


def test_bad_vocab_json_is_a_clear_error():
    with pytest.raises(CharwiseError, match="not valid JSON"):
        Vocab.from_json("{oops")
    with pytest.raises(CharwiseError, match="not a charwise vocabulary"):
        Vocab.from_json('{"format": "something-else"}')
    newer = Vocab.from_text("ab").to_json().replace('"version": 1', '"version": 99')
    with pytest.raises(CharwiseError, match="upgrade charwise"):
        Vocab.from_json(newer)


@pytest.mark.parametrize(
    "edit, msg",
    [
        (lambda d: d.pop("symbols"), '"symbols" is missing'),
        (lambda d: d.update(version="x"), '"version" is "x"'),
        (lambda d: d.update(symbols=None), '"symbols" is null'),
        (lambda d: d.update(symbols=97), '"symbols" is 97'),
        (lambda d: d.update(symbols=["a", "b"]), 'holds "a"'),
        (lambda d: d.update(symbols=[-1, 97]), "holds -1"),
        (lambda d: d.update(symbols=[97, 0x110000]), "holds 1114112"),
        (lambda d: d.update(symbols=[97, 1e300]), "holds 1e+300"),
        (lambda d: d.update(symbols=[97, True]), "holds true"),
        (lambda d: d.update(symbols=[97, None]), "holds null"),
        (lambda d: d.update(mode="bytes", symbols=[97, 256]), "holds 256, which is not a byte"),
        (lambda d: d.update(symbols=[98, 97]), "sorted and unique"),
        (lambda d: d.update(mode="words"), '"mode" is "words"'),
    ],
)
def test_damaged_vocab_json_is_a_clear_error(edit, msg):
    d = json.loads(Vocab.from_text("ab").to_json())
    edit(d)
    with pytest.raises(CharwiseError, match="^run/vocab.json is damaged: ") as e:
        Vocab.from_json(json.dumps(d), source="run/vocab.json")
    assert msg in str(e.value)


def test_bytes_mode_round_trips_invalid_utf8():
    raw = "é😀".encode() + b"\xff\xfe" + b"ok"
    v = Vocab.from_counts({b: 1 for b in raw}, bytes_mode=True)
    ids = v.encode(raw)
    assert len(ids) == len(raw)
    assert bytes(v.symbols[i] for i in ids) == raw
    # Invalid bytes show as U+FFFD; valid multi-byte characters decode whole.
    assert v.decode(ids) == "é😀\ufffd\ufffdok"


def test_stream_decoder_holds_back_partial_utf8():
    raw = "aé😀".encode()
    v = Vocab(tuple(range(256)), bytes_mode=True)
    dec = v.decoder()
    pieces = [dec.decode_ids([i]) for i in v.encode(raw)]
    # Never half a character: the 4-byte emoji appears only when its last byte arrives.
    assert pieces == ["a", "", "é", "", "", "", "😀"]
    # A truncated sequence is flushed as U+FFFD at the end.
    dec = v.decoder()
    assert dec.decode_ids(v.encode(b"x\xf0\x9f")) == "x"
    assert dec.decode_ids([], final=True) == "\ufffd"


def test_empty_text_has_no_vocabulary():
    with pytest.raises(CharwiseError, match="empty"):
        Vocab.from_text("")
