"""A layer with one real failure and one error in a fixture."""

import pytest


def test_ok():
    assert True


def test_wrong_sum():
    print("some output from the failing test")
    assert 1 + 1 == 3, "arithmetic is broken"


@pytest.fixture
def broken():
    raise RuntimeError("fixture setup failed")


def test_uses_broken(broken):
    pass
