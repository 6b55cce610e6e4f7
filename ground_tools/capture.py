"""Packet decoder for captures of the 50 Mbit/s optical link (DESIGN §3.6, paper §2.5).

A capture is either

* **octets** as the link carries them (after Manchester decoding): packets of 335
  octets — preamble ``55 55 55 55 55 55 55 D5``, serial (4, big-endian), frame (321),
  CRC-16/CCITT-FALSE over serial and frame (2) — separated by 12 gap octets; or
* **Manchester chips** (``--manchester``), one chip per octet, 0x00 or 0x01 (a text file
  of ``0``/``1`` characters is accepted too), two chips per bit: 0 → (0, 1), 1 → (1, 0).
  Inside a packet any non-zero octet decodes as 1; the sync word must be exact.

How packets are found
    The last four preamble octets ``55 55 55 D5`` are the sync word (the first four may
    carry bit errors: they are counted as ``preamble_bit_errors`` where present).  The
    search runs with ``bytes.find`` in the capture's own symbol domain — octets, or chips,
    so any chip slip is simply a new alignment — and after a packet it jumps over the
    packet, so the search only ever scans gaps and garbage.  For an octet capture whose
    bit alignment slipped (octets no longer on packet boundaries), a stretch of at least
    one packet without an aligned sync word is searched again bit by bit.

Each candidate's 327 octets after the sync word are CRC-checked (``crcmod``).  A candidate
with a bad CRC that contains the next sync word is *truncated* (the rest is searched from
that sync word); otherwise it is a *CRC error*.  A packet cut by the end of the capture is
truncated too.  Serial numbers of good packets give ``serial_gaps`` (jumps, with the total
``missing_packets``) and ``serial_backwards`` (repeats or reordering).  ``resyncs`` counts
packets that did not start where the previous one plus the 12-octet gap said they would
(garbage, slips, lost octets); ``skipped_octets`` the octets between packets beyond the gaps.

The capture is processed in chunks (bounded memory); the decoder is fast enough for the
line rate (``make bench``: ``ground_decoder_mbps``, Mbit/s of link time decoded per second).
"""

import json
import time

import crcmod.predefined
import numpy as np

from sim.packet import (
    CRC_OCTETS,
    FRAME_OCTETS,
    GAP_OCTETS,
    PACKET_OCTETS,
    PREAMBLE,
    SERIAL_OCTETS,
)

_crc = crcmod.predefined.mkCrcFun("crc-ccitt-false")

SYNC = PREAMBLE[-4:]
LEAD = PREAMBLE[:-4]
BODY_OCTETS = SERIAL_OCTETS + FRAME_OCTETS + CRC_OCTETS  # 327
CHUNK_OCTETS = 1 << 22  # 4 MiB of input per step

# Chips written as text: '1' -> 1, anything else -> 0 (whitespace is deleted first).
_ASCII_NORM = bytes(1 if b == 0x31 else 0 for b in range(256))
_ASCII_CHIPS = set(b"01 \t\r\n")


def _popcount(b):
    return int.from_bytes(b, "big").bit_count()


def _symbols_of(octets, per_octet):
    """Octets -> symbols (one per byte): bits (8 per octet) or Manchester chips (16)."""
    bits = np.unpackbits(np.frombuffer(bytes(octets), dtype=np.uint8))
    if per_octet == 8:
        return bits.tobytes()
    chips = np.empty(2 * len(bits), dtype=np.uint8)
    chips[0::2] = bits
    chips[1::2] = 1 - bits
    return chips.tobytes()


def _manchester_tables():
    """16-bit lookup tables over 8 chip pairs (MSB first): data octet, code violations.

    A pair (1, 0) is 1, (0, 1) is 0; (0, 0) and (1, 1) are violations, decoded from
    their first chip as a sampling receiver would."""
    w = np.arange(65536, dtype=np.uint32)
    octet = np.zeros(65536, dtype=np.uint8)
    viol = np.zeros(65536, dtype=np.uint8)
    for i in range(8):
        pair = (w >> (2 * (7 - i))) & 3
        octet |= (((pair >> 1) & 1) << (7 - i)).astype(np.uint8)
        viol += ((pair == 0) | (pair == 3)).astype(np.uint8)
    return octet, viol


_MAN_OCTET, _MAN_VIOL = _manchester_tables()


