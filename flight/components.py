"""The components of the flight software, in housekeeping order (DESIGN §3.7).

A component is a Python module declaring, as module-level data, any of ``PARAMS``
(flight.params.ParamDef), ``EVENTS`` (flight.events.Event), ``HK`` and ``HK_DIAG``
(flight.telemetry.HkField) and ``ADCS`` (the ADCS feedback fields); its commands are the
entries of flight.cmddict.COMMANDS whose owner is the component's name.  The flight
application assembles its tables and its housekeeping packet from this list; the ground
dictionary (``vector-tc dict``) is exported from it.  Adding a module = one line here.
"""

import sys

# (component name = command owner, python module)
COMPONENTS = (
    ("core", "flight.app"),
    ("scheduler", "flight.scheduler"),
    ("tc", "flight.tc"),
    ("keys", "flight.keystore"),
    ("replay", "flight.replay"),
    ("tclimit", "flight.tclimit"),
    ("timetag", "flight.timetag"),
    ("params", "flight.params"),
    ("modes", "flight.modes"),
    ("tm", "flight.tm"),
    ("bias", "flight.bias"),
    ("thermal", "flight.thermal_sensors"),  # the bias module's sensor selection
    ("apt", "flight.apt"),
    ("aptcal", "flight.apt_calib"),
    ("aptsurvey", "flight.apt_survey"),
    ("aptphase", "flight.apt_phase"),  # the frame's phase (its event in 0x9_: apt's is full)
    ("framer", "flight.framer_ctl"),
    ("bias_knee", "flight.bias_knee"),
    ("comparator", "flight.comparator"),
    ("pointahead", "flight.pointahead"),
    ("borescan", "flight.bore_scan"),
)

PAYLOAD = ("bias", "thermal", "apt", "aptcal", "aptsurvey", "aptphase", "framer",
           "bias_knee", "comparator", "pointahead", "borescan")  # absent on a core board


def modules():
    """[(name, python module)] in order (imported on first use)."""
    out = []
    for name, path in COMPONENTS:
        mod = sys.modules.get(path)
        if mod is None:
            __import__(path)
            mod = sys.modules[path]
        out.append((name, mod))
    return out


def declared(attr):
    """[(component name, its ``attr`` tuple)] of the components declaring ``attr``."""
    out = []
    for name, mod in modules():
        decl = getattr(mod, attr, None)
        if decl is not None:
            out.append((name, decl))
    return out
