"""HMAC-SHA256 (RFC 2104 / FIPS 198-1) on ``hashlib.sha256``, truncated to 16 octets.

Many MicroPython ports ship ``hashlib.sha256`` but no ``hmac`` module, and their
hash objects have no ``copy()``; so the construction is done here and the key is
turned once into its two 64-octet padded blocks (``K xor ipad``, ``K xor opad``) by
:class:`HmacSha256`, leaving two hash objects per message.

The telecommand security trailer (DESIGN §3.7) carries the first :data:`MAC_LEN` = 16
octets of the HMAC (truncation as in RFC 2104 §5 / RFC 4231 test case 5).

A message may be given as one bytes-like object or as a list/tuple of bytes-like
parts, which are MACed as their concatenation without building it (header, body, key
id and counter are authenticated this way).

:func:`equal_ct` compares two byte strings in time that depends only on their
length (the length of a tag is public).
"""

import hashlib

from hal.compat import const

MAC_LEN = const(16)
DIGEST_LEN = const(32)
_BLOCK = const(64)


def _update(h, msg):
    if isinstance(msg, (list, tuple)):
        for part in msg:
            h.update(part)
    else:
        h.update(msg)


class HmacSha256:
    """HMAC-SHA256 with a fixed key (pads computed once)."""

    def __init__(self, key):
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        ipad = bytearray(_BLOCK)
        opad = bytearray(_BLOCK)
        n = len(key)
        for i in range(_BLOCK):
            k = key[i] if i < n else 0
            ipad[i] = k ^ 0x36
            opad[i] = k ^ 0x5C
        self._ipad = bytes(ipad)
        self._opad = bytes(opad)

    def digest(self, msg):
        """Full 32-octet HMAC-SHA256 of ``msg`` (bytes-like or list/tuple of them)."""
        h = hashlib.sha256(self._ipad)
        _update(h, msg)
        inner = h.digest()
        h = hashlib.sha256(self._opad)
        h.update(inner)
        return h.digest()

    def mac(self, msg):
        """The 16-octet truncated tag."""
        return self.digest(msg)[:MAC_LEN]

    def verify(self, msg, tag):
        """True if ``tag`` is the 16-octet tag of ``msg`` (constant-time compare)."""
        return equal_ct(self.mac(msg), tag)


def hmac_sha256(key, msg):
    """Full 32-octet HMAC-SHA256."""
    return HmacSha256(key).digest(msg)


def mac(key, msg):
    """HMAC-SHA256 truncated to MAC_LEN (16) octets."""
    return HmacSha256(key).digest(msg)[:MAC_LEN]


def verify(key, msg, tag):
    """Constant-time check of a 16-octet tag."""
    return equal_ct(HmacSha256(key).digest(msg)[:MAC_LEN], tag)


def equal_ct(a, b):
    """``a == b`` for byte strings, in time independent of where they differ.

    Different lengths return False at once (lengths are not secret).
    """
    n = len(a)
    if len(b) != n:
        return False
    acc = 0
    for i in range(n):
        acc |= a[i] ^ b[i]
    return acc == 0
