"""HIL helpers: the ground tool's link layer driving a payload (real or simulated)."""

import time

from flight import cmddict
from ground_tools import dictionary, wire
from ground_tools.commands import parse_command
from ground_tools.link import GroundLink, Result

# Simulated payload: a timeout is the payload's own time, counted in its housekeeping
# (one packet per payload second, flight/app.py hk_period_us), not the host's wall clock.
# A loaded host slows the payload process down; a wall-clock wait then fails a payload
# that is merely slow (issue 10: "no report to SET_MODE" under load).  The wall clock only
# bounds a payload that stopped making progress altogether.
HK_PERIOD_S = 1.0
WALL_GUARD_S = 120.0

# Housekeeping arrives decoded by the exported dictionary (ground_tools.tmdecode): flat
# declared fields with physical values, enums by name.


def apt_state(hk):
    """APT sub-state from housekeeping (``apt_state``; None on a board without APT)."""
    return hk.get("apt_state")


def onboard_time(hk):
    """Onboard time of a housekeeping packet, seconds (``time`` + ``time_ms``)."""
    return hk["time"] + hk["time_ms"] / 1000.0


def rejections(hk):
    """{acceptance reason: count} from the ``tc_rej_*`` fields."""
    return {r: hk["tc_rej_" + r.lower()] for r in dictionary.default()["reasons"]["acceptance"]}


def task_stats(diag):
    """{task: {stat: value}} from a diagnostic housekeeping set (``<task>_<stat>``)."""
    names = [f["name"] for f in dictionary.default()["telemetry"]["hk_diag"]["fields"]
             if f["owner"] == "scheduler"]
    tasks = [n[:-len("_runs")] for n in names if n.endswith("_runs")]
    out = {}
    for t in tasks:
        if diag.get(t + "_runs"):  # tasks that never ran are not on this board
            out[t] = {n[len(t) + 1:]: diag[n] for n in names if n.startswith(t + "_")}
    return out


