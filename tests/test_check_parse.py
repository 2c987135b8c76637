"""The bulk reader (``checkers.bulk``) and the line-by-line reader agree on every file."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distlab.checkers import KV, HistoryError, Register, bulk, history
from distlab.checkers.models import Model
from distlab.workload.simulate import simulate

DATA = Path(__file__).parent / "data" / "histories"


def _both(buf: bytes, model: Model | None) -> tuple[Any, Any]:
    fast = bulk.parse(buf, "h", model)
    slow = history.parse_lines(buf.decode().splitlines(keepends=True), "h", model)
    return fast, slow


def _same(fast: history.History, slow: history.History) -> None:
    assert fast.ops == slow.ops
    assert fast.nemesis == slow.nemesis


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), model=st.sampled_from(["register", "kv"]))
def test_bulk_and_line_readers_build_the_same_history(seed: int, model: str) -> None:
    rng = random.Random(seed)
    recs = simulate(rng, ops=rng.randrange(1, 60), clients=4, model=model, timeout_rate=0.2)
    if recs and rng.random() < 0.5:  # a fault marker and an invoke left pending
        recs.insert(
            len(recs) // 2,
            {
                "process": "nemesis",
                "type": "info",
                "f": "fault.start",
                "value": {"id": "f1"},
                "time": recs[len(recs) // 2]["time"],
            },
        )
    buf = "".join(json.dumps(r) + "\n" for r in recs).encode()
    m = Register() if model == "register" else KV()
    _same(*_both(buf, m))


def test_values_of_every_json_shape_are_read_alike() -> None:
    big = 123456789012345678901234567890
    recs = [
        {
            "process": 0,
            "type": "invoke",
            "f": "write",
            "key": [1, {"a": True}],
            "value": big,
            "time": 1,
        },
        {
            "process": 0,
            "type": "ok",
            "f": "write",
            "key": [1, {"a": True}],
            "value": big,
            "time": 2,
        },
        {"process": "c", "type": "invoke", "f": "read", "key": False, "value": None, "time": 2.5},
        {"process": "c", "type": "ok", "f": "read", "key": False, "value": {"x": [1.5]}, "time": 3},
        {"process": 1, "type": "invoke", "f": "cas", "key": None, "value": [1, 2], "time": 3},
        {"process": 1, "type": "fail", "f": "cas", "key": None, "value": [1, 2], "time": 4},
        {
            "process": 2,
            "type": "invoke",
            "f": "write",
            "key": "k",
            "value": 1,
            "time": 4,
            "index": 9,
        },
    ]
    buf = "".join(json.dumps(r) + "\n" for r in recs).encode()
    fast, slow = _both(buf, Register())
    _same(fast, slow)
    assert fast.ops[0].value == big and fast.ops[-1].pending


@pytest.mark.parametrize("path", sorted((DATA / "bad").glob("*.jsonl")), ids=lambda p: p.stem)
def test_the_bulk_reader_declines_every_bad_file(path: Path) -> None:
    # ...so that load() falls back to the reader that names the line
    with pytest.raises(bulk.GiveUp):
        bulk.parse(path.read_bytes(), str(path), Register())
    with pytest.raises(HistoryError):
        history.load(path, Register())


@pytest.mark.parametrize(
    "text",
    [
        '{"process":0,"type":"invoke","f":"write","value":1,"time":1}\n\n',  # blank line
        '{"process":0,"type":"invoke","f":"write","value":1,"time":1}',  # no final newline
        '{"process":0,"type":"invoke","f":"write","value":1,"time":1}\n   \n',  # spaces
    ],
)
def test_irregular_layout_goes_to_the_line_reader(text: str, tmp_path: Path) -> None:
    with pytest.raises(bulk.GiveUp):
        bulk.parse(text.encode(), "h", Register())
    path = tmp_path / "h.jsonl"
    path.write_text(text)
    assert len(history.load(path, Register()).ops) == 1
