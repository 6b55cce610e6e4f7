"""``vector-tc serve``: the one process that owns the serial link.

    payload ==serial (exclusive)== Gateway ── archive (SQLite, WAL)
                                      └── HTTP (Starlette + uvicorn, 127.0.0.1 by default):
                                          web page, JSON API, server-sent events (live TM)

Every frame read from the link is deframed (COBS, 0x00 delimiter), decoded with the exported
dictionary (:mod:`ground_tools.tmadapter`), given a packet id, archived and published to
live clients.  A frame that does not decode is archived raw and flagged.  TCs come from
clients either already encoded and signed (``POST /api/tc``: the CLI keeps its own key file
and counters) or as a command name and arguments that the gateway checks, signs and counts
(``POST /api/command``: the web page).  Either way the TC is archived and its verification
reports update its command-history row.

The reader thread reopens the port when it fails (a USB adapter unplugged, a pty closed),
so the link state goes ``down`` and back ``up`` without a restart.
"""

import json
import os
import threading
import time
from collections import OrderedDict, deque

from cobs import cobs

from ground_tools import link, tmadapter, wire


def _tc_header(pkt):
    if len(pkt) < 6:
        return None, None
    return ((pkt[0] << 8) | pkt[1]) & 0x7FF, ((pkt[2] << 8) | pkt[3]) & 0x3FFF


def _is_tc(pkt):
    """A version-0 CCSDS packet header of type TC."""
    return len(pkt) >= 6 and pkt[0] & 0x10 and not pkt[0] >> 5


def _stated_len(pkt):
    """The packet's length as its header states it (octets)."""
    return 7 + ((pkt[4] << 8) | pkt[5])


def tc_packet_problem(pkt):
    """Why ``pkt`` is not a TC packet worth the uplink, or None. Only its shape: a wrong
    APID, MAC or CRC still goes (the payload's own checks are what tests exercise), but
    not an oversized one (the payload drops it, after it held the link: 100 kOctets are
    ~9 s at 115 200 Bd) nor one that is no TC packet at all."""
    from flight.tc import MAX_TC_LEN

    if not 6 <= len(pkt) <= MAX_TC_LEN:
        return "a TC packet is 6..%d octets, not %d" % (MAX_TC_LEN, len(pkt))
    if not _is_tc(pkt):
        return "not a version-0 CCSDS packet of type TC"
    if _stated_len(pkt) != len(pkt):
        return "its length field says %d octets, it has %d" % (_stated_len(pkt), len(pkt))
    return None


def tc_command(pkt):
    """(name, args) of a TC packet's CBOR body, for the history (None when unreadable)."""
    import cbor2

    try:
        body = cbor2.loads(bytes(pkt[6:-(wire.TRAILER_LEN + wire.PEC_LEN)]))
        from flight import cmddict

        c = cmddict.BY_OPCODE.get(body[0])
        if not isinstance(body[0], int) or not isinstance(body[1], dict):
            return None, None
        return (c.name if c else "0x%02x" % body[0]), wire.jsonable(body[1])
    except Exception:  # noqa: BLE001 - any malformed body: history shows it unnamed
        return None, None


def decode_tc(frame):
    """A COBS frame holding a TC packet → {"kind": "tc", "apid", "seq", "opcode", "name",
    "args", "key_id", "counter", "ok", "error"?}; None when it is not a TC."""
    try:
        pkt = cobs.decode(frame)
    except cobs.DecodeError:
        return None
    if not _is_tc(pkt):
        return None  # not a version-0 packet of type TC
    apid, seq = _tc_header(pkt)
    out = {"kind": "tc", "apid": apid, "seq": seq, "ok": True}
    if len(pkt) != _stated_len(pkt):
        out.update(ok=False, error="LENGTH: header says %d octets, packet has %d" % (
            _stated_len(pkt), len(pkt)))
        return out
    if wire.crc16(pkt) != 0:
        out.update(ok=False, error="CRC: packet error control does not match")
        return out
    name, args = tc_command(pkt)
    if name is None:
        out.update(ok=False, error="DECODE: the body is not CBOR [opcode, {args}]")
        return out
    tr = pkt[-(wire.TRAILER_LEN + wire.PEC_LEN):]
    out.update(name=name, args=args, key_id=tr[0], counter=int.from_bytes(tr[1:5], "big"))
    return out


