"""Robustness of the telecommand pipeline (issue 3): ≥ 100,000 random and mutated frames,
each injection audited by tests/tc_robust_pipe.py ``Pipe.inject`` (every block a deframer
drop or a frame counted once, accepted or rejected with a reason, with its reports; no
state change when nothing was accepted, but rising anti-replay marks).  Every few hundred
injections the scheduler runs for a while, so time-tagged commands execute, housekeeping
is sent and the event log is flushed.

The seeded mutator starts from valid, authenticated TCs (random commands, random and
sometimes invalid arguments) and applies: bit flips, octet overwrites, truncation,
extension, length-field lies (with and without a consistent CRC), header-field changes
with a fixed CRC, forged MACs (random tag, wrong key, unknown or inactive key id), a
tampered counter, CBOR body mutations re-signed with the right key (so they reach the
decoder and the argument checks), replays of accepted TCs (exact and older ones), random
octet strings, bad COBS (corrupt code octets, inserted zeros, oversize blocks), and
several frames per injection.  Accepted REBOOTs reboot the payload on the same storage
(a new FlightApp): the campaign also exercises boots on whatever it saved.
"""

import random
import struct
import time

from flight import cbor, ccsds, cobs
from flight.keys import DEV_KEY
from flight.cmddict import ACCEPT_REASONS as REASONS
from flight.cmddict import BY_NAME, MODES
from flight.tm import APID_HK, APID_TC, APID_VERIFY
from hal.interfaces import FRAMER_MODE_NAMES
from tests.mpy.obc import fix_crc, sign_body
from tests.tc_robust_pipe import KEY2, KEYS, OPS, Pipe

N_FRAMES = 100000

PARAMS = {"temp_max_c": (-40.0, 125.0), "temp_min_c": (-60.0, 40.0),
          "current_max_ma": (10, 5000), "limit_persist": (1, 50),
          "timetag_capacity": (1, 64), "tm_events_per_tick": (1, 32)}


# --------------------------------------------------------------------------- generators
def rand_scalar(rng):
    k = rng.randrange(8)
    if k == 0:
        return rng.randrange(-10, 100)
    if k == 1:
        return rng.uniform(-100, 200)
    if k == 2:
        return rng.choice([True, False, None])
    if k == 3:
        return "".join(rng.choice("abcSAFE_") for _ in range(rng.randrange(6)))
    if k == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(5)))
    if k == 5:
        return rng.choice([float("nan"), float("inf"), -0.0, 2 ** 63, -(2 ** 63), 1e300])
    if k == 6:
        return [rand_scalar(rng) for _ in range(rng.randrange(3))]
    return {"k": rng.randrange(5)}


def rand_args(rng, pipe, opcode):
    """Mostly valid arguments for ``opcode``, sometimes wrong ones."""
    now = pipe.app.now_s()
    if rng.random() < 0.15:
        d = {}
        for _ in range(rng.randrange(4)):
            d[rng.choice(["time", "mode", "name", "value", "max", "key_id", "opcode", "x"])] = \
                rand_scalar(rng)
        return d
    if opcode == 0x02:
        return {"time": rng.uniform(0, 1e6)}
    if opcode == 0x03:
        return {"mode": rng.choice(list(MODES) + ["STANDBY"])}
    if opcode == 0x10:
        name = rng.choice(list(PARAMS) + ["nope"])
        lo, hi = PARAMS.get(name, (0, 1))
        if isinstance(lo, float):
            v = rng.uniform(lo - 5, hi + 5)
        else:
            v = rng.randrange(lo - 2, hi + 3)
        return {"name": name, "value": v}
    if opcode == 0x11:
        return {"name": rng.choice(list(PARAMS) + ["nope"])}
    if opcode == 0x20:
        return {"max": rng.randrange(0, 40)}
    if opcode == 0x31:
        inner = rng.choice([0x01, 0x03, 0x10, 0x30, 0x31, 0x7F])
        t = now + (rng.uniform(-1, 3) if rng.random() < 0.5 else rng.uniform(1e4, 1e5))
        return {"time": t, "opcode": inner,
                "args": rand_args(rng, pipe, inner) if inner != 0x30 else {}}
    if opcode == 0x40:
        return {"key_id": rng.choice([1, 2, 2, 3])}
    if opcode == 0x52:
        return {"kp": rng.uniform(0, 2.2), "ki": rng.uniform(0, 210)}
    if opcode == 0x54:
        return {"mode": rng.choice(list(FRAMER_MODE_NAMES) + ["X"])}
    if opcode == 0x55:
        return {"volts": rng.uniform(0, 7)}
    return {}


