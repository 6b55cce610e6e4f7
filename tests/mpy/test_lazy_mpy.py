"""Code a pass does not run is loaded on first use and released after (flight/lazy.py,
issue 11): the parameter rules (where their code is frozen) and the FSM calibration's
fit are not held by a booted application nor by a tracking APT, they are there when a
parameter change or a calibration needs them, and a MemoryError while loading them is its own event
(MODULE_LOAD_FAILED), counted, with the caller refusing or aborting cleanly.

Plain test functions: CPython, the MicroPython VM, the unix port and the Cortex-M7 image
(where the modules are frozen: what a release frees is their heap, not their code)."""

import sys

from flight import apt_calib as K
from flight import lazy
from flight import params as P
from flight.cmddict import BY_NAME
from flight.lazy import EV_MODULE_LOAD_FAILED

from kit import cal_rig
from obc import Obc

try:
    import micropython
except ImportError:  # CPython: no heap lock
    micropython = None

PARAM_SET = BY_NAME["PARAM_SET"].opcode
FIT = "flight.apt_calib_fit"
RUN = K.RUN_MODULE  # the calibration's run: loaded while armed
RULES = "flight.param_rules"


class NoHeapLazy:
    """flight.lazy as it behaves when the heap is exhausted at the import."""

    LoadFailed = lazy.LoadFailed

    def __init__(self):
        self.tried = []

    def load(self, name, emit=None):
        self.tried.append(name)
        if emit is not None:
            emit(EV_MODULE_LOAD_FAILED, None, name)
        raise lazy.LoadFailed("heap exhausted")

    def release(self, name):
        pass

    def done(self, name):
        pass

    def make(self, name, attr, emit, *args):
        return getattr(self.load(name, emit), attr)(*args)


def _tracking(steps=32):
    r = cal_rig({"apt_cal_settle_s": 0.0, "apt_cal_auto": 0, "apt_cal_steps": steps})
    return r.ctx, r.apt, r.owner


def _calibrate(apt, cal):
    """Command a calibration (``cal``: the owner) and run the APT until it has ended."""
    cal.cmd_fsm_calibrate({}, None)
    for _ in range(400):
        apt.tick()
        if _ % 10 == 0:
            cal.update()
        if cal.state not in (0, 1) and cal.cal is None:
            return
    raise AssertionError("calibration did not finish: state %d" % cal.state)


def test_a_tracking_apt_holds_no_fit_until_a_calibration_ends():
    lazy.release(FIT)
    ctx, apt, cal = _tracking()
    for _ in range(100):
        apt.tick()
        if _ % 10 == 0:
            cal.update()
    assert FIT not in sys.modules  # TRACK runs without the fit's code
    _calibrate(apt, cal)
    # the fit ran when the run ended (loaded then), judged it, and is released again
    assert ctx.named(K.EV_APT_CAL_DONE) or ctx.named(K.EV_APT_CAL_REFUSED)
    assert not ctx.named(K.EV_APT_CAL_ABORTED) and cal.raw[5] == 32
    assert FIT not in sys.modules
    assert not ctx.named(EV_MODULE_LOAD_FAILED)


def test_no_heap_for_the_fit_aborts_the_calibration_with_its_own_event():
    ctx, apt, cal = _tracking()
    from flight import apt_calib_run as R  # (loaded: the owner finds it, with its fake)

    real = R.lazy
    R.lazy = fake = NoHeapLazy()
    try:
        _calibrate(apt, cal)
    finally:
        R.lazy = real
        del R
    assert fake.tried == [FIT]
    assert ctx.named(EV_MODULE_LOAD_FAILED) == [FIT]
    assert ctx.args(K.EV_APT_CAL_ABORTED) == [["no heap for the fit", 32]]
    assert cal.state == 4 and cal.aborted == 1 and not ctx.params["apt_cal_valid"]


def test_tracking_holds_no_calibration_run_and_a_command_loads_it_again():
    lazy.release(RUN)
    ctx, apt, cal = _tracking()
    listeners = len(ctx.params.listeners)
    for _ in range(100):
        apt.tick()
        if _ % 10 == 0:
            cal.update()
    assert RUN not in sys.modules and apt.cal is K.NO_CAL  # not armed: not loaded
    for n in (1, 2):  # the first calibration, then a commanded re-calibration
        _calibrate(apt, cal)
        assert len(ctx.named(K.EV_APT_CAL_START)) == n
        assert cal.accepted + cal.refused == n and cal.raw[5] == 32
        # ended: its code, its object and its parameter listener are gone
        assert RUN not in sys.modules and FIT not in sys.modules
        assert cal.cal is None and apt.cal is K.NO_CAL
        assert len(ctx.params.listeners) == listeners
    v = [None] * 10
    cal.hk(v, 0)
    cal.hk_diag(v, 2)
    assert v[0] in (2, 3) and v[1] == cal.accepted and v[7] == 32  # the last result stays
    assert not ctx.named(EV_MODULE_LOAD_FAILED)


