"""distlab's pytest plugin (registered through the ``pytest11`` entry point).

Fixtures live one area per module in ``distlab.fixtures``; pytest loads the
modules listed here as plugins of their own.
"""

from __future__ import annotations

pytest_plugins: list[str] = []
