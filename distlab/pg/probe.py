"""Is a PostgreSQL server reachable? For ``distlab doctor`` and for waiting."""

from __future__ import annotations

from distlab.pg.redaction import redact_text


def probe(dsn: str, timeout_s: float = 3.0) -> str | None:
    """``None`` if ``SELECT 1`` works on ``dsn``, else the error as one line."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=max(1, round(timeout_s))) as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception as exc:  # any failure is an answer here, not a crash
        text = " ".join(str(exc).split()) or type(exc).__name__
        return redact_text(text, dsn)
    return None


def redact(dsn: str) -> str:
    """``dsn`` with any password hidden, for messages and tables."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # not parseable: show nothing of it rather than a secret
        return "<unparseable DSN>"
    if params.get("password"):
        params["password"] = "***"
    return make_conninfo("", **params)
