"""What the OBC and the ground see of the flight application: decoded TM packets.

The runner observes the flight software only through its telemetry on the simulated UART
(plus the simulated world's own truth), like the satellite bus and a ground station do:

* :func:`hk_fields` - THE one place that reads a housekeeping packet (APID 0x0A1) and
  returns the flat, named fields the runner uses.  Housekeeping is a CBOR map today; when
  the packed binary HK with the dictionary-driven decoder lands
  (``ground_tools/tmdecode.py decode_tm(packet, dictionary)``), only this function changes.
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
from flight.tm import APID_ADCS, APID_EVENT, APID_HK, APID_VERIFY
from hal.sim.link import MemLink

__all__ = ("APID_ADCS", "APID_EVENT", "APID_HK", "APID_VERIFY", "APT_IDLE", "APT_STATES",
           "APT_TRACK", "BIAS_ACTIVE", "BIAS_HOLD", "BIAS_STATES", "COMP_STATES", "COMP_TRACK",
           "LINK_LOCKED", "LINK_OFF", "LINK_STATES", "TmTap", "adcs_fields",
           "event_transition", "hk_fields", "packet_body", "param_value", "state_index")


_PARAMS = {}


def param_value(name):
    """A flight parameter as the OBC knows it: the default of the exported dictionary (the
    runner's OBC never changes parameters)."""
    if not _PARAMS:
        from ground_tools.dictionary import parameters

        for p in parameters():
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


def _get(d, key):
    return d.get(key) if isinstance(d, dict) else None


def hk_fields(packet):
    """Flat named fields of one housekeeping packet (the whole CCSDS packet, as
    ``decode_tm(packet, dictionary)`` takes it; its body is a CBOR map today).

    State fields are indices into the flight modules' name tables (-1 unknown); the
    scheduler rows are ``(name, cpu_us, deadline_misses, faults)``.
    """
    _h, body = ccsds.parse_packet(packet, ptype=ccsds.TYPE_TM)
    hk = decode_body(body)
    apt = hk.get("apt") or {}
    bias = hk.get("bias") or {}
    comp = hk.get("comparator") or {}
    fr = hk.get("framer") or {}
    sched = []
    for row in hk.get("sched") or []:
        sched.append((row[0], row[6], row[5], row[7]))
    return {
        "time": hk.get("time"),
        "uptime": hk.get("uptime"),
        "mode": hk.get("mode"),
        "apt_state": state_index(APT_STATES, _get(apt, "state")),
        "apt_valid": bool(_get(apt, "valid")),
        "apt_res_x_urad": _get(apt, "res_x_urad"),
        "apt_res_y_urad": _get(apt, "res_y_urad"),
        "bias_state": state_index(BIAS_STATES, _get(bias, "state")),
        "bias_v_target": _get(bias, "v_target"),
        "bias_v_cmd": _get(bias, "v_cmd"),
        "bias_t_c": _get(bias, "t_c"),
        "bias_t_est_c": _get(bias, "t_est_c"),
        "comp_state": state_index(COMP_STATES, _get(comp, "state")),
        "comp_center": _get(comp, "center"),
        "comp_cal_duration_s": _get(comp, "cal_duration_s"),
        "link": state_index(LINK_STATES, _get(fr, "link")),
        "sched": sched,
    }


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
