"""Credentials out of text: every error that may carry a DSN passes here first.

The database library's parse errors repeat the whole connection string, so
a malformed ``postgresql://u:SECRET@[::1`` would reach the console, JUnit and
the history database as is. Redaction works on text, not on a parsed DSN,
because the DSNs that leak are exactly the ones that do not parse.
"""

from __future__ import annotations

import re

MASK = "***"

# userinfo of any URI: scheme://user:password@  (the password may hold ':' but not '@' or space)
_URI_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s\"']*):[^@\s\"']*@")
# key=value DSNs and URI query strings: password=..., password = '...'
_KV_PASSWORD = re.compile(
    r"(?P<key>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&'\";]+)",
    re.IGNORECASE,
)
# Shorter than this, a literal password is not searched for on its own: replacing
# every "a" in a message would destroy it, and the patterns above still apply.
_MIN_LITERAL = 4


def passwords_in(dsn: str) -> list[str]:
    """The password(s) written in ``dsn``, found without parsing it (it may not parse)."""
    found = []
    for match in re.finditer(r"://[^:/?#@\s]*:([^@\s]*)@", dsn):
        found.append(match.group(1))
    for match in re.finditer(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&;]+)", dsn, re.I):
        value = match.group(1)
        found.append(value[1:-1] if value.startswith("'") else value)
    return [p for p in found if p]


def redact_text(text: str, dsn: str | None = None) -> str:
    """``text`` with every credential hidden: URI passwords, ``password=`` values,
    and (when known) the literal password of ``dsn`` wherever it appears."""
    if dsn:
        for secret in sorted(passwords_in(dsn), key=len, reverse=True):
            if len(secret) >= _MIN_LITERAL:
                text = text.replace(secret, MASK)
    text = _URI_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m.group('key')}{MASK}", text)
