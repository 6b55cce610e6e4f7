"""Power-safe persistence of one small record in two slots (DESIGN §3.7).

Each save writes the *older* slot with ``generation + 1``; a load takes the valid slot
with the highest generation.  A slot is valid when its magic, length and CRC-16 check
out, so a save torn at any byte (power loss mid-write) leaves the other slot — the last
good record — in force.

Slot layout (big-endian)::

    magic 'VS' | version 1 | generation u32 | payload length u16 | payload | CRC-16

The CRC-16/CCITT-FALSE covers everything before it.
"""

import struct

from hal.compat import const
from flight.crc16 import crc16

_MAGIC0 = const(0x56)  # 'V'
_MAGIC1 = const(0x53)  # 'S'
_VERSION = const(1)
_HDR = const(9)
_MAX_GEN = const(0xFFFFFFFF)


def encode_slot(generation, payload):
    n = len(payload)
    rec = bytearray(_HDR + n + 2)
    rec[0] = _MAGIC0
    rec[1] = _MAGIC1
    rec[2] = _VERSION
    struct.pack_into(">IH", rec, 3, generation, n)
    rec[_HDR:_HDR + n] = payload
    struct.pack_into(">H", rec, _HDR + n, crc16(memoryview(rec)[:_HDR + n]))
    return bytes(rec)


def check_slot(rec):
    """(generation, payload), or the reason the slot is unusable: "absent", "short",
    "magic", "length" (torn write or truncation) or "crc" (bit flip, garbage)."""
    if rec is None:
        return "absent"
    if len(rec) < _HDR + 2:
        return "short"
    if rec[0] != _MAGIC0 or rec[1] != _MAGIC1 or rec[2] != _VERSION:
        return "magic"
    gen, n = struct.unpack_from(">IH", rec, 3)
    if len(rec) != _HDR + n + 2:
        return "length"
    if crc16(memoryview(rec)[:_HDR + n]) != struct.unpack_from(">H", rec, _HDR + n)[0]:
        return "crc"
    return gen, bytes(rec[_HDR:_HDR + n])


def decode_slot(rec):
    """(generation, payload) or None when the slot is absent, torn or corrupt."""
    got = check_slot(rec)
    return None if isinstance(got, str) else got


_SLOT_SUFFIX = (".a", ".b")


class SlotStore:
    """One record named ``name`` kept in the blobs ``name.a`` and ``name.b``."""

    def __init__(self, storage, name):
        self.storage = storage
        # The blob names are made when a slot is read or written (boot, a save): five
        # stores holding theirs cost ~0.4 kB of heap for good (issue 11).
        self.name = name
        self.generation = 0
        self.corrupt_slots = 0  # slots found present but invalid at the last load
        self.used = -1  # slot index the last load used (-1: none)
        # [(slot index, generation or -1, reason)] of the last load; () when none (no
        # empty list held for good)
        self.rejected = ()  # type: tuple | list
        self.fallback = False  # the last load rejected a present slot: see load()

    def blob(self, i):
        """The storage name of slot ``i`` (0 or 1)."""
        return self.name + _SLOT_SUFFIX[i]

    def _read(self, i):
        return decode_slot(self.storage.read(self.blob(i)))

    def load(self, parse=None):
        """The newest valid payload, or None.

        ``parse`` (optional) validates a payload field by field and returns the record it
        holds, raising ValueError (or TypeError) when the content is unusable: the slot
        is then rejected with reason "content" and the other slot is tried; ``load``
        returns the parsed record.

        Afterwards ``used`` is the slot index the payload came from (-1: none) and
        ``rejected`` lists ``(slot index, generation or -1, reason)`` for every slot that
        was present but not used: a reason from :func:`check_slot`, "unreadable" (the
        read raised) or "older" (valid, superseded).  ``fallback`` is True when a slot
        other than the older valid one was rejected — the record in force may not be the
        newest written, and the caller raises an event saying so (:meth:`describe`).
        A read error is re-raised only when no slot could be used at all.
        """
        best = None
        best_i = -1
        self.corrupt_slots = 0
        self.used = -1
        rejected = []  # type: list
        err = None
        for i in (0, 1):
            try:
                raw = self.storage.read(self.blob(i))
            except Exception as e:  # one unreadable slot must not hide the other
                err = e
                self.corrupt_slots += 1
                rejected.append((i, -1, "unreadable"))
                continue
            got = check_slot(raw)
            if not isinstance(got, str) and parse is not None:
                try:
                    got = (got[0], parse(got[1]))
                except (ValueError, TypeError, KeyError, IndexError):
                    got = "content"
            if isinstance(got, str):
                if raw is not None:
                    self.corrupt_slots += 1
                    rejected.append((i, -1, got))
                continue
            if best is None or got[0] > best[0]:
                if best is not None:
                    rejected.append((best_i, best[0], "older"))
                best = got
                best_i = i
            else:
                rejected.append((i, got[0], "older"))
        self.rejected = rejected if rejected else ()
        self.fallback = self.corrupt_slots > 0
        if best is None:
            self.generation = 0
            if err is not None:
                raise err
            return None
        self.used = best_i
        self.generation = best[0]
        return best[1]

    def describe(self):
        """One line for an event: which slot was used and why the others were not."""
        parts = []
        for i, _gen, why in self.rejected:
            if why != "older":
                parts.append("%s rejected (%s)" % (self.blob(i), why))
        if self.used >= 0:
            parts.append("%s used (generation %d)" % (self.blob(self.used), self.generation))
        else:
            parts.append("no valid slot")
        return ", ".join(parts)

    def save(self, payload):
        """Write ``payload`` as a new generation into the slot not holding the newest.

        The target and the generation come from what the slots hold *now* (not only from
        the last ``load``), so a save never overwrites the newest valid record, even when
        no load preceded it or a previous save was torn.
        """
        best_gen = -1
        best_i = -1
        for i in (0, 1):
            got = self._read(i)
            if got is not None and got[0] > best_gen:
                best_gen = got[0]
                best_i = i
        gen = (self.generation if self.generation > best_gen else best_gen) + 1
        if gen > _MAX_GEN:
            raise ValueError("slot generation exhausted")
        target = 1 if best_i == 0 else 0
        self.storage.write(self.blob(target), encode_slot(gen, payload))
        self.generation = gen
