"""The simulated payload as a bench: `python -m flight --board sim` on a pty
(tests/procutil.SimPayload), joined by a null-modem relay to a second pty whose path the
ground tool opens like any serial device.

    payload process <-> pty A  ==relay thread==  pty B <-> ground tool (--port /dev/pts/N)

The ground side keeps its path across payload restarts (the relay re-attaches to the new
payload's pty), as a USB-serial adapter would across a board reset.  The relay loses
nothing: what a side does not read in time waits in the relay (a pty holds ~64 KB), so a
busy host that runs the payload or the ground tool late slows the bench down instead of
making the tests' traffic depend on the host's timing.  Octets for a payload that is
not attached (restarting) are dropped, as on a wire to a board in reset.
"""

import os
import select
import threading
import tty

from flight.tm import APID_VERIFY
from tests.procutil import SimPayload


class PtyBridge:
    def __init__(self):
        self.g_master, g_slave = os.openpty()
        tty.setraw(self.g_master)
        tty.setraw(g_slave)
        self._g_slave = g_slave  # held open: no hang-up when the ground tool closes
        self.ground_path = os.ttyname(g_slave)
        os.set_blocking(self.g_master, False)
        self._p_master = None
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self.dropped = 0
        self.tap = None  # optional filter of the payload -> ground octets (bytes -> bytes)
        self.to_payload = 0
        self.to_ground = 0
        self._thread = threading.Thread(target=self._run, name="pty-bridge", daemon=True)
        self._thread.start()

    def attach(self, master_fd):
        os.set_blocking(master_fd, False)
        with self._lock:
            self._p_master = master_fd
        os.write(self._wake_w, b"x")

    def detach(self):
        with self._lock:
            self._p_master = None
        os.write(self._wake_w, b"x")

    def _flush(self, fd, pending):
        """Write what ``fd`` takes of ``pending`` (a bytearray); returns octets written."""
        if not pending:
            return 0
        try:
            n = os.write(fd, bytes(pending[:65536]))
        except (BlockingIOError, OSError):
            return 0
        del pending[:n]
        return n

    def _run(self):
        to_p = bytearray()  # ground -> payload, not yet taken by the payload's pty
        to_g = bytearray()  # payload -> ground
        while not self._stop:
            with self._lock:
                p = self._p_master
            if p is None and to_p:
                self.dropped += len(to_p)  # no payload attached: lost, as on a wire
                del to_p[:]
            # Read a side only while its pending output is small: back-pressure, no loss.
            rfds = [self._wake_r]
            if len(to_p) < (1 << 20):
                rfds.append(self.g_master)
            if p is not None and len(to_g) < (1 << 20):
                rfds.append(p)
            wfds = ([p] if p is not None and to_p else []) + ([self.g_master] if to_g else [])
            try:
                r, w, _ = select.select(rfds, wfds, [], 0.5)
            except (OSError, ValueError):
                continue
            if self._wake_r in r:
                os.read(self._wake_r, 64)
            with self._lock:
                p = self._p_master
                if self.g_master in r:
                    try:
                        to_p += os.read(self.g_master, 65536)
                    except (BlockingIOError, OSError):
                        pass
                if p is not None and p in r:
                    try:
                        got = os.read(p, 65536)
                        to_g += got if self.tap is None else self.tap(got)
                    except (BlockingIOError, OSError):
                        pass
                if p is not None:
                    self.to_payload += self._flush(p, to_p)
                self.to_ground += self._flush(self.g_master, to_g)

    def close(self):
        self._stop = True
        os.write(self._wake_w, b"x")
        self._thread.join(5)
        for fd in (self.g_master, self._g_slave, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


class Bench:
    """A restartable payload behind a fixed ground-side pty path: the ground side keeps its
    port while the payload process behind it is stopped and started again.  A subclass
    says how to start its payload (``start``: set ``self.payload``, an object with
    ``master``, ``proc`` and ``stop()``, and attach it to ``self.bridge``)."""

    def __init__(self):
        self.bridge = PtyBridge()
        self.payload = None
        self.start()

    @property
    def port(self):
        return self.bridge.ground_path

    def start(self):
        raise NotImplementedError

    def stop_payload(self):
        if self.payload is not None:
            self.bridge.detach()
            self.payload.stop()
            self.payload = None

    def restart(self):
        self.stop_payload()
        self.start()

    def alive(self):
        return self.payload is not None and self.payload.proc.poll() is None

    def close(self):
        self.stop_payload()
        self.bridge.close()


class SimBench(Bench):
    """A restartable simulated payload (``python -m flight --board sim``)."""

    def __init__(self, state_dir, speed=1.0, scenario=None, extra=()):
        self.state_dir = state_dir
        self.speed = speed
        self.scenario = scenario
        self.extra = list(extra)
        super().__init__()

    def start(self):
        extra = ["-q"] + self.extra
        if self.scenario:
            extra += ["--scenario", self.scenario]
        self.payload = SimPayload(state_dir=self.state_dir, speed=self.speed, extra=extra)
        self.bridge.attach(self.payload.master)


class FakePayload:
    """A scripted responder on a pty, for the ground tool's failure paths: it answers each
    TC with verification reports built by flight's own codecs, as ``behaviour`` says:

    ``ok`` accept + complete ok; ``complete_fail`` accept ok, complete failed (EXEC);
    ``reject`` accept failed (AUTH); ``accept_only`` no completion; ``silent`` nothing.
    """

    def __init__(self, behaviour="ok"):
        from flight import cobs
        from flight.tm import TmSender

        self.behaviour = behaviour
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self._slave = slave
        self.port = os.ttyname(slave)
        self.received = []  # (seq, opcode, args)
        self._deframer = cobs.Deframer(max_frame=4096)
        self._tm = TmSender(self, max_queue_bytes=1 << 20)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="fake-payload", daemon=True)
        self._thread.start()

    # BusLink for TmSender
    def write(self, data):
        try:
            return os.write(self.master, data)
        except OSError:
            return len(data)

    def send_tm(self, apid, body):
        self._tm.send(apid, body)

    def _run(self):
        from flight import cbor, ccsds

        while not self._stop:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                continue
            for pkt in self._deframer.feed(data):
                try:
                    h, d = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TC)
                    obj = cbor.decode(d[:-21])
                except ValueError:
                    continue
                seq, apid = h[ccsds.H_SEQ_COUNT], h[ccsds.H_APID]
                self.received.append((seq, obj[0], obj[1]))
                self._answer(apid, seq)

    def _answer(self, apid, seq):
        b = self.behaviour
        rep = {"tc_apid": apid, "tc_seq": seq}
        if b == "silent":
            return
        if b == "reject":
            self.send_tm(APID_VERIFY, dict(rep, stage="accept", ok=False, reason="AUTH",
                                     detail="MAC mismatch"))
            return
        self.send_tm(APID_VERIFY, dict(rep, stage="accept", ok=True, reason=None, name="X"))
        if b == "accept_only":
            return
        ok = b == "ok"
        self.send_tm(APID_VERIFY, dict(rep, stage="complete", ok=ok, reason=None if ok else "EXEC",
                                 name="X", result={"n": len(self.received)}))

    def close(self):
        self._stop = True
        self._thread.join(5)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


