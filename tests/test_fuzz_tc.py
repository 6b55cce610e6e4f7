"""Bounded, deterministic property-based fuzzing of the TC paths and the stored state
(issue 12, "Done when"; hypothesis, derandomized: the same examples every run, a few
seconds in ``make test``).

Through the real pipeline (MemLink → tc task → COBS → CCSDS → MAC → anti-replay → CBOR →
dictionary → owner → verification TM), audited after every injection by
tests/test_tc_robust_campaign.py ``Pipe.inject``: no exception escapes, every frame is one
acceptance report and one counted reason, a rejection changes nothing
(``app.snapshot()``, storage included).  On top of the single-frame properties there:

* **sequences** (a hypothesis state machine): garbage wire octets, forged and re-signed
  bodies, authenticated commands with any opcode and arguments, PARAM_SET of *every*
  declared parameter with hostile values, time-tags, and power cycles on whatever was
  stored, interleaved — after each step every parameter is inside its range and every
  cross-parameter rule (flight/param_rules.py) holds;
* **stored state**: any content in any persisted record (parameters, boot record,
  time-tag record, event-log blobs; raw octets or CRC-valid CBOR of any shape) — the
  payload boots, in SAFE, its parameters valid, and accepts a genuine TC.
"""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from flight import cbor, params
from flight.app import FlightApp
from flight.cmddict import BY_NAME
from flight.param_rules import RULES
from flight.slotstore import SlotStore, encode_slot
from hal.sim.storage import MemStorage
from tests.mpy.obc import Obc, ok_pair
from tests.tc_robust_pipe import OPS, Pipe, cbor_values

PARAM_SET = BY_NAME["PARAM_SET"].opcode
TIMETAG = BY_NAME["TIMETAG"].opcode
PING = BY_NAME["PING"].opcode
PARAM_NAMES = sorted(FlightApp(Obc(boot=False).board).params.defs)

# Small, fixed budgets: derandomized (the examples are a function of the test alone), no
# deadline (a busy machine is slow, not wrong), no example database (nothing carried
# between runs).
_FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_STATEFUL = settings(_FUZZ, max_examples=25, stateful_step_count=25)

hostile = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2 ** 40), 2 ** 40)
           | st.sampled_from([0, 1, -1, 0.0, -0.0, 1e-300, True, False, None, "1", b"\x00"])
           | st.floats(-100.0, 200.0))


def check_params(app):
    """Every parameter in its type and range, every rule satisfied."""
    p = app.params
    for name, d in p.defs.items():
        assert params.check(d, p[name]) == p[name], name
    for r in RULES:
        assert r.check(p.values) is None, (r.name, {n: p[n] for n in r.params})


class TcSequences(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.pipe = Pipe(random.Random(0))

    @rule(wire=st.binary(max_size=120))
    def garbage(self, wire):
        self.pipe.inject(wire + b"\x00")

    @rule(body=cbor_values)
    def signed_body(self, body):
        self.pipe.send([self.pipe.signed_body(cbor.encode(body))])

    @rule(opcode=st.sampled_from(OPS) | st.integers(0, 255),
          args=st.dictionaries(st.sampled_from(["time", "mode", "name", "value", "max",
                                                "key_id", "opcode", "args", "volts", "x"]),
                               hostile | st.sampled_from(PARAM_NAMES), max_size=3))
    def command(self, opcode, args):
        self.pipe.send([self.pipe.valid(opcode, args)])

    @rule(name=st.sampled_from(PARAM_NAMES), value=hostile)
    def param_set(self, name, value):
        self.pipe.send([self.pipe.valid(PARAM_SET, {"name": name, "value": value})])

    @rule(name=st.sampled_from(PARAM_NAMES), frac=st.floats(-0.1, 1.1))
    def param_set_near_range(self, name, frac):
        d = self.pipe.app.params.defs[name]
        if d.ptype == "bool":
            v = frac > 0.5
        else:
            v = d.lo + (d.hi - d.lo) * frac
            v = int(v) if d.ptype == "int" else v
        self.pipe.send([self.pipe.valid(PARAM_SET, {"name": name, "value": v})])

    @rule(dt=st.floats(-5.0, 30.0))
    def timetag(self, dt):
        t = self.pipe.app.now_s() + dt
        self.pipe.send([self.pipe.valid(TIMETAG, {"time": t, "opcode": PING})])

    @rule()
    def save(self):
        self.pipe.send([self.pipe.valid(BY_NAME["PARAM_SAVE"].opcode, {})])

    @precondition(lambda self: self.pipe.reboots < 3)
    @rule()
    def power_cycle(self):
        self.pipe.reboot()  # a new payload on the same storage (no REBOOT command)

    @rule(us=st.integers(0, 2000000))
    def run(self, us):
        self.pipe.run_scheduler(us)

    @invariant()
    def parameters_valid(self):
        check_params(self.pipe.app)
        self.pipe.totals_consistent()


TcSequences.TestCase.settings = _STATEFUL
test_tc_sequences = TcSequences.TestCase


@_FUZZ
@given(wire=st.binary(max_size=300))
def test_garbage_never_costs_the_next_genuine_tc(wire):
    """Any octets, then a frame delimiter and a genuine TC: the garbage is rejected or
    dropped (counted), and the genuine TC after it is accepted — no state the garbage
    leaves in the deframer or the pipeline costs the link."""
    pipe = Pipe(random.Random(0))
    genuine = pipe.valid(PING, {})
    from flight import cobs

    acc = pipe.inject(wire + b"\x00" + cobs.encode(genuine) + b"\x00")
    assert acc >= 1
    pipe.totals_consistent()


RECORDS = ("params", "boot", "timetag")


@_FUZZ
@given(record=st.sampled_from(RECORDS + ("evlog",)), slot=st.integers(0, 1),
       raw=st.binary(max_size=64), value=cbor_values, how=st.integers(0, 2))
def test_any_stored_record_boots_safe_and_valid(record, slot, raw, value, how):
    s = MemStorage()
    if record == "evlog":
        s.blobs["evlog%d" % (slot + how)] = raw if how else cbor.encode(value)
    elif how == 0:
        s.blobs["%s.%s" % (record, "ab"[slot])] = raw  # any octets
    elif how == 1:
        SlotStore(s, record).save(cbor.encode(value))  # CRC-valid, any CBOR shape
    else:  # a CRC-valid map of the right shape with hostile values
        rec = value if isinstance(value, dict) else {"boot_count": value, "key_id": value,
                                                     "limit_persist": value,
                                                     "bias_safe_v": value}
        s.blobs["%s.a" % record] = encode_slot(7, cbor.encode(rec))
    o = Obc(storage=s)
    assert o.app.modes.mode == "SAFE"
    check_params(o.app)
    ok_pair(o.send(PING))
