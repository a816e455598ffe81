"""Unit records (octo.compiler.frontend.unitspace.UnitSpace.unit) of repeated spaces: kept entries, fresh records."""

from octo.compiler.frontend.unitspace import TableSpace, UnitSpace

ROWS = ({"id": "a", "start": 1}, {"id": "b", "start": 2}, {"id": "c", "start": 3})


def fresh(space: UnitSpace, i: int) -> dict:
    """The record built from scratch: id, repeat, then each table's value, in order."""
    r, picks, _ = space._entry(i)
    out = {"id": space.unit_id(i), "repeat": r}
    for table, idx in zip(space.tables, picks):
        out[table.field] = table.value(idx)
    return out


def test_repeated_records_are_built_as_from_scratch_each_its_own_dict():
    space = UnitSpace((TableSpace("s", ROWS, ("a", "b", "c")), TableSpace("t", ROWS, ("a", "b", "c"))), repeat=4)
    records = [space.unit(i) for i in range(space.total)]
    assert space._fields  # the tables' entries were kept, so the test exercises them
    assert records == [fresh(space, i) for i in range(space.total)]
    assert [list(r) for r in records] == [["id", "repeat", "s", "t"]] * space.total  # the fields' order
    assert len({id(r) for r in records}) == len(records)
    records[0]["s"] = None  # one record changed leaves the others (and the kept entries) as they were
    assert space.unit(9) == fresh(space, 9) and space.unit(0)["s"] == ROWS[0]


def test_arranged_tables_give_each_unit_its_own_lists():
    space = UnitSpace((TableSpace("pair", ROWS, ("a", "b", "c"), "permutations", 2),), repeat=3)
    assert space._fields is None
    a, b = space.unit(0), space.unit(space.base)
    assert a["pair"] == b["pair"] and a["pair"] is not b["pair"]


def test_a_chunk_of_records_is_the_records_one_by_one_each_its_own_dict():
    for space in (UnitSpace((TableSpace("s", ROWS, ("a", "b", "c")), TableSpace("t", ROWS, ("a", "b", "c"))), repeat=4),
                  UnitSpace((TableSpace("pair", ROWS, ("a", "b", "c"), "permutations", 2),), repeat=3),
                  UnitSpace((TableSpace("s", ROWS, ("a", "b", "c")),), repeat=1)):
        units = [(pos, i, space.unit_id(i)) for pos, i in enumerate(range(space.total))]
        records = space.records(units[:5]) + space.records(units[5:])  # the first chunk leaves entries kept
        assert records == [fresh(space, i) for i in range(space.total)]
        assert [list(r) for r in records] == [list(fresh(space, i)) for i in range(space.total)]
        assert len({id(r) for r in records}) == len(records)


def test_ids_of_repeated_spaces_are_those_made_from_scratch():
    long = "x" * 58  # with `-r<replica>` over 64 characters from replica 100 on: hashed
    for keys in (("a", "b", "c"), ("a b", "b/c", "c"), (long, "b", "c")):
        for space in (UnitSpace((TableSpace("s", ROWS, keys), TableSpace("t", ROWS, ("a", "b", "c"))), repeat=150),
                      UnitSpace((), repeat=5)):
            made = [space.unit_id(i) for i in range(space.total)] + [space.unit_id(i) for i in range(space.total)]
            scratch = [space._id(space._entry(i)[0], space._labels(space._entry(i)[1])) for i in range(space.total)]
            assert made == scratch * 2
            assert space._id_prefixes  # the kept prefixes were exercised


def test_ids_made_a_chunk_at_a_time_are_the_ids_made_one_by_one():
    """UnitSpace.unit_ids (a run's creation makes every id): any selection of indices (`where`, `sample` and
    `limit` keep some), in chunks of any size, gives unit_id's ids, readable, hashed past 64 characters, or not
    kept at all (unsafe keys, arrangements, no repeat)."""
    import itertools
    import random

    long = "x" * 58  # `-r<replica>` takes it over 64 characters from replica 100 on: hashed there
    spaces = [UnitSpace((TableSpace("s", ROWS, keys), TableSpace("t", ROWS, ("a", "b", "c"))), repeat=150)
              for keys in (("a", "b", "c"), ("a b", "b/c", "c"), (long, "b", "c"))]
    spaces += [UnitSpace((), repeat=5), UnitSpace((TableSpace("s", ROWS, ("a", "b", "c")),), repeat=1),
               UnitSpace((TableSpace("pair", ROWS, ("a", "b", "c"), "permutations", 2),), repeat=3)]
    rng = random.Random(7)
    for n, space in enumerate(spaces):
        one_by_one = [UnitSpace(space.tables, space.repeat).unit_id(i) for i in range(space.total)]  # a fresh space
        for keep, size in itertools.product((1.0, 0.3), (1, 7, 1000)):
            indices = [i for i in range(space.total) if rng.random() < keep]
            made = [uid for at in range(0, len(indices), size) for uid in space.unit_ids(indices[at:at + size])]
            assert made == [one_by_one[i] for i in indices], n
    kept = [space.__dict__.get("_readable_parts") for space in spaces]  # made (or refused) by the calls above
    assert kept[0] and kept[2] and kept[1] is None and kept[3] == ([""], 0)
