"""What the OBC and the ground see of the flight application: decoded TM packets.

The runner observes the flight software only through its telemetry on the simulated UART
(plus the simulated world's own truth), like the satellite bus and a ground station do:

* :func:`hk_fields` - THE one place that reads a housekeeping packet (APID 0x0A1) and
  returns the flat, named fields the runner uses, decoded by the exported dictionary
  (``ground_tools.tmdecode``: packed big-endian, physical values); :func:`diag_fields`
  the same for the diagnostic set (APID 0x0A5: per-task scheduler rows and module
  internals), which the OBC asks for every second and joins to the housekeeping just
  received.
* :func:`adcs_fields` - the pointing feedback (APID 0x0A4) that the ADCS bridge forwards.
* :func:`event_transition` - "OLD -> NEW" state changes out of an event (APID 0x0A2).

:class:`TmTap` is the simulated board's UART as the OBC sees it: every TM packet the
payload writes is deframed and decoded at the instant it is written (so the ADCS bridge
reacts with no latency, as the OBC's relay is assumed to) and handed to the runner's
callback with the world time.
"""

from flight import cbor, ccsds, cobs

# The flight modules' state tables: their one import in the runner (names and numbers).
from flight.apt import IDLE as APT_IDLE
from flight.apt import STATE_NAMES as APT_STATES
from flight.apt import TRACK as APT_TRACK
from flight.bias import ACTIVE as BIAS_ACTIVE
from flight.bias import HOLD as BIAS_HOLD
from flight.bias import STATE_NAMES as BIAS_STATES
from flight.comparator import STATE_NAMES as COMP_STATES
from flight.comparator import TRACK as COMP_TRACK
from flight.framer_ctl import L_LOCKED as LINK_LOCKED
from flight.framer_ctl import L_OFF as LINK_OFF
from flight.framer_ctl import LINK_NAMES as LINK_STATES
from flight.scheduler import TASK_NAMES
from flight.tm import APID_ADCS, APID_EVENT, APID_HK, APID_HK_DIAG, APID_VERIFY
from ground_tools import dictionary, tmdecode
from hal.sim.link import MemLink

__all__ = ("APID_ADCS", "APID_EVENT", "APID_HK", "APID_HK_DIAG", "APID_VERIFY", "APT_IDLE",
           "APT_STATES",
           "APT_TRACK", "BIAS_ACTIVE", "BIAS_HOLD", "BIAS_STATES", "COMP_STATES", "COMP_TRACK",
           "LINK_LOCKED", "LINK_OFF", "LINK_STATES", "TmTap", "adcs_fields",
           "diag_fields", "event_transition", "hk_fields", "packet_body", "param_value",
           "state_index")


_PARAMS = {}


def param_value(name):
    """A flight parameter as the OBC knows it: the default of the exported dictionary (the
    runner's OBC never changes parameters)."""
    if not _PARAMS:
        from ground_tools.dictionary import parameters

        for p in parameters().values():
            _PARAMS[p["name"]] = p["default"]
    return _PARAMS.get(name)


def state_index(names, name):
    """Index of a state name in a flight module's name table; -1 when absent/unknown."""
    try:
        return names.index(name)
    except ValueError:
        return -1


def decode_body(body):
    """A CBOR TM body (events, verification reports, ADCS feedback)."""
    return cbor.decode(body, max_items=100000, max_str=100000, max_depth=32)


def packet_body(packet):
    """The decoded CBOR body of a TM packet (CCSDS bytes)."""
    _h, body = ccsds.parse_packet(packet, ptype=ccsds.TYPE_TM)
    return decode_body(body)


def _decoded(packet, apid):
    _h, body = ccsds.parse_packet(packet, ptype=ccsds.TYPE_TM)
    return tmdecode.decode_body(apid, body, dictionary.default())[2]


