"""Keys and the anti-replay counter store of the ground tool.

Counters
    The payload accepts a TC only if its 4-octet counter is above the last one it
    accepted for that key id (DESIGN §3.7), so the ground must never reuse one.  The tool
    keeps, per key, the last counter it *reserved* in a JSON state file (default
    ``~/.vector-tc/counters.json``; ``--state-file`` or ``$VECTOR_TC_STATE`` override it).
    A counter is reserved — written to disk with fsync and an atomic rename, under an
    exclusive lock so two tools running at once never get the same one — *before* the
    packet leaves, so a crash between reserving and sending wastes a number, never
    reuses one.  ``--counter N`` overrides the store for one command; the store then
    remembers ``max(stored, N)``.  Keys are told apart by key id *and* a fingerprint of
    the key (first 8 octets of its SHA-256), so a new key with an old id starts afresh.
    The store also keeps the next CCSDS sequence count per APID (14 bits, wrapping).

Keys
    Key files use the payload's format (``<key_id> <64 hex chars>`` per line, see
    :mod:`flight.keys`).  Without a key file the public development key is used; it is
    refused on a real device unless ``--dev-key`` is given (see :func:`is_simulated_port`
    in :mod:`ground_tools.link`).
"""

import contextlib
import hashlib
import json
import os
import tempfile

from flight.keys import DEV_KEY, DEV_KEY_ID, KeyFileError, parse_key_file

DEFAULT_STATE = os.path.join("~", ".vector-tc", "counters.json")
ENV_STATE = "VECTOR_TC_STATE"
ENV_KEY_FILE = "VECTOR_TC_KEY_FILE"
MAX_COUNTER = 0xFFFFFFFF
# The payload's anti-replay window: it accepts a counter only in mark < counter <=
# mark + window (flight/replay.py WINDOW).  Mirrored here,
# the one ground home of it (tests/test_ground_ops.py checks it equals the flight constant
# when that exists): a --counter more than this above the last one used is refused unless
# --force, as the payload would reject it (REPLAY).
COUNTER_WINDOW = 0x10000
# A key id's first counter (the store has none yet) may be anywhere up to FIRST_MAX
# (flight/replay.py FIRST_MAX, same check): the payload has no mark for it either.
FIRST_MAX = 0x7FFFFFFF


class StateError(Exception):
    """The state file cannot be read or written (one-line message)."""


class KeyLoadError(Exception):
    """Key file problem (one-line message)."""


def fingerprint(key):
    return hashlib.sha256(key).hexdigest()[:16]


