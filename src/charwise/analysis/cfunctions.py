"""Do generated C functions parse? Top-level function-like blocks cut out of a text, each parsed
on its own with fake typedefs (the way pycparser's documentation handles code it cannot
preprocess).

    c_functions(text)           -> [fragment]   complete `header(...) { ... }` blocks at depth 0
    parse_c_functions(texts)    -> CParse       how many were found and how many parse

Extraction: a small scanner skips comments, string and character literals and preprocessor
lines (a `#` line, with its backslash continuations), tracks the brace depth, and keeps every
`{ ... }` opened at depth 0 whose header (the text since the last top-level `;`, `}` or
preprocessor line) ends with `)`: a function definition, not a struct, enum or initializer. A
block the text ends inside is not counted: a sample cut mid-function says nothing about syntax.

Parsing: pycparser (the `analysis` extra) is a pure parser of C99, so a fragment fails only on
syntax. Names it cannot know without headers are declared first: the kernel's and libc's usual
types (u32, size_t, ...), any name ending in `_t`, and a name used in a declaration's type
position (`foo_list *head`, `my_type x;`, star attached to the declared name, as kernel style
writes pointers). Kernel annotations (`__init`, `__user`, `__attribute__((...))`, ...) are
removed. GNU extensions (statement expressions, `typeof`, inline asm, `case 1 ... 3:`) and
loop macros (`list_for_each_entry(...) {`) still fail; the corpus's own rate is the yardstick.

Without pycparser, `gcc -fsyntax-only` (when on PATH) parses each fragment and only *syntax*
errors count (messages "expected ...", "stray ...", unterminated literals): gcc also checks
meaning (undeclared names), which a fragment cut from its file cannot satisfy. Neither: NaN.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

PARSERS = ("auto", "pycparser", "gcc")

KNOWN_TYPES = (
    "u8 u16 u32 u64 s8 s16 s32 s64 __u8 __u16 __u32 __u64 __s8 __s16 __s32 __s64 "
    "__le16 __le32 __le64 __be16 __be32 __be64 bool va_list FILE"
).split()
_KEYWORDS = set(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while _Bool".split()
)
# Kernel annotations that are no C at all: dropped before parsing.
_ANNOTATIONS = re.compile(
    r"\b(?:__init|__exit|__user|__iomem|__force|__rcu|__percpu|__must_check|__maybe_unused|"
    r"__always_inline|__cold|__read_mostly|__initdata|__exitdata|__devinit|__devexit|__cpuinit|"
    r"__ref|__kprobes|__sched|__noreturn|__weak|__pure|__visible|__latent_entropy|asmlinkage|"
    r"noinline|notrace|__nocast|__bitwise|__safe|__kernel|__attribute_const__|__always_unused|"
    r"__unused|__used|__packed|__deprecated|__private|__ro_after_init|__initconst|__meminit|"
    r"__net_init|__net_exit|__cacheline_aligned|__cacheline_aligned_in_smp|noinstr)\b"
)
_ANNOTATION_CALLS = re.compile(
    r"\b(?:__attribute__|__acquires|__releases|__must_hold|__aligned|__printf|__section)\s*"
    r"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)"
)
# The kernel's loop macros (list_for_each_entry(pos, head, member) { ... }) read as a while.
_PARENS = r"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)"  # (...), nested up to three deep
_LOOP_MACROS = re.compile(r"(?<=[;{}])(\s*)\w*for_each\w*\s*" + _PARENS)
# A declaration's type position: after `{ } ; ( ,` or the fragment's start, optionally some
# qualifiers, then TYPE NAME or TYPE *NAME (star attached to the name: `a * b` is a product).
_DECL = re.compile(
    r"(?:^|[{};(,])\s*(?:(?:const|static|volatile|register|extern|inline)\s+)*"
    r"([A-Za-z_]\w*)(?:\s+\*+|\s+)([A-Za-z_]\w*)(?=\s*[;,=\[)])"
)
_SYNTAX_MESSAGES = ("expected", "stray", "missing terminating", "unterminated")


@dataclass(frozen=True)
class CParse:
    functions: int  # complete top-level function blocks found
    parsed: int  # of which parse
    parser: str  # pycparser | gcc | none
    chars: int  # characters searched

    @property
    def rate(self) -> float:
        """Share of the functions found that parse (NaN when none was found or no parser)."""
        if not self.functions or self.parser == "none":
            return float("nan")
        return self.parsed / self.functions


def _skip_line(text: str, i: int) -> int:
    """Index of the newline ending the line at i, following backslash continuations."""
    n = len(text)
    while True:
        j = text.find("\n", i)
        if j < 0:
            return n
        if j > 0 and text[j - 1] == "\\":
            i = j + 1
            continue
        return j


_STATEMENT = re.compile(r"(?:if|else|for|while|switch|do|return)\b")


def _function_header(header: str) -> bool:
    """`static int foo(struct bar *b)`, not `if (x)` (a block of a function the text began
    inside), `struct foo` or `x =`."""
    return header.endswith(")") and "(" in header and not _STATEMENT.match(header)


def c_functions(text: str) -> list[str]:
    """Complete top-level function definitions of `text` (comments and preprocessor lines
    blanked), in order; see the module docstring."""
    out: list[str] = []
    code: list[str] = []  # the text with comments and preprocessor lines replaced by spaces
    depth, i, n = 0, 0, len(text)
    start = 0  # where the current top-level item's header begins in `code`
    open_at = -1  # index in `code` of the `{` that opened a candidate function
    at_line_start = True
    while i < n:
        ch = text[i]
        if at_line_start and ch == "#":
            j = _skip_line(text, i)
            code.append(" " * (j - i))
            if depth == 0:
                start = len(code)
            i = j
            continue
        if ch == "/" and text.startswith("//", i):
            j = _skip_line(text, i)
            code.append(" " * (j - i))
            i = j
            continue
        if ch == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            code.append(" ")
            i = j
            continue
        if ch in "\"'":  # a literal runs to its closing quote or the end of the line
            j = i + 1
            while j < n and text[j] not in (ch, "\n"):
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1 if j < n and text[j] == ch else j, n)
            code.append(text[i:j])
            at_line_start = False
            i = j
            continue
        code.append(ch)
        if ch == "\n":
            if at_line_start and depth == 0:  # a blank line: no header spans one
                start = len(code)
            at_line_start = True
        elif not ch.isspace():
            at_line_start = False
        if ch == "{":
            if depth == 0:
                header = "".join(code[start:-1]).strip()
                open_at = start if _function_header(header) else -1
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
            if depth == 0:  # (a `}` of a block the text began inside ends an item too)
                if open_at >= 0:
                    out.append("".join(code[open_at:]).strip())
                open_at = -1
                start = len(code)
        elif ch == ";" and depth == 0:
            start = len(code)
        i += 1
    return out


def fake_typedefs(fragment: str) -> list[str]:
    """Names the fragment uses as types that a parser without headers cannot know, sorted."""
    names = {t for t in KNOWN_TYPES if re.search(rf"\b{re.escape(t)}\b", fragment)}
    names |= set(re.findall(r"\b([A-Za-z_]\w*_t)\b(?!\s*\()", fragment))  # not foo_t(...)
    for m in _DECL.finditer(fragment):
        typ = m.group(1)
        before = fragment[max(0, m.start(1) - 7) : m.start(1)]
        if re.search(r"\b(?:struct|union|enum)\s+$", before):
            continue  # `struct page *page`: a tag, which needs no typedef
        if typ not in _KEYWORDS and not typ.isupper():  # UPPER names are macros, not types
            names.add(typ)
    names -= _KEYWORDS
    names -= {"char", "int", "long", "short", "float", "double", "void"}
    return sorted(names)


def prepared(fragment: str) -> str:
    """The fragment without kernel annotations, after `typedef int NAME;` for its fake types."""
    body = _ANNOTATION_CALLS.sub(" ", fragment)
    body = _ANNOTATIONS.sub(" ", body)
    body = re.sub(r"\b__inline(?:__)?\b", "inline", body)
    # A type as a macro's argument (container_of(p, struct foo, member)) is no expression.
    # (Not a compound literal's type: `(struct timespec){ ... }`.)
    body = re.sub(r"(?<=[(,])\s*(?:struct|union)\s+\w+\s*(?=,|\)(?!\s*\{))", " 0", body)
    body = _LOOP_MACROS.sub(r"\1while (1)", body)  # at a statement's start only
    body = re.sub(r"\b__(?:const|volatile|signed)__\b", lambda m: m.group(0).strip("_"), body)
    head = "".join(f"typedef int {t};\n" for t in fake_typedefs(body))
    return head + body


def available_parser(parser: str = "auto") -> str:
    """The parser `parse_c_functions` would use: pycparser, gcc or none."""
    if parser not in PARSERS:
        raise ValueError(f"parser must be one of {', '.join(PARSERS)}, not {parser!r}")
    if parser in ("auto", "pycparser"):
        try:
            import pycparser  # noqa: F401
        except ImportError:
            if parser == "pycparser":
                return "none"
        else:
            return "pycparser"
    return "gcc" if shutil.which("gcc") else "none"


def _pycparser_ok(parser, source: str) -> bool:
    from pycparser.c_parser import ParseError

    try:
        parser.parse(source, "<fragment>")
    except ParseError:
        return False
    except Exception:  # noqa: BLE001 - odd input can trip pycparser's internals: not C either
        return False
    return True


def _gcc_ok(source: str) -> bool:
    try:
        r = subprocess.run(
            ["gcc", "-fsyntax-only", "-std=gnu11", "-w", "-fmax-errors=50", "-x", "c", "-"],
            input=source,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    errors = [ln for ln in r.stderr.splitlines() if " error: " in ln]
    return not any(any(s in ln for s in _SYNTAX_MESSAGES) for ln in errors)


def parse_c_functions(texts: str | Sequence[str], parser: str = "auto") -> CParse:
    """Find the complete functions of each text and count those that parse (see the module
    docstring); parser: auto (pycparser, else gcc), pycparser or gcc."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    used = available_parser(parser)
    fragments = [f for t in texts for f in c_functions(t)]
    chars = sum(len(t) for t in texts)
    if used == "none":
        return CParse(len(fragments), 0, used, chars)
    if used == "pycparser":
        from pycparser.c_parser import CParser

        p = CParser()
        ok = sum(_pycparser_ok(p, prepared(f)) for f in fragments)
    else:
        ok = sum(_gcc_ok(prepared(f)) for f in fragments)
    return CParse(len(fragments), ok, used, chars)
