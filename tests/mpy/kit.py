"""The rig builders of the payload-control tests (CPython and the MicroPython VM): one or
more control modules on the fakes of tests/mpy/fakes.py with one FakeCtx (:func:`rig`),
or the real flight application on a board of those fakes (:func:`app_rig`), and the
rigs of the FSM calibration and of the bias update built on them.  MicroPython-clean: no
dataclasses, no f-strings, no typing at run time.

Import: ``from kit import ...`` in tests/mpy (its directory is on the path, in the VM
too); ``from tests.mpy.kit import ...`` in the CPython tests of tests/.
"""

if __name__ == "kit":  # tests/mpy (MicroPython, or CPython with the directory on the path)
    from fakes import (FakeCamera, FakeCtx, FakeDac, FakeFramerHal, FakeFsm, FakePower,
                       FakeSupply, FakeTemp, QuietSupply)
else:  # the CPython tests of tests/ (the package path: the same module as theirs)
    from tests.mpy.fakes import (FakeCamera, FakeCtx, FakeDac, FakeFramerHal, FakeFsm,
                                 FakePower, FakeSupply, FakeTemp, QuietSupply)


# ---------------------------------------------------------------------- the rig
class Rig:
    """One or more control modules on kit fakes (see :func:`rig` and :func:`app_rig`).

    ``events``: every event the modules emitted, [(ev_id, args, detail)]."""

    def named(self, ev_id):
        """Details of the events ``ev_id`` so far."""
        return [e[2] for e in self.events if e[0] == ev_id]

    def args(self, ev_id):
        return [e[1] for e in self.events if e[0] == ev_id]

    def tick(self, n=1):
        """``n`` APT ticks (10 ms frames)."""
        for _ in range(n):
            self.apt.tick()

    def until(self, state, max_ticks):
        """APT ticks until ``state``: how many it took (AssertionError if not reached)."""
        for i in range(max_ticks):
            self.apt.tick()
            if self.apt.state == state:
                return i + 1
        raise AssertionError("APT not in state %d within %d ticks (in %d)" % (
            state, max_ticks, self.apt.state))

    def hk(self, kind, diag=False):
        """{field name: raw value} of a module's HK (or HK_DIAG) fields, as its hk()
        (hk_diag()) writes them into the packet's value list; checks it writes exactly
        its own slots."""
        mod, obj = self.decl[kind]
        fields = mod.HK_DIAG if diag else mod.HK
        values = [None] * (len(fields) + 2)
        values[0] = "start"
        values[-1] = "end"
        if diag:
            obj.hk_diag(values, 1)
        else:
            obj.hk(values, 1)
        if values[0] != "start" or values[-1] != "end":
            raise AssertionError("%s hk wrote outside its slots" % kind)
        out = {}
        for k in range(len(fields)):
            v = values[k + 1]
            if v is None:
                raise AssertionError("%s hk left %s unset" % (kind, fields[k][0]))
            out[fields[k][0]] = v  # a field record's name (flight.telemetry.F_NAME)
        return out


# The predictor's delays for the kit's fake mirror (fakes.FakeFsm), which takes a command
# at the tick's start: the flight's defaults hold the board's ~1.7 ms of compute and bus
# time before the tick sends (flight/apt_control.py, stops 46 and 51); a test that follows the kit's mirror
# closely flies these, the delays as they were before (no compute in between).
KIT_MIRROR_DELAYS = {"apt_kf_lead_us": 1750, "apt_fsm_delay_us": 1250}


def rig(*kinds, params=None, err=(0.0, 0.0), seed=3, t=25.0, session=True, **camera_kw):
    """Build the control modules ``kinds`` (any of "apt", "aptcal", "bias", "framer",
    "comparator"; the FSM calibration "aptcal" brings its APT, the comparator its framer)
    on kit fakes with one FakeCtx.

    ``params``: parameter overrides (set before the modules are built); ``err``: the
    pointing error the camera shows (rad); ``t``: the temperature of both sensors (the
    second reads 0.05 K more); ``session``: start the modules' sessions (in the flight
    order: bias, apt, framer, comparator).  Returns a :class:`Rig` with the fakes and
    modules as attributes (power, fsm, cam, temps, supply, hal, dac; apt, owner, bias,
    fc, comp) and ``ctx``."""
    from flight import apt, bias, comparator, framer_ctl, thermal_sensors

    if "comparator" in kinds and "framer" not in kinds:
        kinds = kinds + ("framer",)
    decl = {"apt": apt, "bias": bias, "framer": framer_ctl, "comparator": comparator}
    if "aptcal" in kinds:
        from flight import apt_calib  # (imported only when asked for: heap on the M7)

        decl["aptcal"] = apt_calib
        if "apt" not in kinds:
            kinds = kinds + ("apt",)
    r = Rig()
    r.app = None
    mods = [decl[k] for k in ("bias", "apt", "aptcal", "framer", "comparator") if k in kinds]
    if "bias" in kinds:
        mods.insert(1, thermal_sensors)  # the bias module's sensor selection
    if "apt" in kinds:  # the APT's look for a brighter spot declares its own parameters
        from flight import apt_survey

        mods.insert(mods.index(apt) + 1, apt_survey)
    r.ctx = FakeCtx(*mods, params=params)
    r.events = r.ctx.events
    r.power = FakePower()
    r.apt = r.owner = r.bias = r.fc = r.comp = None
    order = []
    if "bias" in kinds:
        r.temps = [FakeTemp(t), FakeTemp(t + 0.05)]
        r.supply = FakeSupply()
        r.bias = bias.BiasControl(r.ctx, r.supply, r.temps, r.power)
        order.append(r.bias)
    if "apt" in kinds:
        r.fsm = FakeFsm(record=True)
        r.cam = FakeCamera(r.fsm, err=err, seed=seed, **camera_kw)
        r.apt = apt.Apt(r.ctx, r.cam, r.fsm, r.power)
        order.append(r.apt)
    if "aptcal" in kinds:  # the FSM calibration's owner; its run rides on the APT (apt.cal)
        r.owner = decl["aptcal"].FsmCalOwner(r.ctx, r.apt)  # while armed; no session
    if "framer" in kinds:
        r.hal = FakeFramerHal()
        r.fc = framer_ctl.FramerControl(r.ctx, r.hal, r.power)
        order.append(r.fc)
        if r.apt is not None:
            r.apt.on_laser = r.fc.enable_tx
    if "comparator" in kinds:
        r.dac = FakeDac()
        r.comp = comparator.ComparatorControl(r.ctx, r.dac, r.fc)
        order.append(r.comp)
    r.modules = order
    _declare(r)
    if session:
        for m in order:
            m.start_session()
    return r


