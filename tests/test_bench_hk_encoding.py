"""``python -m bench.hk_encoding`` (docs/telemetry.md): the housekeeping encodings measured in
the MicroPython VM and on CPython encode the same packed body (it once failed in the VM, where a
field declaration is a plain tuple, without a test noticing)."""

from bench import hk_encoding


def test_the_vm_and_cpython_encode_the_same_packet_and_the_packed_form_is_smallest():
    vm = hk_encoding.micropython()
    host = hk_encoding.cpython()
    assert vm["fields"] == host["fields"] > 50
    # the packed body has a fixed size; CBOR's depends on the values (each run's own)
    assert vm["packed"]["octets"] == host["packed"]["octets"] > 0
    assert vm["cbor_array"]["octets"] < vm["packed"]["octets"] < vm["cbor_map"]["octets"]
    # the packed buffer is allocated once; CBOR builds its body anew each packet
    assert vm["packed"]["alloc"] < 8 < vm["cbor_array"]["alloc"]