def rand_command(rng, pipe):
    op = rng.choice(OPS) if rng.random() < 0.97 else rng.randrange(-3, 300)
    if op == 0x30 and rng.random() < 0.9:
        op = 0x01  # keep reboots occasional
    return op, rand_args(rng, pipe, op)


def flip_bits(rng, b, n):
    b = bytearray(b)
    for _ in range(n):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def mutate_cbor(rng, body):
    k = rng.randrange(5)
    if k == 0 and body:
        return flip_bits(rng, body, rng.randrange(1, 3))
    if k == 1 and body:
        return body[:rng.randrange(len(body))]
    if k == 2:
        i = rng.randrange(len(body) + 1)
        return body[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4))) + body[i:]
    if k == 3 and body:
        b = bytearray(body)
        b[rng.randrange(len(b))] = rng.choice([0x1f, 0x3f, 0x5f, 0x7f, 0x9f, 0xbf, 0xff, 0xf7,
                                               0xf8, 0x1c, 0xc0, 0xd8])
        return bytes(b)
    return cbor.encode(rand_scalar(rng)) if rng.random() < 0.5 else body + body


def mutate(rng, pipe):
    """One packet list (usually one packet) or raw wire bytes: ("pkts", [..]) / ("wire", b)."""
    k = rng.randrange(20)
    op, args = rand_command(rng, pipe)
    if k == 0:  # a genuine command
        return "pkts", [pipe.valid(op, args)]
    if k == 1:  # re-signed CBOR mutation: reaches the decoder / dictionary / arguments
        return "pkts", [pipe.signed_body(mutate_cbor(rng, cbor.encode([op, args])))]
    p = pipe.valid(op, args)
    if k == 2:
        return "pkts", [flip_bits(rng, p, rng.randrange(1, 4))]
    if k == 3:  # bit flips with a consistent CRC: header / auth / counter stages
        return "pkts", [fix_crc(flip_bits(rng, p[:-2], rng.randrange(1, 3)) + b"\0\0")]
    if k == 4:
        return "pkts", [p[:rng.randrange(len(p))]]
    if k == 5:
        ext = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
        q = p + ext
        return "pkts", [fix_crc(q) if rng.random() < 0.5 else q]
    if k == 6:  # length-field lie
        q = bytearray(p)
        dl = struct.unpack_from(">H", q, 4)[0]
        new = rng.choice([dl + 1, dl - 1, 0, 0xFFFF, rng.randrange(65536)])
        struct.pack_into(">H", q, 4, new & 0xFFFF)
        return "pkts", [fix_crc(bytes(q)) if rng.random() < 0.7 else bytes(q)]
    if k == 7:  # header fields, CRC fixed
        q = bytearray(p)
        w0, w1 = struct.unpack_from(">HH", q, 0)
        f = rng.randrange(5)
        if f == 0:
            w0 = (w0 & 0x1FFF) | (rng.randrange(1, 8) << 13)
        elif f == 1:
            w0 ^= 0x1000
        elif f == 2:
            w0 ^= 0x0800
        elif f == 3:
            w0 = (w0 & 0xF800) | rng.randrange(0x800)
        else:
            w1 = (w1 & 0x3FFF) | (rng.randrange(3) << 14)
        struct.pack_into(">HH", q, 0, w0, w1)
        return "pkts", [fix_crc(bytes(q))]
    if k == 8:  # forged MAC: random tag
        q = p[:-18] + bytes(rng.randrange(256) for _ in range(16)) + b"\0\0"
        return "pkts", [fix_crc(q)]
    if k == 9:  # forged MAC: wrong key material / other key ids
        body = cbor.encode([op, args])
        kid = rng.choice([pipe.app.keyring.active, 1, 2, 3, 0, 255])
        key = rng.choice([KEY2, DEV_KEY, bytes(32), b"\x55" * 32])
        if kid == pipe.app.keyring.active and key == KEYS[kid]:
            key = b"\x01" * 32
        return "pkts", [sign_body(key, kid, pipe.next_counter(), body)]
    if k == 10:  # counter tampered after signing
        q = bytearray(p)
        off = len(q) - 2 - 16 - 4
        struct.pack_into(">I", q, off, rng.randrange(1 << 32))
        return "pkts", [fix_crc(bytes(q))]
    if k == 11 and pipe.accepted_packets:  # replay of an accepted TC
        return "pkts", [rng.choice(pipe.accepted_packets)]
    if k == 12:  # an older, genuine counter
        c = max(0, pipe.h.counter - rng.randrange(0, 50))
        return "pkts", [pipe.valid(op, args, counter=c)]
    if k == 13:  # random octets
        return "pkts", [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))]
    if k == 14:  # random octets with a plausible header and a correct CRC
        n = rng.randrange(0, 60)
        body = bytes(rng.randrange(256) for _ in range(n))
        return "pkts", [ccsds.build_packet(1, APID_TC, rng.randrange(0x4000), body)]
    if k == 15:  # bad COBS: corrupt code octet / inserted zero / dropped octet
        e = bytearray(cobs.encode(p))
        f = rng.randrange(3)
        i = rng.randrange(len(e))
        if f == 0:
            e[i] = rng.randrange(1, 256)
        elif f == 1:
            e.insert(i, 0)
        else:
            del e[i]
        return "wire", bytes(e) + b"\x00"
    if k == 16:  # oversize block, random filler (no zero) or a huge valid-looking packet
        n = rng.randrange(1030, 1400)
        return "wire", bytes(rng.randrange(1, 256) for _ in range(n)) + b"\x00"
    if k == 17:  # several frames and sync zeros in one injection
        pk = [pipe.valid(*rand_command(rng, pipe)) for _ in range(rng.randrange(1, 4))]
        wire = b"\x00" * rng.randrange(3)
        for q in pk:
            if rng.random() < 0.4:
                q = flip_bits(rng, q, 1)
            wire += cobs.encode(q) + b"\x00" * rng.randrange(1, 3)
        return "wire", wire
    if k == 18:  # MAC over a different APID / type: header rejected first
        body = cbor.encode([op, args])
        kid = pipe.app.keyring.active
        return "pkts", [sign_body(KEYS[kid], kid, pipe.next_counter(), body,
                                  apid=rng.choice([APID_HK, APID_VERIFY, 0x7FF]),
                                  ptype=rng.choice([0, 1]))]
    return "pkts", [p[:6] + mutate_cbor(rng, p[6:-2]) + p[-2:]]


