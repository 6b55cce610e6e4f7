"""Fail-secure store of the telecommand keys (docs/security.md, issue 12 items 1, 5, 6).

What it keeps, in two slots with generation and CRC (flight/slotstore.py, record
``keys``): the keys (id 1..255 → 32 octets), the *active* key id and the *retired* ids.
Every field of a stored record is checked (types, ranges, lengths: a CRC-valid record
with ``"active": "x"``, NaN or a list is rejected like a bit flip and the other slot is
tried).

Rules (each one closes an attack of issue 12):

* **No fallback key.**  With no usable key (both slots and the key file unusable) the
  store is ``usable() == False``: ``key()`` returns None for every id, the TC path then
  accepts nothing, the app boots to SAFE and raises NO_USABLE_KEY every housekeeping
  period (:meth:`hk_tick`).  The public development key is loaded only when the board
  was deliberately provisioned for the bench (``dev_allowed``: the flag file written by
  ``tools/deploy.py --dev-key``) *and* no key file and no stored key exist; a stored
  development key is dropped at the first boot without the flag.
* **Key ids only go up.**  ``rotate(new)`` needs ``new`` above the active id and
  retires every id below it; a retired id is never accepted again, whatever a key file
  or an older record says.  The active id is mirrored in the backup registers
  (:class:`BackupMirror`), so losing or rolling back the key record cannot bring back a
  retired key: the mirrored floor is applied after every load.
* **The key file provisions, the store decides.**  ``provision(keys)`` (board/main.py,
  from ``keys.txt``) adds ids the store does not know and that are not retired; it never
  changes the material of a known id or the active id of a populated store.

Key material is never sent in telemetry or events; events name key ids only.
"""

from flight import cbor, lazy
from flight.events import SEV_CRITICAL, SEV_ERROR, SEV_INFO, Event
from flight.keys import DEV_KEY
from flight.slotstore import SlotStore
from flight.telemetry import HkField
from hal.compat import const

# Events (0x28..0x2B; 0x2C..0x2F: flight/replay.py; the tc/keys range 0x2_, full: the
# backup registers' failure in storage's 0x3_).
EV_NO_USABLE_KEY = const(0x28)
EV_KEY_STORE_FALLBACK = const(0x29)
EV_KEY_FILE_REJECTED = const(0x2A)
EV_KEYS_PROVISIONED = const(0x2B)
EV_BACKUP_FAILED = const(0x37)
EVENTS = (
    # Repeated every housekeeping period while there is no key, at INFO (not persisted:
    # a repeat each second would flush the persistent log); the boot's one is CRITICAL.
    Event(EV_NO_USABLE_KEY, "NO_USABLE_KEY", SEV_CRITICAL,
          "no usable TC key: SAFE, every TC rejected; re-provision the key file"),
    Event(EV_KEY_STORE_FALLBACK, "KEY_STORE_FALLBACK", SEV_ERROR,
          "key store slot rejected (the other slot or the key file used) or not saved"),
    Event(EV_KEY_FILE_REJECTED, "KEY_FILE_REJECTED", SEV_ERROR,
          "key file unusable: ignored, stored keys kept"),
    Event(EV_KEYS_PROVISIONED, "KEYS_PROVISIONED", SEV_INFO, "key ids added to the key store",
          (("count", "int"), ("active", "int"))),
    # Said at the 1st, 2nd, 4th, 8th ... failure (a failing device fails at every TC's
    # mark: each one would flood the log); every one is counted (HK diag backup_errors).
    Event(EV_BACKUP_FAILED, "BACKUP_REGISTERS_FAILED", SEV_ERROR,
          "backup register read or write failed: the rollback protection of the key floor "
          "and the anti-replay marks is weakened until it works again",
          (("failures", "int"), ("word", "int"))),
)
KEY_STATES = ("OK", "DEV_KEY", "NO_KEY")
HK = (
    HkField("key_state", "u8", enum=KEY_STATES, warn=(0, 0), alarm=(0, 1),
            description="TC key store: OK, DEV_KEY (bench) or NO_KEY (every TC rejected)"),
)
HK_DIAG = (
    HkField("keys_retired", "u8", description="key ids retired (never accepted again)"),
    HkField("backup_errors", "u16", alarm=(0, 0),
            description="backup register reads/writes that failed (BACKUP_REGISTERS_FAILED)"),
)

