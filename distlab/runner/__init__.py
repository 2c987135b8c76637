"""The runner: one pytest subprocess per layer, live events in, the JSON
reports as the final word, reruns for flaky detection, timeouts, gates,
reports and the exit code.

    from distlab.runner import Run
    run = Run(config, layers="unit,chaos", on_event=print)
    result = run.execute()          # or run.start(); ...; run.stop(); run.wait()
"""

from __future__ import annotations

from distlab.runner.session import Run

__all__ = ["Run"]
