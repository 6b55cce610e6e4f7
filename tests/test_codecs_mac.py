"""Unit tests of flight/mac.py: HMAC-SHA256 against RFC 4231 and Python's hmac, the
128-bit truncated tag, verify rejecting any change, constant-time compare."""

import hashlib
import hmac

import pytest

from flight import mac

from tests.hexbytes import H


# ============================================================================ MAC

RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data."
     b" The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


@pytest.mark.parametrize("key, msg, want", RFC4231)
def test_hmac_rfc4231(key, msg, want):
    assert mac.hmac_sha256(key, msg).hex() == want
    assert hmac.new(key, msg, hashlib.sha256).hexdigest() == want
    assert mac.mac(key, msg) == H(want)[:16]
    k = mac.HmacSha256(key)
    assert k.digest([msg[:3], memoryview(msg)[3:]]).hex() == want
    assert k.verify(msg, H(want)[:16])


def test_hmac_rfc4231_case5_truncation():
    key = b"\x0c" * 20
    assert mac.mac(key, b"Test With Truncation") == H("a3b6167473100ee06e0c796c2955552b")
    assert mac.MAC_LEN == 16 and mac.DIGEST_LEN == 32


def test_hmac_key_of_exactly_block_size_and_empty():
    for key in (b"", b"k" * 63, b"k" * 64, b"k" * 65):
        assert mac.hmac_sha256(key, b"m") == hmac.new(key, b"m", hashlib.sha256).digest()


def test_mac_verify_rejects_any_change():
    key = b"0123456789abcdef0123456789abcdef"
    msg = b"\x10\xa0\xc0\x01\x00\x10" + b"body" + b"\x01" + b"\x00\x00\x00\x2a"
    tag = mac.mac(key, msg)
    assert mac.verify(key, msg, tag)
    assert not mac.verify(key, msg + b"x", tag)
    assert not mac.verify(key[:-1] + b"0", msg, tag)
    for i in range(16):
        bad = bytearray(tag)
        bad[i] ^= 1
        assert not mac.verify(key, msg, bytes(bad))
    assert not mac.verify(key, msg, tag[:15])
    assert not mac.verify(key, msg, mac.hmac_sha256(key, msg))  # untruncated is not a tag


def test_equal_ct():
    assert mac.equal_ct(b"", b"")
    assert mac.equal_ct(b"abc", bytearray(b"abc"))
    assert mac.equal_ct(memoryview(b"abc"), b"abc")
    assert not mac.equal_ct(b"abc", b"abd")
    assert not mac.equal_ct(b"xbc", b"abc")
    assert not mac.equal_ct(b"abc", b"ab")
    assert not mac.equal_ct(b"", b"a")
