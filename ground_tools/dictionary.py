"""The ground dictionaries, generated from flight/ (one source of truth)."""

from flight import cmddict, events, tc, tm
from flight.app import define_core_params
from flight.params import Params


def telemetry_dictionary():
    params = Params()
    define_core_params(params)
    return {
        "apids": {"hk": tm.APID_HK, "event": tm.APID_EVENT, "verification": tm.APID_VERIFY,
                  "adcs": tm.APID_ADCS},
        "packet": "CCSDS space packet (TM), CBOR body, CRC-16/CCITT-FALSE, COBS-framed",
        "verification_reasons": list(tc.REASONS),
        "verification_keys": ["stage", "ok", "reason", "tc_apid", "tc_seq"],
        "events": [{"id": k, "name": v} for k, v in sorted(events.EVENT_NAMES.items())],
        "severities": list(events.SEVERITY_NAMES),
        "parameters": params.table(),
    }


def build_dictionary():
    d = cmddict.dictionary(tm.APID_TC)
    d["telemetry"] = telemetry_dictionary()
    return d
