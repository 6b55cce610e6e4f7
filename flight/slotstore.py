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


def decode_slot(rec):
    """(generation, payload) or None when the slot is absent, torn or corrupt."""
    if rec is None or len(rec) < _HDR + 2:
        return None
    if rec[0] != _MAGIC0 or rec[1] != _MAGIC1 or rec[2] != _VERSION:
        return None
    gen, n = struct.unpack_from(">IH", rec, 3)
    if len(rec) != _HDR + n + 2:
        return None
    if crc16(memoryview(rec)[:_HDR + n]) != struct.unpack_from(">H", rec, _HDR + n)[0]:
        return None
    return gen, bytes(rec[_HDR:_HDR + n])


class SlotStore:
    """One record named ``name`` kept in the blobs ``name.a`` and ``name.b``."""

    def __init__(self, storage, name):
        self.storage = storage
        self.names = (name + ".a", name + ".b")
        self.generation = 0
        self.corrupt_slots = 0  # slots found present but invalid at the last load

    def _read(self, i):
        return decode_slot(self.storage.read(self.names[i]))

    def load(self):
        """The newest valid payload, or None.  Counts corrupt slots (present, invalid)."""
        best = None
        self.corrupt_slots = 0
        for i in (0, 1):
            raw = self.storage.read(self.names[i])
            got = decode_slot(raw)
            if got is None:
                if raw is not None:
                    self.corrupt_slots += 1
                continue
            if best is None or got[0] > best[0]:
                best = got
        if best is None:
            self.generation = 0
            return None
        self.generation = best[0]
        return best[1]

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
        self.storage.write(self.names[target], encode_slot(gen, payload))
        self.generation = gen
