"""Simulated non-volatile storage (hal.interfaces.Storage).

``MemStorage`` keeps blobs in RAM and can inject faults: a power loss that tears the
next write after ``n`` octets (the blob then holds only its first ``n`` octets and
``PowerLoss`` is raised; ``tear_only`` restricts it to blobs whose name starts with a
prefix), read/write errors.  ``FileStorage`` keeps one file per blob in
a directory (the simulated board's ``--state-dir``), written through a temporary file
and a rename.
"""

from hal.errors import StorageError

_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-."


class PowerLoss(Exception):
    """Raised by an injected power loss; the simulated payload is then rebooted."""


def check_name(name):
    if not isinstance(name, str) or not 1 <= len(name) <= 32 or name[0] == ".":
        raise ValueError("bad blob name %r" % (name,))
    for c in name:
        if c not in _NAME_CHARS:
            raise ValueError("bad blob name %r" % (name,))


class MemStorage:
    max_blob = 65536

    def __init__(self):
        self.blobs = {}
        self.writes = 0
        self.tear_after = None  # octets of the next write that land before power is lost
        self.tear_only = None  # name prefix: tear only a write to such a blob (None: any)
        self.fail_writes = False
        self.fail_reads = False

    def init(self):
        pass

    def read(self, name):
        check_name(name)
        if self.fail_reads:
            raise StorageError("injected read error")
        b = self.blobs.get(name)
        # a copy: the flight may keep what it read, the flash keeps its own
        return None if b is None else bytes(memoryview(b))

    def write(self, name, data):
        check_name(name)
        if len(data) > self.max_blob:
            raise ValueError("blob too large")
        if self.fail_writes:
            raise StorageError("injected write error")
        # bytes of a bytes is that object (MicroPython and CPython): the flight's writers
        # hand over a record made for the write (SlotStore, EventLog) and keep nothing of
        # it, so a blob is held by the simulated flash alone (what the benches count as
        # the simulator's: hal/sim/session.py sim_bytes); a bytearray is copied.
        data = bytes(data)
        if self.tear_after is not None and (self.tear_only is None
                                            or name.startswith(self.tear_only)):
            n = self.tear_after
            self.tear_after = None
            self.blobs[name] = data[:n]
            raise PowerLoss("power lost after %d of %d octets" % (n, len(data)))
        self.blobs[name] = data
        self.writes += 1

    def exists(self, name):
        check_name(name)
        return name in self.blobs

    def delete(self, name):
        check_name(name)
        self.blobs.pop(name, None)

    def snapshot(self):
        return dict(self.blobs)


class FileStorage:
    """Blobs as files in ``directory`` (created if missing)."""

    max_blob = 65536

    def __init__(self, directory):
        import os

        self._os = os
        self.dir = directory
        try:
            os.makedirs(directory)
        except OSError:
            pass  # exists

    def init(self):
        pass

    def _path(self, name):
        check_name(name)
        return self.dir + "/" + name

    def read(self, name):
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError as e:
            if getattr(e, "errno", None) == 2:  # ENOENT
                return None
            raise StorageError("read %s: %r" % (name, e))

    def write(self, name, data):
        if len(data) > self.max_blob:
            raise ValueError("blob too large")
        path = self._path(name)
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            self._os.rename(tmp, path)
        except OSError as e:
            raise StorageError("write %s: %r" % (name, e))

    def exists(self, name):
        return self.read(name) is not None

    def delete(self, name):
        try:
            self._os.remove(self._path(name))
        except OSError:
            pass

    def snapshot(self):
        out = {}
        for fn in sorted(self._os.listdir(self.dir)):
            if not fn.endswith(".tmp"):
                out[fn] = self.read(fn)
        return out
