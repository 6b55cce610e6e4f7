"""Telecommand pipeline (DESIGN §3.7): one packet in, verification reports out.

deframe (COBS, done by the caller) → CRC → header (version, type, APID, length) →
authentication (key id, MAC, counter strictly above the persisted high-water mark) →
CBOR decode → dictionary lookup, argument, mode and owner checks (flight.cmddict
``Dispatcher.check``) → accept → the owner's handler (``Dispatcher.execute``) →
completion report.

Every TC gets exactly one acceptance report; an accepted TC also gets a completion
report.  **A rejected TC changes no state** except the rejection counters: the
anti-replay high-water mark moves only on acceptance.

Security trailer at the end of the data field (after the CBOR body)::

    key id (1) | anti-replay counter (4, big-endian) | HMAC-SHA256[:16] over
    primary header || CBOR body || key id || counter

The MAC is checked before the counter, so a forged packet is AUTH whatever its
counter, and a genuine packet sent again is REPLAY.
"""

import struct

from flight import cbor, ccsds, mac
from flight.cmddict import ACCEPT_REASONS, BadArg, Busy, CmdFailed, WrongMode
from hal.compat import const
from flight.events import SEV_WARN, Event
from flight.slotstore import SlotStore
from flight.telemetry import HkField
from flight.tm import APID_TC, APID_VERIFY

TRAILER_LEN = const(21)
MIN_BODY_LEN = const(1)

EV_TC_REJECTED_AUTH = const(0x20)
EV_KEY_ROTATED = const(0x21)
EV_DEV_KEY_IN_USE = const(0x22)
EV_UART_ERROR = const(0x25)

EVENTS = (
    Event(EV_TC_REJECTED_AUTH, "TC_REJECTED_AUTH", SEV_WARN,
          "a TC failed authentication (first 10, then every 100th)",
          (("auth_failures", "int"),)),
    Event(EV_KEY_ROTATED, "KEY_ROTATED", SEV_WARN, "active authentication key changed",
          (("key_id", "int"),)),
    Event(EV_DEV_KEY_IN_USE, "DEV_KEY_IN_USE", SEV_WARN,
          "DEVELOPMENT KEY loaded: not for flight"),
    Event(EV_UART_ERROR, "UART_ERROR", SEV_WARN,
          "the OBC link (UART) read failed (first 10, then every 100th)",
          (("errors", "int"),)),
)

HK = (
    HkField("tc_accepted", "u16", description="TCs accepted since boot"),
    HkField("tc_completed_ok", "u16", description="TCs completed successfully"),
    HkField("tc_completed_fail", "u16", warn=(0, 0), description="TCs that failed (completion)"),
    HkField("tc_last_seq", "u16", description="sequence count of the last accepted TC"),
    HkField("tc_last_opcode", "u8", description="opcode of the last accepted TC"),
    HkField("key_id", "u8", description="active authentication key id"),
    HkField("uart_errors", "u16", alarm=(0, 0), description="UART read failures"),
    HkField("deframer_frames", "u16", description="frames deframed (COBS) from the OBC link"),
    HkField("deframer_errors", "u16", warn=(0, 0),
            description="frames dropped: oversize or bad COBS"),
) + tuple(HkField("tc_rej_" + r.lower(), "u16", warn=(0, 0),
                  description="TCs rejected at acceptance: " + r) for r in ACCEPT_REASONS)


class Reject(Exception):
    def __init__(self, reason, detail=""):
        # super(), not Exception.__init__: MicroPython's Exception has no __init__ attribute.
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class ReplayGuard:
    """Per-key high-water marks of the anti-replay counter, persisted in two slots."""

    def __init__(self, storage):
        self.store = SlotStore(storage, "replay") if storage is not None else None
        self.hwm = {}
        self.corrupt = False

    def load(self):
        """Restore the marks.  ``corrupt`` stays True if the store is unreadable (the
        read raised) or holds only invalid slots: the app then raises an event, since
        counters below the lost mark could be replayed."""
        if self.store is None:
            return
        self.corrupt = True
        raw = self.store.load()
        self.corrupt = raw is None and self.store.corrupt_slots > 0
        if raw is None:
            return
        try:
            d = cbor.decode(raw)
        except ValueError:
            self.corrupt = True
            return
        if isinstance(d, dict):
            for k, v in d.items():
                if isinstance(k, int) and isinstance(v, int) and 0 <= v <= 0xFFFFFFFF:
                    self.hwm[k] = v

    def last(self, kid):
        return self.hwm.get(kid, 0)

    def advance(self, kid, counter):
        """Record ``counter`` as accepted: RAM first (protects until reboot), then flash."""
        self.hwm[kid] = counter
        if self.store is not None:
            self.store.save(cbor.encode(self.hwm))


