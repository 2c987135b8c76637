"""The replicated state machine: KV, registry, events, dedup of retried writes, snapshots."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_system.statemachine import BadCommand, StateMachine, parse_command, topic_matches

pytestmark = pytest.mark.unit


def apply_all(sm, cmds):
    return [
        sm.apply(i, parse_command(c))[0] for i, c in enumerate(cmds, start=sm.applied_index + 1)
    ]


def test_put_get_cas_delete():
    sm = StateMachine()
    apply_all(sm, [{"op": "put", "key": "x", "value": 1}])
    assert sm.read(parse_command({"op": "get", "key": "x"}))["value"] == 1
    miss, hit = apply_all(
        sm,
        [
            {"op": "cas", "key": "x", "expected": 2, "value": 3},
            {"op": "cas", "key": "x", "expected": 1, "value": 3},
        ],
    )
    assert (miss["swapped"], miss["value"]) == (False, 1)
    assert (hit["swapped"], hit["value"]) == (True, 3)
    (gone,) = apply_all(sm, [{"op": "delete", "key": "x"}])
    assert gone["existed"] is True
    assert sm.read({"op": "get", "key": "x"})["value"] is None


def test_cas_with_null_expected_creates_only_when_absent():
    sm = StateMachine()
    first, second = apply_all(
        sm,
        [
            {"op": "cas", "key": "k", "expected": None, "value": "a"},
            {"op": "cas", "key": "k", "expected": None, "value": "b"},
        ],
    )
    assert first["swapped"] and not second["swapped"]
    assert sm.kv["k"] == "a"


def test_registry_first_owner_wins_and_only_the_owner_unregisters():
    sm = StateMachine()
    a, b, wrong, right = apply_all(
        sm,
        [
            {"op": "register", "name": "svc", "owner": "alice"},
            {"op": "register", "name": "svc", "owner": "bob"},
            {"op": "unregister", "name": "svc", "owner": "bob"},
            {"op": "unregister", "name": "svc", "owner": "alice"},
        ],
    )
    assert a["registered"] and not b["registered"] and b["owner"] == "alice"
    assert not wrong["removed"] and right["removed"]
    assert sm.read({"op": "lookup", "name": "svc"})["owner"] is None


def test_publish_numbers_events_in_log_order():
    sm = StateMachine()
    events = [sm.apply(i, {"op": "publish", "topic": "t", "message": i})[1] for i in (1, 2, 3)]
    assert [e.seq for e in events] == [1, 2, 3]
    assert topic_matches("orders.*", "orders.created")
    assert not topic_matches("orders.*", "users.created")


def test_a_retried_write_is_answered_not_applied_twice():
    sm = StateMachine()
    cmd = parse_command({"op": "cas", "key": "c", "expected": None, "value": 1, "rid": "r1"})
    first, _ = sm.apply(1, cmd)
    again, _ = sm.apply(2, cmd)
    assert first == again == {"ok": True, "swapped": True, "value": 1}


@pytest.mark.parametrize(
    "req, complaint",
    [
        ({"op": "fly"}, "unknown op"),
        ({}, "unknown op"),
        ({"op": "put", "key": 5, "value": 1}, "'key' must be a non-empty string"),
        ({"op": "put", "key": "x"}, "'value' is required"),
        ({"op": "cas", "key": "x", "value": 1}, "'expected' is required"),
        ({"op": "register", "name": "n"}, "'owner' must be"),
        ({"op": "get", "key": "k" * 2000}, "at most 1024"),
        ({"op": "put", "key": "x", "value": 1, "rid": 7}, "'rid' must be a string"),
    ],
)
def test_bad_requests_name_the_field(req, complaint):
    with pytest.raises(BadCommand, match=complaint):
        parse_command(req)


ops = st.one_of(
    st.builds(
        lambda k, v: {"op": "put", "key": k, "value": v}, st.sampled_from("abc"), st.integers(0, 3)
    ),
    st.builds(
        lambda k, e, v: {"op": "cas", "key": k, "expected": e, "value": v},
        st.sampled_from("abc"),
        st.none() | st.integers(0, 3),
        st.integers(0, 3),
    ),
    st.builds(lambda k: {"op": "delete", "key": k}, st.sampled_from("abc")),
    st.builds(
        lambda n, o: {"op": "register", "name": n, "owner": o},
        st.sampled_from("xy"),
        st.sampled_from("pq"),
    ),
    st.builds(lambda t: {"op": "publish", "topic": t, "message": 1}, st.sampled_from(["a.b", "c"])),
)


@settings(deadline=None)  # a busy shared machine must not fail a property
@given(st.lists(ops, max_size=30), st.integers(0, 30))
def test_a_snapshot_taken_anywhere_then_the_rest_of_the_log_gives_the_same_state(cmds, cut):
    whole = StateMachine()
    apply_all(whole, cmds)
    head = StateMachine()
    apply_all(head, cmds[:cut])
    restored = StateMachine.restore(head.snapshot())
    apply_all(restored, cmds[cut:])
    assert restored.snapshot() == whole.snapshot()


def test_preview_answers_like_apply_without_changing_anything():
    sm = StateMachine()
    apply_all(
        sm, [{"op": "put", "key": "x", "value": 1}, {"op": "register", "name": "n", "owner": "a"}]
    )
    before = sm.snapshot()
    cmds = [
        {"op": "cas", "key": "x", "expected": 1, "value": 2},
        {"op": "delete", "key": "x"},
        {"op": "register", "name": "n", "owner": "b"},
        {"op": "publish", "topic": "t", "message": None},
    ]
    for cmd in map(parse_command, cmds):
        previewed = sm.preview(cmd)
        assert sm.snapshot() == before
        assert previewed == StateMachine.restore(before).apply(3, cmd)[0]