# ---------------------------------------------------------------------- backup words
# Layout of the backup registers (hal.interfaces.BackupRegisters).  Each value is kept
# as a pair (v, v ^ 0xFFFFFFFF): a pair (0, 0) is blank (never written, or battery
# lost), any other mismatch is a corrupt pair.
BK_REPLAY_GEN = const(1)  # words 1, 2: generation of the anti-replay record
BK_KEY_FLOOR = const(3)  # words 3, 4: the highest key id ever active
BK_REPLAY_MARK = const(5)  # words 5, 6: the exact anti-replay mark of one key id ...
BK_REPLAY_KID = const(7)  # word 7: ... this one (kid | (kid ^ 0xFF) << 8; 0: none)
_INV = 0xFFFFFFFF

PAIR_BLANK = -1
PAIR_CORRUPT = -2


class BackupMirror:
    """Monotonic values mirrored in the backup registers.  ``emit`` (set by the first
    owner that has one, :class:`KeyStore`) reports a failed access."""

    def __init__(self, dev, emit=None):
        self.dev = dev
        self.errors = 0
        self.emit = emit

    def failed(self, i, op, e):
        """Count a failed access of word ``i`` (``op`` "read" or "write") and say so at
        the 1st, 2nd, 4th ... failure."""
        self.errors += 1
        n = self.errors
        if self.emit is not None and n & (n - 1) == 0:
            self.emit(EV_BACKUP_FAILED, [n, i], "%s: %r" % (op, e))

    def get(self, i):
        """The value of the pair at word ``i``, PAIR_BLANK or PAIR_CORRUPT (also when
        the device is missing or unreadable: then nothing can be checked)."""
        if self.dev is None:
            return PAIR_BLANK
        try:
            v = self.dev.read(i)
            w = self.dev.read(i + 1)
        except Exception as e:
            self.failed(i, "read", e)
            return PAIR_CORRUPT
        if v == 0 and w == 0:
            return PAIR_BLANK
        if v ^ w != _INV:
            return PAIR_CORRUPT
        return v

    def put(self, i, value):
        """Store ``value``; False if the device is missing or failed (counted)."""
        if self.dev is None:
            return False
        try:
            self.dev.write(i, value)
            self.dev.write(i + 1, value ^ _INV)
        except Exception as e:
            self.failed(i, "write", e)
            return False
        return True


# ---------------------------------------------------------------------- validation
def check_key_file(raw, dev_allowed=False):
    """({id: key}, None) from the octets of a key file, or (None, why): the one check of
    a key file, shared by board/main.py and tools/deploy.py.  A file that is not UTF-8
    text, has a malformed line, no key, or holds the public development key (unless the
    board is provisioned for the bench) is refused as a whole."""
    from flight.keys import KeyFileError, parse_key_file

    try:
        text = bytes(raw).decode()
    except UnicodeError:
        return None, "not UTF-8 text"
    try:
        keys = parse_key_file(text)
    except KeyFileError as e:
        return None, str(e)
    if not dev_allowed:
        for kid in keys:
            if keys[kid] == DEV_KEY:
                return None, "key id %d is the public development key" % kid
    return keys, None


