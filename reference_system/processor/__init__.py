"""The work-queue processor: ``python -m reference_system.processor --dsn DSN``."""

from __future__ import annotations

from reference_system.processor.worker import Options, Processor, Tally

__all__ = ["Options", "Processor", "Tally"]
