"""runtime/base/encoding.py writes outputs with a C encoder made once per thread: byte for byte what
json.JSONEncoder writes, and a failed encoding leaves nothing behind for the next one."""

import json
import threading

from hypothesis import assume, given, strategies as st

from octo.runtime.base.encoding import DICT_TAG, UnstorableValue, _json_default, _plain, decode_output, encode_output

_reference = json.JSONEncoder(default=_json_default).encode

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=20)


@given(st.dictionaries(st.text(), values, max_size=5))
def test_plain_outputs_are_written_as_json_writes_them(output):
    assume(_plain(output))  # a dict whose only key is the tag is tagged on purpose
    assert encode_output(output) == _reference(output)


def test_a_failed_encoding_leaves_no_marks_behind():
    output = {"a": [1, 2], "b": print}
    try:
        encode_output(output)  # fails inside `output`, which the encoder marked as entered
    except UnstorableValue:
        pass
    else:
        raise AssertionError("a function cannot be stored")
    del output["b"]
    assert encode_output(output) == '{"a": [1, 2]}'  # not "it contains itself": the marks were cleared


def test_threads_encode_the_same_value_at_once():
    shared = list(range(50))
    out, errors = [], []

    def work():
        try:
            for _ in range(2000):
                out.append(encode_output({"x": shared, "y": [shared]}))
        except Exception as err:  # noqa: BLE001  (any failure is the test's)
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(out)) == 1
    assert decode_output(out[0]) == {"x": shared, "y": [shared]}


@given(st.dictionaries(st.text() | st.integers(), values, max_size=5) | values)
def test_the_flat_encoder_writes_what_encode_output_writes(output):
    from octo.runtime.work.unitwork import _round_trips, flat_encoder

    text, reads_back = flat_encoder()(output)
    if text is None:  # not a dict of scalars with string keys: the general path writes it
        assert not (type(output) is dict and all(type(k) is str for k in output)
                    and all(type(v) in (str, int, bool, float, type(None)) for v in output.values())
                    and DICT_TAG not in output)
        return
    assert text == encode_output(output)
    assert reads_back == _round_trips(output)
    if reads_back:
        assert decode_output(text) == output


def test_a_flat_output_too_long_to_write_leaves_no_marks_and_is_unstorable():
    from octo.runtime.work.unitwork import flat_encoder

    flat = flat_encoder()
    assert flat({"a": 2 ** 20_000}) == (None, False)
    assert flat({"a": 1}) == ('{"a": 1}', True)  # no mark left behind: not a "circular reference"
    try:
        encode_output({"a": 2 ** 20_000})
    except UnstorableValue as err:
        assert "circular" not in str(err)
    else:
        raise AssertionError("a whole number of 6,000 digits was written")
