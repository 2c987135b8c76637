"""Settings every test of this directory shares."""

from __future__ import annotations

import pytest
from textual import constants


@pytest.fixture(autouse=True)
def _truecolor_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    # The dashboard passes ANSI colours through on a 16-colour terminal, and
    # Textual reads the colour system from TERM/COLORTERM: without this the
    # snapshots would depend on the terminal the tests were started from (TERM
    # unset, as in CI, reads as 16 colours). Tests of the 16-colour look set it.
    monkeypatch.setattr(constants, "COLOR_SYSTEM", "truecolor")
