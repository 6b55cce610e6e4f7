"""Telecommand pipeline (DESIGN §3.7): one packet in, verification reports out.

deframe (COBS, done by the caller) → CRC → header (version, type, APID, length) →
authentication (MAC with the active key; anti-replay window, flight/replay.py) → mark
advanced → CBOR decode → dictionary lookup, argument, mode and owner checks
(flight.cmddict ``Dispatcher.check``) → accept → the owner's handler
(``Dispatcher.execute``) → completion report.

Every TC gets one acceptance report, except that rejections anyone can produce without
the key (CRC, LENGTH, HEADER, AUTH, REPLAY) are budgeted per housekeeping interval and
summarised beyond it (flight/tclimit.py); an accepted TC also gets a completion report.
**A rejected TC changes nothing except the rejection counters and, if it was authentic,
the anti-replay mark** (CCSDS SDLS: the mark advances on successful authentication, so
an authentic TC rejected later — DECODE, UNKNOWN_OPCODE, BAD_ARG, WRONG_MODE, BUSY —
can never be replayed).

While the anti-replay state is lost (RESYNC, flight/replay.py) every TC but a
COUNTER_RESYNC is rejected REPLAY with detail "resync needed"; an authentic one still
spends its counter (the resync's mark is never below it: ``spent_in_resync``).

Security trailer at the end of the data field (after the CBOR body)::

    key id (1) | anti-replay counter (4, big-endian) | HMAC-SHA256[:16] over
    primary header || CBOR body || key id || counter

The MAC is checked before the counter, so a forged packet is AUTH whatever its
counter, and a genuine packet sent again is REPLAY.  The MAC is computed with the active
key, or with the key of the TC's id when that id is *held* (provisioned above the active
one, for a later KEY_ROTATE): a wrong key id, a wrong MAC and "no usable key" cost the
same computation and give the same AUTH report, without detail (nothing that helps a
forger).  An authentic TC of a held id is refused AUTH too, and spends its counter
(TC_KEY_HELD): recorded on the link, it is REPLAY once KEY_ROTATE makes the id active
(docs/security.md, audit O1).
"""

import struct

from flight import cbor, ccsds, mac
from flight.cmddict import ACCEPT_REASONS, CmdFailed, Refused
from hal.compat import const
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.telemetry import HkField
from flight.tm import APID_TC, APID_VERIFY

TRAILER_LEN = const(21)
MIN_BODY_LEN = const(1)
# The shortest frame that can carry a TC: header, one body octet, trailer, CRC.
MIN_TC_LEN = ccsds.HEADER_LEN + MIN_BODY_LEN + TRAILER_LEN + ccsds.PEC_LEN
# The longest frame the TC deframer takes (issue 11: its decode buffer is flight heap,
# ~1.03 octets a frame octet).  The longest legal TC is 353 octets — a TIMETAG carrying
# a PA_PROFILE of 256 sample octets, every argument at its dictionary maximum
# (tests/test_tc_max_len.py builds it from the dictionary); the ground encoder refuses
# anything longer (ground_tools/commands.py), the deframer drops it as oversize.
MAX_TC_LEN = const(512)
RESYNC_DETAIL = "resync needed"
# The MAC key when none is usable: same cost, never matches a TC (a literal: in flash).
_NO_KEY = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  \
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

EV_TC_REJECTED_AUTH = const(0x20)
EV_KEY_ROTATED = const(0x21)
EV_DEV_KEY_IN_USE = const(0x22)
EV_UART_ERROR = const(0x25)
EV_TC_KEY_HELD = const(0x95)  # (0x2_ is full: events.py's overflow range)

