"""Ground decoder throughput for captures of the 50 Mbit/s link (issue: capture-decode).

``ground_decoder_mbps`` is the *slower* of the two capture formats, octets and Manchester
chips (one chip per octet), decoding a file of 1 s of link time (18,011 packets of random
frames with gaps) through :func:`ground_tools.capture.decode_file`, file reading included.
Mbit/s = link bits represented by the capture / decode wall time; it must keep up with the
line rate (>= 50).
"""

import os
import tempfile
import time

import numpy as np

from ground_tools import capture
from sim import packet

PACKETS = 18011  # 1 s at 50 Mbit/s (DESIGN §3.6)


def _stream(n, seed=7):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(n, packet.FRAME_OCTETS), dtype=np.uint8)
    return packet.build_stream([f.tobytes() for f in frames], first_serial=1000)


def _chips(octets):
    bits = np.unpackbits(np.frombuffer(octets, dtype=np.uint8))
    chips = np.empty(2 * len(bits), dtype=np.uint8)
    chips[0::2] = bits
    chips[1::2] = 1 - bits
    return chips.tobytes()


def _best_of(path, manchester, repeats=3):
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        s = capture.decode_file(path, manchester=manchester)
        dt = time.perf_counter() - t0
        if s["packets_ok"] != PACKETS or s["crc_errors"] or s["serial_gaps"]:
            raise RuntimeError("decoder lost packets in the benchmark capture: %r" % s)
        mbps = s["link_seconds"] * 50.0 / dt
        best = mbps if best is None else max(best, mbps)
    return best


def run():
    octets = _stream(PACKETS)
    with tempfile.TemporaryDirectory() as d:
        po = os.path.join(d, "capture.bin")
        pm = os.path.join(d, "capture.chips")
        with open(po, "wb") as f:
            f.write(octets)
        with open(pm, "wb") as f:
            f.write(_chips(octets))
        oct_mbps = _best_of(po, False)
        man_mbps = _best_of(pm, True)
    return [
        ("ground_decoder_mbps", min(oct_mbps, man_mbps), "Mbit/s", (">=", 50.0)),
        ("ground_decoder_mbps_octets", oct_mbps, "Mbit/s", None),
        ("ground_decoder_mbps_manchester", man_mbps, "Mbit/s", None),
    ]