# ---------------------------------------------------------------------- the store
class KeyStore:
    """The keyring of the TC path (``active``, ``key(kid)``, ``is_dev()``) made fail
    secure.  ``emit(ev_id, args=None, detail="")`` raises events (the app's emit)."""

    def __init__(self, storage, backup=None, emit=None, dev_allowed=False):
        self.store = SlotStore(storage, "keys") if storage is not None else None
        self.mirror = backup if isinstance(backup, BackupMirror) else BackupMirror(backup)
        if self.mirror.emit is None:
            self.mirror.emit = self.emit  # (held in pending until attach: board/main.py)
        self._emit = emit
        self.dev_allowed = dev_allowed
        self.keys = {}
        self.active = 0  # 0: no usable key (no TC carries key id 0: every TC is rejected)
        self.retired = []
        self.fallback = ""  # text of the last slot fallback ("" when none)
        self.pending = []  # events raised while no emit was attached
        self.loaded = False
        self.provided = None  # ({id: key}, active id) handed over by adopt()

    def emit(self, ev_id, args=None, detail=""):
        if self._emit is not None:
            self._emit(ev_id, args, detail)
        elif len(self.pending) < 8:  # loaded before the app exists (board/main.py)
            self.pending.append((ev_id, args, detail))

    def attach(self, emit):
        """Route events to ``emit`` from now on, first the ones raised before."""
        self._emit = emit
        for e in self.pending:
            emit(e[0], e[1], e[2])
        self.pending = []

    # ------------------------------------------------------------ keyring interface
    def key(self, kid):
        """The key of ``kid`` if it is usable (known, not retired), else None."""
        if not self.active or kid in self.retired:
            return None
        return self.keys.get(kid)

    def usable(self):
        return self.active != 0 and self.key(self.active) is not None

    def is_dev(self):
        keys = self.keys
        for kid in keys:  # (not .values(): a view is a heap object; hk calls this at 1 Hz)
            if keys[kid] == DEV_KEY:
                return True
        return False

    def floor(self):
        """The highest key id ever active here (from the backup mirror): 0 when the
        registers are blank or absent, None when their pair is corrupt or unreadable —
        nobody can tell then, and flight/keystore_load.py retires every id below the
        highest usable one (fail secure: a lost floor never brings a retired key back)."""
        f = self.mirror.get(BK_KEY_FLOOR)
        if f == PAIR_CORRUPT:
            return None
        return f if f > 0 else 0

    # ------------------------------------------------------------ boot
    def load(self, file_keys=None, file_error=None):
        """Restore the store, then merge ``file_keys`` ({id: key} from the key file,
        already parsed by :func:`flight.keys.parse_key_file`) or report ``file_error``
        (text: the key file exists but is unusable).  Returns :meth:`usable`.  Only the
        first call of an instance does anything (board/main.py loads the store before the
        application exists; the application's boot then finds it loaded).  The code runs
        once a boot: flight/keystore_load.py, loaded for it and released after (issue
        11); with no heap for it (MODULE_LOAD_FAILED) no key is usable (fail secure)."""
        if self.loaded:
            return self.usable()
        try:
            m = lazy.load("flight.keystore_load", self.emit)
        except lazy.LoadFailed:  # (not loaded: a later call tries again)
            self.active = 0
            self.emit(EV_NO_USABLE_KEY, None, "at boot: no heap for the key store's code")
            return False
        try:
            return m.load(self, file_keys, file_error)
        finally:
            lazy.done("flight.keystore_load")

    # ------------------------------------------------------------ KEY_ROTATE
    def check_rotate(self, kid):
        """None, or why rotating to ``kid`` is refused (BAD_ARG text, no key material)."""
        if kid in self.retired or kid <= self.active:
            return "key_id: %d is retired or not above the active id" % kid
        if self.keys.get(kid) is None:
            return "key_id: %d not in the onboard keyring" % kid
        return None

    def rotate(self, kid):
        """Make ``kid`` active and retire every lower id, mirror the floor, persist; returns
        whether the floor reached the backup registers.  A storage error is raised *after*
        the rotation took effect (RAM and floor: the caller reports the key active but not
        saved; the next boot applies the floor to the older record)."""
        why = self.check_rotate(kid)
        if why:
            raise ValueError(why)
        for k in self.keys:
            if k < kid and k not in self.retired:
                self.retired.append(k)
        self.active = kid
        mirrored = self.mirror.put(BK_KEY_FLOOR, kid)
        self.save()
        return mirrored

    def save(self):
        if self.store is None:
            return
        self.store.save(cbor.encode({"v": 1, "keys": self.keys, "active": self.active,
                                     "retired": self.retired}))

    # ------------------------------------------------------------ housekeeping
    def hk_tick(self, repeat=None):
        """Called every housekeeping period: without a usable key, say so again —
        through ``repeat(ev_id, args, detail)`` when given (the app's non-persisted
        repeat: INFO), else the store's emit."""
        if not self.usable():
            (repeat or self.emit)(EV_NO_USABLE_KEY, None, "still no usable key")
            return False
        return True

    def hk(self, values, i):
        values[i] = 2 if not self.usable() else (1 if self.is_dev() else 0)

    def hk_diag(self, values, i):
        values[i] = len(self.retired)
        values[i + 1] = self.mirror.errors


def adopt(keyring, storage, backup, emit):
    """The application's key store from what it was given: a :class:`KeyStore` (loaded
    by board/main.py, or not yet), a :class:`flight.keys.Keyring` (the simulator's
    ``--key-file``, tests) whose keys provision the store at boot, or None — the
    simulator's bench: the development key (a simulated board is a bench by definition).
    The store itself decides what is active: a handed-over keyring never brings back a
    retired id nor lowers the active one."""
    if isinstance(keyring, KeyStore):
        keyring.attach(emit)
        return keyring
    dev = keyring is None or keyring.is_dev()
    ks = KeyStore(storage, backup, emit, dev_allowed=dev)
    if keyring is not None:
        ks.provided = (dict(keyring.keys), keyring.active)
    return ks
