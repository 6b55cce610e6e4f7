"""HIL helpers: the ground tool's link layer driving a payload (real or simulated)."""

import time

from flight import cmddict
from ground_tools import wire
from ground_tools.commands import parse_command
from ground_tools.link import GroundLink


def apt_state(hk):
    """APT sub-state from housekeeping, wherever the control modules put it:
    ``hk["apt"]["state"]``, ``hk["apt_state"]`` or ``hk["apt"]`` (text)."""
    apt = hk.get("apt")
    if isinstance(apt, dict):
        return apt.get("state")
    if isinstance(apt, str):
        return apt
    return hk.get("apt_state")


def sched_rows(hk):
    """{task name: row} of the housekeeping scheduler table."""
    return {r[0]: r for r in hk.get("sched", []) if isinstance(r, list) and r}


MISSES = 5  # index of deadline_misses in a sched row (flight/app.py housekeeping)


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
        r = self.link.command(cmd, wargs, timeout=timeout)
        if r.status == "timeout":
            self.check_alive()
        return r

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
        tm = self.link.wait_for(lambda t: t.apid == wire.APID_VERIFY and t.body.get("tc_seq") == seq
                                and t.body.get("stage") == "accept", timeout, after=after)
        assert tm is not None, "no acceptance report for TC seq %d" % seq
        return tm.body

    # ------------------------------------------------------------------ telemetry
    def hk(self, timeout=5.0, pred=None, after=None):
        """Next housekeeping packet generated from now on (optionally matching ``pred``)."""
        after = self.link.mark() if after is None else after
        tm = self.link.wait_for(lambda t: t.apid == wire.APID_HK and (pred is None or pred(t.body)),
                                timeout, after=after, consume=False)
        assert tm is not None, "no%s housekeeping within %.0f s" % (
            "" if pred is None else " matching", timeout)
        return tm.body

    def event(self, name, after, timeout=10.0):
        tm = self.link.wait_for(lambda t: t.apid == wire.APID_EVENT and t.body.get("name") == name,
                                timeout, after=after, consume=False)
        return None if tm is None else tm.body

    def wait_ready(self, timeout=30.0):
        """The payload answers a PING (the simulated one needs a moment to start)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = self.cmd("PING", timeout=2.0)
            if r.status == "completed":
                return r.result
        raise AssertionError("payload on %s does not answer PING" % self.port)

    # ------------------------------------------------------------------ restart
    def restart(self, timeout=30.0):
        """Simulated: restart the process on the same state directory.  Real: REBOOT TC.
        Returns the housekeeping of the new boot."""
        before = self.hk(timeout=5.0)
        boots = before["boot_count"]
        mark = self.link.mark()
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
        assert r.status == "completed", r.reports()
