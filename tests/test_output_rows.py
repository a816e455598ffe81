"""The generated writer of a chunk kernel's outputs (runtime/work/outputrows.py) must write the bytes
encode_output writes, and hand everything else (another value type, other keys, a unit the kernel could
not finish) to the generic path, in unit order."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from octo.compiler.expressions.chunkkernel import FAILED
from octo.runtime.base.encoding import decode_output, encode_output
from octo.runtime.work.outputrows import row_writer

KEYS = st.lists(st.text(max_size=4), min_size=1, max_size=3, unique=True)
VALUES = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
          | st.lists(st.integers(), max_size=1) | st.sampled_from([10 ** 5000, float("nan"), float("-inf"), -0.0]))


@given(KEYS, st.data())
@example(["outcome", "steps"], None)
@example(["\u00e9\"\\\n", "\U0001f600"], None)
def test_written_rows_are_the_stored_json_and_the_rest_goes_to_the_generic_path(keys, data):
    draws = data.draw(st.lists(st.fixed_dictionaries({k: VALUES for k in keys}) | st.just(FAILED)
                               | st.just({"other": 1}), max_size=8)) if data is not None else \
        [{keys[0]: "ship", keys[1]: 17}, {keys[0]: True, keys[1]: 2.5}, FAILED, {keys[0]: 10 ** 5000, keys[1]: None}]
    units = [(pos, pos * 3, f"u{pos}") for pos in range(len(draws))]
    records = [{"id": uid} for _, _, uid in units]
    write = row_writer(tuple(keys))
    rows, kept, order = [], [], []

    def slow(pos, idx, uid, record, value):
        assert (pos, idx, uid) == units[pos] and record is records[pos] and value is draws[pos]
        order.append(pos)
        rows.append((pos, "slow", None, None))

    write(units, records, draws, rows, kept, slow)
    assert [r[0] for r in rows] == list(range(len(draws)))  # in unit order
    for pos, state, text, reason in rows:
        if state == "slow":
            continue
        value = draws[pos]
        assert state == "done" and reason is None and text == encode_output(value)
        back = decode_output(text)
        assert back == value and [type(v) for v in back.values()] == [type(v) for v in value.values()]
    assert kept == [(records[pos], draws[pos]) for pos, state, _, _ in rows if state == "done"]
    for pos in order:  # only what the writer cannot write as it is goes to the generic path
        value = draws[pos]
        assert value is FAILED or list(value) != list(keys) or any(
            type(v) not in (str, int, bool, float, type(None)) or v != v or v in (float("inf"), float("-inf"))
            or (type(v) is int and abs(v) > 10 ** 4000) for v in value.values())


def test_no_writer_for_the_dict_tag():
    assert row_writer(("$octo.dict",)) is None and row_writer(()) is None