class Gateway:
    def __init__(self, port, baud, archive, dictionary, key=None, store=None, ring=20000,
                 reopen_s=1.0):
        self.port = port
        self.baud = baud
        self.archive = archive
        self.dictionary = dictionary
        self.key = key
        self.store = store
        self.reopen_s = reopen_s
        self.ser = link.open_port(port, baud, exclusive=True)  # LinkError when held
        self.state = "up"
        self.state_detail = ""
        self.bytes_in = 0
        self.packets_in = 0
        self.bad_frames = 0
        self.tcs_out = 0
        self.last_rx = None
        self.started = time.time()
        self._buf = bytearray()
        self._ring = deque(maxlen=ring)  # (n, event type, packet id or None, payload map)
        self._n = 0
        self._lock = threading.Lock()
        self._wlock = threading.Lock()
        self.latest = {}  # kind -> newest decoded packet record
        self.recent_events = deque(maxlen=200)
        self.cmds = OrderedDict()  # command id -> record (newest 500)
        self._pending = {}  # (apid, seq) -> command id
        self._stop = False
        self.stopping = False  # set when the HTTP server shuts down
        self._thread = threading.Thread(target=self._run, name="gateway-link", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ publication
    def publish(self, etype, payload, pid=None):
        with self._lock:
            self._n += 1
            self._ring.append((self._n, etype, pid, payload))

    def since(self, n, limit=500):
        """Events with internal number > n: [(n, type, packet id, payload)]."""
        with self._lock:
            if not self._ring or self._ring[-1][0] <= n:
                return []
            out = [e for e in self._ring if e[0] > n]
        return out[:limit]

    def head(self):
        with self._lock:
            return self._n

    def first_packet_id(self):
        with self._lock:
            for e in self._ring:
                if e[2] is not None:
                    return e[2]
        return None

    # ------------------------------------------------------------ link thread
    def _run(self):
        while not self._stop:
            if self.ser is None:
                try:
                    self.ser = link.open_port(self.port, self.baud, exclusive=True)
                    self.ser.timeout = 0.1
                    self._set_state("up", "")
                except link.LinkError as e:
                    self._set_state("down", str(e))
                    time.sleep(self.reopen_s)
                    continue
            try:
                self.ser.timeout = 0.1
                data = self.ser.read(65536)
            except Exception as e:  # noqa: BLE001 - pyserial raises several types
                self._set_state("down", "read failed: %s" % e)
                self._close_port()
                continue
            if data:
                self.bytes_in += len(data)
                self._feed(data)

    def _set_state(self, state, detail):
        if state != self.state or detail != self.state_detail:
            self.state, self.state_detail = state, detail
            self.publish("link", self.link_status())

    def _close_port(self):
        try:
            self.ser.close()
        except Exception:  # noqa: BLE001
            pass
        self.ser = None

    def _feed(self, data):
        parts = bytes(data).split(b"\x00")
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                self._buf += part
                if len(self._buf) > 70000:  # runaway frame: keep it flagged, bounded
                    self._frame(bytes(self._buf))
                    self._buf = bytearray()
                break
            self._buf += part
            if self._buf:
                self._frame(bytes(self._buf))
            self._buf = bytearray()

    def _frame(self, block):
        try:
            pkt = cobs.decode(block)
        except cobs.DecodeError as e:
            rec = {"apid": None, "seq": None, "kind": None, "ok": False,
                   "error": "COBS: %s" % e}
            raw = block
        else:
            rec = tmadapter.decode_packet(pkt, self.dictionary)
            raw = pkt
        self.record_tm(raw, rec)

    def record_tm(self, raw, dec):
        pid, t = self.archive.stamp()  # (its arrival: the decode took microseconds)
        ok = bool(dec.get("ok"))
        row = {"id": pid, "t": t, "dir": "tm", "apid": dec.get("apid"), "seq": dec.get("seq"),
               "kind": dec.get("kind"), "ok": ok, "error": dec.get("error"), "raw": raw,
               "decoded": {"fields": dec.get("fields"), "body": dec.get("body")}}
        self.archive.add_packet(row)
        self.last_rx = t
        if ok:
            self.packets_in += 1
        else:
            self.bad_frames += 1
        ev = self.packet_event(row)
        if ok:
            self.latest[dec.get("kind")] = ev
            if dec.get("kind") == "event":
                self.recent_events.append(ev)
            elif dec.get("kind") == "verify":
                self._verification(t, dec.get("body") or {})
        self.publish("tm", ev, pid)

    @staticmethod
    def packet_event(row):
        return {"id": row["id"], "t": row["t"], "dir": row["dir"], "apid": row["apid"],
                "seq": row["seq"], "kind": row["kind"], "ok": row["ok"], "error": row["error"],
                "raw": bytes(row["raw"]).hex(), "fields": row["decoded"].get("fields"),
                "body": row["decoded"].get("body")}

    def _verification(self, t, b):
        cid = self._pending.get((b.get("tc_apid"), b.get("tc_seq")))
        if cid is None or cid not in self.cmds:
            return
        stage, ok = b.get("stage"), bool(b.get("ok"))
        ch = {}
        if stage == "accept":
            ch = {"accept_t": t, "accept_reason": b.get("reason"),
                  "status": "accepted" if ok else "rejected"}
        elif stage == "complete":
            ch = {"complete_t": t, "complete_reason": b.get("reason"),
                  "status": "completed" if ok else "failed"}
            if b.get("result") is not None:
                ch["result"] = b.get("result")
        else:
            return
        if b.get("detail"):
            ch["detail"] = str(b.get("detail"))
        self.cmds[cid].update(ch)
        self.archive.update_command(cid, ch)
        self.publish("cmd", dict(self.cmds[cid]))

    # ------------------------------------------------------------ telecommands
    def send_packet(self, pkt, client="", name=None, args=None, counter=None, key_id=None):
        """Write one encoded TC, archive it and open its command-history row."""
        pkt = bytes(pkt)
        apid, seq = _tc_header(pkt)
        if name is None:
            name, args = tc_command(pkt)
        if counter is None and len(pkt) >= wire.TRAILER_LEN + wire.PEC_LEN + 6:
            tr = pkt[-(wire.TRAILER_LEN + wire.PEC_LEN):]
            key_id, counter = tr[0], int.from_bytes(tr[1:5], "big")
        if self.ser is None:
            raise link.LinkError("link %s is down: %s" % (self.port, self.state_detail))
        with self._wlock:
            pid, t = self.archive.stamp()  # (id and time together: the archive's order)
            try:
                self.ser.write(wire.frame(pkt))
                self.ser.flush()
            except Exception as e:  # noqa: BLE001
                raise link.LinkError("write to %s failed: %s" % (self.port, e)) from None
        self.tcs_out += 1
        row = {"id": pid, "t": t, "dir": "tc", "apid": apid, "seq": seq, "kind": "tc",
               "ok": True, "error": None, "raw": pkt,
               "decoded": {"fields": None, "body": {"name": name, "args": args,
                                                    "counter": counter, "key_id": key_id}}}
        self.archive.add_packet(row)
        cid = self.archive.next_command_id()
        cmd = {"id": cid, "t": t, "client": client, "name": name, "args": args, "apid": apid,
               "seq": seq, "counter": counter, "key_id": key_id, "packet_id": pid,
               "status": "sent"}
        self.archive.add_command(cmd)
        self.cmds[cid] = dict(cmd)
        while len(self.cmds) > 500:
            self.cmds.popitem(last=False)
        self._pending[(apid, seq)] = cid
        self.publish("tc", self.packet_event(row), pid)
        self.publish("cmd", dict(cmd))
        return dict(cmd)

    def send_command(self, cmd, args, client="web"):
        """Sign with the gateway's key and counter store (the web page's path)."""
        if self.key is None or self.store is None:
            raise link.LinkError("this gateway has no key: it forwards signed TCs only")
        counter, seq = self.store.reserve(self.key, apid=wire.APID_TC)
        pkt = wire.encode_tc(self.key.key, self.key.key_id, counter, cmd.opcode, args, seq=seq)
        return self.send_packet(pkt, client, cmd.name, wire.jsonable(args), counter,
                                self.key.key_id)

    # ------------------------------------------------------------ status
    def link_status(self):
        return {"port": self.port, "state": self.state, "detail": self.state_detail,
                "bytes_in": self.bytes_in, "packets_in": self.packets_in,
                "bad_frames": self.bad_frames, "tcs_out": self.tcs_out,
                "last_rx": self.last_rx, "age_s": None if self.last_rx is None else
                round(time.time() - self.last_rx, 3), "pid": os.getpid()}

    def close(self):
        self._stop = True
        self._thread.join(5)
        if self.ser is not None:
            self._close_port()


# ---------------------------------------------------------------------- state file
def state_file():
    """Where ``serve`` announces itself: $VECTOR_TC_GATEWAY_STATE, else next to the counter
    state file (so a test's or an operator's separate state dir has its own gateway)."""
    p = os.environ.get("VECTOR_TC_GATEWAY_STATE")
    if p:
        return p
    from ground_tools.state import state_path

    return os.path.join(os.path.dirname(os.path.abspath(state_path())), "gateway.json")


def announce(url, port, db):
    path = state_file()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"url": url, "port": port, "realport": os.path.realpath(port)
                   if "://" not in port else port, "db": db, "pid": os.getpid()}, f)
    os.replace(tmp, path)
    return path


def withdraw():
    path = state_file()
    try:
        with open(path) as f:
            if json.load(f).get("pid") == os.getpid():
                os.unlink(path)
    except (OSError, ValueError):
        pass


def discover(port=None):
    """The running gateway's URL from the state file, if its process is alive and (when
    ``port`` is given) it owns that port; else None."""
    try:
        with open(state_file()) as f:
            st = json.load(f)
        os.kill(int(st["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if port:
        real = os.path.realpath(port) if "://" not in port else port
        if real not in (st.get("realport"), st.get("port")):
            return None
    return st.get("url")