def main(argv=None):
    """``python -m tests.hil.simbench``: run the simulated payload on a pty and print the
    port the ground tool (or ``vector-tc serve``) should open."""
    import argparse
    import shutil
    import signal
    import tempfile
    import time
    from pathlib import Path

    world = Path(__file__).resolve().parents[2] / "hal" / "sim" / "world.py"
    ap = argparse.ArgumentParser(prog="python -m tests.hil.simbench", description=main.__doc__)
    ap.add_argument("--speed", type=float, default=1.0,
                    help="simulated seconds per real second (default 1: real time)")
    ap.add_argument("--scenario", default="nominal" if world.exists() else None,
                    help="simulated world with the payload modules (APT, bias, comparator, "
                    "framer); default 'nominal'; 'none' runs the core application only")
    ap.add_argument("--state-dir", default=None,
                    help="payload state (parameters, keys, event log) kept here; default a "
                    "temporary folder removed on exit")
    args = ap.parse_args(argv)
    scenario = None if (args.scenario or "none").lower() == "none" else args.scenario
    # Checked here, before anything is announced (the flight process checks them again)
    if not args.speed > 0:
        ap.error("--speed must be > 0, not %g" % args.speed)
    if scenario is not None:
        from sim import scenarios

        if scenario not in scenarios.names():
            ap.error("unknown scenario %r; known: %s, none" % (
                scenario, ", ".join(scenarios.names())))
    state = args.state_dir or tempfile.mkdtemp(prefix="vector-sim-")
    # SIGTERM ends like Ctrl-C: the payload stops and the temporary folder goes
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    bench = SimBench(state, speed=args.speed, scenario=scenario)
    try:
        print("simulated payload running (state in %s)" % state)
        if scenario:
            print("scenario %s: payload modules APT, bias, comparator, framer" % scenario)
        else:
            print("no scenario: core application only (apt/bias/comparator parameters "
                  "unknown, FRAMER_SET_MODE answers UNAVAILABLE)")
        print("ground port: %s    e.g.  vector-tc listen --port %s" % (bench.port, bench.port),
              flush=True)
        while bench.alive():
            time.sleep(0.5)
        print("the flight process exited: %s" % bench.payload.proc.stderr.read())
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        bench.close()
        if not args.state_dir:
            shutil.rmtree(state, ignore_errors=True)
            try:  # the backup registers' file, beside the state (hal/sim/backup.py)
                os.unlink(state.rstrip("/") + ".backup")
            except OSError:
                pass


if __name__ == "__main__":
    raise SystemExit(main())