def test_no_heap_for_the_run_aborts_the_calibration_with_its_own_event():
    ctx, apt, cal = _tracking()
    real = K.lazy
    K.lazy = fake = NoHeapLazy()
    try:
        cal.cmd_fsm_calibrate({}, None)
        for _ in range(30):
            apt.tick()
            if _ % 10 == 0:
                cal.update()
    finally:
        K.lazy = real
    assert fake.tried == [RUN]  # tried once: the command is spent, not retried each run
    assert ctx.named(EV_MODULE_LOAD_FAILED) == [RUN]
    assert ctx.args(K.EV_APT_CAL_ABORTED) == [["no heap for the calibration", 0]]
    assert cal.state == 4 and cal.aborted == 1 and cal.cal is None and apt.cal is K.NO_CAL
    assert not ctx.named(K.EV_APT_CAL_START) and not ctx.params["apt_cal_valid"]


def _no_heap_for_the_object(*args):
    raise MemoryError("the object's own allocation")


def test_a_memory_error_while_building_the_object_is_a_failed_load():
    m = lazy.load(RUN)
    m.NoHeap = _no_heap_for_the_object  # a class whose construction finds no heap
    n = lazy.failures[0]
    got = []
    try:
        lazy.make(RUN, "NoHeap", lambda ev, a=None, d="": got.append((ev, d)), 1, 2)
        raise AssertionError("built without a heap")
    except lazy.LoadFailed:
        pass
    assert lazy.failures[0] == n + 1 and got == [(EV_MODULE_LOAD_FAILED, RUN)]
    assert RUN not in sys.modules  # released: the next load is a fresh import
    assert not hasattr(lazy.load(RUN), "NoHeap")
    lazy.release(RUN)


def test_the_breakdown_sweep_is_built_on_use_and_dropped_when_idle():
    from flight import knee_owner as KO
    from flight.cmddict import BY_NAME, Refused
    from kit import app_rig

    r = app_rig("bias", "comparator")
    k = r.app.payload["bias_knee"]
    assert r.comp.knee is k and k.knee is None and k.state == 0 and k.floor_sigma is None
    k.hold = False  # as where its code is frozen (the flight image): dropped when idle
    k.update()  # the task's first run: the boot's import (declarations) released
    assert KO.KNEE not in sys.modules and "flight.bias_kt" not in sys.modules
    cmd = BY_NAME["BIAS_KNEE_CALIBRATE"]
    try:
        k.check_command(cmd, {})  # built for the knee's own check: SAFE, bias not ACTIVE
        raise AssertionError("accepted in SAFE")
    except Refused as e:
        assert e.reason == "WRONG_MODE", e.reason
    assert k.knee is not None and KO.KNEE in sys.modules and k.sweeps == 0
    k.update()  # idle, no session: dropped, its code released
    assert k.knee is None and KO.KNEE not in sys.modules and k.result == 0
    v = [None] * 11
    k.hk(v, 0)
    k.hk_diag(v, 5)
    assert v == [0] * 11  # what a new knee reports
    real = KO.lazy
    KO.lazy = fake = NoHeapLazy()
    try:
        try:
            k.check_command(cmd, {})
            raise AssertionError("accepted without its code")
        except Refused as e:
            assert e.reason == "BUSY" and "no heap" in str(e)
    finally:
        KO.lazy = real
    assert fake.tried == [KO.KNEE] and k.knee is None
    assert [e[2] for e in r.events if e[0] == EV_MODULE_LOAD_FAILED] == [KO.KNEE]


def test_parameter_rules_loaded_on_first_use_apply_at_param_set():
    o = Obc()
    o.settle()
    r = o.send(PARAM_SET, {"name": "temp_min_c", "value": 39.0})  # < temp_max_c 60: ok
    assert r[-1]["stage"] == "complete" and r[-1]["ok"] is True, r
    assert o.app.params["temp_min_c"] == 39.0
    r = o.send(PARAM_SET, {"name": "temp_max_c", "value": 30.0})  # below temp_min_c
    assert r[-1]["ok"] is False and r[-1]["reason"] == "BAD_ARG", r
    assert "limit_range_ordered" in r[-1]["detail"], r
    assert o.app.params["temp_max_c"] == 60.0