class _Scanner:
    """Finds packets in one symbol domain: ``per`` symbols per data octet (1, 8 or 16).

    For bits and chips, candidate positions are collected first (``bytes.find``), then
    decoded together with numpy: runs of packets at a constant spacing (the normal case)
    become one strided 2-D view, packed with ``np.packbits`` and, for chips, mapped
    through 16-bit lookup tables (octet and code-violation count per 8 chip pairs).
    """

    def __init__(self, per):
        self.per = per
        self.sync = SYNC if per == 1 else _symbols_of(SYNC, per)
        self.sync_len = len(self.sync)
        self.lead = LEAD if per == 1 else _symbols_of(LEAD, per)
        self.lead_len = len(self.lead)
        self.body_len = BODY_OCTETS * per

    def octets(self, buf, s, n):
        """(n octets decoded from symbol offset s, Manchester violations) — one field."""
        if self.per == 1:
            return buf[s:s + n], 0
        body, viol = self._decode(np.frombuffer(buf, dtype=np.uint8), [s], n)
        return body[0], int(viol[0])

    def _decode(self, arr, starts, n):
        """Decode ``n`` octets at each symbol offset of ``starts`` (ascending)."""
        per = self.per
        span = n * per
        bodies = []
        viols = []
        i = 0
        k = len(starts)
        while i < k:
            # a run of equally spaced starts -> one strided view
            j = i + 1
            d = starts[j] - starts[i] if j < k else 0
            if d >= span:
                while j + 1 < k and starts[j + 1] - starts[j] == d:
                    j += 1
                j += 1
            m = j - i
            base = starts[i]
            if m == 1:
                view = arr[base:base + span].reshape(1, span)
            else:
                view = np.lib.stride_tricks.as_strided(arr[base:], shape=(m, span),
                                                       strides=(d, 1), writeable=False)
            packed = np.packbits(view, axis=1)
            if per == 16:
                words = packed.view(">u2")
                data = _MAN_OCTET[words]
                v = _MAN_VIOL[words].sum(axis=1)
            else:
                data = packed
                v = np.zeros(m, dtype=np.int64)
            raw = data.tobytes()
            for r in range(m):
                bodies.append(raw[r * n:(r + 1) * n])
            viols.extend(v.tolist())
            i = j
        return bodies, viols

    def scan(self, buf, pos, end, final):
        """Packets whose sync word starts in ``buf[pos:end]``.

        Returns ``(hits, stop, open_tail)``: hits are ``(sync_pos, body or None, crc_ok,
        truncated, violations, lead_ok)`` (``lead_ok``: the four preamble octets before
        the sync word lie after the previous packet, so their bit errors count); everything before ``stop`` is consumed (the caller
        keeps ``buf[stop:]`` for the next chunk unless ``final``); ``open_tail`` is True
        when the scan ended for want of a sync word (``buf[last_end:stop]`` unexplained).
        """
        find = buf.find
        sync = self.sync
        sl = self.sync_len
        bl = self.body_len
        hits = []
        append = hits.append
        crc = _crc
        arr = np.frombuffer(buf, dtype=np.uint8) if self.per > 1 else None
        p = pos
        while True:
            # 1. candidate sync words, jumping over each candidate's body
            cands = []
            leads = []
            result = None
            cut = None
            while True:
                p = find(sync, pos, end)
                if p < 0:
                    stop = end if final else max(pos, end - (sl - 1) - self.lead_len)
                    result = (stop, True)
                    break
                be = p + sl + bl
                if be + sl - 1 > end and not final:
                    result = (max(pos, p - self.lead_len), False)
                    break
                if be > end:  # final: cut by the end of the capture
                    result = (end, False)
                    cut = (p, p - self.lead_len >= pos)
                    break
                cands.append(p)
                leads.append(p - self.lead_len >= pos)
                pos = be
            # 2. decode them all, 3. check each; a truncated one restarts the search
            if self.per == 1:
                decoded = [(buf[p + sl:p + sl + bl], 0) for p in cands]
            else:
                bodies, viols = self._decode(arr, [p + sl for p in cands], BODY_OCTETS)
                decoded = list(zip(bodies, viols, strict=True))
            restart = None
            for p, lead_ok, (body, viol) in zip(cands, leads, decoded, strict=True):
                if crc(body) == 0:
                    append((p, body, True, False, viol, lead_ok))
                    continue
                be = p + sl + bl
                q = find(sync, p + sl, be + sl - 1)
                if q >= 0:
                    append((p, body, False, True, viol, lead_ok))
                    restart = q
                    break
                append((p, body, False, False, viol, lead_ok))
            if restart is not None:
                pos = restart
                continue
            if cut is not None:
                append((cut[0], None, False, True, 0, cut[1]))
            return hits, result[0], result[1]


