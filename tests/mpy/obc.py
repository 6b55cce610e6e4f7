"""The one TC/TM test harness: a booted payload and the OBC side of its UART.

MicroPython-clean (it runs in the VM too: tests/mpy/ is copied there and on sys.path),
so the CPython tests (``from tests.mpy.obc import Obc``) and the MicroPython tests
(``from obc import Obc``) drive the flight software the same way.  Housekeeping packets
(APID 0x0A1/0x0A5) are decoded field by field from the app's own declarations; every
other APID is CBOR.
"""

import struct

from flight import cbor, ccsds, cobs, mac
from flight.app import FlightApp
from flight.crc16 import crc16
from flight.keys import DEV_KEY, DEV_KEY_ID, Keyring
from flight.tc import TRAILER_LEN, encode_tc
from flight.telemetry import decode
from flight.tm import APID_HK, APID_HK_DIAG, APID_TC, APID_VERIFY
from hal.clock import VirtualClock
from hal.interfaces import Board
from hal.sim.backup import MemBackup
from hal.sim.link import MemLink
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog


def core_board(storage=None, clock=None, temps=None, backup=None):
    """A board with link, storage, backup registers (``backup``, default blank ones, as
    the simulated board's), power and watchdog, and no payload devices."""
    clock = clock or VirtualClock()
    return Board(link=MemLink(), storage=storage if storage is not None else MemStorage(),
                 power=SimPower(), watchdog=SimWatchdog(clock), clock=clock,
                 temps=temps if temps is not None else [], name="core-sim",
                 backup=backup if backup is not None else MemBackup())


def sign_body(key, key_id, counter, body, seq=0, apid=APID_TC, ptype=ccsds.TYPE_TC):
    """An authenticated packet around an arbitrary (possibly malformed) CBOR ``body``."""
    data_len = len(body) + TRAILER_LEN + ccsds.PEC_LEN - 1
    header = ccsds.pack_header(ptype, apid, seq, data_len)
    trailer = bytes([key_id]) + struct.pack(">I", counter)
    tag = mac.mac(key, [header, body, trailer])
    return ccsds.build_packet(ptype, apid, seq, body + trailer + tag)


def fix_crc(packet):
    """``packet`` with its packet error control recomputed (header/body edits stay)."""
    p = bytearray(packet)
    struct.pack_into(">H", p, len(p) - 2, crc16(bytes(p[:-2])))
    return bytes(p)


def flip(packet, i):
    p = bytearray(packet)
    p[i] ^= 1
    return bytes(p)


class Obc:
    """A FlightApp on ``board`` (default: a core board), booted unless ``boot=False``.

    ``tm`` collects ``(apid, seq, body)``: HK bodies are {field: physical value}
    (enums by name), the rest decoded CBOR.
    """

    def __init__(self, storage=None, keys=None, boot=True, temps=None, counter=0,
                 board=None, app=None, backup=None):
        self.board = board if board is not None else core_board(storage, temps=temps,
                                                                backup=backup)
        self.storage = self.board.storage
        self.clock = self.board.clock
        self.keys = keys if keys is not None else {DEV_KEY_ID: DEV_KEY}
        self.app = app if app is not None else FlightApp(self.board,
                                                         keyring=Keyring(dict(self.keys)))
        self.counter = counter
        self.seq = 0
        self.tm = []
        self.raw_hk = []  # (apid, body octets) of housekeeping packets, as received
        self._deframer = cobs.Deframer(max_frame=8192)
        if boot:
            self.app.boot()

    def reboot(self, **kw):
        """A new payload on the same storage and backup registers (power cycle); the OBC
        keeps its counter."""
        kw.setdefault("backup", self.board.backup)
        return Obc(storage=self.storage, keys=self.keys, counter=self.counter, **kw)

    def packet(self, opcode, args=None, key_id=None, counter=None, key=None):
        if counter is None:
            self.counter += 1
            counter = self.counter
        kid = key_id if key_id is not None else self.app.keyring.active
        if key is None:
            key = self.keys.get(kid, DEV_KEY)
        self.seq = (self.seq + 1) & 0x3FFF
        return encode_tc(key, kid, counter, opcode, args if args is not None else {},
                         seq=self.seq)

    def body_packet(self, body, counter=None, key_id=None, key=None):
        """A correctly authenticated TC around the raw CBOR octets ``body``."""
        if counter is None:
            self.counter += 1
            counter = self.counter
        kid = key_id if key_id is not None else self.app.keyring.active
        if key is None:
            key = self.keys.get(kid, DEV_KEY)
        self.seq = (self.seq + 1) & 0x3FFF
        return sign_body(key, kid, counter, body, seq=self.seq)

    def send_raw(self, packet, framed=False):
        self.board.link.inject(packet if framed else cobs.encode(packet) + b"\x00")

    def send(self, opcode, args=None, run_us=40000, **kw):
        self.send_raw(self.packet(opcode, args, **kw))
        self.run(run_us)
        return self.reports()

    def run(self, us):
        self.app.run_for(us)
        self.collect()

    def settle(self, us=1100000):
        """Run past the next housekeeping tick (events flushed), then forget the TM."""
        self.run(us)
        self.tm = []
        self.raw_hk = []

    def collect(self):
        app = self.app
        for pkt in self._deframer.feed(self.board.link.take()):
            h, body = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TM)
            apid = h[ccsds.H_APID]
            if apid == APID_HK:
                self.raw_hk.append((apid, body))
                obj = decode(app.hk_packer.fields, body)
            elif apid == APID_HK_DIAG:
                self.raw_hk.append((apid, body))
                obj = decode(app.hk_diag_packer.fields, body)
            else:
                obj = cbor.decode(body)
            self.tm.append((apid, h[ccsds.H_SEQ_COUNT], obj))

    def reports(self, clear=True):
        out = [b for a, s, b in self.tm if a == APID_VERIFY]
        if clear:
            self.tm = [t for t in self.tm if t[0] != APID_VERIFY]
        return out

    def of(self, apid):
        return [b for a, s, b in self.tm if a == apid]


def ok_pair(reps):
    """The completion report of an accepted, successful TC (both reports checked)."""
    assert len(reps) == 2, reps
    assert reps[0]["stage"] == "accept" and reps[0]["ok"] is True, reps
    assert reps[1]["stage"] == "complete" and reps[1]["ok"] is True, reps
    return reps[1]