def _has_file(module):
    try:
        import os

        os.stat(module.__file__)
        return True
    except (OSError, ImportError, AttributeError):
        return False


def test_the_rules_are_released_after_a_check_where_their_code_is_frozen():
    # Frozen (the Cortex-M7 image) a reload is only an import: 0.8 kB of heap not held
    # in TRACK.  Loaded from a file (CPython, the VM, the unix port) they stay loaded.
    o = Obc()
    o.settle()
    r = o.send(PARAM_SET, {"name": "temp_min_c", "value": 38.0})
    assert r[-1]["ok"] is True, r
    assert (RULES in sys.modules) == _has_file(P)
    r = o.send(PARAM_SET, {"name": "temp_max_c", "value": 30.0})  # still checked
    assert r[-1]["ok"] is False and "limit_range_ordered" in r[-1]["detail"], r
    assert (RULES in sys.modules) == _has_file(P)


def test_no_heap_for_the_rules_refuses_a_change_with_its_own_event():
    events = []
    p = P.Params(emit=lambda ev, args=None, detail="": events.append((ev, detail)))
    p.declare((P.ParamDef("temp_min_c", "float", -20.0, -60.0, 40.0, "degC", ""),
               P.ParamDef("temp_max_c", "float", 60.0, -40.0, 125.0, "degC", "")), "core")
    p.load_defaults()
    real = P.lazy
    P.lazy = NoHeapLazy()
    try:
        try:
            p.set("temp_max_c", 50.0)
            raise AssertionError("a change was made without its rules")
        except P.Refused as e:
            assert e.reason == "BAD_ARG" and "heap exhausted" in str(e)
    finally:
        P.lazy = real
    assert events == [(EV_MODULE_LOAD_FAILED, RULES)]
    assert p["temp_max_c"] == 60.0
    p.set("temp_max_c", 50.0)  # with the heap back, the same change goes through
    assert p["temp_max_c"] == 50.0


def test_a_memory_error_while_importing_is_counted_and_reported_without_the_heap():
    lazy.release(FIT)
    got = [None, None]

    def emit(ev_id, args=None, detail=""):
        got[0] = ev_id  # stores only: runs with the heap locked
        got[1] = detail

    n = lazy.failures[0]
    failed = False
    if micropython is not None:
        micropython.heap_lock()
    else:  # CPython: the import itself is made to fail as a full heap would
        import builtins
        real = builtins.__import__

        def no_heap(name, *a, **k):
            if name == FIT:
                raise MemoryError(name)
            return real(name, *a, **k)
        builtins.__import__ = no_heap
    try:
        try:
            lazy.load(FIT, emit)
        except lazy.LoadFailed:
            failed = True
    finally:
        if micropython is not None:
            micropython.heap_unlock()
        else:
            builtins.__import__ = real
    assert failed and got == [EV_MODULE_LOAD_FAILED, FIT]
    assert lazy.failures[0] == n + 1
    assert FIT not in sys.modules
    assert lazy.load(FIT, emit).HALF == K.HALF  # and it loads once the heap is back
    lazy.release(FIT)
    assert FIT not in sys.modules


# ------------------------------------------------------------ boot code (issue 11)
BOOT = "flight.app_boot"  # the application's boot: wiring check, stores, start
REPLAY_LOAD = "flight.replay_load"  # the anti-replay marks restored at boot


def test_a_booted_app_holds_no_boot_code_where_it_is_frozen():
    # Frozen (the Cortex-M7 image): the boot's and the anti-replay load's code are not
    # held once the app runs; loaded from a file they stay (a reload would load it again)
    o = Obc()
    o.settle()
    assert o.app.hk_packer.n > 0 and o.app.boot_count >= 1  # booted: wired and counted
    assert (BOOT in sys.modules) == _has_file(P)
    assert (REPLAY_LOAD in sys.modules) == _has_file(P)
    r = o.send(PARAM_SET, {"name": "temp_min_c", "value": 37.0})  # TCs accepted after it
    assert r[-1]["ok"] is True, r


