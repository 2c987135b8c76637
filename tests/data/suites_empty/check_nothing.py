"""A test file with no tests in it."""


def helper():
    return 1