def cal_rig(params=None, err=(0.001, 0.001)):
    """The APT tracking with the FSM calibration on it (flight/apt_calib.py): the rig of
    the calibration tests, ``rig("aptcal")`` brought to TRACK with the mirror's step log
    off (it would allocate in the calibration's heap-locked hot path)."""
    from flight import apt

    r = rig("aptcal", params=params, err=err)
    r.fsm.record = False
    r.until(apt.TRACK, 200)
    return r


def bias_update_rig(params=None):
    """The bias module in its session on a :class:`QuietSupply`: the rig of what one
    500 ms update allocates (tests/mpy/test_bias_track_mpy.py) and costs on the M7
    (bench/sipm_bias_m7.py)."""
    r = rig("bias", params=params, session=False)
    r.supply = r.bias.supply = QuietSupply()
    r.bias.start_session()
    return r


def app_rig(*kinds, params=None, keyring=None, err=(0.0, 0.0), seed=3, t=25.0, **camera_kw):
    """The real flight application (flight.app.FlightApp) on a board of kit fakes for
    the control modules ``kinds``, booted (in SAFE), ``params`` set.  Attributes as
    :func:`rig`, plus app, clock and link (an in-memory UART: hal.sim.link.MemLink);
    ``events`` records what the payload modules emit through their context."""
    from flight.app import FlightApp
    from flight.keys import Keyring
    from hal.clock import VirtualClock
    from hal.interfaces import Board
    from hal.sim.link import MemLink
    from hal.sim.storage import MemStorage
    from hal.sim.watchdog import SimWatchdog

    if "comparator" in kinds and "framer" not in kinds:
        kinds = kinds + ("framer",)
    r = Rig()
    r.clock = VirtualClock()
    r.power = FakePower()
    dev = {}
    if "bias" in kinds:
        r.temps = [FakeTemp(t), FakeTemp(t + 0.05)]
        r.supply = FakeSupply()
        dev["bias"] = r.supply
        dev["temps"] = r.temps
    if "apt" in kinds:
        r.fsm = FakeFsm(record=True)
        r.cam = FakeCamera(r.fsm, err=err, seed=seed, **camera_kw)
        dev["camera"] = r.cam
        dev["fsm"] = r.fsm
    if "framer" in kinds:
        r.hal = FakeFramerHal()
        dev["framer"] = r.hal
    if "comparator" in kinds:
        r.dac = FakeDac()
        dev["comparator"] = r.dac
    r.link = MemLink()
    board = Board(power=r.power, clock=r.clock, link=r.link, storage=MemStorage(),
                  watchdog=SimWatchdog(r.clock), **dev)
    r.app = FlightApp(board, keyring=keyring if keyring is not None else Keyring())
    r.ctx = r.app.ctx
    r.events = []
    emit = r.ctx.emit

    def record(ev_id, args=None, detail=""):
        r.events.append((ev_id, args, detail))
        return emit(ev_id, args, detail)

    r.ctx.emit = record
    r.app.boot()
    for k in params or {}:
        r.app.params.set(k, params[k])
    pl = r.app.payload
    r.apt = pl.get("apt")
    r.bias = pl.get("bias")
    r.fc = pl.get("framer")
    r.comp = pl.get("comparator")
    _declare(r)
    return r


def _declare(r):
    from flight import apt, bias, comparator, framer_ctl

    r.decl = {}
    for k, mod, obj in (("apt", apt, r.apt), ("bias", bias, r.bias),
                        ("framer", framer_ctl, r.fc), ("comparator", comparator, r.comp)):
        if obj is not None:
            r.decl[k] = (mod, obj)