def _replay_guard(storage, backup, events):
    from flight.replay import ReplayGuard

    return ReplayGuard(storage, backup, lambda i, a=None, d="": events.append((i, a, d)),
                       rng=lambda n: bytes([9, 8, 7, 6][:n]))


def _marked_stores(ev):
    """(storage, backup) holding key 3's anti-replay mark 500, written by a loaded guard."""
    from hal.sim.backup import MemBackup
    from hal.sim.storage import MemStorage

    s = MemStorage()
    b = MemBackup()
    g = _replay_guard(s, b, ev)
    g.load()
    g.advance(3, 500)
    return s, b


def test_anti_replay_marks_restored_again_after_their_code_was_released():
    ev = []
    s, b = _marked_stores(ev)
    for _ in range(2):  # twice: the second load finds the code released (frozen) or held
        g2 = _replay_guard(s, b, ev)
        g2.load()
        assert g2.synced() and g2.last(3) == 500
        assert g2.check(3, 500) is not None and g2.check(3, 501) is None  # replay refused
        assert (REPLAY_LOAD in sys.modules) == _has_file(P)
    assert not [e for e in ev if e[0] == EV_MODULE_LOAD_FAILED]


def test_no_heap_for_the_anti_replay_load_is_resync_fail_secure():
    from flight import replay as R

    ev = []
    s, b = _marked_stores(ev)
    g2 = _replay_guard(s, b, ev)
    real = R.lazy
    R.lazy = fake = NoHeapLazy()
    try:
        g2.load()
    finally:
        R.lazy = real
    assert fake.tried == [REPLAY_LOAD]
    assert [e for e in ev if e[0] == EV_MODULE_LOAD_FAILED] == [
        (EV_MODULE_LOAD_FAILED, None, REPLAY_LOAD)]
    # the marks are not known: every ordinary TC refused, only COUNTER_RESYNC
    assert not g2.synced() and g2.nonce == 0x09080706
    assert g2.check(3, 501) == "resync needed" and g2.check(3, 1) == "resync needed"
    assert g2.resync(3, 1, 0x09080706, 20) == 20 and g2.synced()  # (resident code)
    assert g2.check(3, 20) is not None and g2.check(3, 21) is None


def test_no_heap_for_the_boot_code_refuses_the_boot():
    # MODULE_LOAD_FAILED (emitted by flight/lazy.py) and LoadFailed out of boot(): the
    # application does not start half-wired (board/main.py then resets)
    from flight import app as A
    from flight.app import FlightApp

    from obc import core_board

    app = FlightApp(core_board())
    real = A.lazy
    A.lazy = fake = NoHeapLazy()
    try:
        app.boot()
    except lazy.LoadFailed:
        pass
    else:
        raise AssertionError("booted without its boot code")
    finally:
        A.lazy = real
    assert fake.tried == [BOOT]
    assert app.boot_count == 0 and app.hk_packer.n == 0  # neither counted nor wired
    app.boot()  # the heap back: it boots
    assert app.boot_count == 1 and app.hk_packer.n > 0


KEYS_LOAD = "flight.keystore_load"  # the key store's restore at boot


def test_no_heap_for_the_key_store_load_is_no_usable_key_fail_secure():
    from flight import keystore as KS
    from flight.keystore import EV_NO_USABLE_KEY, KeyStore
    from hal.sim.backup import MemBackup
    from hal.sim.storage import MemStorage

    k2 = bytes(range(32))
    s = MemStorage()
    b = MemBackup()
    ks = KeyStore(s, b)
    assert ks.load({2: k2}) is True and ks.key(2) == k2  # stored
    assert (KEYS_LOAD in sys.modules) == _has_file(P)  # released where frozen
    ev = []
    ks2 = KeyStore(s, b, lambda i, a=None, d="": ev.append((i, a, d)))
    real = KS.lazy
    KS.lazy = fake = NoHeapLazy()
    try:
        assert ks2.load({2: k2}) is False
    finally:
        KS.lazy = real
    assert fake.tried == [KEYS_LOAD]
    assert [e[0] for e in ev] == [EV_MODULE_LOAD_FAILED, EV_NO_USABLE_KEY]
    assert not ks2.usable() and ks2.key(2) is None and ks2.active == 0  # no TC accepted
    assert ks2.load({2: k2}) is True and ks2.key(2) == k2  # the heap back: loaded now
    ks3 = KeyStore(s, b)  # the next boot: the stored key, nothing retired
    assert ks3.load() is True and ks3.key(2) == k2 and ks3.active == 2
