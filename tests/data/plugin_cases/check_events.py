"""Cases for tests/test_plugin.py: one of each outcome, markers and metrics."""

import pytest


@pytest.mark.unit
def test_passes(metric):
    metric("put_ms", 12.5, "ms", f="put")
    metric("put_ms", 14, "ms", f="put")


@pytest.mark.chaos
@pytest.mark.slow
def test_fails():
    print("printed before the failure")
    assert 2 * 2 == 5, "two twos are not five"


@pytest.mark.skip(reason="needs a GPU")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known bug", strict=False)
def test_xfails():
    raise ValueError("known")


@pytest.fixture
def broken_fixture():
    raise RuntimeError("setup broke")


def test_errors_in_setup(broken_fixture):
    pass


def test_bad_metric(metric):
    metric("bad name", 1.0)


def test_nan_metric(metric):
    metric("latency", float("nan"))
