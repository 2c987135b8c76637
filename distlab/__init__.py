"""distlab: a test lab for distributed systems."""

__version__ = "0.1.0"
