"""Transitional adapter for payload modules not yet converted to the declaration
contract (old constructor taking the app, ``handlers`` returning (ok, reason, result),
``busy``, ``define_params``).  Deleted once every module declares PARAMS/EVENTS/HK."""

from flight.cmddict import COMMANDS, Busy, CmdFailed


class _App:
    def __init__(self, app):
        self._app = app
        self.params = app.params
        self.modes = app.modes

    def emit(self, sev, ev_id, text="", args=None):
        return self._app.emit(sev, ev_id, text, args)

    def now_s(self):
        return self._app.now_s()

    def send_adcs(self, body):
        self._app.send_adcs(body)


class _Owner:
    """The dispatcher's view of an unconverted module: handlers of the new signature."""

    def __init__(self, m, owner):
        self._m = m
        for c in COMMANDS:
            fn = m.handlers.get(c.name) if hasattr(m, "handlers") else None
            if c.owner == owner and fn is not None:
                setattr(self, c.handler, _wrap(fn))

    def hk(self, values, i):
        pass

    def check_command(self, cmd, args):
        b = getattr(self._m, "busy", None)
        why = b(cmd, args) if b is not None else None
        if why:
            raise Busy(why)


def _wrap(fn):
    def h(args, tc=None):
        ok, reason, result = fn(args)
        if not ok:
            raise CmdFailed(reason, result)
        return result

    return h


_OWNER = {"Apt": "apt", "BiasControl": "bias", "FramerControl": "framer",
          "ComparatorControl": "comparator"}


def legacy_module(cls, app, *devices):
    m = cls(_App(app), *devices)
    define = getattr(m, "define_params", None)
    if define is not None:
        define(app.params)
    m._legacy_owner = _Owner(m, _OWNER[cls.__name__])
    return m
