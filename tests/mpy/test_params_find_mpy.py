"""The parameter table's lookup (flight/params.py ``Params.find``) on every interpreter:
a byte of each name's hash scanned in C, the names compared only where it matches (the
walk over every declaration was 6-53 k instructions a change on the M7, 30 k on
average); the same record as the walk for every name, collisions included; an unknown
name None; a table whose bytes are wrong still finds every declaration (the walk
confirms a miss)."""

from flight.params import P_NAME, ParamDef, Params

N_OWNERS = 7
PER_OWNER = 45  # 315 names: more than 256 byte values, so bytes repeat


def _table():
    p = Params()
    for o in range(N_OWNERS):
        p.declare(tuple(ParamDef("own%d_param_%02d" % (o, i), "int", i, 0, 100, "", "x")
                        for i in range(PER_OWNER)), "owner%d" % o)
    return p


def _walk(p, name):
    for _owner, defs in p._decls:
        for d in defs:
            if d[P_NAME] == name:
                return d
    return None


def test_every_name_is_found_as_the_walk_finds_it_collisions_included():
    p = _table()
    names = p.order
    assert len(names) == N_OWNERS * PER_OWNER
    assert len(p._hashes) == len(names)
    seen = {}
    for b in p._hashes:
        seen[b] = seen.get(b, 0) + 1
    assert max(seen.values()) >= 2  # (the collision loop is exercised)
    for name in names:
        d = p.find(name)
        assert d is _walk(p, name) and d[P_NAME] == name
    assert p.validate("own3_param_07", 42) == 42


def test_an_unknown_name_is_none_and_a_wrong_table_still_finds_every_name():
    p = _table()
    assert p.find("own9_param_00") is None and p.find("") is None
    assert p.find(5) is None and p.find([1]) is None and p.find(None) is None  # (off the bus)
    p._hashes = bytes(len(p._hashes))  # every byte 0: a hash the table was not built with
    for name in p.order:
        assert p.find(name) is _walk(p, name)
    assert p.find("own9_param_00") is None
