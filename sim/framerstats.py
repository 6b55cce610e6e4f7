"""Framer counters per read-out window, drawn from the bit error rate (no bit-by-bit sim).

What the FPGA framer (DESIGN §3.6, paper §2.5) would count in one window (100 ms, the
framer task's period) for a given channel BER:

  sent                 packets the ground transmitted in the window
  ok                   delimited packets whose CRC-16 checks
  crc_errors           delimited packets whose CRC-16 fails
  gaps                 serial-number gaps = packets never delimited (preamble not matched,
                       or sync lost); counting restarts after a sync loss
  preamble_bits        64 x delimited packets (known bits the BER estimate is based on)
  preamble_bit_errors  bit errors in those preambles
  prbs_bits / prbs_bit_errors   test-pattern mode: the 321-octet frame is PRBS (2568 bits,
                       as in the paper's Fig. A1/7 test: 2.568e7 bits per 1e4 packets)
  sync_losses          runs of SYNC_LOSS_RUN consecutive unmatched preambles, plus the
                       loss of signal while locked

Packet timing: 50 Mbit/s data rate (Manchester makes it 100 Mchip/s on the wire); one
packet slot is (335 + 12) octets = 2776 bits, so 50e6 / 2776 = 18,011.5 packets/s
(DESIGN §3.6 "18,011 packets/s").  (335+12)*8*2 chips at 50 Mchip/s would give half that:
the 50 Mbit/s is the bit rate, not the chip rate.  The fraction of a packet left over at
the end of a window is carried into the next, so the long-run rate is exact.

Counts come from binomial draws on :class:`sim.rng.Rng`.  Each counter has the exact
mean and variance of the bit-level process; the correlation between a packet's CRC flag
and its PRBS errors is not modelled (independent draws).

MicroPython-safe (math only).
"""

import math

from sim.rng import log1m

BIT_RATE = 50e6  # paper §2.5, DESIGN §3.6
PACKET_OCTETS = 335  # 8 preamble + 4 serial + 321 frame + 2 CRC (paper §2.5)
GAP_OCTETS = 12  # paper §2.5
SLOT_BITS = (PACKET_OCTETS + GAP_OCTETS) * 8  # 2776
PACKETS_PER_S = BIT_RATE / SLOT_BITS  # 18011.5
PREAMBLE_BITS = 64  # 7 x 0x55 + 0xD5
CRC_COVERED_BITS = (4 + 321 + 2) * 8  # serial + frame + CRC: any error fails the CRC, 2616
FRAME_BITS = 321 * 8  # 2568: PRBS bits per packet in test-pattern mode
WINDOW_S = 0.1  # framer task period (DESIGN §3.1)

# Assumed (not in the paper): once locked the framer knows where the next preamble starts
# (fixed slot length) and accepts it if at most PREAMBLE_MAX_ERRORS of the 64 bits are
# wrong.  Tolerating a few errors keeps the preamble error count a nearly unbiased BER
# estimate (matched preambles read low by < 0.1 % up to BER 3e-3, 2 % at 1e-2), where an
# exact match would select error-free preambles and always read 0.
PREAMBLE_MAX_ERRORS = 3
# Assumed: sync is declared lost after this many consecutive unmatched preambles.
SYNC_LOSS_RUN = 8
# The CRC-16 misses an error pattern with probability ~2^-16 (and never for 1-3 bit
# errors); neglected.

MODE_DATA = "data"
MODE_PRBS = "prbs"
MODE_LOOPBACK = "loopback"  # internal loop-back in the FPGA: no optical channel, BER 0
MODES = (MODE_DATA, MODE_PRBS, MODE_LOOPBACK)


def _binom_pmf_head(n, p, kmax):
    """[P(K = k) for k = 0..kmax], K ~ Binomial(n, p)."""
    q = 1.0 - p
    if q <= 0.0:
        return [0.0] * (kmax + 1)
    f = q ** n
    out = [f]
    for k in range(kmax):
        f = f * (n - k) / (k + 1) * p / q
        out.append(f)
    return out


def p_preamble_miss(ber, n_bits=PREAMBLE_BITS, max_errors=PREAMBLE_MAX_ERRORS):
    """Probability that a packet's preamble is not matched (more than max_errors wrong)."""
    if ber <= 0.0:
        return 0.0
    if ber >= 0.5:
        return 1.0
    return max(0.0, 1.0 - sum(_binom_pmf_head(n_bits, ber, max_errors)))