def encode_tc(key, key_id, counter, opcode, args, seq=0, apid=APID_TC):
    """Build one authenticated TC packet (used by tests and the ground tool's encoder)."""
    body = cbor.encode([opcode, args])
    data_len = len(body) + TRAILER_LEN + ccsds.PEC_LEN - 1
    header = ccsds.pack_header(ccsds.TYPE_TC, apid, seq, data_len)
    trailer = bytes([key_id]) + struct.pack(">I", counter)
    tag = mac.mac(key, [header, body, trailer])
    return ccsds.build_packet(ccsds.TYPE_TC, apid, seq, body + trailer + tag)


class TcPipeline:
    """Verifies TCs and runs them through ``dispatch`` (flight.cmddict.Dispatcher).

    ``keyring``, ``replay`` (ReplayGuard), ``tm`` (TmSender), ``mode()`` the current mode,
    ``emit(ev_id, args, detail)``, ``storage_error(what, exc)``.
    """

    def __init__(self, dispatch, keyring, replay, tm, mode, emit, storage_error):
        self.dispatch = dispatch
        self.keyring = keyring
        self.replay = replay
        self.tm = tm
        self.mode = mode
        self.emit = emit
        self.storage_error = storage_error
        self.accepted = 0
        self.rejected = {}
        for r in ACCEPT_REASONS:
            self.rejected[r] = 0
        self.completed_ok = 0
        self.completed_fail = 0
        self.last_seq = -1
        self.last_opcode = -1
        self.auth_failures = 0
        self.uart_errors = 0
        self.deframer = None  # flight.cobs.Deframer of the OBC link (housekeeping)
        self._macs = {}

    def _hmac(self, kid, key):
        m = self._macs.get(kid)
        if m is None or m[0] != key:
            m = (key, mac.HmacSha256(key))
            self._macs[kid] = m
        return m[1]

    def rejected_total(self):
        n = 0
        for r in ACCEPT_REASONS:
            n += self.rejected[r]
        return n

    def uart_error(self, e):
        self.uart_errors += 1
        if self.uart_errors <= 10 or self.uart_errors % 100 == 0:
            self.emit(EV_UART_ERROR, [self.uart_errors], "uart: %r" % (e,))

    def _auth_failure(self, detail):
        self.auth_failures += 1
        if self.auth_failures <= 10 or self.auth_failures % 100 == 0:
            self.emit(EV_TC_REJECTED_AUTH, [self.auth_failures], detail)

    def hk(self, values, i):
        values[i] = self.accepted
        values[i + 1] = self.completed_ok
        values[i + 2] = self.completed_fail
        values[i + 3] = self.last_seq if self.last_seq >= 0 else 0
        values[i + 4] = self.last_opcode if self.last_opcode >= 0 else 0
        values[i + 5] = self.keyring.active
        values[i + 6] = self.uart_errors
        d = self.deframer
        values[i + 7] = d.frames if d is not None else 0
        values[i + 8] = d.oversize + d.decode_errors if d is not None else 0
        i += 9
        for r in ACCEPT_REASONS:
            values[i] = self.rejected[r]
            i += 1

    # ------------------------------------------------------------------ reports
    def report(self, stage, ok, reason, apid, seq, detail="", extra=None):
        body = {"stage": stage, "ok": ok, "reason": reason, "tc_apid": apid, "tc_seq": seq}
        if detail:
            body["detail"] = detail
        if extra:
            for k in extra:
                body[k] = extra[k]
        self.tm.send(APID_VERIFY, body)

    # ------------------------------------------------------------------ pipeline
    def process(self, packet):
        """Handle one deframed packet.  Returns the rejection reason, or None if accepted."""
        apid = -1
        seq = -1
        if len(packet) >= ccsds.HEADER_LEN:
            h = ccsds.unpack_header(packet)
            apid = h[ccsds.H_APID]
            seq = h[ccsds.H_SEQ_COUNT]
        try:
            cmd, args, kid, counter = self._verify(packet)
        except Reject as r:
            self.rejected[r.reason] += 1
            if r.reason == "AUTH":
                self._auth_failure(r.detail)
            self.report("accept", False, r.reason, apid, seq, r.detail)
            return r.reason
        # ---- accepted: from here on state may change
        try:
            self.replay.advance(kid, counter)
        except Exception as e:  # flash failure: RAM mark still protects until reboot
            self.storage_error("replay", e)
        self.accepted += 1
        self.last_seq = seq
        self.last_opcode = cmd.opcode
        self.report("accept", True, None, apid, seq, "", {"name": cmd.name})
        self.complete(cmd, args, apid, seq)
        return None

    def complete(self, cmd, args, apid, seq, extra=None):
        """Execute an accepted command and send its completion report."""
        reason = None
        result = None
        try:
            result = self.dispatch.execute(cmd, args, (apid, seq))
        except CmdFailed as e:
            reason = e.reason
            result = e.detail
        except Exception as e:  # a handler bug must not escape: counted, reported
            reason = "EXEC"
            result = repr(e)
        self.completed(cmd, reason, apid, seq, result, extra)

    def completed(self, cmd, reason, apid, seq, result=None, extra=None, detail=""):
        """Count and send a completion report (reason None: success)."""
        if reason is None:
            self.completed_ok += 1
        else:
            self.completed_fail += 1
        x = {"name": cmd.name}
        if result is not None:
            x["result"] = result
        if extra:
            for k in extra:
                x[k] = extra[k]
        self.report("complete", reason is None, reason, apid, seq, detail, x)

    def _verify(self, packet):
        try:
            h, data = ccsds.parse_packet(packet, ptype=ccsds.TYPE_TC, apid=APID_TC)
        except ccsds.CcsdsError as e:
            raise Reject(e.reason, str(e))
        n = len(data)
        if n < TRAILER_LEN + MIN_BODY_LEN:
            raise Reject("LENGTH", "data field of %d octets, no room for body and trailer" % n)
        body_end = n - TRAILER_LEN
        kid = data[body_end]
        counter = struct.unpack_from(">I", data, body_end + 1)[0]
        tag = data[body_end + 5:]
        if kid != self.keyring.active:
            raise Reject("AUTH", "key id %d is not the active key" % kid)
        key = self.keyring.key(kid)
        mv = memoryview(data)
        calc = self._hmac(kid, key).mac([packet[:ccsds.HEADER_LEN], mv[:body_end],
                                          mv[body_end:body_end + 5]])
        if not mac.equal_ct(calc, tag):
            raise Reject("AUTH", "MAC mismatch")
        if counter <= self.replay.last(kid):
            raise Reject("REPLAY", "counter %d not above %d" % (counter, self.replay.last(kid)))
        try:
            obj = cbor.decode(mv[:body_end], max_depth=4, max_items=32, max_str=256)
        except ValueError as e:
            raise Reject("DECODE", str(e))
        if not isinstance(obj, list) or len(obj) != 2 or not isinstance(obj[0], int) \
                or isinstance(obj[0], bool) or not isinstance(obj[1], dict):
            raise Reject("DECODE", "body is not [opcode, {args}]")
        cmd = self.dispatch.lookup(obj[0])
        if cmd is None:
            raise Reject("UNKNOWN_OPCODE", "opcode %r" % (obj[0],))
        try:
            args = self.dispatch.check(cmd, obj[1], self.mode())
        except BadArg as e:
            raise Reject("BAD_ARG", str(e))
        except WrongMode as e:
            raise Reject("WRONG_MODE", str(e))
        except Busy as e:
            raise Reject("BUSY", str(e))
        return cmd, args, kid, counter
