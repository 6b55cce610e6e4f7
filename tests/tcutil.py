"""Test helpers: a core board (no payload physics) and a TC/TM harness around FlightApp."""

from flight import cbor, ccsds, cobs
from flight.app import FlightApp
from flight.keys import DEV_KEY, DEV_KEY_ID, Keyring
from flight.tc import encode_tc
from hal.clock import VirtualClock
from hal.interfaces import Board
from hal.sim.link import MemLink
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog


def core_board(storage=None, clock=None):
    clock = clock or VirtualClock()
    return Board(link=MemLink(), storage=storage or MemStorage(), power=SimPower(),
                 watchdog=SimWatchdog(clock), clock=clock, name="core-sim")


class Harness:
    """A booted FlightApp and an OBC side that sends TCs and collects TM."""

    def __init__(self, storage=None, keys=None, boot=True):
        self.board = core_board(storage)
        self.keys = keys or {DEV_KEY_ID: DEV_KEY}
        self.app = FlightApp(self.board, keyring=Keyring(dict(self.keys)))
        self.counter = 0
        self.seq = 0
        self.tm = []  # (apid, seq, body)
        self._deframer = cobs.Deframer(max_frame=8192)
        if boot:
            self.app.boot()

    def packet(self, opcode, args=None, key_id=None, counter=None, key=None):
        if counter is None:
            self.counter += 1
            counter = self.counter
        kid = key_id if key_id is not None else self.app.keyring.active
        key = key or self.keys.get(kid, DEV_KEY)
        self.seq = (self.seq + 1) & 0x3FFF
        return encode_tc(key, kid, counter, opcode, args or {}, seq=self.seq)

    def send_raw(self, packet, framed=False):
        self.board.link.inject(packet if framed else cobs.encode(packet) + b"\x00")

    def send(self, opcode, args=None, run_us=40000, **kw):
        self.send_raw(self.packet(opcode, args, **kw))
        self.run(run_us)
        return self.reports()

    def run(self, us):
        self.app.run_for(us)
        self.collect()

    def collect(self):
        for pkt in self._deframer.feed(self.board.link.take()):
            h, body = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TM)
            self.tm.append((h[ccsds.H_APID], h[ccsds.H_SEQ_COUNT], cbor.decode(body)))

    def reports(self, clear=True):
        out = [b for a, s, b in self.tm if a == 0x0A3]
        if clear:
            self.tm = [t for t in self.tm if t[0] != 0x0A3]
        return out

    def of(self, apid):
        return [b for a, s, b in self.tm if a == apid]
