"""Reports of a run: JUnit XML, ``summary.json`` and the run history.

::

    from distlab.report import write_junit, write_summary
    from distlab.report.history import RunHistory
"""

from __future__ import annotations

from distlab.report.junit import junit_bytes, write_junit
from distlab.report.summary import read_summary, write_summary

__all__ = ["junit_bytes", "read_summary", "write_junit", "write_summary"]
