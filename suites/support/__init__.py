"""Helpers shared by the suites that drive the reference system through distlab."""