def exposed_to_others(path):
    """A warning when the secret file ``path`` may be read by other users of this machine
    (any group or other permission bit, as ssh refuses a private key so), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if os.name != "posix" or not mode & 0o077:
        return None
    return "warning: %s is readable by other users of this machine (mode %03o): " \
        "chmod 600 %s" % (path, mode & 0o777, path)


class Key:
    def __init__(self, key_id, key, source, warning=None):
        self.key_id = key_id
        self.key = key
        self.source = source
        self.warning = warning  # the key file's permissions (exposed_to_others)

    @property
    def is_dev(self):
        return self.key == DEV_KEY

    @property
    def slot(self):
        return "%d:%s" % (self.key_id, fingerprint(self.key))


def load_key(key_file=None, key_id=None):
    """The signing key: from ``key_file`` (or $VECTOR_TC_KEY_FILE), else the dev key.

    ``key_id`` picks a key of the file (default: the lowest id in it).
    """
    path = key_file or os.environ.get(ENV_KEY_FILE) or None
    if path is None:
        if key_id is not None and key_id != DEV_KEY_ID:
            raise KeyLoadError("no key file given, and the development key has id %d, not %d"
                            % (DEV_KEY_ID, key_id))
        return Key(DEV_KEY_ID, DEV_KEY, "development key")
    try:
        with open(os.path.expanduser(path)) as f:
            text = f.read()
    except OSError as e:
        raise KeyLoadError("cannot read key file %s: %s" % (path, e.strerror or e)) from None
    except UnicodeDecodeError:
        raise KeyLoadError("key file %s is not text" % path) from None
    try:
        keys = parse_key_file(text)
    except KeyFileError as e:
        raise KeyLoadError("key file %s: %s" % (path, e)) from None
    if key_id is None:
        key_id = min(keys)
    if key_id not in keys:
        raise KeyLoadError("key file %s has no key id %d (it has %s)" % (
            path, key_id, ", ".join(str(k) for k in sorted(keys))))
    return Key(key_id, keys[key_id], path, exposed_to_others(os.path.expanduser(path)))


def state_path(explicit=None):
    return os.path.expanduser(explicit or os.environ.get(ENV_STATE) or DEFAULT_STATE)


class CounterStore:
    """The JSON state file: ``{"version": 1, "counters": {slot: last}, "seq": {apid: next}}``."""

    def __init__(self, path=None, force=False):
        self.path = state_path(path)
        self.force = force  # --force: explicit counters are not checked

    # -------------------------------------------------------------- file plumbing
    @contextlib.contextmanager
    def _locked(self):
        d = os.path.dirname(self.path) or "."
        try:
            os.makedirs(d, exist_ok=True)
            lock = open(self.path + ".lock", "a+")
        except OSError as e:
            raise StateError("cannot use state file %s: %s" % (self.path, e.strerror or e)) from None
        try:
            try:
                import fcntl

                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            except ImportError:  # not POSIX: no lock, still atomic writes
                pass
            yield
        finally:
            lock.close()

    def _read(self):
        try:
            with open(self.path) as f:
                data = json.load(f)
        except FileNotFoundError:
            return {"version": 1, "counters": {}, "seq": {}}
        except (OSError, ValueError) as e:
            # Never guess: a corrupt counter file could make us reuse counters.
            raise StateError("state file %s is unreadable (%s); fix or remove it, and give "
                             "--counter above the payload's last accepted one"
                             % (self.path, getattr(e, "strerror", None) or e)) from None
        if not isinstance(data, dict) or not isinstance(data.get("counters", {}), dict):
            raise StateError("state file %s is not a vector-tc state file" % self.path)
        data.setdefault("counters", {})
        data.setdefault("seq", {})
        return data

    def _write(self, data):
        d = os.path.dirname(self.path) or "."
        try:
            fd, tmp = tempfile.mkstemp(prefix=".counters.", dir=d)
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            raise StateError("cannot write state file %s: %s" % (self.path, e.strerror or e)) from None

    # -------------------------------------------------------------- API
    def last(self, key):
        return int(self._read()["counters"].get(key.slot, 0))

    def reserve(self, key, explicit=None, seq=None, apid=None, record=True, force=False):
        """Reserve and persist the counter (and sequence count) for one TC.

        Returns ``(counter, seq)``.  ``explicit`` overrides the counter (the store keeps
        the higher of the two, unless ``record`` is False: a test sending a deliberately
        forged or replayed TC); ``seq`` likewise overrides the sequence count.  An explicit
        counter the store already used, or one that jumps more than the payload's window
        (COUNTER_WINDOW) above it, is refused unless ``force`` (or not ``record``):
        the first would be a replay, the second is rejected by the payload.
        """
        with self._locked():
            data = self._read()
            last = int(data["counters"].get(key.slot, 0))
            if explicit is not None and record and not (force or self.force):
                if explicit <= last:
                    raise StateError("counter %d of key %d already used (the store is at %d): "
                                     "refused, --force to send it anyway"
                                     % (explicit, key.key_id, last))
                if explicit - last > (COUNTER_WINDOW if last else FIRST_MAX):
                    raise StateError("counter %d jumps more than the payload's window (%d) "
                                     "above %d: refused, --force to send it anyway"
                                     % (explicit, COUNTER_WINDOW, last))
            if explicit is None:
                counter = last + 1
                if counter > MAX_COUNTER:
                    raise StateError("anti-replay counter of key %d exhausted (2^32-1): "
                                     "rotate to a new key" % key.key_id)
            else:
                counter = explicit
            if record or explicit is None:
                data["counters"][key.slot] = max(last, counter)
            if seq is None and apid is not None:
                seq = int(data["seq"].get(str(apid), 0)) & 0x3FFF
            if apid is not None and seq is not None:
                data["seq"][str(apid)] = (seq + 1) & 0x3FFF
            self._write(data)
        return counter, (seq if seq is not None else 0)

    def reserve_block(self, key, n, apid):
        """Reserve ``n`` consecutive counters and sequence counts in one write (floods,
        scripts): returns ``(first_counter, first_seq)``; use ``first + i`` and
        ``(first_seq + i) & 0x3FFF``."""
        if n < 1:
            raise ValueError("n must be >= 1")
        with self._locked():
            data = self._read()
            last = int(data["counters"].get(key.slot, 0))
            if last + n > MAX_COUNTER:
                raise StateError("anti-replay counter of key %d would pass 2^32-1: rotate "
                                 "to a new key" % key.key_id)
            data["counters"][key.slot] = last + n
            seq = int(data["seq"].get(str(apid), 0)) & 0x3FFF
            data["seq"][str(apid)] = (seq + n) & 0x3FFF
            self._write(data)
        return last + 1, seq

    def raise_to(self, key, counter):
        """Never go below ``counter`` again (e.g. the payload reported a higher mark)."""
        with self._locked():
            data = self._read()
            last = int(data["counters"].get(key.slot, 0))
            if counter > last:
                data["counters"][key.slot] = counter
                self._write(data)
