"""A performance test whose speed a test of the runner can halve on purpose.

``SLOWDOWN`` multiplies the work (a sleep standing in for a slower code
path); the measured time goes out as the ``op_ms`` metric.
"""

import os
import time


def test_operation_speed(metric):
    factor = float(os.environ.get("SLOWDOWN", "1"))
    for _ in range(3):
        started = time.perf_counter()
        time.sleep(0.2 * factor)
        metric("op_ms", (time.perf_counter() - started) * 1000, "ms", f="op")