class CaptureDecoder:
    """Streaming decoder: ``feed(chunk)`` any number of times, then ``finish()``."""

    def __init__(self, manchester=False, on_packet=None):
        self.manchester = manchester
        self.on_packet = on_packet  # fn(dict) per packet found (good, bad or truncated)
        self.per = 16 if manchester else 1
        self.scanner = _Scanner(self.per)
        self.bit_scanner = None if manchester else _Scanner(8)
        self._buf = b""
        self._base = 0  # absolute symbol offset of _buf[0]
        self._ascii = None  # chips given as '0'/'1' text (detected on the first chunk)
        self._prev_end = None  # absolute bit position where the last packet ended
        self._t0 = None
        self.elapsed = 0.0
        self.input_symbols = 0
        self.packets_ok = 0
        self.crc_errors = 0
        self.truncated = 0
        self.serial_gaps = 0
        self.missing_packets = 0
        self.serial_backwards = 0
        self.first_serial = None
        self.last_serial = None
        self.preamble_bit_errors = 0
        self.manchester_violations = 0
        self.invalid_chips = 0
        self.resyncs = 0
        self.bit_realigned = 0
        self.skipped_bits = 0

    # ------------------------------------------------------------------ input
    def feed(self, data):
        t0 = time.perf_counter()
        data = bytes(data)
        if self.manchester:
            if self._ascii is None and data:
                head = data[:4096]
                self._ascii = set(head) <= _ASCII_CHIPS and (b"0" in head or b"1" in head)
            if self._ascii:
                data = data.translate(_ASCII_NORM, b" \t\r\n")
            else:  # chips are 0x00/0x01: anything else means this is not a chip capture
                self.invalid_chips += len(data) - data.count(0) - data.count(1)
        self.input_symbols += len(data)
        self._buf = self._buf + data if self._buf else data
        self._process(final=False)
        self.elapsed += time.perf_counter() - t0

    def finish(self):
        t0 = time.perf_counter()
        self._process(final=True)
        self.elapsed += time.perf_counter() - t0
        return self.stats()

    # ------------------------------------------------------------------ work
    def _process(self, final):
        buf = self._buf
        n = len(buf)
        sc = self.scanner
        hits, stop, open_tail = sc.scan(buf, 0, n, final)
        if self.bit_scanner is None:  # Manchester chips: every alignment is searched
            for h in hits:
                self._account(buf, sc, h, self._base, 0.5)
        else:
            # Octets: stretches of a packet or more without an aligned sync word are
            # searched again at every bit offset (the capture's bit alignment slipped).
            last_end = 0
            for h in hits:
                start = max(0, h[0] - sc.lead_len)
                if start - last_end >= PACKET_OCTETS:
                    self._bit_region(buf, last_end, start, True)
                self._account(buf, sc, h, self._base, 8.0)
                last_end = h[0] + sc.sync_len + sc.body_len
            if open_tail:
                # No more aligned sync words: the tail may hold bit-shifted packets.
                if n - last_end >= PACKET_OCTETS:
                    consumed = self._bit_region(buf, last_end, n, final)
                    # keep enough for a shifted packet that straddles the chunk end
                    stop = max(consumed, n - PACKET_OCTETS - 8)
                else:
                    stop = last_end  # too short to search yet: keep it all
            elif stop - last_end >= PACKET_OCTETS:
                self._bit_region(buf, last_end, stop, True)
        if final:
            stop = n
        self._buf = buf[stop:]
        self._base += stop

    def _bit_region(self, buf, a, b, final):
        """Search ``buf[a:b]`` (octets) at every bit offset; returns the octet index up
        to which it is explained."""
        bits = _symbols_of(buf[a:b], 8)
        sc = self.bit_scanner
        hits, stop, _ = sc.scan(bits, 0, len(bits), final)
        for h in hits:
            self._account(bits, sc, h, (self._base + a) * 8, 1.0, realigned=True)
        return a + stop // 8

    def _account(self, buf, sc, hit, base, bits_per_symbol, realigned=False):
        p, body, ok, trunc, viol, lead_ok = hit
        # Absolute position, in link bits, of the packet's first preamble octet.
        start_bits = (base + p - sc.lead_len) * bits_per_symbol
        end_bits = (base + p + sc.sync_len + sc.body_len) * bits_per_symbol
        if self._prev_end is not None:
            expect = self._prev_end + GAP_OCTETS * 8
            if start_bits != expect:  # exact: positions are multiples of half a bit
                self.resyncs += 1
            if start_bits > expect:
                self.skipped_bits += start_bits - expect
        self._prev_end = end_bits
        if realigned:
            self.bit_realigned += 1
        self.manchester_violations += viol
        if lead_ok and buf[p - sc.lead_len:p] != sc.lead:
            lead, _ = sc.octets(buf, p - sc.lead_len, len(LEAD))
            self.preamble_bit_errors += _popcount(bytes(a ^ b for a, b in zip(lead, LEAD, strict=True)))
        serial = None
        if trunc:
            self.truncated += 1
        elif not ok:
            self.crc_errors += 1
        else:
            self.packets_ok += 1
            serial = int.from_bytes(body[:SERIAL_OCTETS], "big")
            last = self.last_serial
            if last is None:
                self.first_serial = serial
            elif serial != (last + 1) & 0xFFFFFFFF:
                d = (serial - last) & 0xFFFFFFFF
                if 0 < d < 0x80000000:
                    self.serial_gaps += 1
                    self.missing_packets += d - 1
                else:
                    self.serial_backwards += 1
            self.last_serial = serial
        if self.on_packet is not None:
            self.on_packet({
                "offset_bits": start_bits,
                "serial": serial if serial is not None else (
                    int.from_bytes(body[:SERIAL_OCTETS], "big") if body else None),
                "status": "ok" if ok else ("truncated" if trunc else "crc_error"),
                "realigned": realigned,
                "manchester_violations": viol,
            })

    def stats(self):
        link_bits = self.input_symbols * (0.5 if self.manchester else 8)
        return {
            "mode": "manchester" if self.manchester else "octets",
            "packets_ok": self.packets_ok,
            "crc_errors": self.crc_errors,
            "truncated": self.truncated,
            "serial_gaps": self.serial_gaps,
            "missing_packets": self.missing_packets,
            "serial_backwards": self.serial_backwards,
            "first_serial": self.first_serial,
            "last_serial": self.last_serial,
            "preamble_bit_errors": self.preamble_bit_errors,
            "manchester_violations": self.manchester_violations,
            "invalid_chips": self.invalid_chips,
            "resyncs": self.resyncs,
            "bit_realigned_packets": self.bit_realigned,
            "skipped_octets": int(self.skipped_bits // 8),
            "input_bytes": self.input_symbols,
            "link_seconds": link_bits / 50e6,
            "decode_seconds": round(self.elapsed, 6),
            "mbps": (link_bits / self.elapsed / 1e6) if self.elapsed > 0 else None,
        }


def decode_file(path, manchester=False, on_packet=None, chunk=None):
    """Decode a capture file; returns the statistics dict.  OSError if unreadable."""
    size = chunk or (CHUNK_OCTETS * (4 if manchester else 1))
    dec = CaptureDecoder(manchester=manchester, on_packet=on_packet)
    with open(path, "rb") as f:
        while True:
            data = f.read(size)
            if not data:
                break
            dec.feed(data)
    return dec.finish()


def decode_bytes(data, manchester=False, on_packet=None, chunk=None):
    dec = CaptureDecoder(manchester=manchester, on_packet=on_packet)
    size = chunk or len(data) or 1
    for i in range(0, len(data), size):
        dec.feed(data[i:i + size])
    return dec.finish()


def format_stats(s):
    lines = [
        "capture (%s): %d bytes, %.6f s of link time" % (s["mode"], s["input_bytes"],
                                                        s["link_seconds"]),
        "  packets ok        %d" % s["packets_ok"],
        "  CRC errors        %d" % s["crc_errors"],
        "  truncated         %d" % s["truncated"],
        ("  serial numbers    %s .. %s, %d gap(s), %d missing, %d backwards" % (
            s["first_serial"], s["last_serial"], s["serial_gaps"], s["missing_packets"],
            s["serial_backwards"])) if s["first_serial"] is not None else
        "  serial numbers    none (no good packet)",
        "  preamble bit errs %d" % s["preamble_bit_errors"],
        "  resyncs           %d (%d octets skipped, %d packets found at a bit slip)" % (
            s["resyncs"], s["skipped_octets"], s["bit_realigned_packets"]),
    ]
    if s["mode"] == "manchester":
        lines.append("  code violations   %d" % s["manchester_violations"])
    if s["mbps"]:
        lines.append("  decoded at %.0f Mbit/s of link data (%.3f s)" % (s["mbps"],
                                                                       s["decode_seconds"]))
    return "\n".join(lines)


def stats_json(s):
    return json.dumps(s, sort_keys=True)