class Hil:
    def __init__(self, port, key, store, baud=115200, real=False, speed=1.0, scenario=False,
                 bench=None):
        self.port = port
        self.key = key
        self.store = store
        self.real = real
        self.speed = speed
        self.scenario = scenario
        self.bench = bench
        self.link = GroundLink(port, key, store, baud=baud)

    def close(self):
        self.link.close()

    # ------------------------------------------------------------------ commands
    def cmd(self, name, /, timeout=10.0, **args):
        cmd, wargs = parse_command(name, ["%s=%s" % kv for kv in args.items()])
        if self.bench is None:
            r = self.link.command(cmd, wargs, timeout=timeout)
        else:
            r = self._command_paced(cmd, wargs, timeout)
        if r.status == "timeout":
            self.check_alive()
        return r

    def _command_paced(self, cmd, wargs, timeout):
        """GroundLink.command with ``timeout`` in payload time (see HK_PERIOD_S)."""
        link = self.link
        mark = link.mark()
        seq, counter = link.send_nowait(cmd, wargs)
        res = Result(cmd.name, seq, counter)
        acc = self.wait_for(link._report(seq, "accept"), timeout, after=mark)
        if acc is None:
            return res
        res.accept = acc.body
        if not acc.body.get("ok"):
            res.status = "rejected"
            link._learn_replay(acc.body)
            return res
        comp = self.wait_for(link._report(seq, "complete"), timeout, after=mark)
        if comp is None:
            return res
        res.complete = comp.body
        res.status = "completed" if comp.body.get("ok") else "failed"
        link.completion_mark = comp.index
        return res

    def wait_for(self, pred, timeout, after, consume=True):
        """``link.wait_for``; on the simulated payload ``timeout`` is payload seconds:
        the wait gives up once that many seconds of housekeeping arrived since the call
        (or the payload died, or WALL_GUARD_S of wall time passed without any new
        housekeeping: a loaded host slows the payload, which is progress, not failure)."""
        link = self.link
        if self.bench is None:
            return link.wait_for(pred, timeout, after=after, consume=consume)
        need = int(timeout * self.speed / HK_PERIOD_S) + 1
        start = self.mark_now()  # payload time counts from now (``after`` may be older)
        guard = time.monotonic() + WALL_GUARD_S
        last_seen = 0
        while True:
            tm = link.wait_for(pred, min(timeout, 1.0), after=after, consume=consume)
            if tm is not None:
                return tm
            self.check_alive()
            seen = sum(1 for n, t in link.inbox if n > start and t.apid == wire.APID_HK)
            if seen > last_seen:
                last_seen = seen
                guard = time.monotonic() + WALL_GUARD_S
            if seen >= need or time.monotonic() > guard:
                return None

    def mark_now(self, limit_s=10.0):
        """The link's mark once what the payload has already sent is read.  A session's
        payload keeps sending while this worker runs other test files, and the relay
        keeps every octet (tests/hil/simbench.py): minutes of housekeeping may wait
        there.  That backlog is the payload's past: counted as payload time from now, a
        wait gave up on it before the packets it waited for were read (a restart's new
        boot, under load: 384 old packets; tests/test_hil_backlog.py).  ``limit_s``
        bounds the reading (a payload faster than this reader never falls quiet)."""
        link = self.link
        end = time.monotonic() + limit_s
        while link.poll(0) and time.monotonic() < end:
            pass
        return link.mark()

    def check_alive(self):
        """Fail with the simulated payload's own words if its process died."""
        b = self.bench
        if b is not None and b.payload is not None and b.payload.proc.poll() is not None:
            err = b.payload.proc.stderr.read() if b.payload.proc.stderr else ""
            raise AssertionError("simulated payload exited (status %s):\n%s" % (
                b.payload.proc.returncode, err[-3000:]))

    def ok(self, name, /, timeout=10.0, **args):
        r = self.cmd(name, timeout=timeout, **args)
        assert r.status == "completed", "%s: %s %s %r" % (name, r.status, r.reason, r.reports())
        return r.result

    def raw_tc(self, opcode, args, key=None, counter=None, corrupt_crc=False):
        """Send a hand-made TC (no dictionary check); returns (seq, counter, mark)."""
        c, seq = self.store.reserve(self.key, explicit=counter, apid=self.link.apid,
                                    record=False)
        pkt = bytearray(wire.encode_tc(key or self.key.key, self.key.key_id, c, opcode, args,
                                       seq=seq))
        if corrupt_crc:
            pkt[-1] ^= 0x01
        mark = self.link.mark()
        self.link.write(wire.frame(bytes(pkt)))
        return seq, c, mark

    def accept_report(self, seq, after, timeout=10.0):
        tm = self.wait_for(lambda t: t.apid == wire.APID_VERIFY and t.body.get("tc_seq") == seq
                           and t.body.get("stage") == "accept", timeout, after=after)
        assert tm is not None, "no acceptance report for TC seq %d" % seq
        return tm.body

    # ------------------------------------------------------------------ telemetry
    def hk(self, timeout=5.0, pred=None, after=None):
        """Next housekeeping packet generated from now on (optionally matching ``pred``)."""
        after = self.mark_now() if after is None else after
        tm = self.wait_for(lambda t: t.apid == wire.APID_HK and (pred is None or pred(t.body)),
                           timeout, after=after, consume=False)
        if tm is None:
            last = [t.body for n, t in self.link.inbox if n > after and t.apid == wire.APID_HK]
            raise AssertionError("no%s housekeeping within %.0f s%s (%d packets since; last: "
                                 "mode %s, APT %s)" % (
                                     "" if pred is None else " matching", timeout,
                                     "" if self.bench is None else " of payload time",
                                     len(last), last[-1].get("mode") if last else "-",
                                     apt_state(last[-1]) if last else "-"))
        return tm.body

    def hk_diag(self, timeout=10.0):
        """Ask for a diagnostic housekeeping set (HK_DIAG_REQUEST) and return it."""
        mark = self.link.mark()
        self.ok("HK_DIAG_REQUEST")
        tm = self.wait_for(lambda t: t.apid == wire.APID_HK_DIAG, timeout, after=mark,
                           consume=False)  # payload time on the simulated payload
        assert tm is not None, "no diagnostic housekeeping within %.0f s" % timeout
        return tm.body

    def event(self, name, after, timeout=10.0):
        tm = self.wait_for(lambda t: t.apid == wire.APID_EVENT and t.body.get("name") == name,
                           timeout, after=after, consume=False)
        return None if tm is None else tm.body

    def wait_ready(self, timeout=30.0):
        """The payload answers a PING (the simulated one needs a moment to start: on a
        loaded host, as long as its process lives, up to WALL_GUARD_S)."""
        if self.bench is not None:
            timeout = max(timeout, WALL_GUARD_S)
        end = time.monotonic() + timeout
        cmd, wargs = parse_command("PING", [])
        while time.monotonic() < end:
            # A PING every 2 s of wall time: one sent before the payload listened is lost.
            r = self.link.command(cmd, wargs, timeout=2.0)
            if r.status == "completed":
                return r.result
            self.check_alive()
        raise AssertionError("payload on %s does not answer PING" % self.port)

    # ------------------------------------------------------------------ restart
    def restart(self, timeout=30.0):
        """Simulated: restart the process on the same state directory.  Real: REBOOT TC.
        Returns the housekeeping of the new boot."""
        before = self.hk(timeout=5.0)
        boots = before["boot_count"]
        mark = self.mark_now()
        if self.bench is not None:
            self.bench.restart()
        else:
            if before.get("mode") not in cmddict.BY_NAME["REBOOT"].modes:
                self.ok("SET_MODE", mode="SAFE")
            self.ok("REBOOT")
        hk = self.hk(timeout=timeout, pred=lambda b: b.get("boot_count") == boots + 1,
                     after=mark)
        self.wait_ready()
        return hk

    def to_mode(self, mode):
        """Bring the payload to ``mode`` (SESSION via STANDBY when needed)."""
        r = self.cmd("SET_MODE", mode=mode)
        if r.status == "rejected" and mode == "SESSION":
            self.ok("SET_MODE", mode="STANDBY")
            r = self.cmd("SET_MODE", mode=mode)
        assert r.status == "completed", (mode, r.status, r.reason, r.reports())
