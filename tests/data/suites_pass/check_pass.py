"""A layer that passes: plain, skipped, parametrized and class tests, and a metric."""

import pytest


def test_adds():
    assert 1 + 1 == 2


@pytest.mark.skip(reason="not on this platform")
def test_skipped():
    raise AssertionError("never runs")


@pytest.mark.parametrize("n", [1, 2])
def test_param(n, metric):
    metric("latency_ms", 10.0 * n, "ms", op="put")
    assert n > 0


class TestGroup:
    def test_in_class(self):
        assert "a".upper() == "A"
