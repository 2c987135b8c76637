"""A property test whose examples are written down, to compare two runs' seeds."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

SEEN = []


@settings(database=None, max_examples=20)
@given(st.integers())
def test_records_examples(n):
    SEEN.append(n)


def test_write_examples():
    with open(os.environ["EXAMPLES_FILE"], "w") as f:
        f.write(",".join(map(str, SEEN)))
