"""The flight application's boot (flight/app.py ``FlightApp.boot``): the wiring check,
the housekeeping packers, the stored state (boot record, keys, time tags, parameters,
anti-replay marks) and the start.  Run once per boot: loaded for it (flight/lazy.py) and
released after where its code is frozen, so a pass does not hold it (issue 11)."""

from flight import cbor, corecmds, lazy
from flight.app import EV_BOOT, RESET_CAUSES
from flight.params import (EV_PARAM_INVALID, EV_PARAMS_CORRUPT, EV_PARAMS_DEFAULTS,
                           EV_REPLAY_STATE_CORRUPT, EV_STORE_FALLBACK)
from flight.slotstore import SlotStore
from flight.tc import EV_DEV_KEY_IN_USE
from flight.telemetry import HkPacker
from flight.tm import MapPacker


BOOT_COUNT_MAX = 0xFFFF  # the boot count saturates here (its HK field is a u16)


def parse_boot_record(raw):
    """The boot count of a boot record, checked field by field: a CRC-valid record with
    a wrong type ("x", NaN, a list, a bool, out of range) is unusable like a bit flip and
    never raises out of boot() (issue 12 item 6: a boot loop).  ValueError if unusable."""
    d = cbor.decode(raw, max_depth=2, max_items=8, max_str=32)
    n = d.get("boot_count") if isinstance(d, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= BOOT_COUNT_MAX:
        raise ValueError("boot record: boot_count %r" % (n,))
    return n


def wire(app):
    """Bind the command owners (boot check: ValueError names a command without its
    handler or a handler without its entry) and build the housekeeping packers."""
    if app._wired:
        return
    app._wired = True
    from flight import components
    app.dispatch.verify(absent=components.PAYLOAD)
    mods = components.modules()
    app.hk_packer = _packer(app, mods, "HK", "hk")
    app.hk_diag_packer = p = _packer(app, mods, "HK_DIAG", "hk_diag")
    p.values = p.buf = None  # type: ignore[assignment]  # made per packet (send_hk_diag)
    for _name, mod in mods:
        fields = getattr(mod, "ADCS", None)
        if fields is not None:
            app._adcs_packer = MapPacker(fields)
    lazy.release("flight.components")  # the component list: read at boot only


def _packer(app, mods, attr, method):
    sections = []
    for name, mod in mods:
        fields = getattr(mod, attr, None)
        if fields is None:
            continue
        obj = app if name == "core" else app.dispatch.owners.get(name)  # core: the app's
        sections.append((fields, obj if hasattr(obj, method) else None))
    return HkPacker(sections, method)


def boot(app, reset_cause=None):
    """``app.boot``: wire, restore what the stores hold (each failure its own event; keys
    and anti-replay marks fail secure), enter SAFE, start the watchdog and the tasks."""
    wire(app)
    n = None
    # the boot record's store: read and written here only (not held in a pass)
    store = SlotStore(app.storage, "boot") if app.storage is not None else None
    if store is not None:
        try:
            n = store.load(parse_boot_record)
            if store.fallback:  # boot count may repeat: said so
                app.emit(EV_STORE_FALLBACK, ["boot"], store.describe())
        except Exception as e:
            app.storage_error("boot record", e)
    # (saturates: a watchdog boot loop of ~36 h must not make its own record unusable)
    app.boot_count = (n if n is not None else 0) + 1 if n != BOOT_COUNT_MAX else n
    # keys, the active and the retired ids: the key store's, never this record's
    # (losing it must not undo a rotation: issue 12 item 5)
    app.keyring.load()
    save_boot_record(app, store)
    wd = app.board.watchdog
    if reset_cause is None and wd is not None:
        try:
            reset_cause = RESET_CAUSES[wd.reset_cause()]
        except Exception:
            reset_cause = "OTHER"
    app.reset_cause = reset_cause or "POWER_ON"
    if app.events.damaged:
        app.emit(EV_STORE_FALLBACK, ["evlog"], app.events.damaged)
    app.timetags.restore()  # what the last reset lost: TIMETAG_DROPPED
    try:
        how = app.params.load(emit=lambda text: app.emit(EV_PARAM_INVALID, None, text))
    except Exception as e:
        app.storage_error("params", e)
        app.params.load_defaults()
        how = "corrupt"
    if how == "corrupt":
        app.emit(EV_PARAMS_CORRUPT, None, "parameter store corrupt: defaults loaded")
    elif how == "empty":
        app.emit(EV_PARAMS_DEFAULTS, None, "no stored parameters")
    try:
        app.replay.load()
    except Exception as e:  # fail secure: a mark not known to be current is RESYNC
        app.storage_error("replay", e)
        app.replay.enter_resync("anti-replay load failed: %r" % (e,))
    if app.replay.corrupt:
        app.emit(EV_REPLAY_STATE_CORRUPT, None, "anti-replay state unreadable")
    app.emit(EV_BOOT, [app.boot_count], "boot %d, reset cause %s, v%s" % (
        app.boot_count, app.reset_cause, corecmds.VERSION))
    if app.keyring.is_dev():
        app.emit(EV_DEV_KEY_IN_USE, None, "DEVELOPMENT KEY loaded: not for flight")
    app.modes.enter_safe("boot")
    if wd is not None:
        try:
            wd.start(app.watchdog_timeout_ms)
        except Exception as e:
            app.sched.watchdog_fault(e)
    app.sched.start()


def save_boot_record(app, store):
    if store is None:
        return
    try:
        store.save(cbor.encode({"boot_count": app.boot_count}))
    except Exception as e:
        app.storage_error("boot record", e)
