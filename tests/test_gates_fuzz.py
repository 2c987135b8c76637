"""Property tests: no input crashes the gate parser; conditions only ever raise
ConditionError, metric names ValueError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from distlab.gates import parse_condition, parse_metric
from distlab.gates.expr import ConditionError, compute

ALPHABET = "0123456789.eE+-*/()<>=! \tpavgminxdcountsuebl_(){}:;$\x00é"
NUMBERS = st.sampled_from(["0", "2", "1.10", ".5", "1e3", "1e308", "1e999", "95"])
ATOMS = st.one_of(NUMBERS, st.just("baseline"))
EXPRS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from("+-*/"), inner).map(" ".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"-{e}"),
    ),
    max_leaves=8,
)
AGGREGATES = st.sampled_from(["", "avg ", "p(95) ", "p(0)", "count ", "rate", "max ", "p(100.5) "])
OPS = st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "=<", "="])
CONDITIONS = st.tuples(AGGREGATES, OPS, EXPRS).map("".join)


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(max_size=80))
def test_random_text_only_ever_raises_condition_error(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionError as e:
        assert "\n" not in str(e)


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_near_miss_text_only_ever_raises_condition_error(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionError:
        pass


@settings(max_examples=300, deadline=None, database=None)
@given(CONDITIONS, st.floats(allow_nan=False, allow_infinity=False))
def test_parsed_conditions_round_trip_and_compute(text: str, baseline: float) -> None:
    try:
        condition = parse_condition(text)
    except ConditionError:
        return
    # Printing a condition and parsing it again gives the very same condition.
    again = parse_condition(str(condition))
    assert (again.aggregate, again.percentile, again.op, again.threshold) == (
        condition.aggregate,
        condition.percentile,
        condition.op,
        condition.threshold,
    )
    try:
        compute(condition.threshold, baseline)
    except ConditionError:
        pass


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet="abc._-{}:=, 1\x00", max_size=40) | st.text(max_size=40))
def test_metric_names_only_ever_raise_value_error(text: str) -> None:
    try:
        ref = parse_metric(text)
    except ValueError as e:
        assert "\n" not in str(e)
        return
    # What parses prints back to a name that parses to the same reference.
    assert parse_metric(str(ref)) == ref
