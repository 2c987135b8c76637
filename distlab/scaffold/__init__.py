"""``distlab init``: the files of a new distlab project for someone's own system.

``answers.py`` holds what the user told us (validated, one-line errors),
``templates.py`` the text of every file, ``files.py`` renders and writes them
without ever overwriting a file unless asked to.
"""

from __future__ import annotations

from distlab.scaffold.answers import Answers, parse_health
from distlab.scaffold.files import render, write

__all__ = ["Answers", "parse_health", "render", "write"]
