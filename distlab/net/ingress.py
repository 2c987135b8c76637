r"""Telling which node dialled an ingress proxy, from the connection's first bytes.

In ingress mode all nodes share one peer list, so the proxy in front of a
node cannot tell the dialler by which port was used; the dialler's own bytes
must say it (a hello frame, a sender-id header). The rule is a regex over the
bytes seen so far whose group ``id`` (or else group 1) is the node id, or a
user hook ``hook:package.module:function`` called with the bytes seen so far
and returning the id or None (imported in the proxy server process, so it
must be importable there).

Many peer protocols name the dialler only by the address it advertises (an
HTTP header with the sender's peer URL, Redis's ``REPLCONF listening-port``),
and the ports are random. So a regex may capture ``(?P<port>\d+)`` or
``(?P<addr>host:port)`` instead, and the cluster's *address book* (every
port a node is known by -> its id) turns it into the id. A hook that takes
two arguments gets the book as the second.

A rule that names something that is not a node is the user's mistake, not a
stranger: ``Misnamed`` carries a one-line message naming the value and the
valid ids, and the connection is reset at once rather than left to time out.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from distlab.errors import UsageError

UNIDENTIFIED_POLICIES: tuple[str, ...] = ("reject", "allow", "hold")
# How much of a connection we scan before giving up on identifying it.
SCAN_LIMIT = 64 * 1024
# "reject": how long an unidentified connection may stay silent about who it is.
IDENTIFY_TIMEOUT_S = 5.0


# The group names a rule may capture the dialler by, in the order they are looked for.
GROUPS: tuple[str, ...] = ("id", "port", "addr")

AddressBook = Mapping[str, str]  # "PORT" and "127.0.0.1:PORT" -> node id


class Misnamed(Exception):
    """A rule named a value that is no node's id or address (a one-line message)."""


class Identifier:
    """A compiled identification rule."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.hook: Callable[..., Any] | None = None
        self.hook_takes_book = False
        if pattern.startswith("hook:"):
            self.hook = _load_hook(pattern)
            self.hook_takes_book = _takes_two(self.hook)
            return
        try:
            self.regex = re.compile(pattern.encode(), re.DOTALL)
        except re.error as e:
            raise UsageError(
                f"ingress identify regex {pattern!r} is not valid: {e}; "
                "give a Python regex with a group (?P<id>...) or group 1 for the node id"
            ) from None
        if self.regex.groups < 1:
            raise UsageError(
                f"ingress identify regex {pattern!r} has no group; "
                "put the node id in (?P<id>...) (or group 1), or its port in (?P<port>...)"
            )
        named = [g for g in GROUPS if g in self.regex.groupindex]
        self.group: str | int = named[0] if named else 1

    @property
    def by_address(self) -> bool:
        """Whether the rule captures an address (port or host:port) rather than an id."""
        return self.group in ("port", "addr")

    def identify(self, seen: bytes, book: AddressBook | None = None) -> str | None:
        """The dialler's id if the bytes seen so far name it, else None.

        With ``book`` (the cluster's addresses), a value that is not a node
        raises ``Misnamed``; without one, an id is taken as it is.
        """
        if self.hook is not None:
            found = self.hook(seen, book or {}) if self.hook_takes_book else self.hook(seen)
            return self._checked(str(found), "id", book) if found else None
        m = self.regex.search(seen)
        if m is None or m.group(self.group) is None:
            return None
        value = m.group(self.group).decode(errors="replace")
        if self.group == "port":
            return self._by_address(value, "port", book)
        if self.group == "addr":
            return self._by_address(value, "address", book)
        return self._checked(value, "id", book)

    def _by_address(self, value: str, what: str, book: AddressBook | None) -> str:
        node = (book or {}).get(value)
        if node is None and what == "address":
            node = (book or {}).get(value.rpartition(":")[2])
        if node is None:
            raise Misnamed(
                f"ingress identify rule {self.pattern!r} read {what} {value!r}, which is no "
                f"node's; node ports: {_ports(book)}"
            )
        return node

    def _checked(self, value: str, what: str, book: AddressBook | None) -> str:
        if book is None:
            return value
        ids = sorted(set(book.values()))
        if value not in ids:
            raise Misnamed(
                f"ingress identify rule {self.pattern!r} read {what} {value!r}, which is not a node; "
                f"valid ids: {', '.join(ids)}"
            )
        return value


def _ports(book: AddressBook | None) -> str:
    if not book:
        return "(no address book: the cluster gives it once its ports are known)"
    by_node: dict[str, list[str]] = {}
    for address, node in book.items():
        if ":" not in address:
            by_node.setdefault(node, []).append(address)
    return "; ".join(f"{node} {' '.join(sorted(ports))}" for node, ports in sorted(by_node.items()))


def _takes_two(func: Callable[..., Any]) -> bool:
    """Whether a hook accepts (bytes, book) rather than just the bytes."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _load_hook(spec: str) -> Callable[[bytes], str | None]:
    module_name, _, func_name = spec[len("hook:") :].partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError, ValueError) as e:
        raise UsageError(
            f"ingress identify hook {spec!r} cannot be loaded ({e}); "
            "write hook:package.module:function, importable where distlab runs"
        ) from None
    if not callable(func):
        raise UsageError(f"ingress identify hook {spec!r} is not a function")
    return func  # type: ignore[no-any-return,unused-ignore]


def check_policy(policy: str) -> str:
    """Validate an unidentified-connection policy name."""
    if policy not in UNIDENTIFIED_POLICIES:
        raise UsageError(
            f"unidentified policy {policy!r} is not known; use one of "
            + ", ".join(UNIDENTIFIED_POLICIES)
        )
    return policy
