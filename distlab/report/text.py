"""Making arbitrary test output safe for XML: legal characters, bounded size."""

from __future__ import annotations

import re

# XML 1.0 allows tab, newline, carriage return and these ranges; anything
# else (ANSI escapes' ESC, NUL, lone surrogates from undecodable bytes)
# makes the whole document unreadable, so it is shown as an escape instead.
_ILLEGAL = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Per text (traceback, captured output). CI UIs choke on megabytes in one
# report, and the run directory keeps the whole text anyway.
MAX_TEXT = 64_000
MAX_MESSAGE = 500


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 forbids replaced by a visible escape."""
    return _ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def truncate(text: str, limit: int = MAX_TEXT) -> str:
    """Keep the head and the tail of an over-long text, saying how much was cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n... [{cut} characters cut] ...\n{text[-half:]}"


def clean(text: str | None, limit: int = MAX_TEXT) -> str:
    """Truncated and XML-safe."""
    return xml_safe(truncate(text or "", limit))


def first_line(text: str | None, limit: int = MAX_MESSAGE) -> str:
    """The first non-blank line, bounded: for ``message`` attributes."""
    for line in (text or "").splitlines():
        if line.strip():
            return clean(line.strip(), limit)
    return ""
