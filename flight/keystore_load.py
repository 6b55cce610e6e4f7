"""The key store's boot: the record restored field by field, the key file merged and the
rules applied (flight/keystore.py ``KeyStore.load``; the rules are in that module's
docstring).  Run once a boot: loaded for it (flight/lazy.py) and released after where
its code is frozen, so a pass does not hold it (issue 11)."""

from flight import cbor
from flight.keys import DEV_KEY, KEY_LEN
from flight.keystore import (BK_KEY_FLOOR, EV_KEY_FILE_REJECTED, EV_KEY_STORE_FALLBACK,
                             EV_KEYS_PROVISIONED, EV_NO_USABLE_KEY)

_UNKNOWN = -1  # the key floor's pair corrupt or unreadable (KeyStore.floor() None)


def _is_int(v):
    # bool is an int subclass on CPython (not on MicroPython): refuse it explicitly.
    return isinstance(v, int) and not isinstance(v, bool)


def _key_id(v):
    if not _is_int(v) or not 1 <= v <= 255:
        raise ValueError("key id %r" % (v,))
    return v


def parse_record(raw):
    """The key-store record from slot payload ``raw``, checked field by field:
    ``{"keys": {id: bytes}, "active": id or 0, "retired": [ids]}``; ValueError if not."""
    d = cbor.decode(raw, max_depth=3, max_items=1100, max_str=64)
    if not isinstance(d, dict) or d.get("v") != 1:
        raise ValueError("record version")
    keys = d.get("keys")
    if not isinstance(keys, dict):
        raise ValueError("keys")
    out = {}
    for kid, key in keys.items():
        _key_id(kid)
        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_LEN:
            raise ValueError("key %r material" % (kid,))
        out[kid] = bytes(key)
    retired = d.get("retired")
    if not isinstance(retired, list):
        raise ValueError("retired")
    ret = []
    for kid in retired:
        ret.append(_key_id(kid))
    active = d.get("active", -1)
    if not _is_int(active) or not 0 <= active <= 255:
        raise ValueError("active")
    if active and (active not in out or active in ret):
        raise ValueError("active key %d unusable" % active)
    return {"keys": out, "active": active, "retired": ret}


def load(ks, file_keys=None, file_error=None):
    """``KeyStore.load`` of ``ks`` (not loaded yet): returns ``ks.usable()``."""
    ks.loaded = True
    if file_keys is None and ks.provided is not None:
        file_keys = ks.provided[0]
    rec = None
    if ks.store is not None:
        try:
            rec = ks.store.load(parse_record)
        except Exception as e:  # both slots unreadable: the key file may still help
            ks.fallback = "key store unreadable: %r" % (e,)
        else:
            if ks.store.fallback:
                ks.fallback = ks.store.describe()
        if ks.fallback:
            ks.emit(EV_KEY_STORE_FALLBACK, None, ks.fallback)
    floor = ks.floor()
    if floor is None:
        floor = _UNKNOWN
    if rec is not None:
        ks.keys = rec["keys"]
        ks.retired = rec["retired"]
        ks.active = rec["active"]
    elif floor > 0 and ks.store is not None and not ks.fallback:
        # both slots gone, yet the registers say key id `floor` was active here
        ks.emit(EV_KEY_STORE_FALLBACK, None, "key store missing (key id %d was active): the "
                "key file's ids at or above it only" % floor)
    if file_error:
        ks.emit(EV_KEY_FILE_REJECTED, None, file_error)
    changed = False
    fresh = not ks.keys
    if file_keys:
        changed = provision(ks, file_keys, floor)
        p = ks.provided
        if fresh and p is not None and p[1] in ks.keys and p[1] not in ks.retired \
                and p[1] >= floor:
            ks.active = p[1]  # a keyring handed over with its active id
    if not ks.keys and not file_keys and not file_error and ks.dev_allowed:
        # the bench provisioning: deliberate (flag file), never a fallback
        ks.keys = {1: DEV_KEY}
        ks.active = 1
        changed = True
    changed = _apply_rules(ks, floor) or changed
    if changed:
        try:
            ks.save()
        except Exception as e:  # the RAM keys serve this boot; said loudly
            ks.emit(EV_KEY_STORE_FALLBACK, None, "key store not saved: %r" % (e,))
    if not ks.usable():
        ks.active = 0
        ks.emit(EV_NO_USABLE_KEY, None, "at boot")
    return ks.usable()


def provision(ks, file_keys, floor=0):
    """Add the key file's ids the store does not know, that are not retired and not below
    the key floor (``floor``: :data:`_UNKNOWN` adds them all, the rules then retire all but
    the highest)."""
    added = 0
    for kid, key in file_keys.items():
        if kid in ks.keys or kid in ks.retired or kid < floor:
            continue
        if len(key) != KEY_LEN:
            continue
        ks.keys[kid] = bytes(key)
        added += 1
    if added:
        if not ks.active:
            cands = [k for k in ks.keys if k not in ks.retired and k >= floor]
            ks.active = min(cands) if cands else 0
        ks.emit(EV_KEYS_PROVISIONED, [added, ks.active], "")
    return added > 0


def _apply_rules(ks, floor):
    """Retire what must be retired (below the mirrored floor; the development key
    without the bench flag).  True if the record changed.  A floor that cannot be read
    (:data:`_UNKNOWN`) is taken as the highest usable id here, said, and written back."""
    changed = False
    unknown = floor == _UNKNOWN
    if not ks.dev_allowed:
        for kid in list(ks.keys):
            if ks.keys[kid] == DEV_KEY:
                ks.emit(EV_KEY_FILE_REJECTED, None,
                          "development key id %d refused: no bench flag" % kid)
                del ks.keys[kid]
                if kid not in ks.retired:
                    ks.retired.append(kid)
                changed = True
    if unknown:
        cands = [k for k in ks.keys if k not in ks.retired]
        floor = max(cands) if cands else 0
        ks.emit(EV_KEY_STORE_FALLBACK, None, "key floor in the backup registers corrupt or "
                "unreadable: only the highest key id (%d) accepted, lower ids retired" % floor)
    for kid in list(ks.keys):
        if kid < floor and kid not in ks.retired:
            ks.retired.append(kid)
            changed = True
    if ks.active and (ks.active in ks.retired or ks.active not in ks.keys):
        # the active key was retired (rollback of the record) or dropped: the next
        # usable id at or above the floor, if there is one
        cands = [k for k in ks.keys if k not in ks.retired and k > ks.active]
        ks.active = min(cands) if cands else 0
        changed = True
    if ks.active and (unknown or ks.active > floor):
        ks.mirror.put(BK_KEY_FLOOR, ks.active)  # (a failure: BACKUP_REGISTERS_FAILED)
    return changed
