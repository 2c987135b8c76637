"""The files of a run directory that its report links to, as relative links.

Links are relative to where the page is written, so a run directory
downloaded from CI opens with every link working.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from distlab.report.svg import esc


class RunFiles:
    """Looks files up in ``run_dir`` and links them from a page in ``page_dir``."""

    def __init__(self, run_dir: Path | None, page_dir: Path | None = None) -> None:
        self.run_dir = run_dir
        self.page_dir = page_dir or run_dir

    def exists(self, rel: str) -> bool:
        return self.run_dir is not None and (self.run_dir / rel).exists()

    def href(self, rel: str) -> str:
        """The escaped ``href`` of ``rel`` (a path in the run directory) from the page."""
        assert self.run_dir is not None
        path = os.path.relpath(self.run_dir / rel, self.page_dir or self.run_dir)
        return esc("/".join(quote(part) for part in Path(path).parts))

    def timelines(self) -> dict[str, list[str]]:
        """Every counterexample timeline in the run directory, by the name of the
        directory it is in (``tests/<test>/`` holds a test's own history's)."""
        found: dict[str, list[str]] = {}
        if self.run_dir is None:
            return found
        for path in sorted(self.run_dir.rglob("*.timeline.html")):
            rel = path.relative_to(self.run_dir).as_posix()
            found.setdefault(path.parent.name, []).append(rel)
        return found

    def locate(self, path: str, recorded_run_dir: str) -> str | None:
        """A file an event named, as a path in this run directory, if it is there.

        Events name files where the run wrote them; a run directory fetched
        from CI is somewhere else, so the part below the recorded run
        directory is looked for under this one.
        """
        if not path or self.run_dir is None:
            return None
        named = Path(path)
        if recorded_run_dir and named.is_relative_to(recorded_run_dir):
            named = named.relative_to(recorded_run_dir)
        elif named.is_absolute():
            try:
                named = named.resolve().relative_to(self.run_dir.resolve())
            except ValueError:
                return None
        return named.as_posix() if (self.run_dir / named).is_file() else None
