"""Simulated load switches with current monitors (hal.interfaces.Power)."""

from hal.interfaces import N_SWITCHES

# Nominal load currents when on, mA (assumed, typical CubeSat payload loads):
# 850 nm laser driver, 525 nm beacon, camera, SiPM bias generator, framer FPGA.
NOMINAL_MA = (350, 150, 250, 40, 400)


class SimPower:
    def __init__(self):
        self.state = [False] * N_SWITCHES
        self.tripped = [False] * N_SWITCHES
        self.extra_ma = [0] * N_SWITCHES  # fault injection: overcurrent
        self.history = []  # (switch, on) in the order commanded: tests check sequences

    def init(self):
        for i in range(N_SWITCHES):
            self.state[i] = False

    def _check(self, switch):
        if not isinstance(switch, int) or not 0 <= switch < N_SWITCHES:
            raise ValueError("switch %r" % (switch,))

    def set(self, switch, on):
        self._check(switch)
        on = bool(on)
        if self.state[switch] != on:
            self.history.append((switch, on))
        self.state[switch] = on
        if not on:
            self.tripped[switch] = False

    def get(self, switch):
        self._check(switch)
        return self.state[switch]

    def currents(self, buf):
        for i in range(N_SWITCHES):
            buf[i] = (NOMINAL_MA[i] + self.extra_ma[i]) if self.state[i] else 0

    def fault(self, switch):
        self._check(switch)
        return self.tripped[switch]

    def trips(self):
        m = 0
        st = self.state
        tr = self.tripped
        for i in range(N_SWITCHES):
            if st[i] and tr[i]:
                m |= 1 << i
        return m
