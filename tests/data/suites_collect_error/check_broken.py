"""A test file that cannot be imported."""

import distlab_no_such_module  # noqa: F401


def test_never():
    pass