def campaign(seed, n_frames):
    rng = random.Random(seed)
    pipe = Pipe(rng)
    n = 0
    while n < n_frames:
        if rng.random() < 0.005:
            # A burst of genuine far-future time tags: fills the bounded queue → BUSY.
            t = pipe.app.now_s() + 1e7
            kind, x = "pkts", [pipe.valid(BY_NAME["TIMETAG"].opcode, {"time": t + i, "opcode": BY_NAME["PING"].opcode})
                               for i in range(pipe.app.timetags.capacity + 2)]
        else:
            kind, x = mutate(rng, pipe)
        if kind == "pkts":
            wire = b"".join(cobs.encode(p) + b"\x00" for p in x)
        else:
            wire = x
        acc = pipe.inject(wire)
        if acc and kind == "pkts":
            pipe.accepted_packets.append(x[0])
            if len(pipe.accepted_packets) > 200:
                del pipe.accepted_packets[:100]
        n += max(1, sum(1 for b in wire.split(b"\x00")[:-1] if b))
        if pipe.injections % 500 == 0:
            pipe.run_scheduler(rng.randrange(100000, 1500000))
    pipe.totals_consistent()
    return pipe


def test_hundred_thousand_mutated_frames():
    t0 = time.process_time()
    pipe = campaign(20240521, N_FRAMES)
    dt = time.process_time() - t0
    assert pipe.blocks >= N_FRAMES
    # Every stage was reached: each reason occurred, and genuine commands got through.
    for r in REASONS:
        assert pipe.rejected[r] > 0, (r, pipe.rejected)
    assert pipe.accepted > 1000
    assert pipe.dropped > 0
    assert pipe.reboots > 0
    assert pipe.state_checks > 0.8 * pipe.injections
    print("robustness: %d blocks (%d delivered, %d deframer drops), %d accepted, "
          "rejected %r, %d reboots, %.1f s CPU" % (pipe.blocks, pipe.delivered, pipe.dropped,
                                                   pipe.accepted, pipe.rejected, pipe.reboots,
                                                   dt))