def mean_preamble_errors_matched(ber, n_bits=PREAMBLE_BITS, max_errors=PREAMBLE_MAX_ERRORS):
    """E[bit errors in a preamble | it was matched] (slightly below n_bits*ber)."""
    if ber <= 0.0:
        return 0.0
    pmf = _binom_pmf_head(n_bits, min(ber, 0.5), max_errors)
    s = sum(pmf)
    if s <= 0.0:
        return 0.0
    return sum(k * f for k, f in enumerate(pmf)) / s


def p_crc_error(ber, n_bits=CRC_COVERED_BITS):
    """Probability that a delimited packet fails its CRC: 1 - (1 - BER)^2616."""
    if ber <= 0.0:
        return 0.0
    if ber >= 1.0:
        return 1.0
    return 1.0 - math.exp(n_bits * log1m(ber))


def packet_error_rate(ber):
    """Probability that a sent packet is not received ok (lost or CRC error).

    ~ 1 - (1 - BER)^(2616 + 64 - tolerated) for small BER: the preamble tolerance makes its
    bits almost irrelevant, so PER ~ 1 - (1 - BER)^2616.
    """
    return 1.0 - (1.0 - p_preamble_miss(ber)) * (1.0 - p_crc_error(ber))


class FramerStats:
    """Per-window framer counters for a channel of given BER.

    ``rng`` is a :class:`sim.rng.Rng`.  Call :meth:`step` once per window.
    """

    def __init__(self, rng, window_s=WINDOW_S, packets_per_s=PACKETS_PER_S):
        self.rng = rng
        self.window_s = window_s
        self.packets_per_s = packets_per_s
        self._carry = 0.0  # fractional packet carried between windows
        self.serial = 0  # serial number of the next packet the ground sends (32 bit)
        self.locked = False

    def _packets_this_window(self):
        x = self.packets_per_s * self.window_s + self._carry
        n = int(x)
        self._carry = x - n
        return n

    def step(self, ber, mode=MODE_DATA, signal=True):
        """Counters of one window.  ``signal`` False = no uplink light on the detector."""
        if mode not in MODES:
            raise ValueError("unknown framer mode %r" % (mode,))
        rng = self.rng
        n = self._packets_this_window()
        self.serial = (self.serial + n) & 0xFFFFFFFF
        if mode == MODE_LOOPBACK:
            ber, signal = 0.0, True
        c = {"sent": n, "ok": 0, "crc_errors": 0, "gaps": 0, "preamble_bits": 0,
             "preamble_bit_errors": 0, "prbs_bits": 0, "prbs_bit_errors": 0,
             "sync_losses": 0, "locked": False}
        if not signal or ber >= 0.5 or n == 0:
            # nothing can be delimited; the framer cannot see serials it never receives
            if self.locked and n > 0:
                c["sync_losses"] = 1
                self.locked = False
            c["locked"] = self.locked
            return c
        q = p_preamble_miss(ber)
        lost = rng.binomial(n, q)
        found = n - lost
        crc = rng.binomial(found, p_crc_error(ber))
        c["ok"] = found - crc
        c["crc_errors"] = crc
        c["preamble_bits"] = PREAMBLE_BITS * found
        if found:
            p_bit = mean_preamble_errors_matched(ber) / PREAMBLE_BITS
            c["preamble_bit_errors"] = rng.binomial(PREAMBLE_BITS * found, p_bit)
        if mode == MODE_PRBS:
            c["prbs_bits"] = FRAME_BITS * found
            c["prbs_bit_errors"] = rng.binomial(FRAME_BITS * found, ber)
        # Runs of >= SYNC_LOSS_RUN consecutive misses start at a rate (1-q) q^K per packet.
        runs = 0
        if q > 0.0 and found:
            runs = rng.poisson(n * (1.0 - q) * q ** SYNC_LOSS_RUN)
        if found == 0:
            runs = max(runs, 1 if self.locked else 0)
        if self.locked or found:
            c["sync_losses"] = runs
        c["gaps"] = lost if (self.locked or found) else 0
        self.locked = found > 0
        c["locked"] = self.locked
        return c