EVENTS = (
    Event(EV_TC_REJECTED_AUTH, "TC_REJECTED_AUTH", SEV_INFO,
          "a TC failed authentication (first 10, then every 100th; not persisted: a flood "
          "is persisted as TC_FLOOD at most hourly)",
          (("auth_failures", "int"),)),
    Event(EV_KEY_ROTATED, "KEY_ROTATED", SEV_WARN, "active authentication key changed",
          (("key_id", "int"),)),
    Event(EV_DEV_KEY_IN_USE, "DEV_KEY_IN_USE", SEV_WARN,
          "DEVELOPMENT KEY loaded: not for flight"),
    Event(EV_UART_ERROR, "UART_ERROR", SEV_WARN,
          "the OBC link (UART) read failed (first 10 of a boot; then every 100th, not "
          "persisted: line noise must not flush the persistent log)",
          (("errors", "int"),)),
    Event(EV_TC_KEY_HELD, "TC_KEY_HELD", SEV_WARN,
          "an authentic TC signed with a key id held for a later KEY_ROTATE, not active: "
          "refused AUTH, its counter spent (it cannot be replayed once the id is active; "
          "the first 10 of a boot, then every 100th not persisted)",
          (("key_id", "int"), ("counter", "int"))),
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
# deframer_errors apart, each kind its own count (diagnostic set).
HK_DIAG = (
    HkField("deframer_oversize", "u32", description="frames dropped: longer than MAX_TC_LEN"),
    HkField("deframer_bad_cobs", "u32", description="frames dropped: undecodable COBS"),
)


def encode_tc(key, key_id, counter, opcode, args, seq=0, apid=APID_TC):
    """Build one authenticated TC packet (used by tests and the ground tool's encoder)."""
    body = cbor.encode([opcode, args])
    data_len = len(body) + TRAILER_LEN + ccsds.PEC_LEN - 1
    header = ccsds.pack_header(ccsds.TYPE_TC, apid, seq, data_len)
    trailer = bytes([key_id]) + struct.pack(">I", counter)
    tag = mac.mac(key, [header, body, trailer])
    return ccsds.build_packet(ccsds.TYPE_TC, apid, seq, body + trailer + tag)


def _detail(packet):
    """The text of a LENGTH, CRC or HEADER rejection (ccsds.parse_packet's message, built
    by ccsds.reject_detail without the codec)."""
    return ccsds.reject_detail(packet, ccsds.TYPE_TC, APID_TC)


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
        self.held_tcs = 0  # authentic TCs of a held key id (TC_KEY_HELD)
        self.uart_errors = 0
        self.deframer = None  # flight.cobs.Deframer of the OBC link (housekeeping)
        self.limit = None  # flight.tclimit.RejectSummary (set by the app): report budget
        self.repeat = None  # emit at INFO, not persisted (set by the app)
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
        n = self.uart_errors
        if n <= 10:
            self.emit(EV_UART_ERROR, [n], "uart: %r" % (e,))
        elif n % 100 == 0:
            (self.repeat or self.emit)(EV_UART_ERROR, [n], "uart: %r" % (e,))

    def _auth_failure(self):
        self.auth_failures += 1
        if self.auth_failures <= 10 or self.auth_failures % 100 == 0:
            self.emit(EV_TC_REJECTED_AUTH, [self.auth_failures], "")

    def hk(self, values, i):
        values[i] = self.accepted
        values[i + 1] = self.completed_ok
        values[i + 2] = self.completed_fail
        values[i + 3] = self.last_seq if self.last_seq >= 0 else 0
        values[i + 4] = self.last_opcode if self.last_opcode >= 0 else 0
        values[i + 5] = self.keyring.active or 0
        values[i + 6] = self.uart_errors
        d = self.deframer
        values[i + 7] = d.frames if d is not None else 0
        values[i + 8] = d.oversize + d.decode_errors if d is not None else 0
        i += 9
        for r in ACCEPT_REASONS:
            values[i] = self.rejected[r]
            i += 1

    def hk_diag(self, values, i):
        d = self.deframer
        values[i] = d.oversize if d is not None else 0
        values[i + 1] = d.decode_errors if d is not None else 0

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
    def screen(self, buf, n):
        """The deframer's hook (flight/cobs.py ``Deframer.screen``) on a frame still in its
        buffer, ``buf[0:n]``.  True when the frame fails the length, CRC or header check
        and its rejection is one the budget summarises (flight/tclimit.py: past the
        interval's individual reports and first offender): it is counted there, in place,
        with no ``bytes`` object, no frame of the tick's budget and no heap — what a flood
        of garbage costs (issue 11).  False: a candidate TC, or a rejection that gets its
        report with its detail: the deframer makes it a packet for :meth:`process`."""
        why = ccsds.check_packet(buf, n, ccsds.TYPE_TC, APID_TC)
        lim = self.limit
        if why is None or lim is None or lim.wants_detail(why):
            return False
        self._garbage(why, buf, n)
        return True

    def _garbage(self, why, buf, n):
        # Garbage (line noise, a flood: LENGTH, CRC, HEADER) is counted without a heap
        # object (issue 11: the flood's allocation made the scheduler walk the heap in
        # SESSION); the detail text is built only for a rejection that gets its report
        # or is the interval's first offender in the summary (flight/tclimit.py).
        apid = -1
        seq = -1
        if n >= ccsds.HEADER_LEN:
            # From the octets: unpack_header's tuple would be a heap object per frame.
            apid = ((buf[0] << 8) | buf[1]) & ccsds.MAX_APID
            seq = ((buf[2] << 8) | buf[3]) & ccsds.MAX_SEQ_COUNT
        self.rejected[why] += 1
        lim = self.limit
        detail = ""
        if lim is None or lim.wants_detail(why):
            detail = _detail(buf)
        if lim is None or lim.allow(why, apid, seq, detail):
            self.report("accept", False, why, apid, seq, detail)

    def process(self, packet):
        """Handle one deframed packet.  Returns the rejection reason, or None if accepted."""
        n = len(packet)
        why = ccsds.check_packet(packet, n, ccsds.TYPE_TC, APID_TC)
        if why is not None:
            self._garbage(why, packet, n)
            return why
        apid = ((packet[0] << 8) | packet[1]) & ccsds.MAX_APID
        seq = ((packet[2] << 8) | packet[3]) & ccsds.MAX_SEQ_COUNT
        cmd, args = self._verify(packet)
        if type(cmd) is str:  # rejected: (reason, detail)
            self.rejected[cmd] += 1
            if cmd == "AUTH":
                self._auth_failure()
            lim = self.limit
            if lim is None or lim.allow(cmd, apid, seq, args):
                self.report("accept", False, cmd, apid, seq, args)
            return cmd
        # ---- accepted (the anti-replay mark already moved on authentication)
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

    def _spend_held(self, kid, counter):
        """An authentic TC of held key id ``kid`` (not active: refused AUTH): its counter
        spent as an accepted one's is (flight/replay.py ``advance_held``; in RESYNC
        ``spent_in_resync``), said by TC_KEY_HELD — the first 10 of a boot persisted, then
        every 100th not (an OBC signing its 1 Hz NAV_STATE with the held id must not
        flush the persistent log).  A replay of it, or a counter outside the window,
        spends and says nothing."""
        g = self.replay
        if not g.synced():
            g.spent_in_resync(kid, counter)
            return
        if g.check(kid, counter):
            return
        try:
            g.advance_held(kid, counter)
        except Exception as e:  # flash failure: the RAM mark protects until reboot
            self.storage_error("replay", e)
        self.held_tcs += 1
        n = self.held_tcs
        if n <= 10:
            self.emit(EV_TC_KEY_HELD, [kid, counter], "")
        elif n % 100 == 0:
            (self.repeat or self.emit)(EV_TC_KEY_HELD, [kid, counter], "%d so far" % n)

    def _verify(self, packet):
        """``(cmd, args)`` of an accepted TC, or ``(reason, detail)`` of its rejection (a
        reason is a str, a command never: no exception class kept for it, issue 11)."""
        # (``packet`` passed ccsds.check_packet in process(): parse_packet's checks, so its
        # data field is read in place, without the codec, a copy or a header tuple)
        data = memoryview(packet)[ccsds.HEADER_LEN:len(packet) - ccsds.PEC_LEN]
        n = len(data)
        if n < TRAILER_LEN + MIN_BODY_LEN:
            return "LENGTH", "data field of %d octets, no room for body and trailer" % n
        body_end = n - TRAILER_LEN
        kid = data[body_end]
        counter = struct.unpack_from(">I", data, body_end + 1)[0]
        tag = data[body_end + 5:]
        # One path whatever is wrong (key id, MAC, no usable key): the MAC is always
        # computed — with the active key, or the key of a held id above it (a TC signed
        # before its KEY_ROTATE: its counter is spent, module docstring) — and the
        # report says AUTH and nothing more.
        ring = self.keyring
        active = ring.active or 0
        use = active
        if active and kid > active and ring.key(kid) is not None:
            use = kid
        key = ring.key(use) if use else None
        mv = data
        calc = self._hmac(use, key if key is not None else _NO_KEY).mac(
            [packet[:ccsds.HEADER_LEN], mv[:body_end], mv[body_end:body_end + 5]])
        if (not mac.equal_ct(calc, tag)) | (kid != use) | (key is None):
            return "AUTH", ""
        if use != active:
            self._spend_held(kid, counter)
            return "AUTH", ""
        g = self.replay
        resync = not g.synced()
        if not resync:
            why = g.check(kid, counter)
            if why:
                return "REPLAY", why
            try:  # SDLS: the mark moves on authentication, whatever happens next
                g.advance(kid, counter)
            except Exception as e:  # flash failure: the RAM mark protects until reboot
                self.storage_error("replay", e)
        else:
            g.spent_in_resync(kid, counter)  # (never below it after COUNTER_RESYNC)
        g.auth = (kid, counter)
        # In RESYNC the mark is unknown: only COUNTER_RESYNC (its nonce makes it fresh);
        # anything else, even undecodable, is REPLAY "resync needed".
        try:
            obj = cbor.decode(mv[:body_end], max_depth=4, max_items=32, max_str=256)
        except ValueError as e:
            return ("REPLAY", RESYNC_DETAIL) if resync else ("DECODE", str(e))
        finally:
            cbor.done()  # (the decoder is loaded for a TC and released after: flight/cbor.py)
        if not isinstance(obj, list) or len(obj) != 2 or not isinstance(obj[0], int) \
                or isinstance(obj[0], bool) or not isinstance(obj[1], dict):
            return ("REPLAY", RESYNC_DETAIL) if resync else \
                ("DECODE", "body is not [opcode, {args}]")
        cmd = self.dispatch.lookup(obj[0])
        if resync and (cmd is None or cmd.name != "COUNTER_RESYNC"):
            return "REPLAY", RESYNC_DETAIL
        if cmd is None:
            return "UNKNOWN_OPCODE", "opcode %r" % (obj[0],)
        try:
            args = self.dispatch.check(cmd, obj[1], self.mode())
        except Refused as e:
            return e.reason, str(e)
        return cmd, args
