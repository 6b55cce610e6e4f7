"""Telecommand authentication keys (HMAC-SHA256, DESIGN §3.7).

A keyring maps a key id (1..255) to a 32-octet key; one id is *active*: only TCs
carrying it are accepted.  ``KEY_ROTATE`` switches the active id to another key already
in the ring — key material never travels on the link.  The active id is persisted.

Key file format (the simulated board's ``--key-file``; the ground tool's too): one key a
line, ``<key_id> <64 hex chars>``; ``#`` starts a comment; blank lines ignored.

Without a key file the simulated board uses :data:`DEV_KEY`.
"""

from hal.compat import const

KEY_LEN = const(32)

# ---------------------------------------------------------------------------------
# DEVELOPMENT KEY — FOR THE SIMULATOR AND BENCH ONLY.  PUBLIC: IT IS IN THIS REPOSITORY.
# A flight build must be provisioned with its own key file; the payload raises a
# DEV_KEY_IN_USE event at every boot while this key is loaded, and the ground tool
# refuses to use it on a real device unless told --dev-key.
# ---------------------------------------------------------------------------------
DEV_KEY_ID = const(1)
DEV_KEY = b"VECTOR-DEVELOPMENT-KEY-NOT-4-FLT"  # 32 octets


class KeyFileError(ValueError):
    pass


_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"


def _only(text, chars):
    for c in text:
        if c not in chars:
            return False
    return True


def _ascii(line):
    # printable ASCII and the whitespace both interpreters' str.split() split on
    for c in line:
        if not (" " <= c <= "~" or c in "\t\r\x0b\x0c"):
            return False
    return True


def parse_key_file(text):
    """{key_id: key bytes} from key-file text; KeyFileError names the bad line."""
    keys = {}
    lineno = 0
    for line in text.split("\n"):
        lineno += 1
        line = line.split("#", 1)[0]
        # Checked before split() and int(), whose rules differ: CPython splits
        # on "\xa0" and "\x1c" and int() takes "\u0661", MicroPython does neither, and
        # its int() takes "f_" in hex — the file tools/deploy.py (CPython) passed was
        # not the file the board (MicroPython) read.  int() also takes "+5", "1_0", and
        # "+f" or "-0" as hex: a damaged file must not become another key.
        if not _ascii(line):
            raise KeyFileError("line %d: not ASCII text" % lineno)
        parts = line.split()  # (not strip(): MicroPython's keeps "\x0b")
        if not parts:
            continue
        if len(parts) != 2:
            raise KeyFileError("line %d: expected '<key_id> <64 hex chars>'" % lineno)
        if not _only(parts[0], _DIGITS):
            raise KeyFileError("line %d: key id %r is not an integer" % (lineno, parts[0]))
        kid = int(parts[0])
        if kid < 1 or kid > 255:
            raise KeyFileError("line %d: key id %d outside 1..255" % (lineno, kid))
        hexkey = parts[1]
        if len(hexkey) != 2 * KEY_LEN:
            raise KeyFileError("line %d: key must be %d hex chars" % (lineno, 2 * KEY_LEN))
        if not _only(hexkey, _HEX):
            raise KeyFileError("line %d: key is not hexadecimal" % lineno)
        key = bytes(int(hexkey[i:i + 2], 16) for i in range(0, len(hexkey), 2))
        if kid in keys:
            raise KeyFileError("line %d: key id %d given twice" % (lineno, kid))
        keys[kid] = key
    if not keys:
        raise KeyFileError("no key in key file")
    return keys


class Keyring:
    def __init__(self, keys=None, active=None):
        if keys is None:
            keys = {DEV_KEY_ID: DEV_KEY}
        for kid, key in keys.items():
            if not 1 <= kid <= 255 or len(key) != KEY_LEN:
                raise ValueError("bad key %r" % (kid,))
        self.keys = dict(keys)
        self.active = active if active is not None else min(self.keys)
        if self.active not in self.keys:
            raise ValueError("active key id not in keyring")

    def is_dev(self):
        for key in self.keys.values():
            if key == DEV_KEY:
                return True
        return False

    def key(self, kid):
        return self.keys.get(kid)
