"""The HIL harness on a simulated payload (tests/hil/hil.py): a wait's payload time counts
from what the payload is sending now, not from a backlog nobody had read.

A session's simulated payload keeps sending while its pytest worker runs other files, and
the relay keeps every octet (tests/hil/simbench.py).  Once, under a loaded host, the
restart in tests/hil/test_hil_session.py read 384 housekeeping packets of the old boot
after its mark, counted them as the new boot's 30 s and gave up before the new boot's
first packet was read.  Here a fake link stands in for the relay: a backlog of the old
boot's housekeeping, read a chunk a poll, and the new boot's only some time after the
restart, as a process start takes."""

import time
from collections import deque
from types import SimpleNamespace

from ground_tools import wire
from ground_tools.link import GroundLink
from tests.hil.hil import Hil

CHUNK = 60  # packets a read returns (a 64 KB read of ~1 kB packets)


class BackloggedLink:
    """The link's inbox, mark and wait_for (GroundLink's own), fed by ``pending``: the
    relay's backlog at once, a chunk a poll; the new boot's packets only ``new_after``
    empty polls after the reader first caught up (a process start takes a while; counted
    in polls, not seconds, so that a slow host changes nothing here)."""

    mark = GroundLink.mark
    wait_for = GroundLink.wait_for

    def __init__(self, old, new, new_after):
        self.inbox = deque(maxlen=4096)
        self.received = 0
        self.pending = deque(old)
        self.new = deque(new)
        self.new_after = new_after
        self.empty_polls = 0

    def poll(self, timeout=0.05):
        if not self.pending and self.new and self.empty_polls >= self.new_after:
            self.pending.extend(self.new)
            self.new.clear()
        if not self.pending:
            self.empty_polls += 1
            time.sleep(timeout)
            return 0
        n = 0
        for _ in range(min(CHUNK, len(self.pending))):
            tm = self.pending.popleft()
            self.received += 1
            tm.index = self.received
            self.inbox.append((self.received, tm))
            n += 1000
        return n


def _hk(boot, t):
    return wire.Tm(wire.APID_HK, t & 0x3FFF, {"boot_count": boot, "mode": "SAFE", "time": t})


def _hil(link):
    h = Hil.__new__(Hil)  # (no port: the fake link is the harness's whole world)
    h.link = link
    h.bench = SimpleNamespace(payload=None)  # a simulated payload: payload-time waits
    h.speed = 1.0
    return h


def test_a_wait_after_a_restart_counts_from_the_new_boot_not_the_old_backlog():
    old = [_hk(1, t) for t in range(384)]  # six minutes nobody read
    new = [_hk(2, t) for t in range(3)]
    link = BackloggedLink(old, new, new_after=40)  # (~2 s of 0.05 s polls)
    h = _hil(link)
    mark = h.mark_now()
    tm = h.wait_for(lambda t: t.apid == wire.APID_HK and t.body["boot_count"] == 2,
                    30.0, after=mark, consume=False)
    assert tm is not None and tm.body["boot_count"] == 2
    assert link.received == 387  # every packet read, the backlog first


def test_the_housekeeping_from_now_on_is_not_a_backlogged_one():
    old = [_hk(1, t) for t in range(300)]
    link = BackloggedLink(old, [_hk(1, 300)], new_after=4)
    body = _hil(link).hk(timeout=5.0)
    assert body["time"] == 300  # the first one sent after the call, not the backlog's first


def test_mark_now_reads_the_whole_backlog_and_is_bounded():
    link = BackloggedLink([_hk(1, t) for t in range(1000)], [], new_after=0)
    h = _hil(link)
    assert h.mark_now() == 1000 and not link.pending
    # a payload that never falls quiet: the reading stops at its limit
    endless = BackloggedLink([], [], new_after=0)
    endless.poll = lambda timeout=0.05: 1000
    endless.received = 7
    assert _hil(endless).mark_now(limit_s=0.2) == 7  # (it returned: bounded)
