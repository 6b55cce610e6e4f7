"""Robustness of the telecommand pipeline (issue 3): hypothesis properties (bounded and
derandomized: the same examples every run) of single injections, each audited by
tests/tc_robust_pipe.py ``Pipe.inject``: raw wire octets, authentic commands with any
opcode and arguments, authentic arbitrary CBOR bodies, and octet mutations of a valid TC
(with and without a consistent CRC, truncated).
"""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight import cbor
from flight.cmddict import BY_NAME
from tests.mpy.obc import fix_crc
from tests.tc_robust_pipe import OPS, Pipe, cbor_values

_HYP = settings(max_examples=1500, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_HYP
@given(wire=st.binary(max_size=400))
def test_hypothesis_raw_wire_bytes(wire):
    pipe = Pipe(random.Random(0))
    pipe.inject(wire + b"\x00")
    pipe.totals_consistent()


@_HYP
@given(opcode=st.sampled_from(OPS) | st.integers(-(2 ** 64), 2 ** 64 - 1),
       args=st.dictionaries(st.sampled_from(["time", "mode", "name", "value", "max", "key_id",
                                             "opcode", "args", "kp", "ki", "volts", "x"]),
                            cbor_values, max_size=4))
def test_hypothesis_authentic_commands_with_arbitrary_arguments(opcode, args):
    pipe = Pipe(random.Random(0))
    pipe.send([pipe.valid(opcode, args)])
    pipe.totals_consistent()


@_HYP
@given(body=cbor_values)
def test_hypothesis_authentic_arbitrary_bodies(body):
    pipe = Pipe(random.Random(0))
    pipe.send([pipe.signed_body(cbor.encode(body))])
    pipe.totals_consistent()


@_HYP
@given(data=st.data())
def test_hypothesis_mutations_of_a_valid_tc(data):
    pipe = Pipe(random.Random(0))
    p = bytearray(pipe.valid(BY_NAME["PARAM_SET"].opcode, {"name": "limit_persist", "value": 4}))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(p) - 1))
        p[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        p = bytearray(fix_crc(bytes(p)))
    cut = data.draw(st.integers(0, len(p)))
    pipe.send([bytes(p[:cut])])
    pipe.totals_consistent()
