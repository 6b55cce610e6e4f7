"""What a booted flight application does not hold between uses (issue 11, the live heap
in TRACK): the diagnostic housekeeping set's value list and packet buffer (1 kB) are
made for each packet and dropped after; the packet is the same, on request and at its
period.

Plain test functions: CPython, the MicroPython VM, the unix port and the M7 image."""

from flight.cmddict import BY_NAME
from flight.tm import APID_HK_DIAG

from obc import Obc

HK_DIAG_REQUEST = BY_NAME["HK_DIAG_REQUEST"].opcode


def test_the_diagnostic_set_is_built_per_packet_not_held():
    o = Obc()
    o.run(1500000)
    p = o.app.hk_diag_packer
    assert p.values is None and p.buf is None  # not held after boot
    r = o.send(HK_DIAG_REQUEST)
    assert r[-1]["ok"] is True, r
    (d,) = o.of(APID_HK_DIAG)
    assert d["tc_runs"] > 0 and d["hk_enabled"] == 1
    assert r[-1]["result"]["octets"] == p.size
    assert p.values is None and p.buf is None  # dropped again after the packet
    o.app.params.set("hk_diag_period_s", 1)
    o.tm = []
    o.run(3100000)
    assert 2 <= len(o.of(APID_HK_DIAG)) <= 4  # periodic: the same packet each time
    assert p.values is None and p.buf is None


def test_the_app_holds_its_owners_once_and_no_bound_hk_methods():
    # (issue 11) one owner table (the dispatcher's), the packers call owner.hk /
    # owner.hk_diag: what they hold are the owners, not a bound method each
    o = Obc()
    o.run(100000)
    app = o.app
    assert not hasattr(app, "owners") and app.dispatch.owners["params"] is app.params
    owners = list(app.dispatch.owners.values()) + [app]
    for p in (app.hk_packer, app.hk_diag_packer):
        assert p._fills and all(f in owners for f in p._fills)
    pl = app.payload  # (built when read: each payload module under its owner name)
    assert len(pl) == len(app.modules)
    for name in pl:
        assert pl[name] is app.dispatch.owners[name] and pl[name] in app.modules
    assert app.hk_packer.errors == 0
