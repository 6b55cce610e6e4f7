"""Spawn the simulated payload (`python -m flight --board sim`) on a pty and talk to it."""

import os
import select
import subprocess
import sys
import time
import tty
from pathlib import Path

from flight import ccsds, cobs
from flight.tm import APID_HK, APID_VERIFY
from ground_tools import dictionary, tmdecode
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.tc import encode_tc

ROOT = Path(__file__).resolve().parents[1]


WALL_GUARD_S = 120.0  # wall time without any telemetry: the payload made no progress
# Wall-clock guard of a subprocess or a wait for a condition that is not counted in the
# payload's own time: it stops a hung test, never a slow one (a loaded host may run a
# process ten times slower than an idle one; the guard is far beyond that).
GUARD_S = 300.0


def poll_tm(fd, deframer, out, timeout=0.1):
    """Read what the pty ``fd`` has within ``timeout`` s and append each TM packet to
    ``out`` as (APID, decoded body): housekeeping packed (the exported dictionary's
    decoding), the rest CBOR."""
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return
    try:
        data = os.read(fd, 65536)
    except OSError:
        return
    for pkt in deframer.feed(data):
        h, body = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TM)
        apid = h[ccsds.H_APID]
        out.append((apid, tmdecode.decode_body(apid, body, dictionary.default())[2]))


class SimPayload:
    def __init__(self, state_dir=None, speed=5.0, extra=(), key=DEV_KEY, key_id=DEV_KEY_ID):
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        self.slave_path = os.ttyname(slave)
        self._slave = slave  # keep open so the pty does not hang up between runs
        self.key = key
        self.key_id = key_id
        self.counter = int(time.time() * 1000) & 0x3FFFFFFF
        self.seq = 0
        self.deframer = cobs.Deframer(max_frame=16384)
        self.tm = []
        cmd = [sys.executable, "-m", "flight", "--board", "sim", "--uart", self.slave_path,
               "--speed", str(speed)]
        if state_dir:
            cmd += ["--state-dir", str(state_dir)]
        cmd += list(extra)
        self.proc = subprocess.Popen(cmd, cwd=str(ROOT), stderr=subprocess.PIPE, text=True)

    def send(self, opcode, args=None, counter=None, key=None, key_id=None):
        if counter is None:
            self.counter += 1
            counter = self.counter
        self.seq = (self.seq + 1) & 0x3FFF
        pkt = encode_tc(key or self.key, key_id or self.key_id, counter, opcode, args or {},
                        seq=self.seq)
        os.write(self.master, cobs.encode(pkt) + b"\x00")
        return self.seq

    def poll(self, timeout=0.1):
        poll_tm(self.master, self.deframer, self.tm, timeout)

    def wait_for(self, pred, timeout=20.0):
        """First TM with ``pred(apid, body)``.  ``timeout`` is the payload's own time: the
        wait gives up once that many of its 1 Hz housekeeping packets went by without a
        match (a busy host slows the process down; wall time would fail a slow payload),
        or after WALL_GUARD_S of wall time without any telemetry (a payload that makes no
        progress at all: the guard restarts at every packet)."""
        end = time.monotonic() + WALL_GUARD_S
        hk_seen = 0
        while time.monotonic() < end:
            if self.tm:
                end = time.monotonic() + WALL_GUARD_S  # progress
            for i, (apid, body) in enumerate(self.tm):
                if pred(apid, body):
                    del self.tm[: i + 1]
                    return body
                if apid == APID_HK:
                    hk_seen += 1
            # Looked at: keep only from the first unseen packet on.
            self.tm = []
            if hk_seen > timeout:
                raise TimeoutError("no matching telemetry within %.0f s of payload time"
                                   % timeout)
            if self.proc.poll() is not None:
                raise RuntimeError("flight process exited: %s" % self.proc.stderr.read())
            self.poll()
        raise TimeoutError("no telemetry at all for %.0f s of wall time (%d housekeeping "
                           "packets before): the payload process made no progress"
                           % (WALL_GUARD_S, hk_seen))

    def report(self, seq, stage="complete", timeout=20.0):
        return self.wait_for(lambda a, b: a == APID_VERIFY and b.get("tc_seq") == seq
                             and b.get("stage") in (stage, "accept") and
                             (b["stage"] == stage or not b["ok"]), timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
