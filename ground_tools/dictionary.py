"""The ground dictionaries, generated from flight/ (one source of truth).

Commands come from :mod:`flight.cmddict`; events, reasons and APIDs from the flight
modules; parameters from the definitions the flight application runs: the core set
(:func:`flight.app.define_core_params`) and each payload-control module that
:mod:`flight.payload` installs (its ``define_params``).
"""

from flight import cmddict, events, tc, tm
from flight.app import define_core_params
from flight.params import Params

# Housekeeping "sched" rows are [task name, *SCHED_FIELDS] (flight/app.py housekeeping()).
SCHED_FIELDS = ("runs", "overruns", "late_starts", "max_late_us", "deadline_misses", "cpu_us",
                "faults", "enabled")


def _module_classes():
    try:
        from flight import payload
    except ImportError:  # a flight build without the payload-control modules
        return []
    out = []
    for name in sorted(vars(payload)):
        obj = getattr(payload, name)
        if isinstance(obj, type) and callable(getattr(obj, "define_params", None)):
            out.append(obj)
    return out


def parameters():
    """The parameter table (list of maps) of a flight application with every module."""
    params = Params()
    define_core_params(params)
    for cls in _module_classes():
        try:
            # define_params only declares parameters on ``p``; no instance is needed.
            cls.define_params(None, params)
        except Exception:  # noqa: BLE001 - a module that needs its instance: left out
            continue
    return params.table()


def telemetry_dictionary():
    params = parameters()  # first: importing the modules registers their events
    return {
        "apids": {"hk": tm.APID_HK, "event": tm.APID_EVENT, "verification": tm.APID_VERIFY,
                  "adcs": tm.APID_ADCS},
        "packet": "CCSDS space packet (TM), CBOR body, CRC-16/CCITT-FALSE, COBS-framed",
        "verification_reasons": list(tc.REASONS),
        "verification_keys": ["stage", "ok", "reason", "tc_apid", "tc_seq"],
        "events": [{"id": k, "name": v} for k, v in sorted(events.EVENT_NAMES.items())],
        "severities": list(events.SEVERITY_NAMES),
        "parameters": params,
        "housekeeping": {"sched_row": ["task"] + list(SCHED_FIELDS)},
    }


def build_dictionary():
    d = cmddict.dictionary(tm.APID_TC)
    d["telemetry"] = telemetry_dictionary()
    return d