def hk_fields(packet):
    """Flat named fields of one housekeeping packet (the whole CCSDS packet).

    State fields are indices into the flight modules' name tables (-1 unknown); the
    fields of the diagnostic set (``sched`` rows ``(name, cpu_us, deadline_misses,
    faults)``, ...) are None / empty until :func:`diag_fields` joins them.
    """
    hk = _decoded(packet, APID_HK)
    return {
        "time": hk["time"] + hk["time_ms"] / 1000.0,
        "uptime": hk["uptime"],
        "mode": hk["mode"],
        "apt_state": state_index(APT_STATES, hk.get("apt_state")),
        "apt_valid": hk.get("apt_valid") == "YES",
        "apt_res_x_urad": hk.get("apt_res_x"),
        "apt_res_y_urad": hk.get("apt_res_y"),
        "bias_state": state_index(BIAS_STATES, hk.get("bias_state")),
        "bias_v_target": None,
        "bias_v_cmd": hk.get("bias_v_cmd"),
        "bias_t_c": hk.get("bias_t"),
        "bias_t_est_c": None,
        "comp_state": state_index(COMP_STATES, hk.get("comp_state")),
        "comp_center": hk.get("comp_center"),
        "comp_cal_duration_s": None,
        "link": state_index(LINK_STATES, hk.get("framer_link")),
        "pa_source": hk.get("pa_source"),
        "pa_off_x_urad": hk.get("pa_off_x"),
        "pa_off_y_urad": hk.get("pa_off_y"),
        "pa_nav_age_s": hk.get("pa_nav_age"),
        "pa_nav_rejected": hk.get("pa_nav_rejected"),
        "sched": [],
    }


def diag_fields(packet):
    """The fields :func:`hk_fields` leaves open, from a diagnostic set (APID 0x0A5)."""
    d = _decoded(packet, APID_HK_DIAG)
    sched = []
    for name in TASK_NAMES:
        if d.get(name + "_runs"):  # tasks that never ran are not on this board
            sched.append((name, d[name + "_cpu_ms"] * 1000, d[name + "_deadline_misses"],
                          d[name + "_faults"]))
    cal = d.get("comp_cal_duration")
    if cal is not None and cal >= 655.34:  # the field's "none" value (raw 65535)
        cal = None
    return {"bias_v_target": d.get("bias_v_target"), "bias_t_est_c": d.get("bias_t_est"),
            "comp_cal_duration_s": cal, "sched": sched,
            # the line-of-sight jitter of the session (flight/apt_jitter.py; µrad, s)
            "apt_los_jitter": d.get("apt_los_jitter"),
            "apt_los_jitter_n": d.get("apt_los_jitter_n")}


def adcs_fields(body):
    """The ADCS feedback message: (valid, err_x_rad, err_y_rad, offload, fsm_x_rad, fsm_y_rad)."""
    def rad(k):
        v = body.get(k)
        return v * 1e-6 if v is not None else 0.0

    return (bool(body.get("valid")), rad("err_x_urad"), rad("err_y_urad"),
            bool(body.get("offload")), rad("fsm_x_urad"), rad("fsm_y_urad"))


def event_transition(ev):
    """(old, new) state names of a state-change event ("OLD -> NEW"), else None."""
    args = ev.get("args")
    if isinstance(args, (list, tuple)) and len(args) == 2 and all(
            isinstance(a, str) for a in args):
        return args[0], args[1]
    text = ev.get("text") or ""
    if " -> " not in text:
        return None
    old, new = text.split(" -> ", 1)
    return old.strip(), new.split(" ", 1)[0].strip()


class TmTap(MemLink):
    """The payload UART seen from the OBC: decodes TM at the instant it is written.

    ``on_packet(apid, packet)`` is called for every complete packet (CCSDS bytes; the
    receiver decodes what it uses: :func:`hk_fields`, :func:`decode_body`).  The decoding is
    the OBC's work, not the flight computer's: it runs inside the flight code's
    ``write`` call, so it is bracketed as physics (``world.physics_begin/end``) and not
    charged to the flight tasks.
    """

    def __init__(self, world, on_packet):
        super().__init__()
        self.world = world
        self.on_packet = on_packet
        self.deframer = cobs.Deframer(max_frame=65536)
        self.bad_packets = 0

    def write(self, data):
        n = len(data)
        if n == 0:
            return 0
        self.tx_bytes += n
        w = self.world
        t0 = w.physics_begin()
        try:
            for pkt in self.deframer.feed(bytes(data)):
                try:
                    h, _body = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TM)
                except Exception:
                    self.bad_packets += 1
                    continue
                self.on_packet(h[ccsds.H_APID], pkt)
        finally:
            w.physics_end(t0)
        return n

    def take(self):
        return b""  # everything went to on_packet already
